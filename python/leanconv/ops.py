"""The op table: what every Graph op means, defined once.

Each :class:`Op` gives what a layer of that op holds in ``attrs`` and ``weights`` (``doc``), its
shape function (pure Python over the input shapes and the weights' shapes: the Graph infers
shapes with it, so building a Graph needs numpy alone) and its reference function (torch
functional ops, imported when first called: :mod:`leanconv.runtime.reference` runs a Graph
with them, and the importers and leanconv's own kernels are checked against it). The output
size of every sliding-window op (conv, pooling) comes from the one formula in the Rust core,
``window_output_size``, which the kernels use too.

Tensors are NCHW (batch first); attrs hold plain ints, floats, bools and tuples of ints.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from leanconv._native import window_output_size
from leanconv.errors import ShapeError

if TYPE_CHECKING:
    from torch import Tensor

    from leanconv.graph import Layer


Shape = tuple[int, ...]
#: (layer, input shapes) -> output shape; raises ShapeError when the inputs do not fit.
ShapeFn = Callable[["Layer", list[Shape]], Shape]
#: (layer, input tensors, weight getter) -> output tensor; the getter gives a weight by key as a
#: tensor of the run's dtype and device.
ReferenceFn = Callable[["Layer", list["Tensor"], Callable[[str], "Tensor"]], "Tensor"]


@dataclass(frozen=True)
class Op:
    name: str
    #: What a layer's attrs and weights hold.
    doc: str
    shape: ShapeFn
    reference: ReferenceFn
    #: Whether the weights are learned parameters (the ones the codecs compress).
    weighted: bool = False


def output_shape(layer: Layer, input_shapes: list[Shape]) -> Shape:
    """The output shape of ``layer`` given its input shapes; a ShapeError naming the layer when
    they do not fit or its attrs and weights are malformed."""
    op = OPS[layer.op]  # Layer refuses ops that are not in the table
    try:
        return op.shape(layer, [tuple(s) for s in input_shapes])
    except KeyError as e:
        raise ShapeError(f"layer {layer.name!r} ({layer.op}): missing attr or weight {e}") from None
    except (ValueError, TypeError, IndexError, OverflowError) as e:
        raise ShapeError(f"layer {layer.name!r} ({layer.op}) with inputs {input_shapes}: {e}") from None


# -- shape helpers -----------------------------------------------------------------------------


def _inputs(shapes: list[Shape], count: int) -> list[Shape]:
    if len(shapes) != count:
        raise ShapeError(f"takes {count} input(s), got {len(shapes)}")
    return shapes


def _only(shapes: list[Shape]) -> Shape:
    return _inputs(shapes, 1)[0]


def _four_d(shape: Shape, what: str = "input") -> Shape:
    if len(shape) != 4:
        raise ShapeError(f"{what} must be 4-D, got shape {shape}")
    return shape


def _axis(axis: int, rank: int) -> int:
    """``axis`` in [-rank, rank) as a non-negative index."""
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for a {rank}-D tensor")
    return axis % rank


def _weight_shape(layer: Layer, key: str) -> Shape:
    return tuple(layer.weights[key].shape)


def _bias_fits(layer: Layer, channels: int) -> None:
    if "bias" in layer.weights and _weight_shape(layer, "bias") != (channels,):
        raise ShapeError(f"bias has shape {_weight_shape(layer, 'bias')}, expected ({channels},)")


def _window_hw(layer: Layer, h: int, w: int, kernel: tuple[int, int], ceil_mode: bool) -> tuple[int, int]:
    """Output (h, w) of a sliding window over an (h, w) input: the Rust formula per axis."""
    a = layer.attrs
    top, left, bottom, right = a["padding"]
    (sh, sw), (dh, dw) = a["stride"], a.get("dilation", (1, 1))
    return (window_output_size(h, kernel[0], sh, dh, top, bottom, ceil_mode),
            window_output_size(w, kernel[1], sw, dw, left, right, ceil_mode))


def _same(layer: Layer, shapes: list[Shape]) -> Shape:
    return _only(shapes)


# -- shape functions -----------------------------------------------------------------------------


def _conv_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    n, c, h, w = _four_d(_only(shapes))
    o, i_per_g, kh, kw = _four_d(_weight_shape(layer, "weight"), "weight")
    groups = layer.attrs["groups"]
    if groups < 1 or o % groups or c != i_per_g * groups:
        raise ShapeError(f"input has {c} channels; weight {_weight_shape(layer, 'weight')} with groups={groups} "
                         f"needs {i_per_g * groups} and output channels divisible by the groups")
    _bias_fits(layer, o)
    return (n, o, *_window_hw(layer, h, w, (kh, kw), False))


def _conv_transpose_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    n, c, h, w = _four_d(_only(shapes))
    i, o_per_g, kh, kw = _four_d(_weight_shape(layer, "weight"), "weight")
    a = layer.attrs
    groups = a["groups"]
    if groups < 1 or i % groups or c != i:
        raise ShapeError(f"input has {c} channels; weight {_weight_shape(layer, 'weight')} needs {i}, "
                         f"divisible by groups={groups}")
    _bias_fits(layer, o_per_g * groups)
    out = []
    for size, k, s, p, op, d in zip((h, w), (kh, kw), a["stride"], a["padding"], a["output_padding"], a["dilation"]):
        if min(s, d) < 1 or p < 0 or not 0 <= op < max(s, d):
            raise ShapeError(f"stride {a['stride']}, dilation {a['dilation']} must be positive, padding "
                             f"{a['padding']} non-negative, output_padding {a['output_padding']} smaller "
                             "than the stride or the dilation")
        out.append((size - 1) * s - 2 * p + d * (k - 1) + op + 1)
    if min(out) < 1:
        raise ShapeError(f"output size {tuple(out)} is empty")
    return (n, o_per_g * groups, out[0], out[1])


def _linear_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    x = _only(shapes)
    w = _weight_shape(layer, "weight")
    if len(w) != 2:
        raise ShapeError(f"weight must be 2-D (out, in), got shape {w}")
    out_f, in_f = w
    if not x or x[-1] != in_f:
        raise ShapeError(f"input's last dimension must be {in_f} (weight {(out_f, in_f)})")
    _bias_fits(layer, out_f)
    return (*x[:-1], out_f)


def _batchnorm_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    x = _only(shapes)
    if len(x) < 2:
        raise ShapeError(f"needs an (N, C, ...) input, got shape {x}")
    for key in ("scale", "shift"):
        if _weight_shape(layer, key) != (x[1],):
            raise ShapeError(f"{key} has shape {_weight_shape(layer, key)}, expected ({x[1]},)")
    return x


def _softmax_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    x = _only(shapes)
    _axis(layer.attrs["axis"], len(x))
    return x


def _lrn_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    x = _only(shapes)
    if len(x) < 3 or layer.attrs["size"] < 1:
        raise ShapeError(f"needs an (N, C, ...) input of 3 or more dimensions and size >= 1, got shape {x}")
    return x


def _pool_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    n, c, h, w = _four_d(_only(shapes))
    a = layer.attrs
    kernel = a["kernel"]
    # Every window must hold an input element (ONNX's rule): a window of padding alone has no
    # maximum and no average.
    if any(p >= k for p, k in zip(a["padding"], (*kernel, *kernel))):
        raise ShapeError(f"padding {a['padding']} must be smaller than the kernel {kernel}")
    return (n, c, *_window_hw(layer, h, w, kernel, a["ceil_mode"]))


def _global_avgpool_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    n, c, _, _ = _four_d(_only(shapes))
    return (n, c, 1, 1)


def _mean_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    x = _only(shapes)
    axes = {_axis(d, len(x)) for d in layer.attrs["axes"]}
    if len(axes) != len(layer.attrs["axes"]):
        raise ShapeError(f"axes {layer.attrs['axes']} name a dimension twice")
    if layer.attrs["keepdims"]:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def _binary_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    if len(shapes) == 1:
        shapes = [shapes[0], _weight_shape(layer, "const")]
    a, b = _inputs(shapes, 2)
    return tuple(int(d) for d in np.broadcast_shapes(a, b))


def _concat_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    if not shapes:
        raise ShapeError("takes at least one input")
    first = shapes[0]
    axis = _axis(layer.attrs["axis"], len(first))
    for s in shapes[1:]:
        if len(s) != len(first) or any(d != e for i, (d, e) in enumerate(zip(s, first)) if i != axis):
            raise ShapeError(f"inputs {shapes} differ outside axis {axis}")
    return (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1:])


def _flatten_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    x = _only(shapes)
    axis = _axis(layer.attrs["axis"], max(len(x), 1))
    return (*x[:axis], math.prod(x[axis:]))


def _reshape_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    x = _only(shapes)
    target = tuple(layer.attrs["shape"])
    if any(d < 0 for d in target) or math.prod(target) != math.prod(x):
        raise ShapeError(f"cannot reshape {x} to {target} (every dimension given, same element count)")
    return target


def _transpose_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    x = _only(shapes)
    perm = tuple(layer.attrs["perm"])
    if sorted(perm) != list(range(len(x))):
        raise ShapeError(f"perm {perm} is not a permutation of the {len(x)} dimensions")
    return tuple(x[p] for p in perm)


def _slice_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    x = _only(shapes)
    a = layer.attrs
    axis = _axis(a["axis"], len(x))
    if not 0 <= a["start"] < a["end"] <= x[axis]:
        raise ShapeError(f"slice [{a['start']}, {a['end']}) is empty or outside axis {axis} of size {x[axis]}")
    return (*x[:axis], a["end"] - a["start"], *x[axis + 1:])


def _upsample_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    n, c, _, _ = _four_d(_only(shapes))
    h, w = layer.attrs["size"]
    if min(h, w) < 1 or layer.attrs["mode"] not in ("nearest", "bilinear"):
        raise ShapeError(f"size {(h, w)} must be positive and mode nearest or bilinear")
    return (n, c, h, w)


# -- reference functions (torch imported on first use) ------------------------------------------


def _bias(layer: Layer, weight: Callable[[str], Tensor]) -> Tensor | None:
    return weight("bias") if "bias" in layer.weights else None


def _torch_pad(padding: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) as F.pad's (left, right, top, bottom)."""
    t, left, b, r = padding
    return (left, r, t, b)


def _conv_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch.nn.functional as F

    a = layer.attrs
    t, left, b, r = a["padding"]
    x, pad = xs[0], (t, left)
    if (t, left) != (b, r):  # torch takes symmetric padding only: pad asymmetric first
        x, pad = F.pad(x, _torch_pad(a["padding"])), (0, 0)
    return F.conv2d(x, weight("weight"), _bias(layer, weight), a["stride"], pad, a["dilation"], a["groups"])


def _conv_transpose_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch.nn.functional as F

    a = layer.attrs
    return F.conv_transpose2d(xs[0], weight("weight"), _bias(layer, weight), a["stride"], a["padding"],
                              a["output_padding"], a["groups"], a["dilation"])


def _linear_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch.nn.functional as F

    return F.linear(xs[0], weight("weight"), _bias(layer, weight))


def _batchnorm_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    x = xs[0]
    view = (1, -1) + (1,) * (x.dim() - 2)
    return x * weight("scale").reshape(view) + weight("shift").reshape(view)


def _unary_ref(name: str) -> ReferenceFn:
    """The torch.nn.functional function ``name`` of the one input."""

    def run(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
        import torch.nn.functional as F

        fn: Callable[[Tensor], Tensor] = getattr(F, name)
        return fn(xs[0])

    return run


def _clip_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch

    return torch.clamp(xs[0], layer.attrs["min"], layer.attrs["max"])


def _hardsigmoid_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch

    return torch.clamp(layer.attrs["alpha"] * xs[0] + layer.attrs["beta"], 0.0, 1.0)


def _softmax_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch

    return torch.softmax(xs[0], layer.attrs["axis"])


def _lrn_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch.nn.functional as F

    a = layer.attrs
    return F.local_response_norm(xs[0], a["size"], a["alpha"], a["beta"], a["bias"])


def _pool_input(layer: Layer, x: Tensor, fill: float) -> tuple[Tensor, tuple[int, int]]:
    """The input and the padding to give a torch pool: torch pads symmetrically, by at most half
    the kernel, so other padding is applied to the input first."""
    import torch.nn.functional as F

    a = layer.attrs
    t, left, b, r = a["padding"]
    if (t, left) == (b, r) and 2 * t <= a["kernel"][0] and 2 * left <= a["kernel"][1]:
        return x, (t, left)
    return F.pad(x, _torch_pad(a["padding"]), value=fill), (0, 0)


def _crop_to_shape(layer: Layer, xs: list[Tensor], y: Tensor) -> Tensor:
    """Cuts a ceil-mode window that torch counted because it starts in explicit end padding: the
    op's size rule (``window_output_size``) counts only windows that start in the input or the
    begin padding."""
    n, c, oh, ow = _pool_shape(layer, [tuple(xs[0].shape)])
    return y[:, :, :oh, :ow]


def _maxpool_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch.nn.functional as F

    a = layer.attrs
    x, pad = _pool_input(layer, xs[0], float("-inf"))
    y = F.max_pool2d(x, a["kernel"], a["stride"], pad, a["dilation"], ceil_mode=a["ceil_mode"])
    return _crop_to_shape(layer, xs, y)


def _avgpool_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch
    import torch.nn.functional as F

    a = layer.attrs
    x, pad = _pool_input(layer, xs[0], 0.0)
    if pad != (0, 0) or not any(a["padding"]) or a["count_include_pad"]:
        y = F.avg_pool2d(x, a["kernel"], a["stride"], pad, a["ceil_mode"], a["count_include_pad"])
    else:
        # Explicit padding that the average must not count: window sums divided by the number
        # of input elements in each window.
        ones = F.pad(torch.ones_like(xs[0][:1, :1]), _torch_pad(a["padding"]))
        sums = F.avg_pool2d(x, a["kernel"], a["stride"], 0, a["ceil_mode"], divisor_override=1)
        counts = F.avg_pool2d(ones, a["kernel"], a["stride"], 0, a["ceil_mode"], divisor_override=1)
        y = sums / counts
    return _crop_to_shape(layer, xs, y)


def _global_avgpool_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    return xs[0].mean(dim=(2, 3), keepdim=True)


def _mean_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    axes = tuple(layer.attrs["axes"])
    if not axes:  # torch reads an empty dim list as "all dimensions"
        return xs[0].clone()
    return xs[0].mean(dim=axes, keepdim=layer.attrs["keepdims"])


def _binary_ref(fn: Callable[[Tensor, Tensor], Tensor]) -> ReferenceFn:
    def run(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
        if len(xs) == 2:
            return fn(xs[0], xs[1])
        c = weight("const")
        return fn(c, xs[0]) if layer.attrs.get("const_first") else fn(xs[0], c)

    return run


def _concat_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch

    return torch.cat(xs, dim=layer.attrs["axis"])


def _flatten_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch

    return torch.flatten(xs[0], layer.attrs["axis"])


def _reshape_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    return xs[0].reshape(tuple(layer.attrs["shape"]))


def _transpose_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    return xs[0].permute(tuple(layer.attrs["perm"]))


def _slice_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    a = layer.attrs
    return xs[0].narrow(a["axis"], a["start"], a["end"] - a["start"])


def _upsample_ref(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    import torch.nn.functional as F

    a = layer.attrs
    if a["mode"] == "nearest":
        return F.interpolate(xs[0], size=tuple(a["size"]), mode="nearest")
    return F.interpolate(xs[0], size=tuple(a["size"]), mode="bilinear", align_corners=a["align_corners"])


#: Every op a Graph may contain.
OPS: dict[str, Op] = {op.name: op for op in [
    Op("conv", "attrs stride (h, w), padding (top, left, bottom, right), dilation (h, w), groups; "
       "weights weight (O, I/g, kh, kw), bias (O) optional", _conv_shape, _conv_ref, weighted=True),
    Op("conv_transpose", "attrs stride, padding (h, w), output_padding, dilation, groups; "
       "weights weight (I, O/g, kh, kw), bias optional", _conv_transpose_shape, _conv_transpose_ref, weighted=True),
    Op("linear", "weights weight (out, in), bias optional; over the last dimension",
       _linear_shape, _linear_ref, weighted=True),
    Op("batchnorm", "per-channel affine y = x*scale + shift (inference form); weights scale, shift (C)",
       _batchnorm_shape, _batchnorm_ref),
    Op("relu", "", _same, _unary_ref("relu")),
    Op("clip", "attrs min, max (relu6 is clip 0..6)", _same, _clip_ref),
    Op("sigmoid", "", _same, _unary_ref("sigmoid")),
    Op("hardsigmoid", "attrs alpha, beta: clip(alpha*x + beta, 0, 1)", _same, _hardsigmoid_ref),
    Op("hardswish", "", _same, _unary_ref("hardswish")),
    Op("silu", "", _same, _unary_ref("silu")),
    Op("tanh", "", _same, _unary_ref("tanh")),
    Op("softmax", "attrs axis", _softmax_shape, _softmax_ref),
    Op("lrn", "attrs size, alpha, beta, bias (across channels)", _lrn_shape, _lrn_ref),
    Op("maxpool", "attrs kernel, stride, padding (t, l, b, r), dilation, ceil_mode", _pool_shape, _maxpool_ref),
    Op("avgpool", "attrs kernel, stride, padding (t, l, b, r), ceil_mode, count_include_pad",
       _pool_shape, _avgpool_ref),
    Op("global_avgpool", "mean over H and W, keeping them as 1x1", _global_avgpool_shape, _global_avgpool_ref),
    Op("mean", "attrs axes (the dimensions averaged), keepdims", _mean_shape, _mean_ref),
    Op("add", "two inputs, or one input and weight const (numpy broadcasting)", _binary_shape, _binary_ref(operator.add)),
    Op("sub", "like add; attrs const_first when the constant is the minuend", _binary_shape, _binary_ref(operator.sub)),
    Op("mul", "like add", _binary_shape, _binary_ref(operator.mul)),
    Op("div", "like add; attrs const_first when the constant is the dividend", _binary_shape, _binary_ref(operator.truediv)),
    Op("concat", "attrs axis", _concat_shape, _concat_ref),
    Op("flatten", "attrs axis: dimensions from axis on become one", _flatten_shape, _flatten_ref),
    Op("reshape", "attrs shape (static, every dimension given, batch included)", _reshape_shape, _reshape_ref),
    Op("transpose", "attrs perm", _transpose_shape, _transpose_ref),
    Op("slice", "attrs axis, start, end: elements [start, end) along axis", _slice_shape, _slice_ref),
    Op("upsample", "attrs mode (nearest | bilinear), size (h, w), align_corners", _upsample_shape, _upsample_ref),
]}

#: Ops whose weights are learned parameters that the codecs compress.
WEIGHTED_OPS = frozenset(name for name, op in OPS.items() if op.weighted)
