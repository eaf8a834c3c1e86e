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
from leanconv.arrays import as_c_float32

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


def family_specs(family: str, name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Specs inside the documented applicability of a family (all must be applicable), with
    independent pads on the four sides wherever the family takes padding."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        h = draw(st.integers(1, 13))
        # widths past 16 reach the register-blocked interior paths of the direct kernels
        w = draw(st.one_of(st.integers(1, 13), st.integers(14, 40)))
        pads = tuple(draw(st.integers(0, 3)) for _ in range(4))
        stride = draw(st.integers(1, 2))
        dil = draw(st.integers(1, 2))
        groups = 1
        if family in ("direct", "im2col", "im2row"):
            groups = draw(st.sampled_from([1, 1, 2, 3]))
            c = groups * draw(st.integers(1, 12))
            k = groups * draw(st.integers(1, 12))
            kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
            stride = (stride, draw(st.integers(1, 3)))
        elif family == "kn2row":
            c, k = draw(st.integers(1, 40)), draw(st.integers(1, 70))
            kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
            stride = 1
        elif family == "gemm1x1":
            c, k = draw(st.integers(1, 40)), draw(st.integers(1, 40))
            kh = kw = 1
            stride, pads = 1, (0, 0, 0, 0)
        elif family.startswith("winograd"):
            c, k = draw(st.integers(1, 40)), draw(st.integers(1, 40))
            kh = kw = 3
            stride, dil = 1, 1
        else:  # depthwise3x3 / depthwise5x5
            c = k = groups = draw(st.integers(1, 40))
            kh = kw = 3 if "3x3" in name else 5
            dil = 1
        sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
        assume((kh - 1) * dil + 1 <= h + pads[0] + pads[2] and (kw - 1) * dil + 1 <= w + pads[1] + pads[3])
        return {
            "spec": P.ConvSpec(c, k, h, w, (kh, kw), (sh, sw), pads, dil, groups),
            "batch": draw(st.integers(1, 3)),
            "activation": draw(st.sampled_from(["none", "relu", "relu6"])),
            "threads": draw(st.integers(1, 3)),
            "isa": draw(st.sampled_from(ISAS)),
            "bias": draw(st.booleans()),
            "seed": draw(st.integers(0, 2**31)),
        }

    return build()


def reference(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: P.ConvSpec, act: str
) -> tuple[np.ndarray, np.ndarray]:
    """float64 result (after the activation) and magnitude conv(|x|, |w|) + |b|, NCHW: torch
    pads explicitly (F.pad takes left, right, top, bottom), then convolves without padding."""
    top, left, bottom, right = spec.padding
    kw = dict(stride=spec.stride, dilation=spec.dilation, groups=spec.groups)
    xt = F.pad(torch.from_numpy(x).double(), (left, right, top, bottom))
    wt = torch.from_numpy(w).double()
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


def run_nchw(prim: P.Primitive, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: P.ConvSpec, **kw: Any) -> np.ndarray:
    """Runs a primitive on an NCHW batch, converting to and from NHWC for "hwc" primitives."""
    xi = x if prim.layout == "chw" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    y = prim.run(xi, w, b, stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups, **kw)
    return y if prim.layout == "chw" else y.transpose(0, 3, 1, 2)


def random_weights(spec: P.ConvSpec, rng: np.random.Generator, bias: bool) -> tuple[np.ndarray, np.ndarray | None]:
    cg = spec.in_channels // spec.groups
    w = rng.standard_normal((spec.out_channels, cg, *spec.kernel)) / math.sqrt(cg * spec.kernel[0] * spec.kernel[1])
    b = rng.standard_normal(spec.out_channels).astype(np.float32) if bias else None
    return w.astype(np.float32), b


def check(prim: P.Primitive, case: dict[str, Any]) -> None:
    spec: P.ConvSpec = case["spec"]
    assert prim.applicable(spec), f"{prim.name} should apply to {spec}"
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["batch"], spec.in_channels, spec.height, spec.width)).astype(np.float32)
    w, b = random_weights(spec, rng, case["bias"])
    y = run_nchw(prim, x, w, b, spec, activation=case["activation"], threads=case["threads"], isa=case["isa"])
    ref, mag = reference(x, w, b, spec, case["activation"])
    assert y.shape == ref.shape == (case["batch"], spec.out_channels, *spec.output_hw) and y.dtype == np.float32
    err = np.abs(y.astype(np.float64) - ref)
    if prim.family.startswith("winograd"):
        mag = tile_max(mag, 2 if prim.family == "winograd2x2" else 4)
    bound = TOL[prim.family] * EPS * mag + 1e-30
    worst = float((err / (EPS * mag + 1e-30)).max())
    assert np.all(err <= bound), f"{prim.name} {spec} {case}: worst error {worst:.1f} eps x magnitude"


@pytest.mark.parametrize("prim", P.PRIMITIVES, ids=lambda p: p.name)
def test_primitive_matches_float64_reference(prim: P.Primitive) -> None:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(family_specs(prim.family, prim.name))
    def inner(case: dict[str, Any]) -> None:
        check(prim, case)

    inner()


# Network-like layers reaching the vectorised paths of the depthwise kernels (HWC: 8-channel
# blocks plus a scalar tail, 4-pixel interior blocks; CHW: 8-column vectors, stride-2 even
# lanes) and of im2row's stem path (interior runs, lowered border tiles), with asymmetric pads,
# every activation, one to three threads (row splits) and both ISAs.
NET_LAYERS = [
    P.ConvSpec(32, 32, 23, 29, 3, 1, 1, groups=32),
    P.ConvSpec(44, 44, 22, 30, 3, 2, (0, 0, 1, 1), groups=44),
    P.ConvSpec(40, 40, 17, 19, 5, 2, 2, groups=40),
    P.ConvSpec(27, 27, 14, 14, 5, 1, (1, 2, 3, 2), groups=27),
    P.ConvSpec(3, 32, 30, 34, 3, 2, 1),
    P.ConvSpec(3, 20, 25, 27, 7, 2, (3, 2, 1, 3)),
]


@pytest.mark.parametrize("spec", NET_LAYERS, ids=str)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_network_like_layers_on_every_primitive(spec: P.ConvSpec, threads: int) -> None:
    prims = P.list_primitives(spec)
    assert any(p.family == ("depthwise" if spec.groups > 1 else "im2row") for p in prims)
    for i, prim in enumerate(prims):
        for isa in ISAS:
            case = {"spec": spec, "batch": 2, "activation": ["none", "relu", "relu6"][i % 3],
                    "threads": threads, "isa": isa, "bias": i % 2 == 0, "seed": i}
            check(prim, case)


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
        spec = P.ConvSpec(c, c if c > 3 else 64, hw, hw, 3, 1, 1)
        oh, ow = spec.output_hw
        full = c * 9 * oh * ow * 4
        cands = [p.workspace_bytes(spec) for p in P.list_primitives(spec)]
        assert min(cands) * 4 <= full
        assert P.get("kn2row_chw").workspace_bytes(spec) * 4 <= full or c <= 3
        padded = c * 9 * -(-oh * ow // 32) * 32 * 4  # pixels rounded up to a GEMM panel (<= 32)
        assert P.get("im2col_chw").workspace_bytes(spec) <= padded
        assert P.get("im2row_hwc").workspace_bytes(spec) <= padded
    big = P.ConvSpec(64, 64, 56, 56, 3, 1, 1)
    assert P.get("im2col_chw").workspace_bytes(big) * 8 <= 64 * 9 * 56 * 56 * 4


def test_applicability_filters() -> None:
    l5 = P.ConvSpec(8, 8, 9, 9, 5, 1, 2)
    names = {p.name for p in P.list_primitives(l5)}
    assert "winograd4x4_chw" not in names and "direct_chw" in names and "depthwise5x5_chw" not in names
    dw = P.ConvSpec(8, 8, 9, 9, 5, 2, 2, groups=8)
    assert {"depthwise5x5_chw", "depthwise5x5_hwc"} <= {p.name for p in P.list_primitives(dw)}
    assert not P.get("gemm1x1_chw").applicable(P.ConvSpec(8, 8, 9, 9, 1, 2, 0))
    # 1x1 GEMM reads the input as the GEMM operand: no padding on any side
    for pads in [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)]:
        assert not P.get("gemm1x1_hwc").applicable(P.ConvSpec(8, 8, 9, 9, 1, 1, pads))
    assert P.get("gemm1x1_hwc").applicable(P.ConvSpec(8, 8, 9, 9, 1))
    with pytest.raises(LeanconvError, match="ConvSpec"):
        P.get("direct_chw").applicable((8, 8, 9, 9))  # type: ignore[arg-type]


def test_torch_tensors_are_used_without_copy() -> None:
    t = torch.randn(1, 4, 6, 6)
    a = as_c_float32(t, "x")
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
    spec = P.ConvSpec(8, 16, 10, 7, 3, 1, 1, activation="relu")
    prim = P.get("winograd4x4_hwc")
    packed = prim.pack(w, b, spec=spec)
    assert packed.name == "winograd4x4_hwc" and packed.layout == "hwc" and packed.output_hw == (10, 7)
    assert packed.spec == spec and packed.isa == "auto"
    # 36 transformed 8x16 matrices, padded to the GEMM's micro-panel width on this CPU
    assert packed.packed_bytes == prim.packed_bytes(spec) >= 36 * 8 * 16 * 4
    assert packed.workspace_bytes == prim.workspace_bytes(spec) > 0
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
        wino.workspace_bytes(P.ConvSpec(4, 4, 8, 8, 5))
    # the native layer checks too
    spec = P.ConvSpec(4, 5, 6, 6, 3)
    with pytest.raises(LeanconvError, match="float32"):
        _native.PackedConv("direct_chw", spec, w.astype(np.float64))
    with pytest.raises(ShapeError, match="weight must have shape"):
        _native.PackedConv("direct_chw", P.ConvSpec(4, 5, 6, 6, 5), w)
    packed = _native.PackedConv("direct_chw", spec, w)
    with pytest.raises(LeanconvError, match="contiguous"):
        packed.run(np.zeros((1, 6, 6, 4), np.float32).transpose(0, 3, 1, 2))
    with pytest.raises(ShapeError, match="NCHW"):
        packed.run(np.zeros((1, 6, 6, 4), np.float32))
    with pytest.raises(LeanconvError, match="isa"):
        _native.PackedConv("direct_chw", spec, w, isa="sse9")


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
        spec = P.ConvSpec(19, 21, 11, 9, ww.shape[2], 1, pad)
        ys = [run_nchw(prim, x, ww, None, spec, isa=i) for i in ("scalar", "avx2", "avx512", "auto")]
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


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 9), st.integers(1, 9), st.integers(1, 20), st.integers(1, 20),
    st.tuples(st.integers(1, 6), st.integers(1, 6)), st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.tuples(*[st.integers(0, 4)] * 4), st.tuples(st.integers(1, 3), st.integers(1, 3)), st.integers(1, 3),
)
def test_spec_output_size_and_macs_match_torch(
    cg: int, kg: int, h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
    pads: tuple[int, int, int, int], dilation: tuple[int, int], groups: int,
) -> None:
    """Output size (and validity) as torch computes it for an explicitly padded input."""
    c, k = cg * groups, kg * groups
    top, left, bottom, right = pads
    x = torch.empty(1, c, h + top + bottom, w + left + right, device="meta")
    wt = torch.empty(k, cg, *kernel, device="meta")
    try:
        want = F.conv2d(x, wt, stride=stride, dilation=dilation, groups=groups).shape[2:]
    except RuntimeError:
        with pytest.raises(ShapeError, match="does not fit"):
            P.ConvSpec(c, k, h, w, kernel, stride, pads, dilation, groups)
        return
    spec = P.ConvSpec(c, k, h, w, kernel, stride, pads, dilation, groups)
    assert spec.output_hw == (spec.out_height, spec.out_width) == tuple(want)
    assert spec.macs == k * want[0] * want[1] * cg * kernel[0] * kernel[1]
    assert spec.padding == pads and spec.kernel == kernel and spec.stride == stride


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 30), st.integers(1, 5), st.integers(1, 4), st.integers(1, 2), st.integers(0, 2), st.booleans())
def test_window_output_size_matches_torch_pooling(
    size: int, kernel: int, stride: int, dilation: int, pad: int, ceil_mode: bool
) -> None:
    assume(pad <= kernel // 2)  # torch's pooling limit
    x = torch.zeros(1, 1, 1, size)
    try:
        want = F.max_pool2d(x, (1, kernel), (1, stride), (0, pad), (1, dilation), ceil_mode=ceil_mode).shape[3]
    except RuntimeError:
        with pytest.raises(ShapeError):
            P.window_output_size(size, kernel, stride, dilation, pad, pad, ceil_mode)
        return
    assert P.window_output_size(size, kernel, stride, dilation, pad, pad, ceil_mode) == want


def test_window_output_size_asymmetric_and_bad_arguments() -> None:
    # SAME_UPPER for size 7, kernel 4, stride 2: pads (1, 2), ceil(7 / 2) outputs
    assert P.window_output_size(7, 4, 2, 1, 1, 2, False) == 4
    with pytest.raises(ShapeError, match="does not fit"):
        P.window_output_size(2, 4, 1, 1, 0, 1, False)
    with pytest.raises(LeanconvError, match="stride"):
        P.window_output_size(5, 3, 0, 1, 0, 0, False)
    with pytest.raises(LeanconvError, match="pad_begin"):
        P.window_output_size(5, 3, 1, 1, -1, 0, False)


def test_conv_spec_value_semantics() -> None:
    spec = P.ConvSpec(8, 16, 9, 7, kernel=(3, 1), stride=2, padding=(0, 1, 1, 2), dilation=(1, 2), groups=2, activation="relu")
    assert spec.padding == (0, 1, 1, 2) and spec.dilation == (1, 2) and spec.activation == "relu"
    assert eval(repr(spec), {"ConvSpec": P.ConvSpec}) == spec
    assert hash(spec) == hash(P.ConvSpec(8, 16, 9, 7, (3, 1), (2, 2), [0, 1, 1, 2], (1, 2), 2, "relu"))
    assert spec != P.ConvSpec(8, 16, 9, 7, (3, 1), 2, (0, 1, 1, 1), (1, 2), 2, "relu")
    assert len({spec, eval(repr(spec), {"ConvSpec": P.ConvSpec})}) == 1
    assert P.ConvSpec(4, 4, 5, 5, padding=(1, 2)).padding == (1, 2, 1, 2)
    assert P.ConvSpec(4, 4, 5, 5, padding=np.int64(1)).padding == (1, 1, 1, 1)
    with pytest.raises(AttributeError):
        spec.groups = 4  # type: ignore[misc]
    for bad, field in [
        (dict(kernel=0), "kernel"), (dict(stride=(1, 2, 3)), "stride"), (dict(padding=(1, 2, 3)), "padding"),
        (dict(padding=-1), "padding"), (dict(dilation=1.5), "dilation"), (dict(groups=True), "groups"),
        (dict(activation="gelu"), "activation"),
    ]:
        with pytest.raises(LeanconvError, match=field):
            P.ConvSpec(4, 4, 5, 5, **bad)  # type: ignore[arg-type]
    with pytest.raises(LeanconvError, match="in_channels"):
        P.ConvSpec(-4, 4, 5, 5)
    with pytest.raises(ShapeError, match="groups"):
        P.ConvSpec(4, 6, 5, 5, groups=4)
    with pytest.raises(ShapeError, match="does not fit"):
        P.ConvSpec(4, 4, 2, 5, kernel=3, padding=(0, 0, 0, 0))
    assert P.ConvSpec(4, 4, 2, 5, kernel=3, padding=(0, 0, 1, 0)).output_hw == (1, 3)


class _Convs(torch.nn.Module):
    """Convs whose imported padding is asymmetric (padding="same" with even kernels), strided,
    dilated and grouped, followed by a non-conv layer."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(3, 8, 4, padding="same")
        self.b = torch.nn.Conv2d(8, 8, 3, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=4)
        self.c = torch.nn.Conv2d(8, 6, (2, 3), padding="same", dilation=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.c(self.b(self.a(x))))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_spec_from_layer_runs_every_conv_of_an_imported_graph() -> None:
    from leanconv.io.torch_import import import_torch

    torch.manual_seed(0)
    model = _Convs().eval()
    x = torch.randn(2, 3, 11, 10)
    graph = import_torch(model, x)
    convs = [layer for layer in graph.layers if layer.op == "conv"]
    assert len(convs) == 3
    specs = [P.spec_from_layer(graph, layer) for layer in convs]
    assert specs[0].padding == (1, 1, 2, 2) and specs[0].kernel == (4, 4)
    assert specs[1].stride == (2, 1) and specs[1].groups == 4 and specs[1].padding == (1, 2, 1, 2)
    assert specs[2].padding == (1, 2, 1, 2) and specs[2].dilation == (2, 2)
    assert P.spec_from_layer(graph, convs[1].name) == specs[1]
    # every applicable primitive, run from the spec alone, computes each module of the model
    y = x
    for layer, module, spec in zip(convs, (model.a, model.b, model.c), specs):
        with torch.no_grad():
            ref = module(y)
        assert (spec.in_channels, spec.height, spec.width) == tuple(y.shape[1:])
        assert (spec.out_channels, *spec.output_hw) == tuple(ref.shape[1:]) == layer.shape[1:]
        prims = P.list_primitives(spec)
        assert prims
        for prim in prims:
            xin = y if prim.layout == "chw" else y.permute(0, 2, 3, 1).contiguous()
            out = prim.pack(layer.weights["weight"], layer.weights.get("bias"), spec=spec).run(xin.numpy())
            out = out if prim.layout == "chw" else out.transpose(0, 3, 1, 2)
            assert np.allclose(out, ref.numpy(), atol=1e-4), prim.name
        y = ref
    relu = next(layer for layer in graph.layers if layer.op == "relu")
    with pytest.raises(UnsupportedOpError, match="not a conv"):
        P.spec_from_layer(graph, relu)
    with pytest.raises(LeanconvError, match="no layer"):
        P.spec_from_layer(graph, "nope")
