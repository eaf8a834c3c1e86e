"""Every codec round-trips int8 code tensors exactly (hypothesis), sizes are exact, auto is
the smallest, and bad arguments are clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import leanconv
from leanconv import _native
from leanconv.compress import codec_names, decode_codes, encode_codes

CODECS = codec_names()

shapes = st.one_of(
    hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=9),
    st.tuples(st.integers(1, 12), st.integers(1, 6), st.just(3), st.just(3)),
)


@st.composite
def code_arrays(draw: st.DrawFn) -> np.ndarray:
    shape = draw(shapes)
    kind = draw(st.sampled_from(["any", "sparse", "zeros", "const", "extremes"]))
    if kind == "any":
        return draw(hnp.arrays(np.int8, shape))
    if kind == "zeros":
        return np.zeros(shape, np.int8)
    if kind == "const":
        return np.full(shape, draw(st.integers(-128, 127)), np.int8)
    if kind == "extremes":
        return draw(hnp.arrays(np.int8, shape, elements=st.sampled_from([-128, 127, 0])))
    vals = draw(hnp.arrays(np.int8, shape, elements=st.integers(-7, 7)))
    mask = draw(hnp.arrays(np.bool_, shape))
    return np.where(mask, vals, 0).astype(np.int8)


@given(code_arrays())
@settings(max_examples=200, deadline=None)
def test_every_codec_round_trips(codes: np.ndarray) -> None:
    sizes = dict(_native.codec_sizes(codes))
    assert set(sizes) == set(CODECS)
    for name in CODECS:
        used, blob = encode_codes(codes, name)
        assert used == name
        assert len(blob) == sizes[name]
        out = decode_codes(blob, codes.shape, name)
        assert out.dtype == np.int8 and out.shape == codes.shape
        np.testing.assert_array_equal(out, codes)
    used, blob = encode_codes(codes, "auto")
    # The first of the smallest among the codecs auto tries on a tensor of this size.
    candidates = _native.auto_candidates(codes.size)
    smallest = min(sizes[c] for c in candidates)
    assert len(blob) == smallest
    assert used == next(c for c in candidates if sizes[c] == smallest)
    np.testing.assert_array_equal(decode_codes(blob, codes.shape, used), codes)


@given(code_arrays(), st.lists(st.sampled_from(CODECS), min_size=1, max_size=4, unique=True))
@settings(max_examples=150, deadline=None)
def test_auto_restricted_to_some_codecs(codes: np.ndarray, among: list[str]) -> None:
    """auto_codecs: the first of the smallest among the codecs auto tries that it names, or an
    error when it names none of them."""
    sizes = dict(_native.codec_sizes(codes))
    candidates = [c for c in _native.auto_candidates(codes.size) if c in among]
    if not candidates:
        with pytest.raises(leanconv.LeanconvError, match="auto tries none"):
            encode_codes(codes, "auto", auto_codecs=among)
        return
    used, blob = encode_codes(codes, "auto", auto_codecs=among)
    smallest = min(sizes[c] for c in candidates)
    assert len(blob) == smallest and used == next(c for c in candidates if sizes[c] == smallest)
    np.testing.assert_array_equal(decode_codes(blob, codes.shape, used), codes)


def test_auto_codecs_bad_arguments() -> None:
    codes = np.arange(-8, 8, dtype=np.int8).reshape(4, 4)
    with pytest.raises(leanconv.LeanconvError, match="unknown codec"):
        encode_codes(codes, "auto", auto_codecs=["dense", "nope"])
    with pytest.raises(leanconv.LeanconvError, match="restricts auto"):
        encode_codes(codes, "dense", auto_codecs=["dense"])
    with pytest.raises(leanconv.LeanconvError, match="unknown codecs"):
        leanconv.compress({"w": np.ones((4, 4), np.float32)}, auto_codecs=["nope"])
    with pytest.raises(leanconv.LeanconvError, match="not codec='dense'"):
        leanconv.compress({"w": np.ones((4, 4), np.float32)}, codec="dense", auto_codecs=["dense"])
    cm = leanconv.compress({"w": np.random.default_rng(0).standard_normal((64, 8, 3, 3)).astype(np.float32)},
                           bits=4, auto_codecs=["dense"])
    assert cm["w"].codec == "dense"


def test_real_like_layer_auto_beats_order0_entropy() -> None:
    rng = np.random.default_rng(0)
    w = rng.laplace(0, 1, (96, 32, 3, 3)).astype(np.float32)
    w *= rng.uniform(0.1, 1.0, (96, 1, 1, 1)).astype(np.float32)  # channels of different scale
    ct = leanconv.compress(w, sparsity=0.5, bits=4)
    assert ct.bits_per_weight < ct.h0_bits / w.size  # type: ignore[union-attr]
    np.testing.assert_array_equal(ct.codes(), leanconv.compress(w, sparsity=0.5, bits=4, codec="huffman").codes())  # type: ignore[union-attr]


def test_bad_arguments_are_leanconv_errors() -> None:
    codes = np.zeros((4, 4), np.int8)
    with pytest.raises(leanconv.LeanconvError, match="unknown codec"):
        encode_codes(codes, "gzip")
    with pytest.raises(leanconv.LeanconvError, match="int8"):
        encode_codes(codes.astype(np.int16), "auto")  # type: ignore[arg-type]
    with pytest.raises(leanconv.LeanconvError, match="C-contiguous"):
        encode_codes(np.zeros((4, 4), np.int8)[:, ::2], "auto")
    with pytest.raises(leanconv.CorruptFileError):
        decode_codes(b"\x07\xff\xff", (4, 4), "crans")
    with pytest.raises(leanconv.ShapeError):
        decode_codes(b"", (2**62, 2**62), "crans")


def test_decode_into_caller_memory() -> None:
    rng = np.random.default_rng(5)
    codes = np.clip(np.round(rng.laplace(0, 2, (48, 200))), -7, 7).astype(np.int8)
    for name in ("auto", "srans", "huffman"):
        used, blob = encode_codes(codes, name)
        out = np.full(codes.shape, 99, np.int8)
        got = decode_codes(blob, codes.shape, used, out=out)
        assert got is out
        np.testing.assert_array_equal(out, codes)
    _, blob = encode_codes(codes, "srans")
    with pytest.raises(leanconv.ShapeError, match="out must be"):
        decode_codes(blob, codes.shape, "srans", out=np.zeros((200, 48), np.int8))
    with pytest.raises(leanconv.ShapeError, match="out must be"):
        decode_codes(blob, codes.shape, "srans", out=np.zeros((48, 400), np.int8)[:, ::2])
    with pytest.raises(leanconv.LeanconvError, match="int8"):
        decode_codes(blob, codes.shape, "srans", out=np.zeros(codes.shape, np.int16))  # type: ignore[arg-type]
    frozen = np.zeros(codes.shape, np.int8)
    frozen.flags.writeable = False
    with pytest.raises(leanconv.LeanconvError, match="not writable"):
        decode_codes(blob, codes.shape, "srans", out=frozen)


@given(st.binary(max_size=200), st.sampled_from(CODECS), shapes)
@settings(max_examples=300, deadline=None)
def test_garbage_never_crashes_a_decoder(data: bytes, name: str, shape: tuple[int, ...]) -> None:
    try:
        out = decode_codes(data, shape, name)
    except leanconv.LeanconvError:
        return
    assert out.shape == tuple(shape)


def test_lossless_bytes_round_trip() -> None:
    rng = np.random.default_rng(3)
    for a in (rng.normal(size=1000).astype(np.float32), np.arange(7, dtype=np.int64), np.zeros(0, np.float16)):
        raw = a.reshape(-1).view(np.uint8)
        blob = _native.encode_bytes(raw, a.itemsize)
        back = _native.decode_bytes(np.frombuffer(blob, np.uint8), raw.size)
        np.testing.assert_array_equal(back.view(a.dtype), a)


def test_leanconv_compress_is_both_the_function_and_the_package() -> None:
    import leanconv.compress as lc

    assert callable(leanconv.compress) and lc is leanconv.compress
    ct = leanconv.compress(np.ones((8, 8), np.float32), bits=4)
    assert isinstance(ct, lc.CompressedTensor)
    np.testing.assert_array_equal(ct.decompress(), np.ones((8, 8), np.float32))
