"""The default planner: a Graph to a runnable :class:`~leanconv.runtime.plan.Plan`.

Per conv layer it picks the fastest applicable primitive by a quick measurement (a few runs
of the layer's shape, cached per process by spec, batch, ISA and threads), counting the
layout transform its input would need when the primitive's layout differs from the
producer's. A relu or relu6 (clip 0..6) that is a conv's or a transposed convolution's only
reader is fused into its epilogue. Other ops (transposed convolutions included) run in their
input's layout. Transforms are inserted where a reader needs another layout than its
producer's (graph outputs are in logical layout). A channel concat is zero-copy when every input is
written by a step that can write into a channel slice (a chw conv or an hwc-to-chw transform)
and read by nothing else; flatten and reshape of a tensor in logical layout are views. Arena
offsets come from the Rust arena planner (greedy by size over lifetimes).

An op the runtime has no kernel for is an UnsupportedOpError naming the op and the layer,
raised while planning, before anything runs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np

from leanconv import _native
from leanconv import primitives as P
from leanconv.errors import PlanError, UnsupportedOpError
from leanconv.runtime.plan import (
    GraphRef,
    LayerStep,
    Layout,
    Plan,
    Step,
    TensorPlan,
    TransformStep,
    View,
    allocation_lifetimes,
    graph_digest,
    plain,
    tensor_bytes,
)

if TYPE_CHECKING:
    from leanconv.graph import Graph, Layer

#: Graph ops run by the C op kernels, and the kernel table's op for each (the executor maps
#: them the same way: rust/core/src/runtime/ops.rs).
TABLE_OPS = {
    **dict.fromkeys(("relu", "clip", "sigmoid", "hardsigmoid", "hardswish", "silu", "tanh", "gelu"), "activation"),
    **dict.fromkeys(("add", "sub", "mul", "div"), "binary"),
    "batchnorm": "affine", "maxpool": "maxpool", "avgpool": "avgpool", "global_avgpool": "global_avgpool",
    "linear": "linear", "softmax": "softmax", "lrn": "lrn", "resize": "resize", "concat": "copy_channels",
    "slice": "copy_channels", "conv_transpose": "deconv", "mean": "global_avgpool", "layernorm": "layernorm",
    "pad": "pad",
}
#: Ops that read their input in logical order (NCHW) whatever its producer's layout.
LOGICAL_OPS = ("linear",)
#: (name, op, layout or None) of every C op kernel.
OP_KERNELS = tuple(_native.op_kernels())
#: Ops whose layers run as views: no kernel, the output shares the input's bytes.
VIEW_OPS = {"concat": "concat_view", "flatten": "reshape_view", "reshape": "reshape_view"}
#: The channel shuffle kernels: a reshape that splits the channels into groups, the transpose
#: SHUFFLE_PERM of the groups and a reshape back (ShuffleNet's) run as one of them.
SHUFFLE_KERNELS = tuple(name for name, table_op, _ in OP_KERNELS if table_op == "channel_shuffle")
SHUFFLE_PERM = (0, 2, 1, 3, 4)
#: Ops a conv's epilogue computes when the op reads only the conv.
FUSABLE = ("relu", "clip")
#: Ops whose kernels compute a fused activation in their epilogue.
FUSING = ("conv", "conv_transpose")
ALIGN = 64


def kernel_names(op: str) -> tuple[str, ...]:
    """The kernels the runtime has for ``op`` (empty when it has none)."""
    if op == "conv":
        return tuple(p.name for p in P.PRIMITIVES)
    views = (VIEW_OPS[op],) if op in VIEW_OPS else ()
    if op in TABLE_OPS:
        return views + tuple(name for name, table_op, _ in OP_KERNELS if table_op == TABLE_OPS[op])
    if op == "reshape":
        return views + SHUFFLE_KERNELS
    return views


def table_kernel(table_op: str, layout: str) -> str:
    """The op kernel of table op ``table_op`` in ``layout`` (flat tensors run chw kernels)."""
    want = "hwc" if layout == "hwc" else "chw"
    for name, op, kernel_layout in OP_KERNELS:
        if op == table_op and kernel_layout in (None, want):
            return name
    raise UnsupportedOpError(f"op {table_op!r} has no {want} kernel")


def op_kernel(op: str, layout: str) -> str:
    """The op kernel computing graph op ``op`` in ``layout``."""
    return table_kernel(TABLE_OPS[op], layout)


def shuffle_groups(in_shape: Sequence[int], chain: Sequence[Layer]) -> int | None:
    """The groups g of the channel shuffle that ``chain`` computes from a tensor of
    ``in_shape`` (n, c, h, w): a reshape to (n, g, c/g, h, w), the transpose SHUFFLE_PERM,
    each reading the one before, and a reshape back to (n, c, h, w); None when it is not one."""
    if len(chain) != 3 or len(in_shape) != 4 or [la.op for la in chain] != ["reshape", "transpose", "reshape"]:
        return None
    split, swap, merge = chain
    n, c, h, w = in_shape
    g = split.shape[1] if len(split.shape) == 5 else 0
    if g < 1 or c % g or tuple(split.shape) != (n, g, c // g, h, w):
        return None
    if tuple(swap.attrs["perm"]) != SHUFFLE_PERM or tuple(merge.shape) != tuple(in_shape):
        return None
    return g if swap.inputs == [split.name] and merge.inputs == [swap.name] else None


def fused_activation(layers: Sequence[Layer]) -> str | None:
    """The conv epilogue activation computing ``layers`` in order ("none" for no layers), or
    None when the epilogue cannot compute them."""
    if not layers:
        return "none"
    if len(layers) != 1:
        return None
    layer = layers[0]
    if layer.op == "relu":
        return "relu"
    if layer.op == "clip":
        lo, hi = layer.attrs["min"], layer.attrs["max"]
        if lo == 0 and hi == 6:
            return "relu6"
        if lo == 0 and hi == math.inf:
            return "relu"
    return None


# -- measurement -------------------------------------------------------------------------------

_TIMES: dict[tuple[str, P.ConvSpec, int, P.Isa, int], float] = {}
_TRANSFORM_TIMES: dict[tuple[int, ...], float] = {}
RUNS = 3
#: Interleaved rounds of the conv candidates' measurement, and the ratio to the fastest first run
#: past which a candidate leaves after its first (conv_times).
ROUNDS = 5
SLOW = 3.0


def _best_of(fn: object, runs: int = RUNS) -> float:
    assert callable(fn)
    fn()  # warm: first-touch of workspaces and caches
    best = math.inf
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _packed_run(prim: P.Primitive, spec: P.ConvSpec, batch: int, isa: P.Isa, threads: int) -> Callable[[], object]:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((spec.out_channels, spec.in_channels // spec.groups, *spec.kernel), dtype=np.float32)
    packed = prim.pack(w, None, spec=spec, isa=isa)
    shape = (batch, spec.in_channels, spec.height, spec.width) if prim.layout == "chw" \
        else (batch, spec.height, spec.width, spec.in_channels)
    x = rng.standard_normal(shape, dtype=np.float32)
    return lambda: packed.run(x, threads)


def conv_times(prims: Sequence[P.Primitive], spec: P.ConvSpec, batch: int, isa: P.Isa,
               threads: int) -> dict[str, float]:
    """Seconds each of ``prims`` takes for ``batch`` images of ``spec`` (cached by primitive, spec,
    batch, ISA and threads). The uncached ones run in ROUNDS interleaved rounds, every candidate
    once per round, and each keeps its fastest run: on a machine shared with other jobs a burst
    of load then slows one run of every candidate rather than all runs of one, so the choice does
    not follow the load. A candidate over SLOW times the fastest one's first run leaves after its
    first run (it cannot win, and slow primitives on large layers would dominate planning)."""
    todo = {p.name: _packed_run(p, spec, batch, isa, threads) for p in prims
            if (p.name, spec, batch, isa, threads) not in _TIMES}
    best: dict[str, float] = {}
    for rnd in range(ROUNDS):
        for name, run in todo.items():
            if rnd == 0:
                run()  # warm: first-touch of workspaces and caches
            t0 = time.perf_counter()
            run()
            best[name] = min(best.get(name, math.inf), time.perf_counter() - t0)
        if rnd == 0 and best:
            cut = SLOW * min(best.values())
            todo = {n: r for n, r in todo.items() if best[n] <= cut}
    for name, t in best.items():
        _TIMES[(name, spec, batch, isa, threads)] = t
    return {p.name: _TIMES[(p.name, spec, batch, isa, threads)] for p in prims}


def conv_seconds(prim: P.Primitive, spec: P.ConvSpec, batch: int, isa: P.Isa, threads: int) -> float:
    """Seconds ``prim`` takes for ``batch`` images of ``spec`` (fastest of ROUNDS runs; cached)."""
    return conv_times([prim], spec, batch, isa, threads)[prim.name]


def transform_seconds(shape: tuple[int, ...]) -> float:
    """Seconds one CHW-to-HWC transform of ``shape`` takes (cached; the other way costs the
    same memory traffic)."""
    if shape not in _TRANSFORM_TIMES:
        x = np.zeros(shape[1:], dtype=np.float32)  # the transform runs per image
        _TRANSFORM_TIMES[shape] = shape[0] * _best_of(lambda: _native.chw_to_hwc(x))
    return _TRANSFORM_TIMES[shape]


# -- planning ----------------------------------------------------------------------------------


def _layout_of(shape: tuple[int, ...], want: str) -> Layout:
    return ("chw" if want == "chw" else "hwc") if len(shape) == 4 else "flat"


class _Planner:
    def __init__(self, graph: Graph, threads: int, isa: P.Isa, kernels: Mapping[str, str]) -> None:
        self.graph, self.threads, self.isa, self.kernels = graph, threads, isa, dict(kernels)
        self.users = graph.consumers()
        self.layers = {layer.name: layer for layer in graph.layers}
        self.tensors: dict[str, TensorPlan] = {}
        self.steps: list[Step] = []
        #: The layout each graph tensor is written in.
        self.native: dict[str, Layout] = {}

    def fusion(self, layer: Layer) -> list[Layer]:
        users = self.users.get(layer.name, [])
        if layer.op not in FUSING or len(users) != 1 or layer.name in self.graph.outputs:
            return []
        reader = users[0]
        return [reader] if reader.op in FUSABLE and fused_activation([reader]) is not None else []

    def choose_conv(self, layer: Layer, in_layout: str) -> P.Primitive:
        spec = P.spec_from_layer(self.graph, layer)
        candidates = P.list_primitives(spec)
        if layer.name in self.kernels:
            prim = P.get(self.kernels[layer.name])
            if prim not in candidates:
                raise PlanError(f"layer {layer.name!r}: kernel {prim.name} does not apply to {spec}")
            return prim
        batch = self.graph.shape_of(layer.inputs[0])[0]
        in_shape = self.graph.shape_of(layer.inputs[0])

        times = conv_times(candidates, spec, batch, self.isa, self.threads)

        def cost(p: P.Primitive) -> float:
            move = transform_seconds(in_shape) if p.layout != in_layout else 0.0
            return times[p.name] + move

        return min(candidates, key=cost)

    def tensor(self, name: str, shape: tuple[int, ...], layout: Layout, view: View | None = None) -> str:
        self.tensors[name] = TensorPlan(tuple(shape), layout, None, tensor_bytes(shape), view)
        return name

    def read(self, name: str, layout: str) -> str:
        """The tensor holding graph tensor ``name`` in ``layout`` (a transform inserted the
        first time a reader needs a layout its producer did not write)."""
        shape = self.graph.shape_of(name)
        have = self.native[name]
        want = _layout_of(shape, layout)
        if have == want or len(shape) != 4:
            return name
        variant = f"{name}@{want}"
        if variant not in self.tensors:
            self.tensor(variant, shape, want)
            self.steps.append(TransformStep(f"{have}_to_{want}", [name], variant))
        return variant

    def plan(self) -> Plan:
        g = self.graph
        for name, shape in g.inputs.items():
            self.native[name] = _layout_of(shape, "chw")
            self.tensor(name, shape, self.native[name])
        fused_away: set[str] = set()
        concat_slices = self.zero_copy_concats()
        for layer in g.layers:
            if layer.name in fused_away:
                continue
            if layer.op == "conv":
                fused = self.fusion(layer)
                fused_away.update(f.name for f in fused)
                self.add_conv(layer, fused, concat_slices.get((fused or [layer])[-1].name))
            elif layer.op == "conv_transpose":
                fused = self.fusion(layer)
                fused_away.update(f.name for f in fused)
                self.add_op(layer, fused)
            elif layer.op == "concat":
                self.add_concat(layer)
            elif shuffle := self.shuffle_chain(layer):
                fused_away.update(f.name for f in shuffle[1:])
                self.add_shuffle(shuffle)
            elif layer.op in ("flatten", "reshape") and self.reshape_is_view(layer):
                self.add_reshape(layer)
            elif layer.op in TABLE_OPS and kernel_names(layer.op):
                self.check_attrs(layer)
                self.add_op(layer)
            else:
                raise UnsupportedOpError(f"layer {layer.name!r}: op {layer.op!r} has no kernel in the "
                                         "runtime yet")
        outputs = [self.read(t, "chw") for t in g.outputs]
        return self.finish(outputs)

    def check_attrs(self, layer: Layer) -> None:
        """UnsupportedOpError when the op's kernel does not cover ``layer``'s attrs: a mean
        runs as global average pooling, over the spatial axes of a 4-D tensor only."""
        if layer.op == "mean":
            rank = len(self.graph.shape_of(layer.inputs[0]))
            if rank != 4 or sorted(a % 4 for a in layer.attrs["axes"]) != [2, 3]:
                raise UnsupportedOpError(f"layer {layer.name!r}: op 'mean' over axes {layer.attrs['axes']} of a "
                                         f"{rank}-D tensor has no kernel (the spatial axes of a 4-D tensor only)")

    def zero_copy_concats(self) -> dict[str, View]:
        """Conv outputs that can be written straight into their concat's channel slice."""
        slices: dict[str, View] = {}
        for layer in self.graph.layers:
            shape = layer.shape
            if layer.op != "concat" or len(shape) != 4 or layer.attrs["axis"] % 4 != 1 \
                    or len(set(layer.inputs)) != len(layer.inputs):
                continue
            views, channel = {}, 0
            for t in layer.inputs:
                producer = self.producer_conv(t)
                if producer is None or len(self.users.get(t, [])) != 1 or t in self.graph.outputs:
                    break
                views[t] = View(layer.name, channel)
                channel += self.graph.shape_of(t)[1]
            else:
                slices.update(views)
        return slices

    def producer_conv(self, tensor: str) -> Layer | None:
        """The conv whose step writes ``tensor`` (directly or through a fused activation)."""
        layer = self.layers.get(tensor)
        if layer is not None and layer.op != "conv" and layer.inputs and layer.inputs[0] in self.layers:
            conv = self.layers[layer.inputs[0]]
            return conv if conv.op == "conv" and self.fusion(conv) == [layer] else None
        return layer if layer is not None and layer.op == "conv" and not self.fusion(layer) else None

    def add_conv(self, layer: Layer, fused: list[Layer], view: View | None) -> None:
        x = layer.inputs[0]
        prim = self.choose_conv(layer, self.native[x])
        if view is not None and prim.layout == "hwc" and layer.name not in self.kernels:
            prim = self.choose_chw(layer, prim)
        out = (fused or [layer])[-1].name
        layout: Layout = "hwc" if prim.layout == "hwc" else "chw"
        activation = fused_activation(fused) or "none"
        spec = P.spec_from_layer(self.graph, layer)
        isa = self.isa
        hwc_view = view is not None and prim.layout == "hwc"
        self.native[out] = layout
        self.tensor(out, layer.shape, layout, None if hwc_view else view)
        self.steps.append(LayerStep(
            layer=layer.name, op="conv", kernel=prim.name, layout=layout, isa=isa,
            inputs=[self.read(x, layout)], output=out, fused=[f.name for f in fused],
            activation=activation, attrs=plain(layer.attrs),
            weights={k: list(w.shape) for k, w in layer.weights.items()},
            workspace_bytes=prim.workspace_bytes(spec, isa), packed_bytes=prim.packed_bytes(spec, isa)))
        if hwc_view:  # the transform back to chw writes the concat's slice
            assert view is not None
            self.tensor(f"{out}@chw", layer.shape, "chw", view)
            self.steps.append(TransformStep("hwc_to_chw", [out], f"{out}@chw"))

    def choose_chw(self, layer: Layer, fastest: P.Primitive) -> P.Primitive:
        """For a conv writing into a concat slice: the fastest chw primitive when it beats the
        hwc one plus the transform back."""
        spec = P.spec_from_layer(self.graph, layer)
        batch = layer.shape[0]
        chw = [p for p in P.list_primitives(spec) if p.layout == "chw"]
        best = min(chw, key=lambda p: conv_seconds(p, spec, batch, self.isa, self.threads))
        hwc_cost = conv_seconds(fastest, spec, batch, self.isa, self.threads) + transform_seconds(layer.shape)
        return best if conv_seconds(best, spec, batch, self.isa, self.threads) <= hwc_cost else fastest

    def add_concat(self, layer: Layer) -> None:
        views = [self.tensors.get(self.read_view(t)) for t in layer.inputs]
        if not all(v is not None and v.view_of is not None and v.view_of.tensor == layer.name for v in views):
            self.add_op(layer)  # copies each input into its channels
            return
        self.native[layer.name] = "chw"
        self.tensor(layer.name, layer.shape, "chw")
        self.steps.append(LayerStep(
            layer=layer.name, op="concat", kernel="concat_view", layout="chw", isa=self.isa,
            inputs=[self.read_view(t) for t in layer.inputs], output=layer.name, attrs=plain(layer.attrs)))

    def add_op(self, layer: Layer, fused: Sequence[Layer] = ()) -> None:
        """An op kernel step, in the layout of its full-size input (a (n, c, 1, 1) operand
        reads the same in either layout), computing the ``fused`` activation layers after it
        (a transposed convolution's)."""
        full = [t for t in layer.inputs if self.graph.shape_of(t) == layer.shape] or layer.inputs
        layout: Layout
        if len(layer.shape) != 4:
            layout = "flat"
        elif layer.op in LOGICAL_OPS:
            layout = "chw"
        else:
            layout = self.native[full[0]]
        order = "hwc" if layout == "hwc" else "chw"  # flat tensors are in logical order

        def read(t: str) -> str:
            shape = self.graph.shape_of(t)
            same_either_way = len(shape) == 4 and shape[2:] == (1, 1)
            return t if same_either_way else self.read(t, order)

        out = (list(fused) or [layer])[-1].name
        self.native[out] = _layout_of(layer.shape, layout)
        self.tensor(out, layer.shape, self.native[out])
        step = LayerStep(
            layer=layer.name, op=layer.op, kernel=op_kernel(layer.op, layout), layout=layout, isa=self.isa,
            inputs=[read(t) for t in layer.inputs], output=out, fused=[f.name for f in fused],
            activation=fused_activation(fused) or "none", attrs=plain(layer.attrs),
            weights={k: list(w.shape) for k, w in layer.weights.items()})
        if layer.op == "conv_transpose":
            step.packed_bytes, step.workspace_bytes = _native.conv_transpose_sizes(
                json.dumps(plain(asdict(step))), list(self.graph.shape_of(layer.inputs[0])))
        self.steps.append(step)

    def shuffle_chain(self, layer: Layer) -> list[Layer]:
        """``layer`` and the layers after it that make one channel shuffle (shuffle_groups),
        when none but the last has another reader or is a graph output; else empty."""
        if layer.op != "reshape":
            return []
        chain = [layer]
        for _ in range(2):
            users = self.users.get(chain[-1].name, [])
            if len(users) != 1 or chain[-1].name in self.graph.outputs:
                return []
            chain.append(users[0])
        return chain if shuffle_groups(self.graph.shape_of(layer.inputs[0]), chain) is not None else []

    def add_shuffle(self, chain: list[Layer]) -> None:
        """A channel shuffle step in its input's layout: the first reshape of ``chain``, the
        transpose and the reshape back fused into it."""
        split, *fused = chain
        x = split.inputs[0]
        layout = self.native[x]
        out = fused[-1].name
        self.native[out] = layout
        self.tensor(out, fused[-1].shape, layout)
        self.steps.append(LayerStep(
            layer=split.name, op=split.op, kernel=table_kernel("channel_shuffle", layout), layout=layout,
            isa=self.isa, inputs=[x], output=out, fused=[f.name for f in fused], attrs=plain(split.attrs)))

    def read_view(self, tensor: str) -> str:
        """The plan tensor of ``tensor`` that is its concat slice (a chw variant after an hwc conv)."""
        variant = f"{tensor}@chw"
        return variant if variant in self.tensors and self.tensors[variant].view_of else tensor

    def reshape_is_view(self, layer: Layer) -> bool:
        return layer.inputs[0] not in self.graph.inputs

    def add_reshape(self, layer: Layer) -> None:
        x = self.read(layer.inputs[0], "chw")
        parent = self.tensors[x].view_of
        root = View(parent.tensor, parent.channel_offset) if parent else View(x, 0)
        layout = _layout_of(layer.shape, "chw")
        self.native[layer.name] = layout
        self.tensor(layer.name, layer.shape, layout, root)
        self.steps.append(LayerStep(
            layer=layer.name, op=layer.op, kernel="reshape_view", layout=layout, isa=self.isa,
            inputs=[x], output=layer.name, attrs=plain(layer.attrs)))

    def finish(self, outputs: list[str]) -> Plan:
        roots, first, last = allocation_lifetimes(self.tensors, self.steps, outputs, self.graph.inputs)
        offsets, total, _lower = _native.arena_plan(
            [self.tensors[n].bytes for n in roots], first, last, [None] * len(roots))
        for n, off in zip(roots, offsets):
            self.tensors[n].offset = off
        for tp in self.tensors.values():
            if tp.view_of is not None:
                parent = self.tensors[tp.view_of.tensor]
                assert parent.offset is not None
                tp.offset = parent.offset + 4 * tp.view_of.channel_offset * math.prod(parent.shape[2:])
        layer_steps = [s for s in self.steps if isinstance(s, LayerStep)]
        workspace = max((-(-s.workspace_bytes // ALIGN) * ALIGN * self.threads for s in layer_steps), default=0)
        return Plan(
            graph=GraphRef(self.graph.name, graph_digest(self.graph)), threads=self.threads,
            inputs=list(self.graph.inputs), outputs=outputs, tensors=self.tensors, steps=self.steps,
            arena_bytes=total, workspace_bytes=workspace,
            packed_bytes=sum(s.packed_bytes for s in layer_steps))


def default_plan(graph: Graph, threads: int = 1, *, isa: P.Isa = "auto",
                 kernels: Mapping[str, str] | None = None) -> Plan:
    """The default plan of ``graph`` for ``threads`` threads (see the module docstring).
    ``kernels`` forces a primitive per conv layer by name (PlanError if it does not apply)."""
    if not isinstance(threads, int) or not 1 <= threads <= 1024:
        raise PlanError(f"threads must be an int in 1..1024, got {threads!r}")
    return _Planner(graph, threads, isa, kernels or {}).plan()
