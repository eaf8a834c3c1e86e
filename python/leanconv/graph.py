"""The Graph IR: an ordered DAG of layers with inferred shapes and numpy weights.

Every importer (torch, ONNX) produces a :class:`Graph`; the compressor, the profiler, the
selector, the runtime and the pruner read it. Tensors are NCHW (batch first). Each layer has
exactly one output tensor, named like the layer; layers are kept in a topological order.

What each op means (its attrs and weights, its output shape, its reference semantics) is
defined once, in the op table :mod:`leanconv.ops`; the Graph validates layers and infers shapes
with it, so building a Graph needs numpy alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leanconv.arrays import to_numpy
from leanconv.errors import ShapeError, UnsupportedOpError
from leanconv.ops import ELEMENTWISE_OPS, OPS, WEIGHTED_OPS, output_shape
from leanconv.primitives import spec_from_layer


@dataclass
class Layer:
    """One node of the graph: ``output = op(*inputs; attrs, weights)``."""

    name: str
    op: str
    inputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    #: Inferred output shape (batch first); filled by :meth:`Graph.infer_shapes`.
    shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise UnsupportedOpError(f"layer {self.name!r}: op {self.op!r} is not a leanconv op")

    @property
    def output(self) -> str:
        return self.name

    @property
    def kind(self) -> str:
        """A finer name for reports: depthwise and pointwise convs are told apart."""
        if self.op == "conv":
            w = self.weights["weight"]
            groups = self.attrs["groups"]
            if groups > 1 and groups == w.shape[0] and w.shape[1] == 1:
                return "depthwise"
            if w.shape[2:] == (1, 1):
                return "conv1x1"
        return self.op

    @property
    def params(self) -> int:
        """Number of stored parameters (weights and biases)."""
        return int(sum(w.size for w in self.weights.values()))


@dataclass(frozen=True)
class LayerStats:
    name: str
    kind: str
    out_shape: tuple[int, ...]
    params: int
    macs: int
    #: Elements read from input activations and written to the output, per the whole batch.
    in_elems: int
    out_elems: int


class Graph:
    """An ordered DAG of layers with named graph inputs and outputs."""

    def __init__(
        self,
        name: str,
        inputs: dict[str, tuple[int, ...]],
        layers: list[Layer],
        outputs: list[str],
    ) -> None:
        self.name = name
        self.inputs = dict(inputs)
        self.layers = list(layers)
        self.outputs = list(outputs)
        self.validate()
        self.infer_shapes()

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.layers)} layers, {self.params:,} params, {self.macs:,} MACs)"

    # -- structure -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def consumers(self) -> dict[str, list[Layer]]:
        """Tensor name -> the layers that read it."""
        users: dict[str, list[Layer]] = {}
        for layer in self.layers:
            for t in layer.inputs:
                users.setdefault(t, []).append(layer)
        return users

    def validate(self) -> None:
        """Checks that names are unique and every input is defined before it is read."""
        defined = set(self.inputs)
        for layer in self.layers:
            for t in layer.inputs:
                if t not in defined:
                    raise ShapeError(f"layer {layer.name!r} reads {t!r}, which no earlier layer or input defines")
            if layer.name in defined:
                raise ShapeError(f"tensor name {layer.name!r} is defined twice")
            defined.add(layer.name)
        for t in self.outputs:
            if t not in defined:
                raise ShapeError(f"graph output {t!r} is not defined")

    def bind_inputs(self, inputs: Any) -> dict[str, np.ndarray]:
        """The graph inputs as numpy arrays by name, in the graph's order: ``inputs`` is one array
        (a graph with one input) or a dict by input name, of numpy arrays or CPU torch tensors
        (viewed, not copied). ShapeError for a missing input or a shape the graph does not have."""
        if isinstance(inputs, Mapping):
            given = dict(inputs)
        elif len(self.inputs) == 1:
            given = {next(iter(self.inputs)): inputs}
        else:
            raise ShapeError(f"graph has {len(self.inputs)} inputs; pass a dict by name")
        bound = {}
        for name, shape in self.inputs.items():
            if name not in given:
                raise ShapeError(f"missing graph input {name!r}")
            a = to_numpy(given[name], f"input {name!r}")
            if tuple(a.shape) != tuple(shape):
                raise ShapeError(f"input {name!r} has shape {tuple(a.shape)}, the graph expects {tuple(shape)}")
            bound[name] = a
        return bound

    def shape_of(self, tensor: str) -> tuple[int, ...]:
        if tensor in self.inputs:
            return self.inputs[tensor]
        return self.layer(tensor).shape

    def infer_shapes(self) -> None:
        """Fills every layer's ``shape`` from its inputs' shapes with the op table's shape
        functions; a ShapeError names the first layer whose inputs do not fit."""
        shapes = dict(self.inputs)
        for layer in self.layers:
            layer.shape = output_shape(layer, [shapes[t] for t in layer.inputs])
            shapes[layer.name] = layer.shape

    # -- statistics ------------------------------------------------------------------------

    def stats(self) -> list[LayerStats]:
        """Per-layer parameters, multiply-accumulates and activation sizes."""
        rows = []
        for layer in self.layers:
            in_elems = sum(math.prod(self.shape_of(t)) for t in layer.inputs)
            rows.append(
                LayerStats(
                    name=layer.name,
                    kind=layer.kind,
                    out_shape=layer.shape,
                    params=layer.params,
                    macs=self._macs(layer),
                    in_elems=in_elems,
                    out_elems=math.prod(layer.shape),
                )
            )
        return rows

    def _macs(self, layer: Layer) -> int:
        if layer.op == "conv":  # the conv spec counts them, per image
            return spec_from_layer(self, layer).macs * layer.shape[0]
        if layer.op == "conv_transpose":
            n, _, ih, iw = self.shape_of(layer.inputs[0])
            i, o_per_g, kh, kw = layer.weights["weight"].shape
            return n * i * ih * iw * o_per_g * kh * kw
        if layer.op == "linear":
            out_f, in_f = layer.weights["weight"].shape
            return math.prod(layer.shape[:-1]) * out_f * in_f
        return 0

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(self._macs(layer) for layer in self.layers)

    def weighted_layers(self) -> list[Layer]:
        """The conv, transposed-conv and linear layers, in graph order."""
        return [layer for layer in self.layers if layer.op in WEIGHTED_OPS]

    # -- rewrites --------------------------------------------------------------------------

    def fold_batchnorm(self) -> int:
        """Folds every batchnorm that directly follows a conv (its only reader) into the conv's
        weight and bias. Returns how many were folded; the others stay as affine layers."""
        users = self.consumers()
        by_name = {layer.name: layer for layer in self.layers}
        renames: dict[str, str] = {}
        kept: list[Layer] = []
        folded = 0
        for layer in self.layers:
            layer.inputs = [renames.get(t, t) for t in layer.inputs]
            src = by_name.get(layer.inputs[0]) if layer.op == "batchnorm" else None
            if src is not None and src.op in ("conv", "conv_transpose") and len(users[src.name]) == 1 \
                    and src.name not in self.outputs:
                _fold_affine_into(src, layer.weights["scale"], layer.weights["shift"])
                renames[layer.name] = src.name
                folded += 1
                continue
            kept.append(layer)
        self.layers = kept
        self.outputs = [renames.get(t, t) for t in self.outputs]
        self.validate()
        return folded


    def fold_channels_last(self) -> int:
        """Runs of channels-last layers between a transpose to NHWC and one back to NCHW (how
        ConvNeXt writes its LayerNorms and blocks) become the same layers over NCHW: a
        layernorm over the last axis normalizes channels, a linear becomes a 1x1 conv, an
        activation stays, a per-channel constant becomes (C, 1, 1); both transposes go. Only runs
        whose tensors have one reader each, none a graph output, are folded. Returns how many."""
        users = self.consumers()
        renames: dict[str, str] = {}
        removed: set[str] = set()
        for first in self.layers:
            if first.op != "transpose" or tuple(first.attrs["perm"]) != (0, 2, 3, 1):
                continue
            run: list[Layer] = []
            current = first
            while len(users.get(current.name, [])) == 1 and current.name not in self.outputs:
                reader = users[current.name][0]
                if reader.op == "transpose" and tuple(reader.attrs["perm"]) == (0, 3, 1, 2):
                    for layer in run:
                        _to_channels_first(layer)
                    if run:
                        run[0].inputs = [first.inputs[0]]
                    renames[reader.name] = run[-1].name if run else first.inputs[0]
                    removed.update((first.name, reader.name))
                    break
                if not _works_channels_last(reader):
                    break
                run.append(reader)
                current = reader
        if not removed:
            return 0

        def resolve(t: str) -> str:
            while t in renames:
                t = renames[t]
            return t

        self.layers = [layer for layer in self.layers if layer.name not in removed]
        for layer in self.layers:
            layer.inputs = [resolve(t) for t in layer.inputs]
        self.outputs = [resolve(t) for t in self.outputs]
        self.validate()
        self.infer_shapes()
        return len(removed) // 2


def _works_channels_last(layer: Layer) -> bool:
    """Whether ``layer``, reading an NHWC tensor, has an NCHW equivalent (_to_channels_first)."""
    if layer.op in ELEMENTWISE_OPS or layer.op == "linear":
        return True
    if layer.op == "layernorm":
        return tuple(layer.attrs["axes"]) == (3,)
    if layer.op in ("add", "sub", "mul", "div", "pow") and len(layer.inputs) == 1:
        const = layer.weights["const"]
        return const.size == 1 or const.shape == (layer.shape[-1],)
    return False


def _to_channels_first(layer: Layer) -> None:
    if layer.op == "linear":
        w = layer.weights["weight"]
        layer.op = "conv"
        layer.weights["weight"] = w.reshape(*w.shape, 1, 1)
        layer.attrs = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
    elif layer.op == "layernorm":
        layer.attrs = {**layer.attrs, "axes": (1,)}
    elif "const" in layer.weights and layer.weights["const"].size > 1:
        layer.weights["const"] = layer.weights["const"].reshape(-1, 1, 1)


def _fold_affine_into(conv: Layer, scale: np.ndarray, shift: np.ndarray) -> None:
    """conv output * scale + shift, per output channel, folded into the conv itself.
    Computed in float64 so folding adds no more than one float32 rounding."""
    w = conv.weights["weight"].astype(np.float64)
    if conv.op == "conv":
        w = w * scale.astype(np.float64)[:, None, None, None]
    else:  # conv_transpose: weight (I, O/g, kh, kw); output channel o = g*(O/g) + j
        groups = conv.attrs["groups"]
        i, o_per_g, kh, kw = w.shape
        w = w.reshape(groups, i // groups, o_per_g, kh, kw)
        w = w * scale.astype(np.float64).reshape(groups, 1, o_per_g, 1, 1)
        w = w.reshape(i, o_per_g, kh, kw)
    bias = conv.weights.get("bias")
    b = np.zeros(len(scale)) if bias is None else bias.astype(np.float64)
    conv.weights["weight"] = w.astype(np.float32)
    conv.weights["bias"] = (b * scale + shift).astype(np.float32)
