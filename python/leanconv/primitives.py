"""The convolution primitive registry: name -> applicability, workspace and packed-weight sizes, run.

Every entry comes from the C table (``kernels_c/include/lc_primitives.inc``) through the Rust
drivers; adding a primitive there adds it here. A primitive computes one 2-D convolution
(PyTorch semantics: cross-correlation, groups, dilation) with zero padding that may differ on
each side -- ``padding=(top, left, bottom, right)``, as ONNX ``SAME_UPPER`` and TF-style
padding need, read in place without a padded copy -- and a fused bias and optional
ReLU/ReLU6, in one data layout:

- ``"chw"`` primitives take NCHW input and return NCHW output;
- ``"hwc"`` primitives take NHWC input ``(N, H, W, C)`` and return NHWC output (a PyTorch
  ``channels_last`` tensor ``t`` is ``t.permute(0, 2, 3, 1)`` without a copy).

A layer is described by one :class:`ConvSpec` (from the Rust core: output size and MACs are
computed there and nowhere else); :func:`spec_from_layer` makes one from a Graph's conv layer.
Weights are always PyTorch's ``(K, C/groups, KH, KW)``. Inputs are numpy arrays or CPU torch
tensors, float32 and C-contiguous (torch tensors are viewed as numpy without copying); the GIL
is released while the kernels run. ``threads=n`` splits a batch over a persistent pool of n
threads: whole images when n divides the batch, else output rows (each thread lowers only the
input its rows read), else output channels; the result does not depend on n. Example::

    from leanconv import primitives
    spec = primitives.ConvSpec(64, 64, 56, 56, kernel=3, padding=1)
    [p.name for p in primitives.list_primitives(spec)]
    y = primitives.get("winograd4x4_chw").run(x, w, b, padding=(0, 0, 1, 1), activation="relu")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from leanconv import _native
from leanconv.arrays import as_c_float32
from leanconv.errors import LeanconvError, ShapeError, UnsupportedOpError

if TYPE_CHECKING:
    from leanconv.graph import Graph, Layer

Activation = Literal["none", "relu", "relu6"]
Isa = Literal["auto", "scalar", "avx2", "avx512", "neon"]
Pair = int | tuple[int, int]
Padding = int | tuple[int, int] | tuple[int, int, int, int]

__all__ = [
    "ConvSpec",
    "PackedConv",
    "Primitive",
    "PRIMITIVES",
    "get",
    "list_primitives",
    "resolved_isa",
    "spec_from_layer",
    "window_output_size",
]

ConvSpec = _native.ConvSpec
PackedConv = _native.PackedConv
window_output_size = _native.window_output_size


def spec_from_layer(graph: Graph, layer: Layer | str) -> ConvSpec:
    """The :class:`ConvSpec` of a Graph ``"conv"`` layer (the layer or its name), per image:
    the input's channels and size from the graph, stride, padding (top, left, bottom, right),
    dilation and groups from its attrs, the kernel and output channels from its weight
    ``(O, I/groups, KH, KW)``. UnsupportedOpError for a layer that is not a conv."""
    if isinstance(layer, str):
        try:
            layer = graph.layer(layer)
        except KeyError:
            raise LeanconvError(f"graph {graph.name!r} has no layer named {layer!r}") from None
    if layer.op != "conv":
        raise UnsupportedOpError(f"layer {layer.name!r} is a {layer.op!r} layer, not a conv")
    shape = graph.shape_of(layer.inputs[0])
    weight = layer.weights["weight"].shape
    if len(shape) != 4 or len(weight) != 4:
        raise ShapeError(f"conv layer {layer.name!r}: input {shape} and weight {weight} must be 4-D")
    _, c, h, w = shape
    k, cg, kh, kw = weight
    a = layer.attrs
    if cg * a["groups"] != c:
        raise ShapeError(
            f"conv layer {layer.name!r}: weight {weight} with groups {a['groups']} does not read "
            f"{c} input channels"
        )
    return ConvSpec(c, k, h, w, (kh, kw), a["stride"], a["padding"], a["dilation"], a["groups"])


def _checked(spec: object) -> ConvSpec:
    if not isinstance(spec, ConvSpec):
        raise LeanconvError(f"expected a ConvSpec, got {type(spec).__name__}")
    return spec


@dataclass(frozen=True)
class Primitive:
    """One convolution primitive of the C table."""

    name: str
    family: str
    layout: str  # "chw" or "hwc"

    def applicable(self, spec: ConvSpec) -> bool:
        """Whether this primitive computes ``spec``."""
        return _native.conv_info(self.name, _checked(spec))[0]

    def _sizes(self, spec: ConvSpec, isa: Isa) -> tuple[int, int]:
        ok, ws, packed = _native.conv_info(self.name, _checked(spec), isa)
        if not ok:
            raise UnsupportedOpError(f"primitive {self.name} does not apply to {spec}")
        return ws, packed

    def workspace_bytes(self, spec: ConvSpec, isa: Isa = "auto") -> int:
        """Scratch bytes per thread for one image (UnsupportedOpError if not applicable)."""
        return self._sizes(spec, isa)[0]

    def packed_bytes(self, spec: ConvSpec, isa: Isa = "auto") -> int:
        """Bytes of the packed weights (UnsupportedOpError if not applicable)."""
        return self._sizes(spec, isa)[1]

    def pack(self, weight: Any, bias: Any = None, *, spec: ConvSpec, isa: Isa = "auto") -> PackedConv:
        """Packs PyTorch-layout weights ``(K, C/groups, KH, KW)`` (and a ``(K,)`` bias) once
        for ``spec``; the result runs batches of any size."""
        w = as_c_float32(weight, "weight")
        b = None if bias is None else as_c_float32(bias, "bias")
        return PackedConv(self.name, _checked(spec), w, b, isa)

    def run(
        self,
        x: Any,
        weight: Any,
        bias: Any = None,
        *,
        stride: Pair = 1,
        padding: Padding = 0,
        dilation: Pair = 1,
        groups: int = 1,
        activation: Activation = "none",
        threads: int = 1,
        isa: Isa = "auto",
    ) -> npt.NDArray[np.float32]:
        """Convolves a batch: NCHW in/out for "chw" primitives, NHWC for "hwc" ones.
        ``padding``: an int, ``(h, w)`` or ``(top, left, bottom, right)``."""
        xa = as_c_float32(x, "input")
        w = as_c_float32(weight, "weight")
        if xa.ndim != 4:
            want = "(N, C, H, W)" if self.layout == "chw" else "(N, H, W, C)"
            raise ShapeError(f"input must be {want}, got shape {xa.shape}")
        if w.ndim != 4:
            raise ShapeError(f"weight must be (K, C/groups, KH, KW), got shape {w.shape}")
        c, h, wd = xa.shape[1:] if self.layout == "chw" else (xa.shape[3], *xa.shape[1:3])
        spec = ConvSpec(c, w.shape[0], h, wd, w.shape[2:], stride, padding, dilation, groups, activation)
        if not isinstance(threads, int) or threads < 1:
            raise LeanconvError(f"threads must be a positive int, got {threads!r}")
        return self.pack(w, bias, spec=spec, isa=isa).run(xa, threads)


PRIMITIVES: tuple[Primitive, ...] = tuple(
    Primitive(name, family, layout) for name, family, layout in _native.conv_primitives()
)
_BY_NAME = {p.name: p for p in PRIMITIVES}


def get(name: str) -> Primitive:
    """The primitive called ``name`` (LeanconvError listing the names otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise LeanconvError(
            f"unknown primitive {name!r}; known: {', '.join(sorted(_BY_NAME))}"
        ) from None


def list_primitives(spec: ConvSpec | None = None) -> list[Primitive]:
    """All primitives, or those applicable to ``spec``."""
    if spec is None:
        return list(PRIMITIVES)
    return [p for p in PRIMITIVES if p.applicable(spec)]


def resolved_isa(isa: Isa = "auto") -> str:
    """The instruction set the kernels use for ``isa`` on this CPU.

    ``"auto"`` (the default of every ``isa`` argument) picks the best the CPU has, unless the
    environment variable ``LEANCONV_ISA`` (auto, scalar, avx2, avx512, neon; read once per
    process) forces one; a choice the CPU lacks falls back to the best it has."""
    return _native.isa_resolve(isa)
