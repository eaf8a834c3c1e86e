"""Pruning, quantization and weight sharing against the CODEC_ANCHORS protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from leanconv import LeanconvError
from leanconv.compress import kmeans_share, prune_global, prune_magnitude, quantize_per_channel

weights = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=7),
    elements=st.floats(-4, 4, width=32),
)


def reference_quantize(w: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """The protocol written out channel by channel."""
    qmax = 2 ** (b - 1) - 1
    codes = np.zeros(w.shape, np.int8)
    scales = np.zeros(w.shape[0], np.float32)
    for c in range(w.shape[0]):
        m = np.max(np.abs(w[c]))
        if m == 0:
            continue
        scales[c] = np.float32(m) / np.float32(qmax)
        if scales[c] == 0:  # a subnormal maximum whose scale underflows: a channel of zeros
            continue
        codes[c] = np.clip(np.rint(w[c] / scales[c]), -qmax, qmax).astype(np.int8)
    return codes, scales


@given(weights, st.sampled_from([0.0, 0.3, 0.5, 0.75, 1.0]))
def test_prune_zeroes_exactly_the_smallest_floor_sn(w: np.ndarray, s: float) -> None:
    p = prune_magnitude(w, s)
    k = int(np.floor(s * w.size))
    removed = (p == 0) & (w != 0)
    assert int(np.count_nonzero(p == 0)) >= k
    # every removed entry is no larger than every kept one
    kept = np.abs(w[p != 0])
    if removed.any() and kept.size:
        assert np.abs(w[removed]).max() <= kept.min()
    # survivors are untouched
    np.testing.assert_array_equal(p[p != 0], w[p != 0])
    # existing zeros are the smallest entries: exactly max(k, zeros before) zeros after
    assert int(np.count_nonzero(p == 0)) == max(k, int(np.count_nonzero(w == 0)))


@given(weights, st.integers(2, 8))
@example(np.array([1e-45], np.float32), 3)  # subnormal maximum: the scale underflows to 0
@settings(max_examples=150)
def test_quantization_matches_the_protocol(w: np.ndarray, b: int) -> None:
    q = quantize_per_channel(w, b)
    codes, scales = reference_quantize(w, b)
    np.testing.assert_array_equal(q.codes, codes)
    np.testing.assert_array_equal(q.scales, scales)
    assert q.codes.dtype == np.int8
    qmax = 2 ** (b - 1) - 1
    assert np.abs(q.codes.astype(int)).max(initial=0) <= qmax
    # dequantization error at most half a step per channel
    err = np.abs(q.dequantize() - w).reshape(w.shape[0], -1).max(axis=1)
    assert np.all(err <= scales * 0.5 * (1 + 1e-5) + 1e-7)


def test_rint_rounds_half_to_even_and_zero_channels_stay_zero() -> None:
    # channel 0: max 7 -> scale exactly 1 for b=4: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2, 0.5 -> 0
    w = np.array([[7.0, 2.5, 3.5, -2.5, 0.5], [0, 0, 0, 0, 0]], np.float32)
    q = quantize_per_channel(w, 4)
    assert q.codes[0].tolist() == [7, 2, 4, -2, 0]
    assert q.codes[1].tolist() == [0, 0, 0, 0, 0] and q.scales[1] == 0


def test_quantize_accepts_torch_and_rejects_bad_bits() -> None:
    t = torch.randn(8, 3, 3, 3)
    q = quantize_per_channel(t, 8)
    np.testing.assert_array_equal(q.codes, quantize_per_channel(t.numpy(), 8).codes)
    for bad in (1, 9, 4.5):
        with pytest.raises(LeanconvError):
            quantize_per_channel(t, bad)  # type: ignore[arg-type]
    with pytest.raises(LeanconvError):
        prune_magnitude(t, 1.5)
    with pytest.raises(LeanconvError):
        quantize_per_channel(np.array([np.nan, 1.0], np.float32), 4)


def test_bfloat16_and_trainable_tensors_are_read_like_float32() -> None:
    t = torch.randn(4, 2, 3, 3, requires_grad=True)
    widened = t.detach().to(torch.bfloat16).float().numpy()
    for given_ in (t, t.detach().to(torch.bfloat16)):
        expected = prune_magnitude(widened if given_.dtype == torch.bfloat16 else t.detach().numpy(), 0.5)
        np.testing.assert_array_equal(prune_magnitude(given_, 0.5), expected)
    assert prune_global({"a": t.to(torch.bfloat16)}, 0.25)["a"].dtype == np.float32


def test_global_pruning_uses_one_threshold() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (64,)).astype(np.float32)
    b = rng.normal(0, 1e-5, (64,)).astype(np.float32)  # small weights: pruned first
    out = prune_global({"a": a, "b": b}, 0.5)
    assert np.count_nonzero(out["b"]) == 0
    assert np.count_nonzero(out["a"]) == 64
    per_layer = prune_magnitude(b, 0.5)
    assert np.count_nonzero(per_layer) == 32


def test_kmeans_sharing_keeps_zero_and_fits() -> None:
    rng = np.random.default_rng(1)
    w = prune_magnitude(rng.normal(0, 1, (32, 16, 3, 3)).astype(np.float32), 0.5)
    sw = kmeans_share(w, 16)
    assert sw.codes.shape == w.shape and sw.codes.dtype == np.int8
    assert sw.centroids[0] == 0 and sw.centroids.size == 16
    np.testing.assert_array_equal(sw.codes == 0, w == 0)
    err16 = np.abs(sw.dequantize() - w).mean()
    err4 = np.abs(kmeans_share(w, 4).dequantize() - w).mean()
    assert err16 < err4 < np.abs(w).mean()
    # linear initialisation is deterministic
    np.testing.assert_array_equal(kmeans_share(w, 16).codes, sw.codes)
