"""The runtime end to end: random small DAGs compiled with the default planner, and with each
primitive forced through an explicit plan, against the reference executor; the default
model; bad inputs and ops the runtime lacks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import leanconv
from leanconv import LeanconvError, PlanError, ShapeError, UnsupportedOpError
from leanconv import primitives as P
from leanconv.graph import Graph, Layer
from leanconv.ops import RESIZE_COORDS
from leanconv.runtime import compile, reference
from leanconv.runtime.plan import VIEW_KERNELS, LayerStep, TransformStep, graph_digest
from leanconv.runtime.planner import default_plan, kernel_names

#: The runtime's outputs match the float64 reference within this, relative to the output's
#: largest magnitude (Winograd's transforms included: its documented bound is far below).
RTOL = 1e-4

#: Per primitive family, conv parameters inside its applicability.
FAMILIES = sorted({p.family for p in P.PRIMITIVES})


def close(y: np.ndarray, ref: np.ndarray) -> None:
    assert y.shape == ref.shape and y.dtype == np.float32
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(y.astype(np.float64) - ref).max())
    assert err <= RTOL * scale, f"max error {err:.3g} at output magnitude {scale:.3g}"


@st.composite
def conv_layer(draw: st.DrawFn, name: str, x: str, shape: tuple[int, ...], family: str | None,
               rng: np.random.Generator) -> Layer:
    """A conv over ``shape`` (N, C, H, W) that the primitives of ``family`` (any family when
    None) apply to."""
    _, c, h, w = shape
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)),) * 2
    groups = 1
    k = draw(st.integers(1, 8))
    kernel = (draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 2, 3])))
    if family in (None, "direct", "im2col", "im2row"):
        groups = draw(st.sampled_from([1, 1, 2, c])) if c % 2 == 0 else draw(st.sampled_from([1, c]))
        k = groups * draw(st.integers(1, 3))
    elif family == "kn2row":
        stride = (1, 1)
    elif family == "gemm1x1":
        kernel, stride, pads, dilation = (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)
    elif family.startswith("winograd"):
        kernel, stride, dilation = (3, 3), (1, 1), (1, 1)
    elif family == "depthwise":
        groups = k = c
        kernel = draw(st.sampled_from([(3, 3), (5, 5)]))
        dilation = (1, 1)
    assume((kernel[0] - 1) * dilation[0] + 1 <= h + pads[0] + pads[2])
    assume((kernel[1] - 1) * dilation[1] + 1 <= w + pads[1] + pads[3])
    fan_in = c // groups * kernel[0] * kernel[1]
    weights = {"weight": (rng.standard_normal((k, c // groups, *kernel)) / np.sqrt(fan_in)).astype(np.float32)}
    if draw(st.booleans()):
        weights["bias"] = rng.standard_normal(k).astype(np.float32)
    return Layer(name, "conv", [x], {"stride": stride, "padding": pads, "dilation": dilation, "groups": groups},
                 weights)


@st.composite
def conv_transpose_layer(draw: st.DrawFn, name: str, x: str, shape: tuple[int, ...],
                         rng: np.random.Generator) -> Layer:
    """A transposed convolution over ``shape``: groups (depthwise-transposed with a channel
    multiplier included), strides 1-3, padding, output padding, dilation."""
    _, c, h, w = shape
    groups = draw(st.sampled_from([g for g in (1, 2, c) if c % g == 0]))
    out_channels = groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    full = [(n - 1) * s + d * (k - 1) + op + 1
            for n, k, s, d, op in zip((h, w), kernel, stride, dilation, output_padding)]
    padding = tuple(draw(st.integers(0, min(2, (f - 1) // 2))) for f in full)
    weights = {"weight": (rng.standard_normal((c, out_channels // groups, *kernel))
                          / np.sqrt(c // groups * kernel[0] * kernel[1])).astype(np.float32)}
    if draw(st.booleans()):
        weights["bias"] = rng.standard_normal(out_channels).astype(np.float32)
    return Layer(name, "conv_transpose", [x], {"stride": stride, "padding": padding, "output_padding": output_padding,
                                               "dilation": dilation, "groups": groups}, weights)


def shape_after(layer: Layer, shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    return Graph("probe", {t: shapes[t] for t in layer.inputs}, [layer], [layer.name]).layers[0].shape


@st.composite
def networks(draw: st.DrawFn, family: str | None = None) -> tuple[Graph, np.ndarray]:
    """A random DAG: convs (asymmetric pads, strides, groups, depthwise; the first one inside
    ``family``), transposed convolutions, activations, adds, per-channel muls, channel concats, pooling; its outputs
    the last tensor and maybe one more."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 2))
    shapes: dict[str, tuple[int, ...]] = {"x": (n, draw(st.integers(1, 6)), draw(st.integers(3, 11)),
                                               draw(st.integers(3, 11)))}
    layers: list[Layer] = []
    live = ["x"]  # tensors later layers may read

    def add(layer: Layer, readable: bool = True) -> str:
        shapes[layer.name] = shape_after(layer, shapes)
        layers.append(layer)
        if readable:
            live.append(layer.name)
        return layer.name

    def four_d() -> list[str]:
        return [t for t in live if len(shapes[t]) == 4]

    name = iter(f"l{i}" for i in range(100))
    add(draw(conv_layer(next(name), "x", shapes["x"], family, rng)))
    for _ in range(draw(st.integers(0, 6))):
        x = draw(st.sampled_from(four_d()))
        kind = draw(st.sampled_from(["conv", "conv_transpose", "relu", "relu6", "sigmoid", "hardswish", "add", "mul",
                                     "concat", "concat_copy", "slice", "resize", "maxpool", "avgpool",
                                     "batchnorm", "gelu", "layernorm", "pad", "reshape_chain"]))
        s = shapes[x]
        if kind == "conv":
            add(draw(conv_layer(next(name), x, s, None, rng)))
        elif kind == "conv_transpose":
            add(draw(conv_transpose_layer(next(name), x, s, rng)))
        elif kind in ("relu", "sigmoid", "hardswish"):
            add(Layer(next(name), kind, [x]))
        elif kind == "gelu":
            add(Layer(next(name), "gelu", [x], {"approximate": "none"}))
        elif kind == "layernorm":  # over the channels, with or without its affine part
            affine = {"scale": rng.standard_normal(s[1]).astype(np.float32),
                      "shift": rng.standard_normal(s[1]).astype(np.float32)} if draw(st.booleans()) else {}
            add(Layer(next(name), "layernorm", [x], {"axes": (1,), "eps": draw(st.sampled_from([1e-6, 1e-5]))}, affine))
        elif kind == "pad":
            mode = draw(st.sampled_from(["constant", "reflect", "edge"]))
            limit = (min(s[2], s[3]) - 1) if mode == "reflect" else 2
            padding = tuple(draw(st.integers(0, min(2, limit))) for _ in range(4))
            add(Layer(next(name), "pad", [x], {"padding": padding, "mode": mode,
                                                "value": draw(st.sampled_from([0.0, -1.5]))}))
        elif kind == "reshape_chain":  # a channel slice viewed through two reshapes (Inception's input transform)
            one = add(Layer(next(name), "slice", [x], {"axis": 1, "start": 0, "end": 1}), readable=False)
            flat = add(Layer(next(name), "reshape", [one], {"shape": (s[0], s[2], s[3])}), readable=False)
            add(Layer(next(name), "reshape", [flat], {"shape": (s[0], 1, s[2], s[3])}))
        elif kind == "relu6":
            add(Layer(next(name), "clip", [x], {"min": 0.0, "max": 6.0}))
        elif kind == "add":
            same = [t for t in four_d() if shapes[t] == s]
            add(Layer(next(name), "add", [x, draw(st.sampled_from(same))]))
        elif kind == "mul":  # per-channel constant, as a folded scale
            const = rng.standard_normal((1, s[1], 1, 1)).astype(np.float32)
            add(Layer(next(name), "mul", [x], {}, {"const": const}))
        elif kind == "batchnorm":
            add(Layer(next(name), "batchnorm", [x], {}, {"scale": rng.standard_normal(s[1]).astype(np.float32),
                                                         "shift": rng.standard_normal(s[1]).astype(np.float32)}))
        elif kind == "concat_copy":  # tensors others read too: copied into the concat
            same = [t for t in four_d() if shapes[t][0] == s[0] and shapes[t][2:] == s[2:]]
            add(Layer(next(name), "concat", [x, draw(st.sampled_from(same))], {"axis": 1}))
        elif kind == "slice":
            start = draw(st.integers(0, s[1] - 1))
            add(Layer(next(name), "slice", [x], {"axis": 1, "start": start, "end": draw(st.integers(start + 1, s[1]))}))
        elif kind == "resize":
            mode = draw(st.sampled_from(["nearest", "bilinear"]))
            if mode == "nearest":  # power-of-two factors keep every source coordinate exact
                f = draw(st.sampled_from([1, 2, 4]))
                size, coord = (s[2] * f, s[3] * f), "asymmetric"
            else:
                size = (draw(st.integers(1, 2 * s[2])), draw(st.integers(1, 2 * s[3])))
                coord = draw(st.sampled_from(RESIZE_COORDS))
            add(Layer(next(name), "resize", [x], {"mode": mode, "size": size, "scale": (size[0] / s[2], size[1] / s[3]),
                                                  "coord": coord, "nearest": "floor"}))
        elif kind == "concat":  # two convs of x written into their channel slices
            pad = {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
            parts = []
            for _ in range(2):
                k = draw(st.integers(1, 4))
                w = (rng.standard_normal((k, s[1], 3, 3)) / np.sqrt(9 * s[1])).astype(np.float32)
                conv = add(Layer(next(name), "conv", [x], dict(pad), {"weight": w}), readable=False)
                if draw(st.booleans()):
                    conv = add(Layer(next(name), "relu", [conv]), readable=False)
                parts.append(conv)
            add(Layer(next(name), "concat", parts, {"axis": 1}))
        else:
            k = draw(st.integers(1, min(3, s[2], s[3])))
            pads = tuple(draw(st.integers(0, (k - 1) // 2)) for _ in range(4))
            attrs: dict[str, Any] = {"kernel": (k, k), "stride": (draw(st.integers(1, 2)),) * 2, "padding": pads,
                                     "ceil_mode": draw(st.booleans())}
            if kind == "maxpool":
                attrs["dilation"] = (1, 1)
            else:
                attrs["count_include_pad"] = draw(st.booleans())
            add(Layer(next(name), kind, [x], attrs))
    outputs = [live[-1]]
    extra = draw(st.sampled_from(live[1:]))
    if extra not in outputs and draw(st.booleans()):
        outputs.append(extra)
    if draw(st.booleans()):  # a classifier head
        last = outputs[0]
        pool = draw(st.sampled_from(["global_avgpool", "mean", "mean_flat"]))
        if pool == "global_avgpool":
            outputs[0] = add(Layer(next(name), pool, [last]))
        else:  # a mean over the spatial axes is global average pooling
            axes = draw(st.sampled_from([(2, 3), (-1, -2)]))
            outputs[0] = add(Layer(next(name), "mean", [last], {"axes": axes, "keepdims": pool == "mean"}))
        if draw(st.booleans()):
            outputs[0] = add(Layer(next(name), "flatten", [outputs[0]], {"axis": 1}))
            features = shapes[outputs[0]][1]
            k = draw(st.integers(1, 10))
            head = {"weight": rng.standard_normal((k, features)).astype(np.float32)}
            if draw(st.booleans()):
                head["bias"] = rng.standard_normal(k).astype(np.float32)
            outputs[0] = add(Layer(next(name), "linear", [outputs[0]], {}, head))
            if draw(st.booleans()):
                outputs[0] = add(Layer(next(name), "softmax", [outputs[0]], {"axis": 1}))
    graph = Graph("random", {"x": shapes["x"]}, layers, outputs)
    x = rng.standard_normal(shapes["x"]).astype(np.float32)
    return graph, x


def check_network(graph: Graph, x: np.ndarray, plan: Any = None) -> None:
    exe = compile(graph, plan)
    ys = exe.run(x)
    ys = ys if isinstance(ys, list) else [ys]
    refs = reference.run(graph, x, dtype=np.float64)
    for y, ref in zip(ys, refs, strict=True):
        close(y, ref)


SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


@SETTINGS
@given(networks(), st.sampled_from([1, 2]))
def test_default_planner_matches_the_reference(net: tuple[Graph, np.ndarray], threads: int) -> None:
    graph, x = net
    exe = compile(graph, threads=threads)
    ys = exe.run(x)
    ys = ys if isinstance(ys, list) else [ys]
    for y, ref in zip(ys, reference.run(graph, x, dtype=np.float64), strict=True):
        close(y, ref)
    assert exe.arena_bytes == exe.plan.arena_bytes and exe.workspace_bytes <= exe.plan.workspace_bytes
    assert 0 < exe.arena_lower_bound <= exe.arena_bytes


@pytest.mark.parametrize("prim", P.PRIMITIVES, ids=lambda p: p.name)
def test_each_primitive_forced_by_a_plan_matches_the_reference(prim: P.Primitive) -> None:
    @settings(max_examples=8, deadline=None,
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(networks(prim.family))
    def inner(net: tuple[Graph, np.ndarray]) -> None:
        graph, x = net
        forced = {layer.name: prim.name for layer in graph.layers
                  if layer.op == "conv" and prim.applicable(P.spec_from_layer(graph, layer))}
        assume(forced)
        plan = default_plan(graph, kernels=forced)
        used = {s.layer: s.kernel for s in plan.steps if isinstance(s, LayerStep) and s.op == "conv"}
        assert all(used[name] == prim.name for name in forced)
        if prim.layout == "hwc":  # an hwc conv reading the chw graph input needs a transform
            assert any(isinstance(s, TransformStep) for s in plan.steps)
        note(repr([(layer.name, layer.op, layer.attrs, layer.shape) for layer in graph.layers]))
        check_network(graph, x, plan)

    inner()


def test_fusion_views_and_transforms_in_the_default_plan() -> None:
    rng = np.random.default_rng(1)
    conv = {"stride": (1, 1), "padding": (0, 1, 2, 1), "dilation": (1, 1), "groups": 1}
    w = lambda k, c: rng.standard_normal((k, c, 3, 3)).astype(np.float32)  # noqa: E731
    layers = [
        Layer("a", "conv", ["x"], conv, {"weight": w(6, 3)}), Layer("a_relu", "relu", ["a"]),
        Layer("b", "conv", ["x"], conv, {"weight": w(2, 3)}), Layer("b_relu6", "clip", ["b"], {"min": 0.0, "max": 6.0}),
        Layer("cat", "concat", ["a_relu", "b_relu6"], {"axis": 1}), Layer("flat", "flatten", ["cat"], {"axis": 1}),
    ]
    graph = Graph("g", {"x": (2, 3, 7, 6)}, layers, ["flat"])
    plan = default_plan(graph, kernels={"a": "im2row_hwc", "b": "direct_chw"})
    steps = {s.layer: s for s in plan.steps if isinstance(s, LayerStep)}
    assert steps["a"].fused == ["a_relu"] and steps["a"].activation == "relu" and steps["a"].output == "a_relu"
    assert steps["b"].activation == "relu6" and steps["cat"].kernel == "concat_view"
    assert steps["flat"].kernel == "reshape_view" and plan.tensors["flat"].view_of is not None
    # the hwc conv's transform back to chw writes its concat slice; the chw conv writes its own
    assert plan.tensors["a_relu@chw"].view_of.channel_offset == 0  # type: ignore[union-attr]
    assert plan.tensors["b_relu6"].view_of.channel_offset == 6  # type: ignore[union-attr]
    check_network(graph, rng.standard_normal((2, 3, 7, 6)).astype(np.float32), plan)


@pytest.mark.parametrize("first", ["direct_chw", "im2row_hwc"])
def test_conv_transpose_steps_run_in_their_input_layout_with_a_fused_relu6(first: str) -> None:
    rng = np.random.default_rng(3)
    conv = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
    up = {"stride": (3, 2), "padding": (1, 0), "output_padding": (2, 1), "dilation": (1, 2), "groups": 4}
    layers = [
        Layer("c", "conv", ["x"], conv, {"weight": rng.standard_normal((4, 3, 1, 1)).astype(np.float32)}),
        Layer("up", "conv_transpose", ["c"], up, {"weight": rng.standard_normal((4, 2, 3, 2)).astype(np.float32),
                                                  "bias": rng.standard_normal(8).astype(np.float32)}),
        Layer("up6", "clip", ["up"], {"min": 0.0, "max": 6.0}),
    ]
    graph = Graph("g", {"x": (2, 3, 4, 5)}, layers, ["up6"])
    plan = default_plan(graph, threads=2, kernels={"c": first})
    step = next(s for s in plan.steps if isinstance(s, LayerStep) and s.layer == "up")
    assert step.kernel == f"deconv_{first[-3:]}" and step.fused == ["up6"] and step.activation == "relu6"
    assert step.packed_bytes > 0
    exe = compile(graph, plan)
    assert exe.workspace_bytes <= plan.workspace_bytes and exe.packed_bytes == plan.packed_bytes
    check_network(graph, rng.standard_normal((2, 3, 4, 5)).astype(np.float32) * 4, plan)


def shuffle_graph(n: int, c: int, groups: int, h: int, w: int) -> Graph:
    """conv -> reshape (n, g, c/g, h, w) -> transpose (0, 2, 1, 3, 4) -> reshape (n, c, h, w)
    -> relu: ShuffleNet's channel shuffle."""
    rng = np.random.default_rng(6)
    conv = {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
    return Graph("shuffle", {"x": (n, 3, h, w)}, [
        Layer("c", "conv", ["x"], conv, {"weight": rng.standard_normal((c, 3, 3, 3)).astype(np.float32)}),
        Layer("split", "reshape", ["c"], {"shape": (n, groups, c // groups, h, w)}),
        Layer("swap", "transpose", ["split"], {"perm": (0, 2, 1, 3, 4)}),
        Layer("merge", "reshape", ["swap"], {"shape": (n, c, h, w)}),
        Layer("r", "relu", ["merge"]),
    ], ["r"])


@pytest.mark.parametrize("first", ["direct_chw", "im2row_hwc"])
@pytest.mark.parametrize(("n", "c", "groups"), [(1, 6, 2), (2, 12, 3), (1, 5, 5)])
def test_a_channel_shuffle_runs_as_one_kernel_in_its_input_layout(first: str, n: int, c: int, groups: int) -> None:
    graph = shuffle_graph(n, c, groups, 4, 3)
    plan = default_plan(graph, kernels={"c": first})
    step = next(s for s in plan.steps if isinstance(s, LayerStep) and s.layer == "split")
    assert step.kernel == f"channel_shuffle_{first[-3:]}" and step.fused == ["swap", "merge"]
    assert step.output == "merge" and step.inputs == ["c"]
    check_network(graph, np.random.default_rng(7).standard_normal((n, 3, 4, 3)).astype(np.float32), plan)


def test_a_shuffle_kernel_on_layers_that_are_no_shuffle_is_a_plan_error() -> None:
    graph = shuffle_graph(1, 6, 2, 4, 3)
    graph.layers[2].attrs = {"perm": (0, 1, 2, 4, 3)}  # swaps h and w: no channel shuffle
    graph.infer_shapes()
    with pytest.raises(UnsupportedOpError, match="'swap'.*'transpose'"):
        compile(graph)
    plan = default_plan(shuffle_graph(1, 6, 2, 4, 3))
    plan.graph = type(plan.graph)(graph.name, graph_digest(graph))
    for t in ("split", "swap"):
        plan.tensors.pop(t, None)
    with pytest.raises(PlanError, match="channel shuffle"):
        compile(graph, plan)


def test_the_default_model_runs_end_to_end() -> None:
    graph = leanconv.load_model(None)
    assert all(kernel_names(layer.op) or layer.op in ("relu", "clip") for layer in graph.layers)
    x = np.random.default_rng(2).standard_normal(graph.inputs["x"]).astype(np.float32)
    check_network(graph, x)
    check_network(graph, x, default_plan(graph, threads=2))


def test_bad_inputs_are_shape_errors() -> None:
    graph = Graph("g", {"x": (1, 2, 5, 5)}, [
        Layer("c", "conv", ["x"], {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1},
              {"weight": np.ones((3, 2, 3, 3), np.float32)})], ["c"])
    exe = compile(graph)
    with pytest.raises(ShapeError, match="expects"):
        exe.run(np.zeros((1, 2, 5, 4), np.float32))
    with pytest.raises(ShapeError, match="float32"):
        exe.run(np.zeros((1, 2, 5, 5), np.float64))
    with pytest.raises(ShapeError, match="missing"):
        exe.run({"y": np.zeros((1, 2, 5, 5), np.float32)})
    import torch
    y = exe.run(torch.ones((1, 2, 5, 5)))
    assert isinstance(y, np.ndarray) and y.shape == (1, 3, 5, 5) and float(y[0, 0, 2, 2]) == 18.0


@pytest.mark.parametrize("threads", [1, 2])
def test_profile_times_every_writing_step_and_the_output_copy(threads: int) -> None:
    graph = leanconv.load_model(None)
    plan = default_plan(graph, threads=threads)
    exe = compile(graph, plan)
    x = np.random.default_rng(3).standard_normal(graph.inputs["x"]).astype(np.float32)
    times = exe.profile(x, runs=3)
    writing = [s.output for s in plan.steps if not (isinstance(s, LayerStep) and s.kernel in VIEW_KERNELS)]
    assert list(times) == [*writing, "<outputs>"]
    assert all(t >= 0 for t in times.values()) and sum(times.values()) > 0
    cpu = exe.profile(x, runs=3, cpu=True)
    assert list(cpu) == list(times) and sum(cpu.values()) > 0
    np.testing.assert_array_equal(exe.run(x), compile(graph, plan).run(x))  # profiling leaves the arena usable
    with pytest.raises(LeanconvError, match="runs"):
        exe.profile(x, runs=0)
    with pytest.raises(ShapeError, match="float32"):
        exe.profile(x.astype(np.float64))
    with pytest.raises(ShapeError):
        exe.profile(x[..., :-1])


#: Zoo models the runtime runs end to end (input shape overrides where the default is large).
ZOO = {"centerface": None, "ppocrv4-det": (1, 3, 64, 64), "vgg19": None, "inception-v2": None, "resnet50": None,
       "squeezenet": None, "densenet121": None, "alexnet": None, "googlenet": None, "zfnet512": None,
       "shufflenet": None}


@pytest.mark.parametrize("name", ZOO)
def test_zoo_models_run_end_to_end(name: str) -> None:
    graph = leanconv.io.load_model(name, input_shape=ZOO[name])
    (shape,) = graph.inputs.values()
    check_network(graph, np.random.default_rng(4).standard_normal(shape).astype(np.float32))


def test_a_mean_off_the_spatial_axes_is_an_unsupported_op_error() -> None:
    graph = Graph("g", {"x": (1, 4, 5, 5)}, [Layer("m", "mean", ["x"], {"axes": (1,), "keepdims": True})], ["m"])
    with pytest.raises(UnsupportedOpError, match="'m'.*'mean'"):
        compile(graph)


def test_an_op_without_a_kernel_is_an_unsupported_op_error_naming_op_and_layer() -> None:
    graph = Graph("g", {"x": (1, 4, 5, 6)}, [Layer("swap", "transpose", ["x"], {"perm": (0, 1, 3, 2)})], ["swap"])
    with pytest.raises(UnsupportedOpError, match="'swap'.*'transpose'"):
        compile(graph)
