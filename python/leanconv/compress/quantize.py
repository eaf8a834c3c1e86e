"""Pruning, quantization and weight sharing, exactly to the protocol of CODEC_ANCHORS.md.

Every function takes a numpy array, a torch tensor (read through :func:`leanconv.arrays.to_numpy`)
or anything ``np.asarray`` accepts, and returns integer codes plus what dequantizes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from leanconv.arrays import to_numpy
from leanconv.errors import LeanconvError

__all__ = [
    "Quantized",
    "SharedWeights",
    "kmeans_share",
    "prune_global",
    "prune_magnitude",
    "quantize_per_channel",
]


def _as_float(w: object) -> npt.NDArray[np.float32]:
    a = to_numpy(w, "weights", from_device=True)
    if not np.issubdtype(a.dtype, np.floating):
        raise LeanconvError(f"expected a floating-point array, got dtype {a.dtype}")
    a32 = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a32)):
        raise LeanconvError("weights contain NaN or infinity")
    return a32


def _check_sparsity(sparsity: float) -> None:
    if not (0.0 <= sparsity <= 1.0):
        raise LeanconvError(f"sparsity must be in [0, 1], got {sparsity}")


def prune_magnitude(w: object, sparsity: float) -> npt.NDArray[np.float32]:
    """Per-layer magnitude pruning: the floor(sparsity * n) entries of smallest |w| become 0.

    Selection is a linear-time partition (deterministic for a given input); which of several
    entries with exactly the threshold magnitude go is unspecified. Returns a new array; the
    input is not modified.
    """
    _check_sparsity(sparsity)
    a = _as_float(w)
    n = a.size
    k = int(np.floor(sparsity * n))
    out = a.copy()
    if k <= 0:
        return out
    flat = out.reshape(-1)
    if k >= n:
        flat[:] = 0.0
        return out
    flat[np.argpartition(np.abs(flat), k - 1)[:k]] = 0.0
    return out


def prune_global(weights: Mapping[str, object], sparsity: float) -> dict[str, npt.NDArray[np.float32]]:
    """Global magnitude pruning: the floor(sparsity * N) smallest |w| over all tensors become 0."""
    _check_sparsity(sparsity)
    arrays = {k: _as_float(v) for k, v in weights.items()}
    total = sum(a.size for a in arrays.values())
    k = int(np.floor(sparsity * total))
    out = {name: a.copy() for name, a in arrays.items()}
    if k <= 0 or total == 0:
        return out
    allabs = np.concatenate([np.abs(a).reshape(-1) for a in arrays.values()])
    order = np.argpartition(allabs, k - 1)[:k] if k < total else np.arange(total)
    mask = np.ones(total, dtype=bool)
    mask[order] = False
    pos = 0
    for name, a in out.items():
        m = mask[pos : pos + a.size].reshape(a.shape)
        a[~m] = 0.0
        pos += a.size
    return out


@dataclass
class Quantized:
    """Integer codes and per-output-channel scales: ``w ~= codes * scale[c]``."""

    codes: npt.NDArray[np.int8]
    scales: npt.NDArray[np.float32]
    bits: int
    axis: int = 0

    def dequantize(self) -> npt.NDArray[np.float32]:
        if self.codes.ndim == 0:
            return (self.codes.astype(np.float32) * self.scales.reshape(())).astype(np.float32)
        shape = [1] * self.codes.ndim
        shape[self.axis] = -1
        return (self.codes.astype(np.float32) * self.scales.reshape(shape)).astype(np.float32)


def quantize_per_channel(w: object, bits: int, axis: int = 0) -> Quantized:
    """Uniform symmetric per-channel quantization (CODEC_ANCHORS protocol, step 2).

    qmax = 2^(bits-1) - 1; scale_c = max|w_c| / qmax (a channel of zeros keeps scale 0 and
    codes 0, and so does a channel whose float32 scale underflows to 0); q = clip(rint(w /
    scale_c), -qmax, qmax) with rint rounding half to even.
    """
    if not isinstance(bits, (int, np.integer)) or not (2 <= int(bits) <= 8):
        raise LeanconvError(f"bits must be an integer in 2..8, got {bits!r}")
    a = _as_float(w)
    qmax = (1 << (int(bits) - 1)) - 1
    if a.ndim == 0:
        a2 = a.reshape(1, 1)
        ax = 0
    else:
        ax = axis % a.ndim
        a2 = np.moveaxis(a, ax, 0).reshape(a.shape[ax], -1)
    amax = np.max(np.abs(a2), axis=1) if a2.shape[1] else np.zeros(a2.shape[0], np.float32)
    scales = (amax / np.float32(qmax)).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1.0)).astype(np.float32)
    q = np.rint(a2 / safe[:, None])
    q = np.clip(q, -qmax, qmax)
    q[scales == 0] = 0
    codes2 = q.astype(np.int8)
    if a.ndim == 0:
        return Quantized(codes2.reshape(()), scales.reshape(1), int(bits), 0)
    moved_shape = (a.shape[ax],) + tuple(s for i, s in enumerate(a.shape) if i != ax)
    codes = np.ascontiguousarray(np.moveaxis(codes2.reshape(moved_shape), 0, ax))
    return Quantized(codes, scales, int(bits), ax)


@dataclass
class SharedWeights:
    """k-means weight sharing: ``w ~= centroids[codes]`` (codes index the codebook).

    Zero stays exactly representable: ``centroids[0] == 0`` when ``keep_zero`` was set, and
    pruned entries map to code 0.
    """

    codes: npt.NDArray[np.int8]
    centroids: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))

    def dequantize(self) -> npt.NDArray[np.float32]:
        return self.centroids[self.codes.astype(np.int64)].astype(np.float32)


def kmeans_share(
    w: object, clusters: int, iters: int = 30, keep_zero: bool = True
) -> SharedWeights:
    """Deep Compression weight sharing: 1-D k-means with linear initialisation.

    Centroids start evenly spaced between min(w) and max(w) (Han et al. found linear
    initialisation best). With ``keep_zero`` pruned (exactly zero) weights keep code 0 and
    centroid 0; the other ``clusters - 1`` centroids are fitted to the non-zero weights.
    Codes are int8, so ``clusters`` must be in 2..128.
    """
    if not (2 <= clusters <= 128):
        raise LeanconvError(f"clusters must be in 2..128, got {clusters}")
    a = _as_float(w)
    flat = a.reshape(-1).astype(np.float64)
    k = clusters - 1 if keep_zero else clusters
    sel = flat != 0 if keep_zero else np.ones(flat.shape, bool)
    vals = flat[sel]
    codes = np.zeros(flat.shape, np.int64)
    if vals.size == 0:
        cents = np.zeros(clusters, np.float64)
    else:
        lo, hi = float(vals.min()), float(vals.max())
        cents_k = np.linspace(lo, hi, k) if k > 1 else np.array([vals.mean()])
        assign = np.zeros(vals.size, np.int64)
        for _ in range(iters):
            # nearest centroid via sorted midpoints (1-D)
            order = np.argsort(cents_k)
            cs = cents_k[order]
            mids = (cs[1:] + cs[:-1]) / 2
            assign = order[np.searchsorted(mids, vals)]
            sums = np.bincount(assign, weights=vals, minlength=k)
            cnts = np.bincount(assign, minlength=k)
            new = np.where(cnts > 0, sums / np.maximum(cnts, 1), cents_k)
            if np.allclose(new, cents_k):
                cents_k = new
                break
            cents_k = new
        order = np.argsort(cents_k)
        cs = cents_k[order]
        mids = (cs[1:] + cs[:-1]) / 2
        assign = order[np.searchsorted(mids, vals)]
        if keep_zero:
            cents = np.concatenate([[0.0], cents_k])
            codes[sel] = assign + 1
        else:
            cents = cents_k
            codes[sel] = assign
    return SharedWeights(codes.astype(np.int8).reshape(a.shape), cents.astype(np.float32))
