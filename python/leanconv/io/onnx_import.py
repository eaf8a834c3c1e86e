"""ONNX -> Graph.

Weights may sit in initializers, in Constant nodes (PP-OCRv4) or come out of small constant
subgraphs (ConstantOfShape in the onnx package's architecture files, Shape/Gather/Concat
chains feeding Reshape and Resize): every node whose inputs are all known constants is
evaluated at import time with onnx's reference evaluator, so only real layers remain.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from onnx import helper, numpy_helper

from leanconv.arrays import as_pair
from leanconv.errors import CorruptFileError, LeanconvError, ShapeError, UnsupportedOpError
from leanconv.graph import Graph
from leanconv.io.builder import GraphBuilder


class _Ctx:
    """State of one import: constants, the ONNX-name -> graph-name map, the builder."""

    def __init__(self, model: onnx.ModelProto, name: str) -> None:
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.b = GraphBuilder(name)
        self.consts: dict[str, np.ndarray] = {}
        self.env: dict[str, str] = {}

    def tensor(self, onnx_name: str, node: onnx.NodeProto) -> str:
        if onnx_name in self.env:
            return self.env[onnx_name]
        if onnx_name in self.consts:
            raise UnsupportedOpError(f"{_where(node)}: constant input {onnx_name!r} where a tensor is expected")
        raise ShapeError(f"{_where(node)}: input {onnx_name!r} is not produced by any earlier node")

    def const(self, node: onnx.NodeProto, index: int, what: str) -> np.ndarray:
        if index >= len(node.input) or not node.input[index]:
            raise UnsupportedOpError(f"{_where(node)}: {what} is missing")
        name = node.input[index]
        if name not in self.consts:
            raise UnsupportedOpError(f"{_where(node)}: {what} ({name!r}) must be a constant")
        return self.consts[name]

    def optional_const(self, node: onnx.NodeProto, index: int) -> np.ndarray | None:
        if index >= len(node.input) or not node.input[index]:
            return None
        return self.consts.get(node.input[index])

    def shape_in(self, node: onnx.NodeProto, index: int = 0) -> tuple[int, ...]:
        return self.b.shapes[self.tensor(node.input[index], node)]

    def emit(self, node: onnx.NodeProto, op: str, inputs: list[str], attrs: dict[str, Any] | None = None,
             weights: dict[str, np.ndarray] | None = None) -> None:
        self.env[node.output[0]] = self.b.add(op, inputs, node.output[0], attrs, weights)


def _where(node: onnx.NodeProto) -> str:
    return f"ONNX node {node.name or node.output[0]!r} ({node.op_type})"


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _spatial_padding(node: onnx.NodeProto, a: dict[str, Any], in_hw: tuple[int, int], kernel: tuple[int, int],
                     stride: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """ONNX pads / auto_pad -> (top, left, bottom, right)."""
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            raise UnsupportedOpError(f"{_where(node)}: only 2-D spatial padding is supported, got pads={pads}")
        return (pads[0], pads[1], pads[2], pads[3])
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for size, k, s, d in zip(in_hw, kernel, stride, dilation):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return (out[0][0], out[1][0], out[0][1], out[1][1])
    raise UnsupportedOpError(f"{_where(node)}: auto_pad={auto!r}")


def _pair(node: onnx.NodeProto, a: dict[str, Any], key: str, default: int) -> tuple[int, int]:
    """The 2-D attribute ``key`` (strides, dilations, kernel_shape...) as (h, w)."""
    try:
        return as_pair(a.get(key, default), f"{_where(node)}: {key}")
    except LeanconvError as e:
        raise UnsupportedOpError(f"{e}: only 2-D convolution and pooling are supported") from None


def _conv(ctx: _Ctx, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    w = ctx.const(node, 1, "weight")
    if w.ndim != 4:
        raise UnsupportedOpError(f"{_where(node)}: only 2-D convolution is supported (weight {w.shape})")
    kernel = (w.shape[2], w.shape[3])
    stride, dilation = _pair(node, a, "strides", 1), _pair(node, a, "dilations", 1)
    in_shape = ctx.shape_in(node)
    padding = _spatial_padding(node, a, in_shape[2:], kernel, stride, dilation)  # type: ignore[arg-type]
    weights = {"weight": w}
    bias = ctx.optional_const(node, 2)
    if bias is not None:
        weights["bias"] = bias
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": int(a.get("group", 1))}
    ctx.emit(node, "conv", [ctx.tensor(node.input[0], node)], attrs, weights)


def _conv_transpose(ctx: _Ctx, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    w = ctx.const(node, 1, "weight")
    if w.ndim != 4:
        raise UnsupportedOpError(f"{_where(node)}: only 2-D transposed convolution is supported")
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "") or "output_shape" in a:
        raise UnsupportedOpError(f"{_where(node)}: auto_pad/output_shape on ConvTranspose")
    t, left, b, r = (list(a.get("pads", [0, 0, 0, 0])) + [0, 0, 0, 0])[:4]
    if (t, left) != (b, r):
        raise UnsupportedOpError(f"{_where(node)}: asymmetric ConvTranspose padding {a.get('pads')}")
    weights = {"weight": w}
    bias = ctx.optional_const(node, 2)
    if bias is not None:
        weights["bias"] = bias
    attrs = {
        "stride": _pair(node, a, "strides", 1),
        "padding": (int(t), int(left)),
        "output_padding": _pair(node, a, "output_padding", 0),
        "dilation": _pair(node, a, "dilations", 1),
        "groups": int(a.get("group", 1)),
    }
    ctx.emit(node, "conv_transpose", [ctx.tensor(node.input[0], node)], attrs, weights)


def _batchnorm(ctx: _Ctx, node: onnx.NodeProto) -> None:
    eps = float(_attrs(node).get("epsilon", 1e-5))
    gamma, beta, mean, var = (ctx.const(node, i, what).astype(np.float64)
                              for i, what in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "var")))
    scale = gamma / np.sqrt(var + eps)
    ctx.emit(node, "batchnorm", [ctx.tensor(node.input[0], node)], {},
             {"scale": scale, "shift": beta - mean * scale})


def _pool(op: str) -> Callable[[_Ctx, onnx.NodeProto], None]:
    def convert(ctx: _Ctx, node: onnx.NodeProto) -> None:
        a = _attrs(node)
        kernel = _pair(node, a, "kernel_shape", 1)
        stride = _pair(node, a, "strides", 1)
        dilation = _pair(node, a, "dilations", 1)
        if op == "avgpool" and dilation != (1, 1):
            raise UnsupportedOpError(f"{_where(node)}: dilated average pooling")
        in_shape = ctx.shape_in(node)
        attrs: dict[str, Any] = {
            "kernel": kernel,
            "stride": stride,
            "padding": _spatial_padding(node, a, in_shape[2:], kernel, stride, dilation),  # type: ignore[arg-type]
            "ceil_mode": bool(a.get("ceil_mode", 0)),
        }
        if op == "maxpool":
            attrs["dilation"] = dilation
        else:
            attrs["count_include_pad"] = bool(a.get("count_include_pad", 0))
        if len(node.output) > 1 and node.output[1]:
            raise UnsupportedOpError(f"{_where(node)}: MaxPool indices output")
        ctx.emit(node, op, [ctx.tensor(node.input[0], node)], attrs)

    return convert


def _binary(op: str) -> Callable[[_Ctx, onnx.NodeProto], None]:
    def convert(ctx: _Ctx, node: onnx.NodeProto) -> None:
        names = list(node.input)
        if op == "add" and len(names) > 2:  # Sum of n tensors: a chain of adds
            acc = names[0]
            for i, nxt in enumerate(names[1:-1]):
                part = onnx.NodeProto()
                part.CopyFrom(node)
                del part.input[:]
                part.input.extend([acc, nxt])
                part.output[0] = f"{node.output[0]}__sum{i}"
                convert(ctx, part)
                acc = part.output[0]
            names = [acc, names[-1]]
        tensors = [n for n in names if n not in ctx.consts]
        if len(tensors) == 2:
            ctx.emit(node, op, [ctx.tensor(t, node) for t in tensors])
        elif len(tensors) == 1:
            const = ctx.consts[names[0] if names[1] == tensors[0] else names[1]]
            attrs = {"const_first": True} if names[1] == tensors[0] and op in ("sub", "div") else {}
            ctx.emit(node, op, [ctx.tensor(tensors[0], node)], attrs, {"const": const})
        else:
            raise UnsupportedOpError(f"{_where(node)}: expected two inputs, got {len(names)}")

    return convert


def _unary(op: str, **fixed: Any) -> Callable[[_Ctx, onnx.NodeProto], None]:
    def convert(ctx: _Ctx, node: onnx.NodeProto) -> None:
        ctx.emit(node, op, [ctx.tensor(node.input[0], node)], dict(fixed))

    return convert


def _clip(ctx: _Ctx, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
    if ctx.opset >= 11:
        lo_c, hi_c = ctx.optional_const(node, 1), ctx.optional_const(node, 2)
        for i, c in ((1, lo_c), (2, hi_c)):
            if c is None and i < len(node.input) and node.input[i]:
                raise UnsupportedOpError(f"{_where(node)}: clip bounds must be constants")
        lo = lo_c.item() if lo_c is not None else -np.inf
        hi = hi_c.item() if hi_c is not None else np.inf
    ctx.emit(node, "clip", [ctx.tensor(node.input[0], node)], {"min": float(lo), "max": float(hi)})


def _hardsigmoid(ctx: _Ctx, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    ctx.emit(node, "hardsigmoid", [ctx.tensor(node.input[0], node)],
             {"alpha": float(a.get("alpha", 0.2)), "beta": float(a.get("beta", 0.5))})


def _softmax(ctx: _Ctx, node: onnx.NodeProto) -> None:
    shape = ctx.shape_in(node)
    axis = int(_attrs(node).get("axis", 1 if ctx.opset < 13 else -1)) % len(shape)
    x = ctx.tensor(node.input[0], node)
    if ctx.opset >= 13 or axis == len(shape) - 1:
        ctx.emit(node, "softmax", [x], {"axis": axis})
        return
    # Before opset 13, Softmax works on the input coerced to 2-D at `axis`.
    flat = ctx.b.add("reshape", [x], node.output[0] + "_2d",
                     {"shape": (math.prod(shape[:axis]), math.prod(shape[axis:]))})
    soft = ctx.b.add("softmax", [flat], node.output[0] + "_softmax", {"axis": 1})
    ctx.env[node.output[0]] = ctx.b.add("reshape", [soft], node.output[0], {"shape": shape})


def _lrn(ctx: _Ctx, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    ctx.emit(node, "lrn", [ctx.tensor(node.input[0], node)], {
        "size": int(a["size"]), "alpha": float(a.get("alpha", 1e-4)),
        "beta": float(a.get("beta", 0.75)), "bias": float(a.get("bias", 1.0)),
    })


def _concat(ctx: _Ctx, node: onnx.NodeProto) -> None:
    inputs = [ctx.tensor(t, node) for t in node.input]
    ndim = len(ctx.b.shapes[inputs[0]])
    ctx.emit(node, "concat", inputs, {"axis": int(_attrs(node)["axis"]) % ndim})


def _flatten(ctx: _Ctx, node: onnx.NodeProto) -> None:
    in_shape = ctx.shape_in(node)
    axis = int(_attrs(node).get("axis", 1)) % max(len(in_shape), 1)
    x = ctx.tensor(node.input[0], node)
    if axis == 1:
        ctx.emit(node, "flatten", [x], {"axis": 1})
    else:
        ctx.emit(node, "reshape", [x], {"shape": (math.prod(in_shape[:axis]), math.prod(in_shape[axis:]))})


def _reshape(ctx: _Ctx, node: onnx.NodeProto) -> None:
    in_shape = ctx.shape_in(node)
    if ctx.opset < 5:
        target = list(_attrs(node)["shape"])
    else:
        target = [int(d) for d in ctx.const(node, 1, "target shape")]
    allowzero = int(_attrs(node).get("allowzero", 0))
    target = [in_shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    if target.count(-1) == 1:
        known = math.prod(d for d in target if d != -1)
        target[target.index(-1)] = math.prod(in_shape) // known if known else 0
    if math.prod(target) != math.prod(in_shape):
        raise ShapeError(f"{_where(node)}: cannot reshape {in_shape} to {target}")
    x = ctx.tensor(node.input[0], node)
    if len(target) == 2 and target[0] == in_shape[0]:
        ctx.emit(node, "flatten", [x], {"axis": 1})
    else:
        ctx.emit(node, "reshape", [x], {"shape": tuple(target)})


def _transpose(ctx: _Ctx, node: onnx.NodeProto) -> None:
    ndim = len(ctx.shape_in(node))
    perm = tuple(_attrs(node).get("perm", list(range(ndim))[::-1]))
    ctx.emit(node, "transpose", [ctx.tensor(node.input[0], node)], {"perm": perm})


def _gemm(ctx: _Ctx, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    if a.get("transA", 0):
        raise UnsupportedOpError(f"{_where(node)}: Gemm with transA=1")
    b = ctx.const(node, 1, "B").astype(np.float64)
    weight = (b if a.get("transB", 0) else b.T) * float(a.get("alpha", 1.0))
    weights = {"weight": weight}
    c = ctx.optional_const(node, 2)
    if c is not None:
        weights["bias"] = np.broadcast_to(c.astype(np.float64) * float(a.get("beta", 1.0)), (weight.shape[0],))
    elif len(node.input) > 2 and node.input[2]:
        raise UnsupportedOpError(f"{_where(node)}: Gemm bias C must be a constant")
    ctx.emit(node, "linear", [ctx.tensor(node.input[0], node)], {}, weights)


def _matmul(ctx: _Ctx, node: onnx.NodeProto) -> None:
    b = ctx.const(node, 1, "right-hand matrix")
    if b.ndim != 2:
        raise UnsupportedOpError(f"{_where(node)}: MatMul with a {b.ndim}-D constant")
    ctx.emit(node, "linear", [ctx.tensor(node.input[0], node)], {}, {"weight": b.T})


def _resize(ctx: _Ctx, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    in_shape = ctx.shape_in(node)
    scales: np.ndarray | None
    if node.op_type == "Upsample":
        scales = ctx.const(node, 1, "scales") if ctx.opset >= 9 else np.array(a["scales"])
        sizes = None
    else:
        scales = ctx.optional_const(node, 2 if ctx.opset >= 11 else 1)
        sizes = ctx.optional_const(node, 3) if ctx.opset >= 11 else None
    if sizes is not None and sizes.size:
        out = tuple(int(s) for s in sizes)
    elif scales is not None and scales.size:
        out = tuple(int(math.floor(d * float(s))) for d, s in zip(in_shape, scales))
    else:
        raise UnsupportedOpError(f"{_where(node)}: resize needs constant scales or sizes")
    if out[:2] != in_shape[:2] or len(out) != 4:
        raise UnsupportedOpError(f"{_where(node)}: resize of batch or channel dims ({in_shape} -> {out})")
    mode = a.get("mode", "nearest")
    coord = a.get("coordinate_transformation_mode", "half_pixel" if node.op_type == "Resize" else "asymmetric")
    if node.op_type == "Upsample" or ctx.opset < 11:
        coord = "asymmetric"
    if mode == "nearest" and coord == "asymmetric" and a.get("nearest_mode", "round_prefer_floor" if node.op_type == "Resize" and ctx.opset >= 11 else "floor") == "floor":
        attrs: dict[str, Any] = {"mode": "nearest", "size": out[2:], "align_corners": False}
    elif mode in ("linear", "bilinear") and coord in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        attrs = {"mode": "bilinear", "size": out[2:], "align_corners": coord == "align_corners"}
    else:
        raise UnsupportedOpError(f"{_where(node)}: resize mode={mode!r} coordinate_transformation_mode={coord!r}"
                                 f" nearest_mode={a.get('nearest_mode')!r}")
    ctx.emit(node, "upsample", [ctx.tensor(node.input[0], node)], attrs)


def _passthrough(ctx: _Ctx, node: onnx.NodeProto) -> None:
    # Inference: Dropout passes its input through; its mask output (if any) stays undefined,
    # so a node that reads it fails with a clear error.
    ctx.env[node.output[0]] = ctx.tensor(node.input[0], node)


def _shape(ctx: _Ctx, node: onnx.NodeProto) -> None:
    # The shape of a tensor is known at import time: it becomes a constant.
    ctx.consts[node.output[0]] = np.array(ctx.shape_in(node), dtype=np.int64)


#: ONNX op type -> converter. An op not here (and not foldable) is an UnsupportedOpError.
CONVERTERS: dict[str, Callable[[_Ctx, onnx.NodeProto], None]] = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "BatchNormalization": _batchnorm,
    "Relu": _unary("relu"),
    "Sigmoid": _unary("sigmoid"),
    "Tanh": _unary("tanh"),
    "HardSwish": _unary("hardswish"),
    "HardSigmoid": _hardsigmoid,
    "Clip": _clip,
    "Softmax": _softmax,
    "LRN": _lrn,
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _unary("global_avgpool"),
    "Add": _binary("add"),
    "Sum": _binary("add"),
    "Sub": _binary("sub"),
    "Mul": _binary("mul"),
    "Div": _binary("div"),
    "Concat": _concat,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Resize": _resize,
    "Upsample": _resize,
    "Dropout": _passthrough,
    "Identity": _passthrough,
    "Shape": _shape,
}


def _fold(ctx: _Ctx, node: onnx.NodeProto) -> bool:
    """Evaluates a node whose inputs are all constants; False if it has tensor inputs."""
    if node.op_type == "Constant":  # read with the initializers (onnx_constants)
        return True
    inputs = [i for i in node.input if i]
    if not inputs or any(i not in ctx.consts for i in inputs) or node.op_type in ("Conv", "ConvTranspose"):
        return False
    from onnx.reference import ReferenceEvaluator

    feeds = {i: ctx.consts[i] for i in inputs}
    # A one-node model, so the evaluator applies this model's opset (Unsqueeze-9 vs -13...).
    graph = helper.make_graph(
        [node], "fold",
        [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for i, v in feeds.items()],
        [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o],
    )
    folded = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ctx.opset)])
    try:
        results = ReferenceEvaluator(folded).run(None, feeds)
    except Exception as e:  # the evaluator raises many types on ops it lacks
        raise UnsupportedOpError(f"{_where(node)}: cannot evaluate on constant inputs: {e}") from e
    for name, value in zip(node.output, results):
        ctx.consts[name] = np.asarray(value)
    return True


def _dims(value_info: onnx.ValueInfoProto) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in value_info.type.tensor_type.shape.dim]


def onnx_constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The initializers and Constant-node outputs of a model, by tensor name."""
    consts = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute:
            a = node.attribute[0]
            value = helper.get_attribute_value(a)
            consts[node.output[0]] = numpy_helper.to_array(value) if a.name == "value" else np.array(value)
    return consts


def read_onnx(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Loads an ONNX file; anything that is not a readable ONNX model is a CorruptFileError."""
    try:
        model = onnx.load(os.fspath(path))
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise CorruptFileError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from e
    if not model.graph.node:
        raise CorruptFileError(f"{path}: not an ONNX model (no graph nodes)")
    return model


def import_onnx(
    model: onnx.ModelProto | str | os.PathLike[str],
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    name: str | None = None,
) -> Graph:
    """Imports an ONNX model. ``input_shapes`` fills dynamic dimensions (by input name, or
    ``{"*": shape}`` for the only input); batch normalization is folded into convolutions."""
    if not isinstance(model, onnx.ModelProto):
        name = name or os.path.splitext(os.path.basename(os.fspath(model)))[0]
        model = read_onnx(model)
    ctx = _Ctx(model, name or model.graph.name or "onnx_model")
    ctx.consts.update(onnx_constants(model))
    for vi in model.graph.input:
        if vi.name in ctx.consts:
            continue
        dims = _dims(vi)
        given = (input_shapes or {}).get(vi.name) or (input_shapes or {}).get("*")
        if given is not None:
            if len(given) != len(dims) or any(d is not None and d != g for d, g in zip(dims, given)):
                raise ShapeError(f"input {vi.name!r} has shape {dims} in the model; {tuple(given)} does not fit")
            dims = list(given)
        if any(d is None for d in dims):
            raise ShapeError(f"input {vi.name!r} has dynamic dimensions {_dims(vi)}: give its shape (input_shapes)")
        ctx.env[vi.name] = ctx.b.add_input(vi.name, tuple(int(d) for d in dims))  # type: ignore[arg-type]
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOpError(f"{_where(node)}: custom domain {node.domain!r}")
        if _fold(ctx, node):
            continue
        convert = CONVERTERS.get(node.op_type)
        if convert is None:
            raise UnsupportedOpError(f"{_where(node)}: op {node.op_type!r} is not supported")
        convert(ctx, node)
    outputs = []
    for vi in model.graph.output:
        if vi.name not in ctx.env:
            raise UnsupportedOpError(f"graph output {vi.name!r} is a constant, not computed from the input")
        outputs.append(ctx.env[vi.name])
    graph = ctx.b.build(outputs)
    graph.fold_batchnorm()
    return graph
