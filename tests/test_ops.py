"""The op table: for every op, the shape function (pure Python, used to build Graphs) agrees with
the shape of what its reference function (torch) computes, on generated valid layers."""

from __future__ import annotations

import math
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from leanconv.errors import ShapeError, UnsupportedOpError
from leanconv.graph import Layer
from leanconv.ops import OPS, output_shape

Shape = tuple[int, ...]
Case = tuple[Layer, list[Shape]]


def _weights(**shapes: Shape) -> dict[str, np.ndarray]:
    return {k: np.random.default_rng(0).standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def _fitting(draw: st.DrawFn, extent: int, pad_begin: int, pad_end: int) -> int:
    """An input size that a window of `extent` fits, with these pads."""
    return draw(st.integers(max(1, extent - pad_begin - pad_end), max(1, extent - pad_begin - pad_end) + 6))


def _any_shape(min_rank: int = 1, max_rank: int = 4) -> st.SearchStrategy[Shape]:
    return st.lists(st.integers(1, 5), min_size=min_rank, max_size=max_rank).map(tuple)


@st.composite
def conv(draw: st.DrawFn) -> Case:
    groups = draw(st.sampled_from([1, 2, 3]))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple(draw(st.integers(0, 3)) for _ in range(4))
    h = _fitting(draw, d[0] * (k[0] - 1) + 1, pads[0], pads[2])
    w = _fitting(draw, d[1] * (k[1] - 1) + 1, pads[1], pads[3])
    ws = _weights(weight=(o, c // groups, *k), **({"bias": (o,)} if draw(st.booleans()) else {}))
    attrs = {"stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))), "padding": pads, "dilation": d,
             "groups": groups}
    return Layer("l", "conv", ["x"], attrs, ws), [(draw(st.integers(1, 2)), c, h, w)]


@st.composite
def conv_transpose(draw: st.DrawFn) -> Case:
    groups = draw(st.sampled_from([1, 2]))
    c, o_per_g = groups * draw(st.integers(1, 2)), draw(st.integers(1, 3))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    for size, ki, si, pi, opi, di in zip((h, w), k, s, p, op, d):  # a non-empty output
        if (size - 1) * si - 2 * pi + di * (ki - 1) + opi + 1 < 1:
            p = (0, 0)
    attrs = {"stride": s, "padding": p, "output_padding": op, "dilation": d, "groups": groups}
    ws = _weights(weight=(c, o_per_g, *k), **({"bias": (o_per_g * groups,)} if draw(st.booleans()) else {}))
    return Layer("l", "conv_transpose", ["x"], attrs, ws), [(1, c, h, w)]


@st.composite
def linear(draw: st.DrawFn) -> Case:
    x = draw(_any_shape())
    out_f = draw(st.integers(1, 4))
    ws = _weights(weight=(out_f, x[-1]), **({"bias": (out_f,)} if draw(st.booleans()) else {}))
    return Layer("l", "linear", ["x"], {}, ws), [x]


@st.composite
def batchnorm(draw: st.DrawFn) -> Case:
    x = draw(_any_shape(2))
    return Layer("l", "batchnorm", ["x"], {}, _weights(scale=(x[1],), shift=(x[1],))), [x]


def elementwise(op: str, attrs: st.SearchStrategy[dict[str, float]] = st.just({})) -> st.SearchStrategy[Case]:
    return st.tuples(attrs, _any_shape()).map(lambda a: (Layer("l", op, ["x"], a[0]), [a[1]]))


@st.composite
def softmax(draw: st.DrawFn) -> Case:
    x = draw(_any_shape())
    return Layer("l", "softmax", ["x"], {"axis": draw(st.integers(-len(x), len(x) - 1))}), [x]


@st.composite
def lrn(draw: st.DrawFn) -> Case:
    attrs = {"size": draw(st.integers(1, 5)), "alpha": 1e-4, "beta": 0.75, "bias": 1.0}
    return Layer("l", "lrn", ["x"], attrs), [draw(_any_shape(3))]


def pool(op: str) -> st.SearchStrategy[Case]:
    @st.composite
    def layer(draw: st.DrawFn) -> Case:
        k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if op == "maxpool" else (1, 1)
        pads = (draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)),
                draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)))
        h = _fitting(draw, d[0] * (k[0] - 1) + 1, pads[0], pads[2])
        w = _fitting(draw, d[1] * (k[1] - 1) + 1, pads[1], pads[3])
        attrs = {"kernel": k, "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))), "padding": pads,
                 "ceil_mode": draw(st.booleans())}
        if op == "maxpool":
            attrs["dilation"] = d
        else:
            attrs["count_include_pad"] = draw(st.booleans())
        return Layer("l", op, ["x"], attrs), [(draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)]

    return layer()


@st.composite
def global_avgpool(draw: st.DrawFn) -> Case:
    return Layer("l", "global_avgpool", ["x"]), [draw(_any_shape(4, 4))]


@st.composite
def mean(draw: st.DrawFn) -> Case:
    x = draw(_any_shape())
    axes = draw(st.lists(st.integers(0, len(x) - 1), unique=True, max_size=len(x)))
    axes = [a - len(x) if draw(st.booleans()) else a for a in axes]  # negative axes too
    return Layer("l", "mean", ["x"], {"axes": tuple(axes), "keepdims": draw(st.booleans())}), [x]


@st.composite
def _broadcastable(draw: st.DrawFn) -> tuple[Shape, Shape]:
    """Two shapes that broadcast (numpy rules): the second drops leading dims and sets some to 1;
    either may come first."""
    a = draw(_any_shape())
    b = tuple(1 if draw(st.booleans()) else d for d in a[draw(st.integers(0, len(a) - 1)):])
    return (a, b) if draw(st.booleans()) else (b, a)


def binary(op: str) -> st.SearchStrategy[Case]:
    @st.composite
    def layer(draw: st.DrawFn) -> Case:
        a, b = draw(_broadcastable())
        if draw(st.booleans()):
            return Layer("l", op, ["x", "y"]), [a, b]
        attrs = {"const_first": True} if op in ("sub", "div") and draw(st.booleans()) else {}
        return Layer("l", op, ["x"], attrs, _weights(const=b)), [a]

    return layer()


@st.composite
def concat(draw: st.DrawFn) -> Case:
    x = draw(_any_shape())
    axis = draw(st.integers(-len(x), len(x) - 1))
    shapes = [tuple(draw(st.integers(1, 4)) if i == axis % len(x) else d for i, d in enumerate(x))
              for _ in range(draw(st.integers(1, 3)))]
    return Layer("l", "concat", [f"x{i}" for i in range(len(shapes))], {"axis": axis}), shapes


@st.composite
def flatten(draw: st.DrawFn) -> Case:
    x = draw(_any_shape())
    return Layer("l", "flatten", ["x"], {"axis": draw(st.integers(-len(x), len(x) - 1))}), [x]


@st.composite
def reshape(draw: st.DrawFn) -> Case:
    factors = draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))

    def grouped(fs: list[int]) -> Shape:
        cuts = sorted(draw(st.sets(st.integers(1, len(fs) - 1), max_size=3))) if len(fs) > 1 else []
        bounds = [0, *cuts, len(fs)]
        return tuple(math.prod(fs[i:j]) for i, j in zip(bounds, bounds[1:]))

    target = grouped(draw(st.permutations(factors)))
    return Layer("l", "reshape", ["x"], {"shape": target}), [grouped(factors)]


@st.composite
def transpose(draw: st.DrawFn) -> Case:
    x = draw(_any_shape())
    return Layer("l", "transpose", ["x"], {"perm": tuple(draw(st.permutations(range(len(x)))))}), [x]


@st.composite
def slice_(draw: st.DrawFn) -> Case:
    x = draw(_any_shape())
    axis = draw(st.integers(-len(x), len(x) - 1))
    start = draw(st.integers(0, x[axis] - 1))
    end = draw(st.integers(start + 1, x[axis]))
    return Layer("l", "slice", ["x"], {"axis": axis, "start": start, "end": end}), [x]


@st.composite
def upsample(draw: st.DrawFn) -> Case:
    attrs = {"mode": draw(st.sampled_from(["nearest", "bilinear"])),
             "size": (draw(st.integers(1, 9)), draw(st.integers(1, 9))), "align_corners": draw(st.booleans())}
    return Layer("l", "upsample", ["x"], attrs), [draw(_any_shape(4, 4))]


CASES: dict[str, st.SearchStrategy[Case]] = {
    "conv": conv(), "conv_transpose": conv_transpose(), "linear": linear(), "batchnorm": batchnorm(),
    "relu": elementwise("relu"),
    "clip": elementwise("clip", st.tuples(st.floats(-3, 0), st.floats(0, 3)).map(lambda m: {"min": m[0], "max": m[1]})),
    "sigmoid": elementwise("sigmoid"),
    "hardsigmoid": elementwise("hardsigmoid", st.just({"alpha": 0.2, "beta": 0.5})),
    "hardswish": elementwise("hardswish"), "silu": elementwise("silu"), "tanh": elementwise("tanh"),
    "softmax": softmax(), "lrn": lrn(), "maxpool": pool("maxpool"), "avgpool": pool("avgpool"),
    "global_avgpool": global_avgpool(), "mean": mean(),
    "add": binary("add"), "sub": binary("sub"), "mul": binary("mul"), "div": binary("div"),
    "concat": concat(), "flatten": flatten(), "reshape": reshape(), "transpose": transpose(),
    "slice": slice_(), "upsample": upsample(),
}


def reference_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    xs = [torch.randn(s, dtype=torch.float64) for s in shapes]

    def weight(key: str) -> torch.Tensor:
        return torch.as_tensor(layer.weights[key], dtype=torch.float64)

    with torch.no_grad():
        return tuple(OPS[layer.op].reference(layer, xs, weight).shape)


def test_every_op_has_generated_cases() -> None:
    assert set(CASES) == set(OPS)


@pytest.mark.parametrize("op", sorted(OPS))
def test_shape_function_agrees_with_reference(op: str) -> None:
    @settings(max_examples=60, deadline=None)
    @given(CASES[op])
    def check(case: Case) -> None:
        layer, shapes = case
        assert output_shape(layer, shapes) == reference_shape(layer, shapes)

    check()


def _conv_layer(**attrs: object) -> Layer:
    base = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
    return Layer("c1", "conv", ["x"], {**base, **attrs}, _weights(weight=(2, 1, 3, 3)))


@pytest.mark.parametrize("layer, shapes, message", [
    (_conv_layer(), [(1, 1, 2, 2)], "window of 3"),
    (_conv_layer(), [(1, 2, 5, 5)], "2 channels"),
    (_conv_layer(), [(1, 1, 5)], "input must be 4-D"),
    (_conv_layer(), [(1, 1, 5, 5), (1, 1, 5, 5)], "1 input"),
    (_conv_layer(stride=(0, 1)), [(1, 1, 5, 5)], "stride"),
    (Layer("p", "maxpool", ["x"], {"kernel": (2, 2), "stride": (2, 2), "padding": (2, 0, 0, 0), "dilation": (1, 1),
                                   "ceil_mode": False}), [(1, 1, 4, 4)], "smaller than the kernel"),
    (Layer("a", "add", ["x", "y"]), [(1, 3), (1, 4)], "broadcast"),
    (Layer("s", "slice", ["x"], {"axis": 1, "start": 2, "end": 2}), [(1, 3)], "empty"),
    (Layer("r", "reshape", ["x"], {"shape": (1, -1)}), [(1, 3)], "every dimension"),
    (Layer("t", "transpose", ["x"], {"perm": (0, 0)}), [(1, 3)], "permutation"),
    (Layer("m", "mean", ["x"], {"axes": (1, -1), "keepdims": False}), [(1, 3)], "twice"),
    (Layer("f", "flatten", ["x"], {"axis": 2}), [(1, 3)], "out of range"),
    (Layer("c", "conv", ["x"], {"stride": (1, 1)}, _weights(weight=(2, 1, 3, 3))), [(1, 1, 5, 5)], "missing"),
])
def test_shape_errors_name_the_layer(layer: Layer, shapes: list[Shape], message: str) -> None:
    with pytest.raises(ShapeError, match=f"layer {layer.name!r}.*{message}"):
        output_shape(layer, shapes)


def test_unknown_op_is_refused() -> None:
    with pytest.raises(UnsupportedOpError, match="'lstm'"):
        Layer("l", "lstm", ["x"])


def test_ceil_mode_counts_no_window_that_starts_in_end_padding() -> None:
    # size 4, kernel 2, stride 2, pads (0, 1): a third window would start in the end padding.
    layer = Layer("p", "maxpool", ["x"], {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0, 1, 1),
                                          "dilation": (1, 1), "ceil_mode": True})
    assert output_shape(layer, [(1, 1, 4, 4)]) == (1, 1, 2, 2) == reference_shape(layer, [(1, 1, 4, 4)])

