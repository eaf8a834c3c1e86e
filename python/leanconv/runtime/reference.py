"""The reference executor: runs a Graph with torch's functional ops.

This is the definition of what each op means. It proves importers right (the imported graph
must reproduce the framework's output), gives shapes (run on the ``meta`` device) and is the
float64 reference that leanconv's own primitives are checked against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from leanconv.errors import ShapeError

if TYPE_CHECKING:
    from leanconv.graph import Graph, Layer

Tensor = torch.Tensor
OpFn = Callable[["Layer", list[Tensor], Callable[[str], Tensor]], Tensor]


def _pad_then(x: Tensor, padding: tuple[int, int, int, int], value: float = 0.0) -> tuple[Tensor, tuple[int, int]]:
    """Symmetric padding is passed to the op; asymmetric padding is applied first."""
    t, left, b, r = padding
    if t == b and left == r:
        return x, (t, left)
    return F.pad(x, (left, r, t, b), value=value), (0, 0)


def _conv(layer: Layer, xs: list[Tensor], w: Callable[[str], Tensor]) -> Tensor:
    a = layer.attrs
    x, pad = _pad_then(xs[0], a["padding"])
    bias = w("bias") if "bias" in layer.weights else None
    return F.conv2d(x, w("weight"), bias, a["stride"], pad, a["dilation"], a["groups"])


def _conv_transpose(layer: Layer, xs: list[Tensor], w: Callable[[str], Tensor]) -> Tensor:
    a = layer.attrs
    bias = w("bias") if "bias" in layer.weights else None
    return F.conv_transpose2d(
        xs[0], w("weight"), bias, a["stride"], a["padding"], a["output_padding"], a["groups"], a["dilation"]
    )


def _linear(layer: Layer, xs: list[Tensor], w: Callable[[str], Tensor]) -> Tensor:
    return F.linear(xs[0], w("weight"), w("bias") if "bias" in layer.weights else None)


def _batchnorm(layer: Layer, xs: list[Tensor], w: Callable[[str], Tensor]) -> Tensor:
    x = xs[0]
    view = (1, -1) + (1,) * (x.dim() - 2)
    return x * w("scale").reshape(view) + w("shift").reshape(view)


def _pool_padding(x: Tensor, a: Mapping[str, Any], value: float) -> tuple[Tensor, tuple[int, int]]:
    t, left, b, r = a["padding"]
    # torch pools take symmetric padding of at most half the kernel; pad explicitly otherwise.
    if t == b and left == r and 2 * t <= a["kernel"][0] and 2 * left <= a["kernel"][1]:
        return x, (t, left)
    return F.pad(x, _torch_pad(a["padding"]), value=value), (0, 0)


def _maxpool(layer: Layer, xs: list[Tensor], w: Callable[[str], Tensor]) -> Tensor:
    a = layer.attrs
    x, pad = _pool_padding(xs[0], a, float("-inf"))
    return F.max_pool2d(x, a["kernel"], a["stride"], pad, a["dilation"], ceil_mode=a["ceil_mode"])


def _avgpool(layer: Layer, xs: list[Tensor], w: Callable[[str], Tensor]) -> Tensor:
    a = layer.attrs
    x, pad = _pool_padding(xs[0], a, 0.0)
    if pad != (0, 0) or not any(a["padding"]) or a["count_include_pad"]:
        return F.avg_pool2d(x, a["kernel"], a["stride"], pad, a["ceil_mode"], a["count_include_pad"])
    # Explicit (asymmetric) padding that the average must not count: divide window sums by the
    # number of real elements in each window.
    ones = F.pad(torch.ones_like(xs[0][:1, :1]), _torch_pad(a["padding"]))
    sums = F.avg_pool2d(x, a["kernel"], a["stride"], 0, a["ceil_mode"], divisor_override=1)
    counts = F.avg_pool2d(ones, a["kernel"], a["stride"], 0, a["ceil_mode"], divisor_override=1)
    return sums / counts


def _torch_pad(padding: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    t, left, b, r = padding
    return (left, r, t, b)


def _binary(fn: Callable[[Tensor, Tensor], Tensor]) -> OpFn:
    def run(layer: Layer, xs: list[Tensor], w: Callable[[str], Tensor]) -> Tensor:
        if len(xs) == 2:
            return fn(xs[0], xs[1])
        c = w("const")
        return fn(c, xs[0]) if layer.attrs.get("const_first") else fn(xs[0], c)

    return run


def _upsample(layer: Layer, xs: list[Tensor], w: Callable[[str], Tensor]) -> Tensor:
    a = layer.attrs
    if a["mode"] == "nearest":
        return F.interpolate(xs[0], size=a["size"], mode="nearest")
    return F.interpolate(xs[0], size=a["size"], mode="bilinear", align_corners=a["align_corners"])


#: op name -> executor. One entry per op of leanconv.graph.OPS.
EXECUTORS: dict[str, OpFn] = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "linear": _linear,
    "batchnorm": _batchnorm,
    "relu": lambda layer, xs, w: F.relu(xs[0]),
    "clip": lambda layer, xs, w: torch.clamp(xs[0], layer.attrs["min"], layer.attrs["max"]),
    "sigmoid": lambda layer, xs, w: torch.sigmoid(xs[0]),
    "hardsigmoid": lambda layer, xs, w: torch.clamp(layer.attrs["alpha"] * xs[0] + layer.attrs["beta"], 0.0, 1.0),
    "hardswish": lambda layer, xs, w: F.hardswish(xs[0]),
    "silu": lambda layer, xs, w: F.silu(xs[0]),
    "tanh": lambda layer, xs, w: torch.tanh(xs[0]),
    "softmax": lambda layer, xs, w: torch.softmax(xs[0], layer.attrs["axis"]),
    "lrn": lambda layer, xs, w: F.local_response_norm(
        xs[0], layer.attrs["size"], layer.attrs["alpha"], layer.attrs["beta"], layer.attrs["bias"]
    ),
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": lambda layer, xs, w: xs[0].mean(dim=(2, 3), keepdim=True),
    "add": _binary(torch.add),
    "sub": _binary(torch.sub),
    "mul": _binary(torch.mul),
    "div": _binary(torch.div),
    "concat": lambda layer, xs, w: torch.cat(xs, dim=layer.attrs["axis"]),
    "flatten": lambda layer, xs, w: torch.flatten(xs[0], layer.attrs["axis"]),
    "reshape": lambda layer, xs, w: xs[0].reshape(layer.attrs["shape"]),
    "transpose": lambda layer, xs, w: xs[0].permute(layer.attrs["perm"]),
    "upsample": _upsample,
}


def _execute(graph: Graph, feeds: dict[str, Tensor], dtype: torch.dtype, device: str) -> dict[str, Tensor]:
    values = dict(feeds)
    for layer in graph.layers:

        def weight(key: str, layer: Layer = layer) -> Tensor:
            return torch.as_tensor(layer.weights[key]).to(device=device, dtype=dtype)

        values[layer.name] = _run_layer(layer, [values[t] for t in layer.inputs], weight)
    return values


def _run_layer(layer: Layer, xs: list[Tensor], weight: Callable[[str], Tensor]) -> Tensor:
    """One layer's executor; torch's errors on ill-fitting inputs become a ShapeError."""
    try:
        return EXECUTORS[layer.op](layer, xs, weight)
    except ShapeError:
        raise
    except (RuntimeError, ValueError, IndexError) as e:
        shapes = [tuple(x.shape) for x in xs]
        raise ShapeError(f"layer {layer.name!r} ({layer.op}) cannot run on inputs of shape {shapes}: {e}") from e


def infer_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    """Output shape of every layer, computed without touching any data (torch meta tensors)."""
    feeds = {name: torch.empty(shape, device="meta") for name, shape in graph.inputs.items()}
    values = _execute(graph, feeds, torch.float32, "meta")
    return {layer.name: tuple(values[layer.name].shape) for layer in graph.layers}


def run(
    graph: Graph,
    inputs: np.ndarray | Mapping[str, np.ndarray],
    dtype: type = np.float32,
) -> list[np.ndarray]:
    """Runs the graph on numpy inputs (one array, or a dict by input name); returns the graph
    outputs in order, as numpy arrays of ``dtype`` (float32, or float64 for a reference)."""
    if isinstance(inputs, np.ndarray):
        if len(graph.inputs) != 1:
            raise ShapeError(f"graph has {len(graph.inputs)} inputs; pass a dict by name")
        inputs = {next(iter(graph.inputs)): inputs}
    torch_dtypes: dict[type, torch.dtype] = {np.float32: torch.float32, np.float64: torch.float64}
    torch_dtype = torch_dtypes[dtype]
    feeds = {}
    for name, shape in graph.inputs.items():
        if name not in inputs:
            raise ShapeError(f"missing graph input {name!r}")
        x = np.asarray(inputs[name])
        if tuple(x.shape) != tuple(shape):
            raise ShapeError(f"input {name!r} has shape {tuple(x.shape)}, the graph expects {tuple(shape)}")
        feeds[name] = torch.from_numpy(np.ascontiguousarray(x)).to(torch_dtype)
    with torch.no_grad():
        values = _execute(graph, feeds, torch_dtype, "cpu")
    return [values[t].numpy() for t in graph.outputs]


def layer_shape(layer: Layer, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Output shape of one layer given its input shapes (meta tensors, no data)."""

    def weight(key: str) -> Tensor:
        return torch.empty(layer.weights[key].shape, device="meta")

    return tuple(_run_layer(layer, [torch.empty(s, device="meta") for s in input_shapes], weight).shape)
