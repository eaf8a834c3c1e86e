"""The convolution primitive registry: name -> applicability, workspace and packed-weight sizes, run.

Every entry comes from the C table (``kernels_c/include/lc_primitives.inc``) through the Rust
drivers; adding a primitive there adds it here. A primitive computes one 2-D convolution
(PyTorch semantics: cross-correlation, symmetric zero padding, groups, dilation) with a fused
bias and optional ReLU/ReLU6, in one data layout:

- ``"chw"`` primitives take NCHW input and return NCHW output;
- ``"hwc"`` primitives take NHWC input ``(N, H, W, C)`` and return NHWC output (a PyTorch
  ``channels_last`` tensor ``t`` is ``t.permute(0, 2, 3, 1)`` without a copy).

Weights are always PyTorch's ``(K, C/groups, KH, KW)``. Inputs are numpy arrays or CPU torch
tensors, float32 and C-contiguous (torch tensors are viewed as numpy without copying); the GIL
is released while the kernels run. ``threads=n`` splits a batch over a persistent pool of n
threads: whole images when n divides the batch, else output rows (each thread lowers only the
input its rows read), else output channels; the result does not depend on n. Example::

    from leanconv import primitives
    layer = primitives.ConvLayer(64, 64, 56, 56, kernel=(3, 3), padding=(1, 1))
    [p.name for p in primitives.list_primitives(layer)]
    y = primitives.get("winograd4x4_chw").run(x, w, b, padding=1, activation="relu")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from leanconv import _native
from leanconv.errors import LeanconvError, ShapeError, UnsupportedOpError

Activation = Literal["none", "relu", "relu6"]
Isa = Literal["auto", "scalar", "avx2", "avx512", "neon"]
Pair = int | tuple[int, int]

__all__ = [
    "ConvLayer",
    "PackedConv",
    "Primitive",
    "PRIMITIVES",
    "as_float32_array",
    "get",
    "list_primitives",
    "resolved_isa",
]

PackedConv = _native.PackedConv


def _pair(v: Pair, what: str, minimum: int) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        pair = (int(v), int(v))
    elif (
        isinstance(v, (tuple, list))
        and len(v) == 2
        and all(isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v)
    ):
        pair = (int(v[0]), int(v[1]))
    else:
        raise LeanconvError(f"{what} must be an int or a pair of ints, got {v!r}")
    if min(pair) < minimum:
        raise LeanconvError(f"{what} must be >= {minimum}, got {v!r}")
    return pair


@dataclass(frozen=True)
class ConvLayer:
    """One convolution layer applied to one image of ``in_channels x height x width``."""

    in_channels: int
    out_channels: int
    height: int
    width: int
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    @classmethod
    def make(
        cls,
        in_channels: int,
        out_channels: int,
        height: int,
        width: int,
        kernel: Pair = 3,
        stride: Pair = 1,
        padding: Pair = 0,
        dilation: Pair = 1,
        groups: int = 1,
    ) -> ConvLayer:
        """Builds a layer from ints or pairs (as ``torch.nn.Conv2d`` accepts them)."""
        return cls(
            in_channels,
            out_channels,
            height,
            width,
            _pair(kernel, "kernel", 1),
            _pair(stride, "stride", 1),
            _pair(padding, "padding", 0),
            _pair(dilation, "dilation", 1),
            groups,
        )

    @classmethod
    def from_torch(cls, conv: Any, height: int, width: int) -> ConvLayer:
        """The layer of a ``torch.nn.Conv2d`` (zero padding only) on a ``height x width`` input."""
        if getattr(conv, "padding_mode", "zeros") != "zeros" or isinstance(conv.padding, str):
            raise UnsupportedOpError(f"only explicit zero padding is supported, got {conv}")
        return cls.make(
            conv.in_channels,
            conv.out_channels,
            height,
            width,
            tuple(conv.kernel_size),
            tuple(conv.stride),
            tuple(conv.padding),
            tuple(conv.dilation),
            conv.groups,
        )

    @property
    def output_hw(self) -> tuple[int, int]:
        ekh = (self.kernel[0] - 1) * self.dilation[0] + 1
        ekw = (self.kernel[1] - 1) * self.dilation[1] + 1
        oh = (self.height + 2 * self.padding[0] - ekh) // self.stride[0] + 1
        ow = (self.width + 2 * self.padding[1] - ekw) // self.stride[1] + 1
        if oh <= 0 or ow <= 0:
            raise ShapeError(f"kernel does not fit the padded input in {self}")
        return oh, ow

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one image, counted as direct convolution."""
        oh, ow = self.output_hw
        return (
            self.out_channels
            * oh
            * ow
            * (self.in_channels // self.groups)
            * self.kernel[0]
            * self.kernel[1]
        )


def as_float32_array(x: Any, what: str) -> npt.NDArray[np.float32]:
    """A float32, C-contiguous numpy view of a numpy array or CPU torch tensor (no copy)."""
    mod = type(x).__module__
    if mod.startswith("torch"):
        if getattr(x, "device", None) is not None and x.device.type != "cpu":
            raise LeanconvError(f"{what} must be a CPU tensor, got device {x.device}")
        if str(x.dtype) != "torch.float32":
            raise LeanconvError(f"{what} must be float32, got {x.dtype}")
        if not x.is_contiguous():
            raise LeanconvError(
                f"{what} must be contiguous (call .contiguous(); for NHWC pass "
                "t.permute(0, 2, 3, 1) of a channels_last tensor)"
            )
        x = x.detach().numpy()
    if not isinstance(x, np.ndarray):
        raise LeanconvError(f"{what} must be a numpy array or a CPU torch tensor, got {type(x)}")
    if x.dtype != np.float32:
        raise LeanconvError(f"{what} must be float32, got {x.dtype}")
    if not x.flags.c_contiguous:
        raise LeanconvError(f"{what} must be C-contiguous (use np.ascontiguousarray)")
    return x


@dataclass(frozen=True)
class Primitive:
    """One convolution primitive of the C table."""

    name: str
    family: str
    layout: str  # "chw" or "hwc"

    def _info(self, layer: ConvLayer, isa: Isa = "auto") -> tuple[bool, int, int]:
        return _native.conv_info(
            self.name,
            layer.in_channels,
            layer.height,
            layer.width,
            layer.out_channels,
            layer.kernel,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
            isa,
        )

    def applicable(self, layer: ConvLayer) -> bool:
        """Whether this primitive computes ``layer`` (ShapeError if the layer is invalid)."""
        return self._info(layer)[0]

    def _sizes(self, layer: ConvLayer, isa: Isa) -> tuple[int, int]:
        ok, ws, packed = self._info(layer, isa)
        if not ok:
            raise UnsupportedOpError(f"primitive {self.name} does not apply to {layer}")
        return ws, packed

    def workspace_bytes(self, layer: ConvLayer, isa: Isa = "auto") -> int:
        """Scratch bytes per thread for one image (UnsupportedOpError if not applicable)."""
        return self._sizes(layer, isa)[0]

    def packed_bytes(self, layer: ConvLayer, isa: Isa = "auto") -> int:
        """Bytes of the packed weights (UnsupportedOpError if not applicable)."""
        return self._sizes(layer, isa)[1]

    def pack(
        self,
        weight: Any,
        bias: Any = None,
        *,
        height: int,
        width: int,
        stride: Pair = 1,
        padding: Pair = 0,
        dilation: Pair = 1,
        groups: int = 1,
        activation: Activation = "none",
        isa: Isa = "auto",
    ) -> _native.PackedConv:
        """Packs PyTorch-layout weights once for inputs of ``height x width``."""
        w = as_float32_array(weight, "weight")
        b = None if bias is None else as_float32_array(bias, "bias")
        if not isinstance(groups, int) or groups < 1:
            raise LeanconvError(f"groups must be a positive int, got {groups!r}")
        if w.ndim != 4:
            raise ShapeError(f"weight must be (K, C/groups, KH, KW), got shape {w.shape}")
        if activation not in ("none", "relu", "relu6"):
            raise LeanconvError(f"activation must be 'none', 'relu' or 'relu6', got {activation!r}")
        return _native.PackedConv(
            self.name,
            w,
            b,
            height,
            width,
            _pair(stride, "stride", 1),
            _pair(padding, "padding", 0),
            _pair(dilation, "dilation", 1),
            groups,
            activation,
            isa,
        )

    def run(
        self,
        x: Any,
        weight: Any,
        bias: Any = None,
        *,
        stride: Pair = 1,
        padding: Pair = 0,
        dilation: Pair = 1,
        groups: int = 1,
        activation: Activation = "none",
        threads: int = 1,
        isa: Isa = "auto",
    ) -> npt.NDArray[np.float32]:
        """Convolves a batch: NCHW in/out for "chw" primitives, NHWC for "hwc" ones."""
        xa = as_float32_array(x, "input")
        if xa.ndim != 4:
            want = "(N, C, H, W)" if self.layout == "chw" else "(N, H, W, C)"
            raise ShapeError(f"input must be {want}, got shape {xa.shape}")
        h, w = (xa.shape[2], xa.shape[3]) if self.layout == "chw" else (xa.shape[1], xa.shape[2])
        packed = self.pack(
            weight,
            bias,
            height=h,
            width=w,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            activation=activation,
            isa=isa,
        )
        if not isinstance(threads, int) or threads < 1:
            raise LeanconvError(f"threads must be a positive int, got {threads!r}")
        return packed.run(xa, threads)


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


def list_primitives(layer: ConvLayer | None = None) -> list[Primitive]:
    """All primitives, or those applicable to ``layer``."""
    if layer is None:
        return list(PRIMITIVES)
    return [p for p in PRIMITIVES if p.applicable(layer)]


def resolved_isa(isa: Isa = "auto") -> str:
    """The instruction set the kernels use for ``isa`` on this CPU.

    ``"auto"`` (the default of every ``isa`` argument) picks the best the CPU has, unless the
    environment variable ``LEANCONV_ISA`` (auto, scalar, avx2, avx512, neon; read once per
    process) forces one; a choice the CPU lacks falls back to the best it has."""
    return _native.isa_resolve(isa)
