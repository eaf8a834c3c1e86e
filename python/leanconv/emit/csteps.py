"""Each step of a Plan as C: the kernel's parameter block, what ``<name>_init`` does for it
(packing its weights) and the straight-line calls ``<name>_run`` makes.

The parameter blocks are the ones the Rust executor builds for the same kernels
(rust/core/src/runtime/executor.rs and ops.rs, rust/core/src/ops/): the plan's shapes and attrs
mapped onto kernels_c's structs, so the emitted program computes what the runtime computes.
Sizes are constants; tensors are addressed in the one static arena by the plan's offsets.
One thread: every call covers all of its work units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from leanconv import primitives as P
from leanconv.errors import PlanError, UnsupportedOpError
from leanconv.runtime.plan import VIEW_KERNELS, LayerStep, Plan, Step, TensorPlan, TransformStep

ISA_CODES = {"auto": "LC_ISA_AUTO", "scalar": "LC_ISA_SCALAR", "avx2": "LC_ISA_AVX2",
             "avx512": "LC_ISA_AVX512", "neon": "LC_ISA_NEON"}
#: Conv epilogue activations (lc_conv.h).
CONV_ACTS = {"none": "LC_ACT_NONE", "relu": "LC_ACT_RELU", "relu6": "LC_ACT_RELU6"}


def c_float(v: float) -> str:
    """A float literal that reads back as the same float32."""
    f = float(np.float32(v))
    if math.isinf(f):
        return "INFINITY" if f > 0 else "-INFINITY"
    if math.isnan(f):
        raise PlanError("a NaN parameter cannot be emitted")
    return f"{f!r}f" if "e" in repr(f) or "." in repr(f) else f"{f!r}.0f"


def c_struct(fields: dict[str, object]) -> str:
    """A C99 designated initializer; nested dicts become nested initializers."""
    parts = []
    for k, v in fields.items():
        text = c_struct(v) if isinstance(v, dict) else str(v)
        parts.append(f".{k} = {text}")
    return "{" + ", ".join(parts) + "}"


def in_comment(text: str) -> str:
    """``text`` (a layer or graph name) safe inside a C comment."""
    return text.replace("*/", "* /").replace("\n", " ")


@dataclass
class Weight:
    """One weight tensor of the blob: ``<layer>.<key>``, float32 in the graph's layout."""

    name: str
    array: np.ndarray


@dataclass
class Pack:
    """A weight tensor that ``<name>_init`` packs: the blob weight it reads, its slot in the
    packed buffer (byte offset), the check that this build's kernel fits the slot and the
    workspace (a C condition), and the pack call with ``{src}`` for the float weights."""

    weight: str
    at: int
    check: str
    call: str


@dataclass
class CStep:
    """The C of one step: declarations at file scope, lines of ``init``, the weights it packs
    at init and the lines of ``run``."""

    comment: str
    decls: list[str] = field(default_factory=list)
    init: list[str] = field(default_factory=list)
    run: list[str] = field(default_factory=list)
    packs: list[Pack] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.comment = in_comment(self.comment)


class Emitter:
    """Turns a plan's steps into :class:`CStep` s. ``weight(name)`` gives the C expression of a
    blob weight (a ``const float *``) and registers it; packed weights are placed one after the
    other in the packed buffer (``packed_bytes`` in all, the plan's)."""

    def __init__(self, plan: Plan, weights: dict[str, np.ndarray]) -> None:
        self.plan = plan
        self.weights = weights
        self.blob: list[Weight] = []
        self._index: dict[str, int] = {}
        self.packed_offset = 0
        self.workspace_bytes = 0

    # -- addressing ----------------------------------------------------------------------------

    def tensor(self, name: str) -> TensorPlan:
        return self.plan.tensors[name]

    def image(self, name: str) -> int:
        t = self.tensor(name)
        return math.prod(t.shape) // t.shape[0]

    def stride(self, name: str) -> int:
        """Elements between two images (a channel view strides over its parent's images)."""
        t = self.tensor(name)
        if t.view_of is not None:
            return self.image(t.view_of.tensor)
        return self.image(name)

    def ptr(self, name: str, image: str | int = 0, const: bool = True) -> str:
        """C expression of image ``image`` (a C expression) of tensor ``name``."""
        stride = self.stride(name)
        step = "" if str(image) == "0" else f" + (size_t){image} * {stride}u"
        if name in self.plan.inputs:
            return f"inputs[{self.plan.inputs.index(name)}]{step}"
        t = self.tensor(name)
        assert t.offset is not None and t.offset % 4 == 0
        return f"{'(const float *)' if const else ''}ARENA + {t.offset // 4}u{step}"

    def operand(self, name: str) -> tuple[str, int]:
        """Tensor ``name`` as an op operand: its first image and the elements between two."""
        return self.ptr(name), self.stride(name)

    def weight(self, key: str) -> str:
        """The C pointer of blob weight ``key`` (registered in the blob on first use)."""
        return f"W({self.weight_index(key)})"

    def weight_index(self, key: str) -> int:
        if key not in self._index:
            if key not in self.weights:
                raise PlanError(f"weight {key!r} is missing from the graph")
            self._index[key] = len(self.blob)
            self.blob.append(Weight(key, np.ascontiguousarray(self.weights[key], dtype=np.float32)))
        return self._index[key]

    def packed(self, nbytes: int) -> tuple[str, int]:
        """A slice of the packed buffer for ``nbytes`` of packed weights: its C pointer and
        byte offset."""
        if nbytes % 4:
            raise PlanError(f"packed weights of {nbytes} bytes are not whole floats")
        at = self.packed_offset
        self.packed_offset += nbytes
        return f"PACKED + {at // 4}u", at

    def pack(self, key: str, at: int, check: str, call: str) -> Pack:
        """The packing of blob weight ``key`` into the slot at byte ``at``."""
        self.weight_index(key)
        return Pack(key, at, check, call)

    def per_image(self, batch: int, body: Callable[[str], list[str]]) -> list[str]:
        """``body`` for every image: straight-line for one image, a loop over more."""
        if batch == 1:
            return body("0")
        return [f"for (size_t n = 0; n < {batch}u; ++n) {{", *("    " + s for s in body("n")), "}"]

    # -- steps ---------------------------------------------------------------------------------

    def step(self, i: int, step: Step) -> CStep:
        if isinstance(step, TransformStep):
            return self.transform(i, step)
        if step.kernel in VIEW_KERNELS:
            return CStep(f"step {i}: {step.layer} ({step.kernel}: its output is in place)")
        if step.op == "conv":
            return self.conv(i, step)
        emit = OPS.get(step.kernel.removesuffix("_chw").removesuffix("_hwc"))
        if emit is None:
            raise UnsupportedOpError(f"step {i} (layer {step.layer!r}): kernel {step.kernel!r} has no C "
                                     "emitter yet")
        return emit(self, i, step)

    def transform(self, i: int, step: TransformStep) -> CStep:
        x, y = step.inputs[0], step.output
        _, c, h, w = self.tensor(x).shape
        fn = f"lc_{step.transform}_f32"
        out = CStep(f"step {i}: {step.transform} of {x}")
        out.run = self.per_image(self.tensor(x).shape[0], lambda n: [
            f"{fn}({self.ptr(x, n)}, {self.ptr(y, n, const=False)}, {c}u, {h}u, {w}u);"])
        return out

    def conv(self, i: int, step: LayerStep) -> CStep:
        x, y = step.inputs[0], step.output
        n, c, h, w = self.tensor(x).shape
        _, k, oh, ow = self.tensor(y).shape
        a = step.attrs
        wk = step.weights["weight"]
        pt, pl, pb, pr = a["padding"]
        params = {"c": c, "k": k, "h": h, "w": w, "kh": wk[2], "kw": wk[3], "sh": a["stride"][0],
                  "sw": a["stride"][1], "dh": a["dilation"][0], "dw": a["dilation"][1], "pt": pt,
                  "pl": pl, "pb": pb, "pr": pr, "groups": a["groups"], "act": CONV_ACTS[step.activation],
                  "oh": oh, "ow": ow, "isa": isa_code(step)}
        spec = P.ConvSpec(c, k, h, w, (wk[2], wk[3]), tuple(a["stride"]), (pt, pl, pb, pr),
                          tuple(a["dilation"]), a["groups"])
        if P.get(step.kernel) not in P.list_primitives(spec):
            raise PlanError(f"step {i} (layer {step.layer!r}): kernel {step.kernel} does not apply")
        pname, prim = f"P{i}", f"lc_{step.kernel}"
        packed, at = self.packed(step.packed_bytes)
        bias = self.weight(f"{step.layer}.bias") if "bias" in step.weights else "NULL"
        self.workspace_bytes = max(self.workspace_bytes, step.workspace_bytes)
        out = CStep(f"step {i}: {step.layer} ({step.kernel}{', ' + step.activation if step.fused else ''})")
        out.decls = [f"static const lc_conv_params {pname} = {c_struct(params)};"]
        out.packs = [self.pack(f"{step.layer}.weight", at,
                               f"{prim}_packed_bytes(&{pname}) > {step.packed_bytes}u || "
                               f"{prim}_workspace_bytes(&{pname}) > WORKSPACE_BYTES",
                               f"{prim}_pack(&{pname}, {{src}}, {packed});")]
        out.run = self.per_image(n, lambda im: [
            f"{prim}_run(&{pname}, {self.ptr(x, im)}, {packed}, {bias}, {self.ptr(y, im, const=False)}, "
            f"WORKSPACE, 0, {k}u, 0, {oh}u);"])
        return out

    def op_call(self, i: int, step: LayerStep, struct: str, params: dict[str, object], units: int,
                operands: Sequence[tuple[str, int]], batch: int, part: str = "",
                out_step: int | None = None) -> CStep:
        """A table op kernel on every image (``batch`` calls): ``operands`` are (C pointer of
        the first, elements between two; 0 for operands every call shares), the output's
        images follow its stride (or ``out_step``). ``part`` names one of several calls of a
        step."""
        pname, fn = f"P{i}{part}", f"lc_op_{step.kernel}"
        out = CStep(f"step {i}: {step.layer} ({step.kernel})")
        out.decls = [f"static const {struct} {pname} = {c_struct(params)};"]
        y = step.output
        out_step = self.stride(y) if out_step is None else out_step

        def call(im: str) -> list[str]:
            ops = ", ".join(p if s == 0 or im == "0" else f"{p} + (size_t){im} * {s}u" for p, s in operands)
            dst = self.ptr(y, 0, const=False)
            dst = dst if im == "0" else f"{dst} + (size_t){im} * {out_step}u"
            return [f"{{ const float *in[] = {{{ops}}}; {fn}(&{pname}, in, {dst}, 0, {units}u); }}"]

        out.run = self.per_image(batch, call)
        return out


def isa_code(step: LayerStep) -> str:
    try:
        return ISA_CODES[step.isa]
    except KeyError:
        raise PlanError(f"layer {step.layer!r}: unknown isa {step.isa!r}") from None


def dims(shape: Sequence[int]) -> tuple[int, int, int, int]:
    """(n, c, h, w) of a 4-D shape; (n, elements per image, 1, 1) of any other."""
    if len(shape) == 4:
        n, c, h, w = shape
        return n, c, h, w
    return shape[0], math.prod(shape[1:]), 1, 1


def act_params(step: LayerStep) -> dict[str, object]:
    """The ``lc_activation`` of an activation layer."""
    a = step.attrs
    kinds: dict[str, tuple[str, float, float]] = {
        "relu": ("LC_ACT_RELU", 0.0, 0.0),
        "sigmoid": ("LC_ACT_SIGMOID", 0.0, 0.0),
        "hardswish": ("LC_ACT_HARD_SWISH", 0.0, 0.0),
        "silu": ("LC_ACT_SILU", 0.0, 0.0),
        "tanh": ("LC_ACT_TANH", 0.0, 0.0),
    }
    if step.op == "gelu" and a.get("approximate", "none") != "none":
        raise UnsupportedOpError(f"layer {step.layer!r}: gelu with approximate {a['approximate']!r} has no kernel")
    kinds["gelu"] = ("LC_ACT_GELU", 0.0, 0.0)
    if step.op == "clip":
        kind, alpha, beta = "LC_ACT_CLIP", a["min"], a["max"]
    elif step.op == "hardsigmoid":
        kind, alpha, beta = "LC_ACT_HARD_SIGMOID", a["alpha"], a["beta"]
    elif step.op in kinds:
        kind, alpha, beta = kinds[step.op]
    else:
        raise UnsupportedOpError(f"layer {step.layer!r}: {step.op!r} is not an activation")
    return {"kind": kind, "alpha": c_float(alpha), "beta": c_float(beta)}


NO_ACT = {"kind": "LC_ACT_NONE", "alpha": "0.0f", "beta": "0.0f"}


def activation(e: Emitter, i: int, step: LayerStep) -> CStep:
    x = step.inputs[0]
    length = e.image(x)
    params = {"n": length, "act": act_params(step), "isa": isa_code(step)}
    return e.op_call(i, step, "lc_unary_params", params, length, [e.operand(x)], e.tensor(x).shape[0])


def broadcast(x: Sequence[int], y: Sequence[int]) -> str | None:
    """How ``y`` broadcasts against ``x`` (the output's shape), as the binary kernels take it."""
    if list(x) == list(y):
        return "same"
    if math.prod(y) == 1:
        return "scalar"
    padded = [1] * (len(x) - len(y)) + list(y)
    if len(x) < 2 or len(padded) != len(x) or any(d != 1 for d in padded[2:]) or padded[1] != x[1]:
        return None
    return {1: "channel", x[0]: "image_channel"}.get(padded[0])


def binary(e: Emitter, i: int, step: LayerStep) -> CStep:
    out = e.tensor(step.output).shape
    n, c, h, w = dims(out)
    shapes = [e.tensor(t).shape for t in step.inputs]
    if len(step.inputs) == 1:
        y_shape, reversed_ = step.weights["const"], bool(step.attrs.get("const_first", False))
        x, y = e.operand(step.inputs[0]), (e.weight(f"{step.layer}.const"), 0)
    elif list(shapes[0]) == list(out):
        y_shape, reversed_ = list(shapes[1]), False
        x, y = e.operand(step.inputs[0]), e.operand(step.inputs[1])
    else:
        y_shape, reversed_ = list(shapes[0]), True
        x, y = e.operand(step.inputs[1]), e.operand(step.inputs[0])
    bc = broadcast(out, y_shape)
    if bc is None:
        raise UnsupportedOpError(f"layer {step.layer!r}: {step.op} broadcast of {y_shape} to {out}")
    per_image = bc in ("same", "image_channel")  # else every image reads the same y
    if len(step.inputs) == 1:
        y = (y[0], (c * h * w if bc == "same" else c) if per_image else 0)
    elif not per_image:
        y = (y[0], 0)
    params = {"c": c, "hw": h * w, "op": f"LC_BINARY_{step.op.upper()}",
              "bcast": {"same": "LC_BCAST_SAME", "scalar": "LC_BCAST_SCALAR"}.get(bc, "LC_BCAST_CHANNEL"),
              "reversed": int(reversed_), "act": NO_ACT, "isa": isa_code(step)}
    units = h * w if step.layout == "hwc" else c
    return e.op_call(i, step, "lc_binary_params", params, units, [x, y], n)


def affine(e: Emitter, i: int, step: LayerStep) -> CStep:
    n, c, h, w = dims(e.tensor(step.output).shape)
    params = {"c": c, "hw": h * w, "act": NO_ACT, "isa": isa_code(step)}
    units = h * w if step.layout == "hwc" else c
    ops = [e.operand(step.inputs[0]), (e.weight(f"{step.layer}.scale"), 0), (e.weight(f"{step.layer}.shift"), 0)]
    return e.op_call(i, step, "lc_affine_params", params, units, ops, n)


def pool(e: Emitter, i: int, step: LayerStep) -> CStep:
    n, c, h, w = dims(e.tensor(step.inputs[0]).shape)
    _, _, oh, ow = dims(e.tensor(step.output).shape)
    a = step.attrs
    is_max = step.kernel.startswith("max")
    dh, dw = a["dilation"] if is_max else (1, 1)
    pt, pl, pb, pr = a["padding"]
    params = {"c": c, "h": h, "w": w, "oh": oh, "ow": ow, "kh": a["kernel"][0], "kw": a["kernel"][1],
              "sh": a["stride"][0], "sw": a["stride"][1], "dh": dh, "dw": dw, "pt": pt, "pl": pl, "pb": pb,
              "pr": pr, "count_include_pad": int(bool(a.get("count_include_pad", False))),
              "isa": isa_code(step)}
    units = oh if step.layout == "hwc" else c
    return e.op_call(i, step, "lc_pool_params", params, units, [e.operand(step.inputs[0])], n)


def global_pool(e: Emitter, i: int, step: LayerStep) -> CStep:
    x = e.tensor(step.inputs[0]).shape
    if step.op == "mean" and not (len(x) == 4 and sorted(a % 4 for a in step.attrs["axes"]) == [2, 3]):
        raise UnsupportedOpError(f"layer {step.layer!r}: mean over axes {step.attrs['axes']} has no kernel")
    n, c, h, w = dims(x)
    params = {"c": c, "hw": h * w, "isa": isa_code(step)}
    return e.op_call(i, step, "lc_global_pool_params", params, c, [e.operand(step.inputs[0])], n)


def linear(e: Emitter, i: int, step: LayerStep) -> CStep:
    out_f, in_f = step.weights["weight"]
    x = e.tensor(step.inputs[0]).shape
    if x[-1] != in_f:
        raise PlanError(f"layer {step.layer!r}: input {list(x)} does not end in {in_f} features")
    rows = math.prod(x) // in_f
    params = {"in_f": in_f, "out_f": out_f, "act": NO_ACT, "isa": isa_code(step)}
    bias = e.weight(f"{step.layer}.bias") if "bias" in step.weights else "NULL"
    ops = [(e.ptr(step.inputs[0]), in_f), (e.weight(f"{step.layer}.weight"), 0), (bias, 0)]
    return e.op_call(i, step, "lc_linear_params", params, out_f, ops, rows, out_step=out_f)


def softmax(e: Emitter, i: int, step: LayerStep) -> CStep:
    x = e.tensor(step.inputs[0]).shape
    axis = step.attrs.get("axis", -1)
    if (axis + len(x) if axis < 0 else axis) != 1 or len(x) not in (2, 4):
        raise UnsupportedOpError(f"layer {step.layer!r}: softmax over axis {axis} of a {len(x)}-D tensor")
    n, c, h, w = dims(x)
    params = {"c": c, "hw": h * w, "isa": isa_code(step)}
    return e.op_call(i, step, "lc_softmax_params", params, h * w, [e.operand(step.inputs[0])], n)


def copy_channels(e: Emitter, i: int, step: LayerStep) -> CStep:
    out = e.tensor(step.output).shape
    n, oc, h, w = dims(out)
    axis = step.attrs.get("axis", 0)
    if (axis + len(out) if axis < 0 else axis) != 1 or len(out) not in (2, 4):
        raise UnsupportedOpError(f"layer {step.layer!r}: {step.op} along axis {axis} (channels only)")
    if step.op == "slice":
        xc = dims(e.tensor(step.inputs[0]).shape)[1]
        parts = [(step.inputs[0], xc, int(step.attrs.get("start", 0)), 0, oc)]
    else:
        parts, at = [], 0
        for t in step.inputs:
            tc = dims(e.tensor(t).shape)[1]
            parts.append((t, tc, 0, at, tc))
            at += tc
    result = CStep(f"step {i}: {step.layer} ({step.kernel}, {len(parts)} cop{'y' if len(parts) == 1 else 'ies'})")
    for j, (t, src_c, src_off, dst_off, count) in enumerate(parts):
        params: dict[str, object] = {"hw": h * w, "n": count, "src_c": src_c, "src_off": src_off, "dst_c": oc,
                                     "dst_off": dst_off}
        units = h * w if step.layout == "hwc" else count
        call = e.op_call(i, step, "lc_copy_params", params, units, [e.operand(t)], n, part=f"_{j}")
        result.decls += call.decls
        result.run += call.run
    return result


def resize(e: Emitter, i: int, step: LayerStep) -> CStep:
    n, c, h, w = dims(e.tensor(step.inputs[0]).shape)
    a = step.attrs
    oh, ow = a["size"]
    nearest_modes = {"floor": "LC_NEAREST_FLOOR", "ceil": "LC_NEAREST_CEIL",
                     "round_prefer_floor": "LC_NEAREST_ROUND_PREFER_FLOOR",
                     "round_prefer_ceil": "LC_NEAREST_ROUND_PREFER_CEIL"}
    mode, rounding = a.get("mode", ""), str(a.get("nearest"))
    coords = {"half_pixel": "LC_COORD_HALF_PIXEL", "pytorch_half_pixel": "LC_COORD_PYTORCH_HALF_PIXEL",
              "asymmetric": "LC_COORD_ASYMMETRIC", "align_corners": "LC_COORD_ALIGN_CORNERS"}
    if mode == "bilinear":
        kind, nearest = "LC_RESIZE_LINEAR", "0"
    elif mode == "nearest" and rounding in nearest_modes:
        kind, nearest = "LC_RESIZE_NEAREST", nearest_modes[rounding]
    else:
        raise UnsupportedOpError(f"layer {step.layer!r}: resize mode {mode!r} (nearest {rounding!r})")
    if a.get("coord") not in coords:
        raise UnsupportedOpError(f"layer {step.layer!r}: resize coordinate mode {a.get('coord')!r}")
    # the ratio as the runtime computes it: 1 / scale in double, then float
    params = {"c": c, "h": h, "w": w, "oh": oh, "ow": ow, "rh": c_float(1.0 / a["scale"][0]),
              "rw": c_float(1.0 / a["scale"][1]), "mode": kind, "coord": coords[a["coord"]],
              "nearest": nearest, "isa": isa_code(step)}
    units = oh if step.layout == "hwc" else c
    return e.op_call(i, step, "lc_resize_params", params, units, [e.operand(step.inputs[0])], n)


def deconv(e: Emitter, i: int, step: LayerStep) -> CStep:
    """A transposed convolution: weights packed at init like a conv's; its workspace is the
    shared one, passed as the kernel's fourth operand."""
    x, y = step.inputs[0], step.output
    n, c, h, w = e.tensor(x).shape
    _, k, oh, ow = e.tensor(y).shape
    a, wk = step.attrs, step.weights["weight"]
    params = {"c": c, "k": k, "h": h, "w": w, "oh": oh, "ow": ow, "kh": wk[2], "kw": wk[3], "sh": a["stride"][0],
              "sw": a["stride"][1], "dh": a["dilation"][0], "dw": a["dilation"][1], "pt": a["padding"][0],
              "pl": a["padding"][1], "groups": a["groups"],
              "act": {**NO_ACT, "kind": CONV_ACTS[step.activation]}, "isa": isa_code(step)}
    layout = "LC_LAYOUT_HWC" if step.layout == "hwc" else "LC_LAYOUT_CHW"
    packed, at = e.packed(step.packed_bytes)
    bias = e.weight(f"{step.layer}.bias") if "bias" in step.weights else "NULL"
    e.workspace_bytes = max(e.workspace_bytes, step.workspace_bytes)
    out = e.op_call(i, step, "lc_deconv_params", params, oh,
                    [e.operand(x), (packed, 0), (bias, 0), ("(const float *)WORKSPACE", 0)], n)
    out.packs = [e.pack(f"{step.layer}.weight", at,
                        f"lc_deconv_packed_bytes(&P{i}, {layout}) > {step.packed_bytes}u || "
                        f"lc_deconv_workspace_bytes(&P{i}, {layout}) > WORKSPACE_BYTES",
                        f"lc_deconv_pack(&P{i}, {layout}, {{src}}, {packed});")]
    return out


def layernorm(e: Emitter, i: int, step: LayerStep) -> CStep:
    x = e.tensor(step.inputs[0]).shape
    if len(x) != 4 or list(step.attrs["axes"]) != [1]:
        raise UnsupportedOpError(f"layer {step.layer!r}: layernorm over axes {step.attrs['axes']} of a "
                                 f"{len(x)}-D tensor (the channels of a 4-D tensor only)")
    n, c, h, w = dims(x)
    params = {"c": c, "hw": h * w, "eps": c_float(step.attrs["eps"]), "isa": isa_code(step)}
    defaults = []  # a layer-norm without its affine part: ones and zeros as program constants
    ops = [e.operand(step.inputs[0])]
    for key, fill in (("scale", "1.0f"), ("shift", "0.0f")):
        if key in step.weights:
            ops.append((e.weight(f"{step.layer}.{key}"), 0))
        else:
            name = f"step{i}_{key}"
            defaults.append(f"static const float {name}[{c}u] = {{{', '.join([fill] * c)}}};")
            ops.append((name, 0))
    out = e.op_call(i, step, "lc_layernorm_params", params, h * w, ops, n)
    out.decls = defaults + out.decls
    return out


def lrn(e: Emitter, i: int, step: LayerStep) -> CStep:
    n, c, h, w = dims(e.tensor(step.inputs[0]).shape)
    a, size = step.attrs, int(step.attrs["size"])
    # the runtime's window: size / 2 channels before, (size - 1) / 2 after (PyTorch's placement)
    params = {"c": c, "hw": h * w, "before": min(size // 2, c), "after": min((size - 1) // 2, c),
              "scale": c_float(a["alpha"] / size), "beta": c_float(a["beta"]), "bias": c_float(a["bias"]),
              "isa": isa_code(step)}
    return e.op_call(i, step, "lc_lrn_params", params, h * w if step.layout == "hwc" else c,
                     [e.operand(step.inputs[0])], n)


def channel_shuffle(e: Emitter, i: int, step: LayerStep) -> CStep:
    n, c, h, w = dims(e.tensor(step.inputs[0]).shape)
    groups = int(step.attrs["shape"][1])
    params: dict[str, object] = {"c": c, "hw": h * w, "groups": groups}
    return e.op_call(i, step, "lc_shuffle_params", params, h * w if step.layout == "hwc" else c,
                     [e.operand(step.inputs[0])], n)


def pad(e: Emitter, i: int, step: LayerStep) -> CStep:
    n, c, h, w = dims(e.tensor(step.inputs[0]).shape)
    _, _, oh, _ = dims(e.tensor(step.output).shape)
    a = step.attrs
    pt, pl, pb, pr = a["padding"]
    modes = {"constant": "LC_PAD_CONSTANT", "reflect": "LC_PAD_REFLECT", "edge": "LC_PAD_EDGE"}
    if a["mode"] not in modes:
        raise UnsupportedOpError(f"layer {step.layer!r}: pad mode {a['mode']!r}")
    params = {"c": c, "h": h, "w": w, "pt": pt, "pl": pl, "pb": pb, "pr": pr, "mode": modes[a["mode"]],
              "value": c_float(a.get("value", 0.0) if a["mode"] == "constant" else 0.0)}
    return e.op_call(i, step, "lc_pad_params", params, oh if step.layout == "hwc" else c,
                     [e.operand(step.inputs[0])], n)


#: Op kernels (their name without the layout suffix) -> emitter.
OPS: dict[str, Callable[[Emitter, int, LayerStep], CStep]] = {
    "activation": activation, "binary": binary, "affine": affine, "maxpool": pool, "avgpool": pool,
    "global_avgpool": global_pool, "linear": linear, "softmax": softmax, "copy_channels": copy_channels,
    "resize": resize, "deconv": deconv, "layernorm": layernorm, "lrn": lrn, "channel_shuffle": channel_shuffle,
    "pad": pad,
}
