"""Lossy pattern merging (Wen & Gregg): ``_native.merge_patterns`` and
``compress(..., merge_tolerance=)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import leanconv
from leanconv import LeanconvError, _native
from leanconv.cli import main
from leanconv.compress import describe_container, load_codes, prune_magnitude, quantize_per_channel
from leanconv.compress.api import CompressedModel, compress


def distinct_patterns(codes: np.ndarray) -> int:
    """Distinct vectors as the pattern codec slices them (k×k slices of 4-D weights with
    2 <= k×k <= 64, else runs of 4; the last one zero-padded), counted here independently."""
    v = codes.shape[2] * codes.shape[3] if codes.ndim == 4 and 2 <= codes.shape[2] * codes.shape[3] <= 64 else 4
    flat = codes.reshape(-1)
    padded = np.zeros(-(-flat.size // v) * v, np.int8)
    padded[: flat.size] = flat
    return len({bytes(r) for r in padded.reshape(-1, v).view(np.uint8)})


def conv_codes(sparsity: float, bits: int) -> np.ndarray:
    """A real pruned and quantized 3x3 conv weight: the default model's res_a (32x32x3x3)."""
    from leanconv.models.default_net import load_default

    w = load_default().state_dict()["res_a.0.weight"].numpy()
    return quantize_per_channel(prune_magnitude(w, sparsity), bits).codes


@pytest.mark.parametrize("tol", [1, 2])
def test_merged_default_model_codes_stay_within_tolerance_and_lose_patterns(tol: int) -> None:
    codes = conv_codes(0.75, 4)
    merged, before, after = _native.merge_patterns(codes, tol)
    assert merged.shape == codes.shape and merged.dtype == np.int8
    assert np.max(np.abs(merged.astype(np.int16) - codes)) <= tol
    np.testing.assert_array_equal(merged == 0, codes == 0)  # sparsity kept
    assert before == distinct_patterns(codes)
    assert after == distinct_patterns(merged)
    assert after < before  # this layer has rare kernels within 1 of frequent ones
    sizes_before = dict(_native.codec_sizes(codes))
    sizes_after = dict(_native.codec_sizes(merged))
    assert sizes_after["pattern"] < sizes_before["pattern"]


def test_tolerance_zero_and_an_empty_cap_are_the_identity() -> None:
    codes = conv_codes(0.5, 8)
    for merged, before, after in (_native.merge_patterns(codes, 0), _native.merge_patterns(codes, 5, max_patterns=0)):
        np.testing.assert_array_equal(merged, codes)
        assert before == after == distinct_patterns(codes)


def test_a_dictionary_cap_keeps_only_the_most_frequent_patterns_as_targets() -> None:
    codes = conv_codes(0.75, 4)
    vecs = [tuple(int(x) for x in r) for r in codes.reshape(-1, 9)]
    counts: dict[tuple[int, ...], int] = {}
    for r in vecs:
        counts[r] = counts.get(r, 0) + 1
    # The pattern codec's dictionary order: most frequent first, ties by content.
    ranked = sorted((p for p, c in counts.items() if c >= 2), key=lambda p: (-counts[p], p))
    merged, before, after = _native.merge_patterns(codes, 1, max_patterns=4)
    moved = [m for v, m in zip(vecs, (tuple(int(x) for x in r) for r in merged.reshape(-1, 9))) if m != v]
    assert moved and set(moved) <= set(ranked[:4])
    assert after < before
    assert np.max(np.abs(merged.astype(np.int16) - codes)) <= 1
    # A cap over the dictionary's size changes nothing.
    np.testing.assert_array_equal(_native.merge_patterns(codes, 1, max_patterns=len(ranked))[0],
                                  _native.merge_patterns(codes, 1)[0])


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(np.int8, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6),
               elements=st.sampled_from([0, 0, 0, 1, -1, 2, -2, 7, -7, 127, -128])),
    st.integers(0, 255),
    st.booleans(),
)
def test_merging_properties_on_any_codes(codes: np.ndarray, tol: int, keep_zeros: bool) -> None:
    merged, before, after = _native.merge_patterns(codes, tol, keep_zeros=keep_zeros)
    assert merged.shape == codes.shape
    assert np.all(np.abs(merged.astype(np.int16) - codes) <= tol)
    if keep_zeros:
        np.testing.assert_array_equal(merged == 0, codes == 0)
    if tol == 0:
        np.testing.assert_array_equal(merged, codes)
    assert (before, after) == (distinct_patterns(codes), distinct_patterns(merged))
    assert after <= before


def test_compress_with_merging_round_trips_through_save_and_load(tmp_path: Path) -> None:
    from leanconv.models.default_net import load_default

    sd = load_default().state_dict()
    cm = compress(sd, sparsity=0.75, bits=4, merge_tolerance=1)
    assert isinstance(cm, CompressedModel)
    path = tmp_path / "m.lcz"
    leanconv.save(path, cm)
    rows = {r["name"]: r for r in describe_container(path)}
    back = leanconv.load(path)
    some_merged = False
    for name in ("stem.0.weight", "res_a.0.weight", "expand.0.weight", "dw.0.weight", "head.weight"):
        q = quantize_per_channel(prune_magnitude(sd[name].numpy(), 0.75), 4)
        expect, before, after = _native.merge_patterns(q.codes, 1)
        some_merged |= after < before
        codes, scales = load_codes(path, name)
        np.testing.assert_array_equal(codes, expect)  # exactly the merged codes
        np.testing.assert_array_equal(scales, q.scales)
        np.testing.assert_array_equal(back[name], expect.astype(np.float32) * q.scales.reshape(-1, *[1] * (codes.ndim - 1)))
        assert rows[name]["merge_tolerance"] == 1
        assert cm[name].merge_tolerance == 1
    assert some_merged
    assert rows["stem.1.weight"]["merge_tolerance"] == 0  # BN vectors are stored losslessly
    # Merging serves the pattern codec; auto mostly picks crans here, which it barely moves
    # (bench/results/pattern_merge.md).
    merged_p = compress(sd, sparsity=0.75, bits=4, codec="pattern", merge_tolerance=1)
    plain_p = compress(sd, sparsity=0.75, bits=4, codec="pattern")
    assert isinstance(merged_p, CompressedModel) and isinstance(plain_p, CompressedModel)
    assert merged_p.nbytes < plain_p.nbytes


@pytest.mark.parametrize("bad", [-1, 256, 1.5, True, "1"])
def test_bad_tolerance_is_a_clear_error(bad: object) -> None:
    w = np.random.default_rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32)
    with pytest.raises(LeanconvError, match="merge_tolerance must be an integer in 0..255"):
        compress(w, bits=4, merge_tolerance=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 256, 10_000])
def test_native_bad_arguments_are_leanconv_errors(bad: int) -> None:
    codes = np.zeros((2, 2, 3, 3), np.int8)
    with pytest.raises(LeanconvError, match=r"merge tolerance must be an integer in 0\.\.=255"):
        _native.merge_patterns(codes, bad)
    with pytest.raises(LeanconvError, match="max_patterns must be >= 0"):
        _native.merge_patterns(codes, 1, max_patterns=-1)
    with pytest.raises(LeanconvError, match="C-contiguous"):
        _native.merge_patterns(np.zeros((4, 4), np.int8).T, 1)


def test_merging_needs_uniform_quantization() -> None:
    w = np.ones((4, 4), np.float32)
    with pytest.raises(LeanconvError, match="needs uniform quantization"):
        compress(w, bits=4, method="kmeans", merge_tolerance=1)
    with pytest.raises(LeanconvError, match="needs uniform quantization"):
        compress(w, bits=None, merge_tolerance=1)


def test_cli_merge_tolerance(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich folds headers in narrow terminals
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(8, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 16, 3))
    src = tmp_path / "net.pth"
    torch.save(net.state_dict(), src)
    out = tmp_path / "net.lcz"
    assert main(["compress", str(src), "-s", "0.75", "-b", "4", "--merge-tolerance", "1", "-o", str(out),
                 "--no-zstd"]) == 0
    rows = {r["name"]: r for r in describe_container(out)}
    assert rows["2.weight"]["merge_tolerance"] == 1
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "merge tol." in shown
    assert any("2.weight" in line and " 1 " in line for line in shown.splitlines())
    q = quantize_per_channel(prune_magnitude(net.state_dict()["2.weight"].numpy(), 0.75), 4)
    np.testing.assert_array_equal(load_codes(out, "2.weight")[0], _native.merge_patterns(q.codes, 1)[0])
    assert main(["compress", str(src), "-b", "4", "--merge-tolerance", "300", "-o", str(out)]) == 1


def reference_merge(codes: np.ndarray, tol: int, cap: int | None) -> np.ndarray:
    """The documented rule written out plainly (3x3 slices, zeros kept): targets are the
    patterns seen at least twice in dictionary order (count descending, then content), the
    first `cap` of them; every other pattern takes the most frequent target with its zeros
    within `tol`, ties by the smaller L1 distance, then by dictionary order."""
    vecs = codes.reshape(-1, 9).astype(np.int64)
    keys = [tuple(r) for r in vecs]
    counts: dict[tuple[int, ...], int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    targets = sorted((p for p, c in counts.items() if c >= 2), key=lambda p: (-counts[p], p))[:cap]
    tset = set(targets)
    out = vecs.copy()
    for i, k in enumerate(keys):
        if k in tset:
            continue
        p = np.array(k)
        ok = [t for t in targets if np.array_equal(np.array(t) == 0, p == 0) and np.max(np.abs(np.array(t) - p)) <= tol]
        if ok:
            best = min(ok, key=lambda t: (-counts[t], int(np.abs(np.array(t) - p).sum()), targets.index(t)))
            out[i] = best
    return out.reshape(codes.shape).astype(np.int8)


@pytest.mark.parametrize(("s", "bits", "tol", "cap"), [(0.75, 4, 1, None), (0.75, 4, 1, 16), (0.5, 4, 2, None),
                                                       (0.0, 4, 2, 16), (0.75, 8, 2, None)])
def test_native_merge_matches_a_plain_reference(s: float, bits: int, tol: int, cap: int | None) -> None:
    codes = conv_codes(s, bits)
    merged = _native.merge_patterns(codes, tol, max_patterns=cap)[0]
    np.testing.assert_array_equal(merged, reference_merge(codes, tol, cap))
