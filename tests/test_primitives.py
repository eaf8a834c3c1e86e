"""Every convolution primitive against a float64 torch reference, on property-based shapes.

Error bounds are relative to the magnitude ``conv(|x|, |w|) + |b|`` of each output (for
Winograd: the largest magnitude in the output's m x m tile, since all outputs of a tile come from
the same transformed values), in units of float32 epsilon. Measured worst cases over random layers (tests/ and bench/conv): direct, im2col,
im2row, kn2row, 1x1-GEMM and depthwise stay within about 4 eps of that magnitude (PyTorch's own
float32 result: also about 4); against the tile magnitude, Winograd F(2x2,3x3) about 10 and
Winograd F(4x4,3x3) about 30 (worst over 400 random small layers each) -- its
transforms multiply intermediate values by up to 4-5 (input) and 8 (output), so its error is the
largest. The bounds below leave headroom over those measurements; a wrong tap, a wrong padding or
a missed channel is off by the size of a whole term, millions of eps, and fails.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from leanconv import LeanconvError, ShapeError, UnsupportedOpError, _native
from leanconv import primitives as P

EPS = float(np.finfo(np.float32).eps)
TOL = {
    "direct": 16,
    "im2col": 16,
    "im2row": 16,
    "kn2row": 16,
    "gemm1x1": 16,
    "depthwise": 16,
    "winograd2x2": 48,
    "winograd4x4": 200,
}
ISAS = ["auto", "scalar"]


def family_layers(family: str, name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Layers inside the documented applicability of a family (all must be applicable)."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        h = draw(st.integers(1, 13))
        # widths past 16 reach the register-blocked interior paths of the direct kernels
        w = draw(st.one_of(st.integers(1, 13), st.integers(14, 40)))
        pad = draw(st.integers(0, 2))
        stride = draw(st.integers(1, 2))
        dil = draw(st.integers(1, 2))
        groups = 1
        if family in ("direct", "im2col", "im2row"):
            groups = draw(st.sampled_from([1, 1, 2, 3]))
            c = groups * draw(st.integers(1, 12))
            k = groups * draw(st.integers(1, 12))
            kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        elif family == "kn2row":
            c, k = draw(st.integers(1, 40)), draw(st.integers(1, 70))
            kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
            stride = 1
        elif family == "gemm1x1":
            c, k = draw(st.integers(1, 40)), draw(st.integers(1, 40))
            kh = kw = 1
            stride, pad = 1, 0
        elif family.startswith("winograd"):
            c, k = draw(st.integers(1, 40)), draw(st.integers(1, 40))
            kh = kw = 3
            stride, dil = 1, 1
        else:  # depthwise3x3 / depthwise5x5
            c = k = groups = draw(st.integers(1, 40))
            kh = kw = 3 if "3x3" in name else 5
            dil = 1
        assume((kh - 1) * dil + 1 <= h + 2 * pad and (kw - 1) * dil + 1 <= w + 2 * pad)
        return {
            "layer": P.ConvLayer.make(c, k, h, w, (kh, kw), stride, pad, dil, groups),
            "batch": draw(st.integers(1, 3)),
            "activation": draw(st.sampled_from(["none", "relu", "relu6"])),
            "threads": draw(st.integers(1, 3)),
            "isa": draw(st.sampled_from(ISAS)),
            "bias": draw(st.booleans()),
            "seed": draw(st.integers(0, 2**31)),
        }

    return build()


def reference(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, layer: P.ConvLayer, act: str
) -> tuple[np.ndarray, np.ndarray]:
    """float64 result (after the activation) and magnitude conv(|x|, |w|) + |b|, NCHW."""
    kw = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    xt, wt = torch.from_numpy(x).double(), torch.from_numpy(w).double()
    bt = None if b is None else torch.from_numpy(b).double()
    y = F.conv2d(xt, wt, bt, **kw)
    mag = F.conv2d(xt.abs(), wt.abs(), None if bt is None else bt.abs(), **kw)
    if act == "relu":
        y = y.clamp_min(0)
    elif act == "relu6":
        y = y.clamp(0, 6)
    return y.numpy(), mag.numpy()


def tile_max(mag: np.ndarray, m: int) -> np.ndarray:
    """Largest magnitude within each output's m x m Winograd tile: a tile's outputs all come
    from the same transformed values, so their errors scale with the tile, not the element."""
    t = torch.from_numpy(mag)
    pooled = F.max_pool2d(t, m, m, ceil_mode=True)
    up = pooled.repeat_interleave(m, 2).repeat_interleave(m, 3)
    return up[:, :, : mag.shape[2], : mag.shape[3]].numpy()


def run_nchw(prim: P.Primitive, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, layer: P.ConvLayer, **kw: Any) -> np.ndarray:
    """Runs a primitive on an NCHW batch, converting to and from NHWC for "hwc" primitives."""
    xi = x if prim.layout == "chw" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    y = prim.run(
        xi, w, b, stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups, **kw
    )
    return y if prim.layout == "chw" else y.transpose(0, 3, 1, 2)


def check(prim: P.Primitive, case: dict[str, Any]) -> None:
    layer: P.ConvLayer = case["layer"]
    assert prim.applicable(layer), f"{prim.name} should apply to {layer}"
    rng = np.random.default_rng(case["seed"])
    cg = layer.in_channels // layer.groups
    x = rng.standard_normal((case["batch"], layer.in_channels, layer.height, layer.width)).astype(np.float32)
    w = (rng.standard_normal((layer.out_channels, cg, *layer.kernel)) / math.sqrt(cg * layer.kernel[0] * layer.kernel[1])).astype(np.float32)
    b = rng.standard_normal(layer.out_channels).astype(np.float32) if case["bias"] else None
    y = run_nchw(prim, x, w, b, layer, activation=case["activation"], threads=case["threads"], isa=case["isa"])
    ref, mag = reference(x, w, b, layer, case["activation"])
    assert y.shape == ref.shape and y.dtype == np.float32
    err = np.abs(y.astype(np.float64) - ref)
    if prim.family.startswith("winograd"):
        mag = tile_max(mag, 2 if prim.family == "winograd2x2" else 4)
    bound = TOL[prim.family] * EPS * mag + 1e-30
    worst = float((err / (EPS * mag + 1e-30)).max())
    assert np.all(err <= bound), f"{prim.name} {layer} {case}: worst error {worst:.1f} eps x magnitude"


@pytest.mark.parametrize("prim", P.PRIMITIVES, ids=lambda p: p.name)
def test_primitive_matches_float64_reference(prim: P.Primitive) -> None:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(family_layers(prim.family, prim.name))
    def inner(case: dict[str, Any]) -> None:
        check(prim, case)

    inner()


def test_registry_has_every_family_and_layout() -> None:
    names = [p.name for p in P.PRIMITIVES]
    assert len(names) >= 16 and len(set(names)) == len(names)
    pairs = {(p.family, p.layout) for p in P.PRIMITIVES}
    for fam, lay in [
        ("direct", "chw"), ("direct", "hwc"), ("im2col", "chw"), ("im2row", "hwc"), ("kn2row", "chw"),
        ("gemm1x1", "chw"), ("gemm1x1", "hwc"), ("winograd2x2", "chw"), ("winograd2x2", "hwc"),
        ("winograd4x4", "chw"), ("winograd4x4", "hwc"), ("depthwise", "chw"), ("depthwise", "hwc"),
    ]:
        assert (fam, lay) in pairs
    assert P.get("direct_chw").family == "direct"


def test_lowest_memory_3x3_needs_quarter_of_im2col() -> None:
    # the baseline is classic im2col's whole lowered matrix (C/g*KH*KW x OH*OW floats); our
    # im2col lowers the output pixels in cache-sized blocks, so it needs at most that
    for c, hw in [(64, 56), (128, 28), (256, 14), (512, 7), (3, 224)]:
        layer = P.ConvLayer.make(c, c if c > 3 else 64, hw, hw, 3, 1, 1)
        oh, ow = layer.output_hw
        full = c * 9 * oh * ow * 4
        cands = [p.workspace_bytes(layer) for p in P.list_primitives(layer)]
        assert min(cands) * 4 <= full
        assert P.get("kn2row_chw").workspace_bytes(layer) * 4 <= full or c <= 3
        padded = c * 9 * -(-oh * ow // 32) * 32 * 4  # pixels rounded up to a GEMM panel (<= 32)
        assert P.get("im2col_chw").workspace_bytes(layer) <= padded
        assert P.get("im2row_hwc").workspace_bytes(layer) <= padded
    big = P.ConvLayer.make(64, 64, 56, 56, 3, 1, 1)
    assert P.get("im2col_chw").workspace_bytes(big) * 8 <= 64 * 9 * 56 * 56 * 4


def test_applicability_filters() -> None:
    l5 = P.ConvLayer.make(8, 8, 9, 9, 5, 1, 2)
    names = {p.name for p in P.list_primitives(l5)}
    assert "winograd4x4_chw" not in names and "direct_chw" in names and "depthwise5x5_chw" not in names
    dw = P.ConvLayer.make(8, 8, 9, 9, 5, 2, 2, groups=8)
    assert {"depthwise5x5_chw", "depthwise5x5_hwc"} <= {p.name for p in P.list_primitives(dw)}
    assert not P.get("gemm1x1_chw").applicable(P.ConvLayer.make(8, 8, 9, 9, 1, 2, 0))


def test_torch_tensors_are_used_without_copy() -> None:
    t = torch.randn(1, 4, 6, 6)
    a = P.as_float32_array(t, "x")
    assert a.ctypes.data == t.data_ptr()
    w = torch.randn(5, 4, 3, 3)
    y = P.get("direct_chw").run(t, w, None, padding=1)
    ref = F.conv2d(t, w, padding=1).numpy()
    assert np.allclose(y, ref, atol=1e-4)
    # NHWC from a channels_last tensor, without a copy
    tc = t.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
    y2 = P.get("direct_hwc").run(tc, w, None, padding=1)
    assert np.allclose(y2.transpose(0, 3, 1, 2), ref, atol=1e-4)


def test_packed_weights_reused_across_batches() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    packed = P.get("winograd4x4_hwc").pack(w, b, height=10, width=7, padding=1, activation="relu")
    assert packed.name == "winograd4x4_hwc" and packed.layout == "hwc" and packed.output_hw == (10, 7)
    layer = P.ConvLayer.make(8, 16, 10, 7, 3, 1, 1)
    prim = P.get("winograd4x4_hwc")
    # 36 transformed 8x16 matrices, padded to the GEMM's micro-panel width on this CPU
    assert packed.packed_bytes == prim.packed_bytes(layer) >= 36 * 8 * 16 * 4
    assert packed.workspace_bytes == prim.workspace_bytes(layer) > 0
    for n in (1, 4):
        x = rng.standard_normal((n, 10, 7, 8)).astype(np.float32)
        y = packed.run(x, 2)
        ref = F.relu(F.conv2d(torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(w), torch.from_numpy(b), padding=1))
        assert np.allclose(y, ref.permute(0, 2, 3, 1).numpy(), atol=1e-3)


def test_bad_inputs_give_clear_errors() -> None:
    prim = P.get("im2col_chw")
    x = np.zeros((1, 4, 6, 6), np.float32)
    w = np.zeros((5, 4, 3, 3), np.float32)
    with pytest.raises(LeanconvError, match="float32"):
        prim.run(x.astype(np.float64), w)
    with pytest.raises(LeanconvError, match="float32"):
        prim.run(x, w.astype(np.int32))
    with pytest.raises(LeanconvError, match="contiguous"):
        prim.run(np.zeros((1, 6, 6, 4), np.float32).transpose(0, 3, 1, 2), w)
    with pytest.raises(LeanconvError, match="contiguous"):
        prim.run(torch.zeros(1, 6, 6, 4).permute(0, 3, 1, 2), w)
    with pytest.raises(LeanconvError, match="float32"):
        prim.run(torch.zeros(1, 4, 6, 6, dtype=torch.float64), w)
    with pytest.raises(LeanconvError, match="CPU"):
        prim.run(torch.zeros(1, 4, 6, 6, device="meta"), w)
    with pytest.raises(LeanconvError, match="numpy array"):
        prim.run([[1.0]], w)
    with pytest.raises(ShapeError):
        prim.run(np.zeros((4, 6, 6), np.float32), w)
    with pytest.raises(ShapeError):
        prim.run(np.zeros((1, 3, 6, 6), np.float32), w)
    with pytest.raises(ShapeError):
        prim.run(x, w, np.zeros(4, np.float32))
    with pytest.raises(ShapeError):
        prim.run(np.zeros((1, 4, 2, 2), np.float32), w)  # kernel larger than the input
    with pytest.raises(ShapeError):
        prim.run(x, np.zeros((5, 4, 3), np.float32))
    with pytest.raises(ShapeError):
        prim.run(x, np.zeros((6, 2, 3, 3), np.float32), groups=3)  # weight implies 6 input channels
    with pytest.raises(LeanconvError, match="activation"):
        prim.run(x, w, activation="gelu")  # type: ignore[arg-type]
    with pytest.raises(LeanconvError, match="padding"):
        prim.run(x, w, padding=-1)
    with pytest.raises(LeanconvError, match="threads"):
        prim.run(x, w, threads=0)
    with pytest.raises(LeanconvError, match="unknown primitive"):
        P.get("fft_chw")
    wino = P.get("winograd4x4_chw")
    with pytest.raises(UnsupportedOpError, match="winograd4x4_chw"):
        wino.run(np.zeros((1, 4, 8, 8), np.float32), np.zeros((4, 4, 5, 5), np.float32))
    with pytest.raises(UnsupportedOpError):
        wino.run(x, w, stride=2)
    with pytest.raises(UnsupportedOpError):
        wino.workspace_bytes(P.ConvLayer.make(4, 4, 8, 8, 5))
    # the native layer checks too
    with pytest.raises(LeanconvError, match="float32"):
        _native.PackedConv("direct_chw", w.astype(np.float64), None, 6, 6)
    packed = _native.PackedConv("direct_chw", w, None, 6, 6)
    with pytest.raises(LeanconvError, match="contiguous"):
        packed.run(np.zeros((1, 6, 6, 4), np.float32).transpose(0, 3, 1, 2))
    with pytest.raises(ShapeError, match="NCHW"):
        packed.run(np.zeros((1, 6, 6, 4), np.float32))
    with pytest.raises(LeanconvError, match="isa"):
        _native.PackedConv("direct_chw", w, None, 6, 6, isa="sse9")


def test_isa_resolution_and_forced_isas_agree() -> None:
    assert P.resolved_isa("scalar") == "scalar"
    assert P.resolved_isa() in ("avx512", "avx2", "neon", "scalar")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 19, 11, 9)).astype(np.float32)
    w = rng.standard_normal((21, 19, 3, 3)).astype(np.float32)
    for name in ("im2col_chw", "winograd4x4_chw", "gemm1x1_hwc"):
        prim = P.get(name)
        ww = w if name != "gemm1x1_hwc" else w[:, :, :1, :1].copy()
        pad = 0 if name == "gemm1x1_hwc" else 1
        ys = [run_nchw(prim, x, ww, None, P.ConvLayer.make(19, 21, 11, 9, ww.shape[2], 1, pad), isa=i) for i in ("scalar", "avx2", "avx512", "auto")]
        for y in ys[1:]:
            assert np.allclose(y, ys[0], rtol=1e-4, atol=1e-3)


def test_sgemm_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    for m, k, n in [(1, 1, 1), (37, 300, 70), (129, 65, 33)]:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        for isa in ("auto", "scalar"):
            assert np.allclose(_native.sgemm(a, b, isa), ref, atol=1e-4 * k)
    with pytest.raises(ShapeError):
        _native.sgemm(np.zeros((2, 3), np.float32), np.zeros((4, 2), np.float32))
