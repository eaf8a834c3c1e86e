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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leanconv.errors import ShapeError, UnsupportedOpError
from leanconv.ops import OPS, WEIGHTED_OPS, output_shape
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
