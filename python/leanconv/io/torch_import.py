"""torch.nn.Module -> Graph, through torch.fx.

The module is traced symbolically, then run once on the example input node by node, so every
node has a concrete value: sizes read with ``x.size(0)``, the targets of ``view``/``reshape``
(every -1 resolved), the pieces of ``chunk``/``split`` and the sizes of ``interpolate`` become
static numbers, and each converted layer's inferred shape is checked against what torch
computed. Functions and tensor methods of the same name share one converter.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

from leanconv.arrays import as_pair, to_numpy
from leanconv.errors import ShapeError, TraceError, UnsupportedOpError
from leanconv.graph import Graph
from leanconv.io.builder import GraphBuilder


class _Tensor:
    """A value computed from the graph input: a tensor of the Graph, by name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Pieces:
    """The tuple that chunk and split return: pieces of tensor ``name`` along ``axis``, each
    [start, end). A piece becomes a slice layer when it is read."""

    __slots__ = ("axis", "bounds", "name")

    def __init__(self, name: str, axis: int, bounds: list[tuple[int, int]]) -> None:
        self.name, self.axis, self.bounds = name, axis, bounds


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else to_numpy(t, "weight", from_device=True)


def _sym_padding(v: Any) -> tuple[int, int, int, int]:
    ph, pw = as_pair(v, "padding")
    return (ph, pw, ph, pw)


class _Importer:
    def __init__(self, gm: torch.fx.GraphModule, name: str) -> None:
        self.gm = gm
        self.b = GraphBuilder(name)
        self.env: dict[torch.fx.Node, Any] = {}  # node -> _Tensor or a constant
        self.values: dict[torch.fx.Node, Any] = {}  # node -> concrete value from the example run
        self.node: torch.fx.Node | None = None

    # -- helpers ---------------------------------------------------------------------------

    def where(self) -> str:
        n = self.node
        return f"torch node {n.name!r} ({n.op} {getattr(n.target, '__name__', n.target)})" if n else "torch module"

    def arg(self, a: Any) -> Any:
        return torch.fx.node.map_arg(a, lambda n: self.env[n])

    def tensor(self, a: Any) -> str:
        """The Graph tensor of an fx argument."""
        return self.name_of(self.arg(a))

    def name_of(self, v: Any) -> str:
        if not isinstance(v, _Tensor):
            raise UnsupportedOpError(f"{self.where()}: expected a tensor computed from the input, got {type(v).__name__}")
        return v.name

    def tensor_list(self, a: Any) -> list[str]:
        """The Graph tensors of a list argument (torch.cat's); a chunk or split result in it
        stands for all its pieces."""
        v = self.arg(a)
        names: list[str] = []
        for item in [v] if isinstance(v, _Pieces) else list(v):
            if isinstance(item, _Pieces):
                names += [self.piece(item, i, checked=False) for i in range(len(item.bounds))]
            else:
                names.append(self.name_of(item))
        return names

    def add(self, op: str, inputs: list[str], attrs: dict[str, Any] | None = None,
            weights: dict[str, np.ndarray | None] | None = None) -> str:
        """Adds a layer for the current node; returns its tensor name."""
        assert self.node is not None
        ws = {k: v for k, v in (weights or {}).items() if v is not None}
        return self.b.add(op, inputs, self.node.name, attrs, ws)  # type: ignore[arg-type]

    def emit(self, op: str, inputs: list[str], attrs: dict[str, Any] | None = None,
             weights: dict[str, np.ndarray | None] | None = None) -> _Tensor:
        """Adds the layer that computes the current node's value, checking its shape."""
        assert self.node is not None
        name = self.add(op, inputs, attrs, weights)
        expected = self.values[self.node]
        if isinstance(expected, torch.Tensor) and tuple(expected.shape) != self.b.shapes[name]:
            raise ShapeError(f"{self.where()}: leanconv infers shape {self.b.shapes[name]}, torch computed "
                             f"{tuple(expected.shape)}")
        return _Tensor(name)

    def out_shape(self) -> tuple[int, ...]:
        assert self.node is not None
        return tuple(self.values[self.node].shape)

    # -- modules ---------------------------------------------------------------------------

    def conv(self, m: nn.Conv2d, x: str) -> _Tensor:
        if m.padding_mode != "zeros":
            raise UnsupportedOpError(f"{self.where()}: padding_mode={m.padding_mode!r}")
        if isinstance(m.padding, str):
            if m.padding == "valid":
                padding = (0, 0, 0, 0)
            else:  # "same": torch puts the odd pixel at the end
                pads = []
                for d, k in zip(m.dilation, m.kernel_size):
                    total = d * (k - 1)
                    pads.append((total // 2, total - total // 2))
                padding = (pads[0][0], pads[1][0], pads[0][1], pads[1][1])
        else:
            padding = _sym_padding(m.padding)
        attrs = {"stride": as_pair(m.stride, "stride"), "padding": padding,
                 "dilation": as_pair(m.dilation, "dilation"), "groups": m.groups}
        return self.emit("conv", [x], attrs, {"weight": _np(m.weight), "bias": _np(m.bias)})

    def conv_transpose(self, m: nn.ConvTranspose2d, x: str) -> _Tensor:
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise UnsupportedOpError(f"{self.where()}: padding={m.padding!r} padding_mode={m.padding_mode!r}")
        attrs = {"stride": as_pair(m.stride, "stride"), "padding": as_pair(m.padding, "padding"),
                 "output_padding": as_pair(m.output_padding, "output_padding"),
                 "dilation": as_pair(m.dilation, "dilation"), "groups": m.groups}
        return self.emit("conv_transpose", [x], attrs, {"weight": _np(m.weight), "bias": _np(m.bias)})

    def batchnorm(self, m: nn.BatchNorm2d, x: str) -> _Tensor:
        if m.running_mean is None or m.running_var is None:
            raise UnsupportedOpError(f"{self.where()}: batch norm without running statistics")
        var = m.running_var.detach().double()
        scale = 1.0 / torch.sqrt(var + m.eps)
        if m.weight is not None:
            scale = scale * m.weight.detach().double()
        shift = -m.running_mean.detach().double() * scale
        if m.bias is not None:
            shift = shift + m.bias.detach().double()
        return self.emit("batchnorm", [x], {}, {"scale": scale.numpy(), "shift": shift.numpy()})

    def pool(self, op: str, x: str, kernel: Any, stride: Any, padding: Any, ceil_mode: bool,
             dilation: Any = 1, count_include_pad: bool = True, divisor_override: Any = None) -> _Tensor:
        if divisor_override is not None:
            raise UnsupportedOpError(f"{self.where()}: avg pool divisor_override")
        attrs: dict[str, Any] = {"kernel": as_pair(kernel, "kernel_size"),
                                 "stride": as_pair(stride if stride else kernel, "stride"),
                                 "padding": _sym_padding(padding), "ceil_mode": bool(ceil_mode)}
        if op == "maxpool":
            attrs["dilation"] = as_pair(dilation, "dilation")
        else:
            attrs["count_include_pad"] = bool(count_include_pad)
        return self.emit(op, [x], attrs)

    def adaptive_avg(self, x: str, output_size: Any) -> _Tensor:
        _, _, h, w = self.b.shapes[x]
        size = output_size if output_size is not None else 1
        if isinstance(size, (tuple, list)):  # None entries keep the input size
            size = tuple(i if d is None else d for d, i in zip(size, (h, w)))
        oh, ow = as_pair(size, "output_size", 1)
        if (oh, ow) == (1, 1):
            return self.emit("global_avgpool", [x])
        if h % oh or w % ow:
            raise UnsupportedOpError(f"{self.where()}: adaptive pooling {h}x{w} -> {oh}x{ow} with uneven windows")
        k = (h // oh, w // ow)
        return self.pool("avgpool", x, k, k, 0, False)

    def upsample(self, x: str, mode: str, align_corners: Any) -> _Tensor:
        if mode not in ("nearest", "bilinear"):
            raise UnsupportedOpError(f"{self.where()}: interpolation mode {mode!r}")
        return self.emit("upsample", [x], {"mode": mode, "size": self.out_shape()[2:],
                                           "align_corners": bool(align_corners)})

    def flatten(self, x: str, start: int = 0, end: int = -1) -> _Tensor:
        ndim = len(self.b.shapes[x])
        if int(end) % ndim == ndim - 1:
            return self.emit("flatten", [x], {"axis": int(start) % ndim})
        return self.reshape(x)

    def reshape(self, x: str) -> _Tensor:
        """view, reshape or a partial flatten: the target is the shape torch computed (every -1
        resolved, sizes read with x.size() static)."""
        shape = self.out_shape()
        if len(shape) == 2 and shape[0] == self.b.shapes[x][0]:
            return self.emit("flatten", [x], {"axis": 1})
        return self.emit("reshape", [x], {"shape": shape})

    def mean(self, x: str, dim: Any, keepdim: bool) -> _Tensor:
        ndim = len(self.b.shapes[x])
        dims = dim if isinstance(dim, (tuple, list)) else [] if dim is None else [dim]
        # No dimensions (dim=None or []) averages them all.
        axes = tuple(sorted({int(d) % ndim for d in dims})) if dims else tuple(range(ndim))
        if ndim == 4 and axes == (2, 3):
            if keepdim:
                return self.emit("global_avgpool", [x])
            return self.emit("flatten", [self.add("global_avgpool", [x])], {"axis": 1})
        return self.emit("mean", [x], {"axes": axes, "keepdims": bool(keepdim)})

    def pieces(self, x: str, dim: Any) -> _Pieces:
        """chunk and split: the pieces' sizes are the ones torch computed."""
        axis = int(dim) % len(self.b.shapes[x])
        bounds, start = [], 0
        for piece in self.values[self.node]:  # type: ignore[index]
            bounds.append((start, start + int(piece.shape[axis])))
            start = bounds[-1][1]
        return _Pieces(x, axis, bounds)

    def piece(self, pieces: _Pieces, index: int, checked: bool) -> str:
        """Piece ``index`` as a slice layer (checked: it is the current node's value)."""
        start, end = pieces.bounds[index]
        if (start, end) == (0, self.b.shapes[pieces.name][pieces.axis]):
            return pieces.name
        attrs = {"axis": pieces.axis, "start": start, "end": end}
        return self.emit("slice", [pieces.name], attrs).name if checked else self.add("slice", [pieces.name], attrs)

    def getitem(self, seq: Any, index: Any) -> Any:
        v = self.arg(seq)
        if not isinstance(v, _Pieces):
            raise UnsupportedOpError(f"{self.where()}: indexing a tensor is not supported")
        if isinstance(index, slice):
            return _Pieces(v.name, v.axis, v.bounds[index])
        return _Tensor(self.piece(v, int(index), checked=True))

    def call_module(self, m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        x = self.tensor(args[0])
        if isinstance(m, nn.Conv2d):
            return self.conv(m, x)
        if isinstance(m, nn.ConvTranspose2d):
            return self.conv_transpose(m, x)
        if isinstance(m, nn.BatchNorm2d):
            return self.batchnorm(m, x)
        if isinstance(m, nn.Linear):
            return self.emit("linear", [x], {}, {"weight": _np(m.weight), "bias": _np(m.bias)})
        if isinstance(m, nn.ReLU6):
            return self.emit("clip", [x], {"min": 0.0, "max": 6.0})
        if isinstance(m, nn.Hardtanh):
            return self.emit("clip", [x], {"min": float(m.min_val), "max": float(m.max_val)})
        if isinstance(m, nn.Hardsigmoid):
            return self.emit("hardsigmoid", [x], {"alpha": 1 / 6, "beta": 0.5})
        if isinstance(m, nn.Softmax):
            rank = len(self.b.shapes[x])
            # dim=None is torch's legacy implicit dimension: 0 for ranks 0, 1 and 3, else 1.
            dim = m.dim if m.dim is not None else (0 if rank in (0, 1, 3) else 1)
            return self.emit("softmax", [x], {"axis": int(dim) % rank})
        if isinstance(m, nn.LocalResponseNorm):
            return self.emit("lrn", [x], {"size": m.size, "alpha": m.alpha, "beta": m.beta, "bias": m.k})
        if isinstance(m, nn.MaxPool2d):
            if m.return_indices:
                raise UnsupportedOpError(f"{self.where()}: max pool returning indices")
            return self.pool("maxpool", x, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.dilation)
        if isinstance(m, nn.AvgPool2d):
            return self.pool("avgpool", x, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                             count_include_pad=m.count_include_pad, divisor_override=m.divisor_override)
        if isinstance(m, nn.AdaptiveAvgPool2d):
            return self.adaptive_avg(x, m.output_size)
        if isinstance(m, nn.Flatten):
            return self.flatten(x, m.start_dim, m.end_dim)
        if isinstance(m, nn.Upsample):
            return self.upsample(x, m.mode, m.align_corners)
        if isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Identity)):
            return _Tensor(x)
        for cls, op in _SIMPLE_MODULES.items():
            if isinstance(m, cls):
                return self.emit(op, [x])
        raise UnsupportedOpError(f"{self.where()}: module {type(m).__name__} is not supported")

    # -- functions and methods -------------------------------------------------------------

    def permutation(self, how: str, dims: Any) -> tuple[int, ...]:
        ndim = len(self.out_shape())
        if how == "transpose":
            a, b = int(dims[0]) % ndim, int(dims[1]) % ndim
            perm = list(range(ndim))
            perm[a], perm[b] = perm[b], perm[a]
            return tuple(perm)
        flat = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return tuple(int(d) % ndim for d in flat)

    def binary(self, op: str, a: Any, b: Any) -> Any:
        va, vb = self.arg(a), self.arg(b)
        if isinstance(va, _Tensor) and isinstance(vb, _Tensor):
            return self.emit(op, [va.name, vb.name])
        tensor, const, const_first = (va, vb, False) if isinstance(va, _Tensor) else (vb, va, True)
        c = np.asarray(_np(const) if isinstance(const, torch.Tensor) else const, dtype=np.float32)
        attrs = {"const_first": True} if const_first and op in ("sub", "div") else {}
        return self.emit(op, [tensor.name], attrs, {"const": c})

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A torch function or tensor method, by name: a method's tensor is its first argument,
        so both forms share the parameter order of _PARAMS."""
        if name in _BINARY:
            return self.binary(_BINARY[name], args[0], args[1] if len(args) > 1 else kwargs["other"])
        if name in ("size", "dim") or (name == "getattr" and args[1] == "shape"):
            return self.values[self.node]  # type: ignore[index]  # static at import time
        bound = self.arg(_bind(name, args, kwargs))
        if name in ("cat", "concat", "concatenate"):
            tensors = self.tensor_list(bound["tensors"])
            return self.emit("concat", tensors, {"axis": int(bound.get("dim", 0)) % len(self.b.shapes[tensors[0]])})
        x = self.name_of(bound.get("input"))
        if name in ("transpose", "permute"):
            return self.emit("transpose", [x], {"perm": self.permutation(name, self.arg(args[1:]))})
        if name == "flatten":
            return self.flatten(x, bound.get("start_dim", 0), bound.get("end_dim", -1))
        if name in ("view", "reshape"):
            return self.reshape(x)
        if name == "mean":
            return self.mean(x, bound.get("dim"), bound.get("keepdim", False))
        if name in ("chunk", "split"):
            return self.pieces(x, bound.get("dim", 0))
        if name == "relu6":
            return self.emit("clip", [x], {"min": 0.0, "max": 6.0})
        if name == "hardtanh":
            return self.emit("clip", [x], {"min": float(bound.get("min_val", -1.0)), "max": float(bound.get("max_val", 1.0))})
        if name == "hardsigmoid":
            return self.emit("hardsigmoid", [x], {"alpha": 1 / 6, "beta": 0.5})
        if name == "softmax":
            return self.emit("softmax", [x], {"axis": int(bound["dim"]) % len(self.b.shapes[x])})
        if name == "adaptive_avg_pool2d":
            return self.adaptive_avg(x, bound["output_size"])
        if name == "avg_pool2d":
            return self.pool("avgpool", x, bound["kernel_size"], bound.get("stride"), bound.get("padding", 0),
                             bound.get("ceil_mode", False), count_include_pad=bound.get("count_include_pad", True),
                             divisor_override=bound.get("divisor_override"))
        if name in ("max_pool2d", "_max_pool2d"):
            if bound.get("return_indices"):
                raise UnsupportedOpError(f"{self.where()}: max pool returning indices")
            return self.pool("maxpool", x, bound["kernel_size"], bound.get("stride"), bound.get("padding", 0),
                             bound.get("ceil_mode", False), bound.get("dilation", 1))
        if name == "interpolate":
            return self.upsample(x, bound.get("mode", "nearest"), bound.get("align_corners"))
        if name in ("dropout", "dropout2d", "contiguous", "clone", "detach", "stochastic_depth"):
            return _Tensor(x)
        if name in _SIMPLE_FUNCTIONS:
            return self.emit(_SIMPLE_FUNCTIONS[name], [x])
        raise UnsupportedOpError(f"{self.where()}: {name!r} is not supported")

    # -- the walk --------------------------------------------------------------------------

    def run(self, example: torch.Tensor, values: dict[torch.fx.Node, Any]) -> Graph:
        self.values = values
        outputs: list[str] = []
        for node in self.gm.graph.nodes:
            self.node = node
            if node.op == "placeholder":
                self.env[node] = _Tensor(self.b.add_input(node.name, tuple(example.shape)))
            elif node.op == "get_attr":
                self.env[node] = values[node]
            elif node.op == "output":
                flat: list[Any] = []
                torch.fx.node.map_arg(node.args[0], flat.append)
                outputs = self.tensor_list(flat)
            elif not _reads_input(self.arg(node.args), self.arg(node.kwargs)):
                self.env[node] = values[node]  # computed from constants only
            elif node.op == "call_module":
                self.env[node] = self.call_module(self.gm.get_submodule(node.target), node.args, node.kwargs)
            elif node.target is operator.getitem:
                self.env[node] = self.getitem(*node.args)
            else:
                self.env[node] = self.call(getattr(node.target, "__name__", str(node.target)), node.args, node.kwargs)
        return self.b.build(outputs)


_BINARY = {"add": "add", "iadd": "add", "__add__": "add", "__radd__": "add", "sub": "sub", "__sub__": "sub",
           "mul": "mul", "imul": "mul", "__mul__": "mul", "__rmul__": "mul", "truediv": "div", "div": "div",
           "__truediv__": "div"}
_SIMPLE_FUNCTIONS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "hardswish": "hardswish",
                     "silu": "silu", "tanh": "tanh"}
_SIMPLE_MODULES: dict[type, str] = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Hardswish: "hardswish",
                                    nn.SiLU: "silu", nn.Tanh: "tanh"}


def _reads_input(*values: Any) -> bool:
    found = False

    def visit(v: Any) -> None:
        nonlocal found
        if isinstance(v, (_Tensor, _Pieces)):
            found = True
        elif isinstance(v, (list, tuple)):
            for x in v:
                visit(x)
        elif isinstance(v, dict):
            for x in v.values():
                visit(x)

    for v in values:
        visit(v)
    return found


#: Positional parameter names of the torch functions and tensor methods converted here (many
#: are builtins, which inspect.signature cannot read); the others take the tensor first.
_PARAMS: dict[str, tuple[str, ...]] = {
    "flatten": ("input", "start_dim", "end_dim"),
    "mean": ("input", "dim", "keepdim"),
    "chunk": ("input", "chunks", "dim"),
    "split": ("input", "split_size_or_sections", "dim"),
    "cat": ("tensors", "dim"), "concat": ("tensors", "dim"), "concatenate": ("tensors", "dim"),
    "softmax": ("input", "dim"),
    "adaptive_avg_pool2d": ("input", "output_size"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "_max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "interpolate": ("input", "size", "scale_factor", "mode", "align_corners"),
    "hardtanh": ("input", "min_val", "max_val"),
}


def _bind(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword view of a call's arguments (fx nodes left as they are)."""
    return {**dict(zip(_PARAMS.get(name, ("input",)), args)), **kwargs}


def _concrete_values(gm: torch.fx.GraphModule, example: torch.Tensor) -> dict[torch.fx.Node, Any]:
    values: dict[torch.fx.Node, Any] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: torch.fx.Node) -> Any:
            values[n] = super().run_node(n)
            return values[n]

    with torch.no_grad():
        Recorder(gm).run(example)
    return values


def import_torch(module: nn.Module, example_input: torch.Tensor, name: str | None = None) -> Graph:
    """Imports a torch module in eval mode, traced on ``example_input`` (one NCHW tensor).
    Batch normalization is folded into the preceding convolutions."""
    if not isinstance(module, nn.Module):
        raise TraceError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(example_input, torch.Tensor):
        raise TraceError(f"the example input must be a torch.Tensor, got {type(example_input).__name__}")
    module = module.eval()
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as e:  # fx raises TraceError, TypeError, AttributeError, ... on dynamic code
        raise TraceError(f"cannot trace {type(module).__name__} with torch.fx: {type(e).__name__}: {e}") from e
    example = example_input.detach().to(torch.float32)
    try:
        values = _concrete_values(gm, example)
    except Exception as e:
        raise ShapeError(f"{type(module).__name__} does not run on an input of shape "
                         f"{tuple(example_input.shape)}: {type(e).__name__}: {e}") from e
    graph = _Importer(gm, name or type(module).__name__).run(example, values)
    graph.fold_batchnorm()
    return graph
