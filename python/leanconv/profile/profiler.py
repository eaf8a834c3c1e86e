"""The profiler: measures every step a Graph's plan can take, into a :class:`CostDB`.

- each conv layer × each applicable primitive (each is one layout; the ISA is the kernels'
  resolved one): time, workspace and packed bytes, max relative error against float64 on a
  random input (:func:`conv_float64`: numpy alone, so a board without torch profiles);
- each other op the runtime runs (a fused activation is part of its conv), in each layout the
  planner may run it in: its time through the runtime (see ``_op_work``);
- each 4-D tensor: the time of its chw-to-hwc and hwc-to-chw transforms.

The steps are those of the planner's plan with chw kernels forced (:func:`reference_plan`), so
the profiler and the selector agree on what a step is. Records already in the database are
reused unless ``fresh``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from leanconv import _native
from leanconv import primitives as P
from leanconv.graph import Graph, Layer
from leanconv.profile.db import CostDB, Key, Record
from leanconv.profile.measure import time_interleaved
from leanconv.runtime.plan import VIEW_KERNELS, LayerStep, Plan, TensorPlan, TransformStep
from leanconv.runtime.planner import ALIGN, LOGICAL_OPS, default_plan, op_kernel

Progress = Callable[[str], None]


def bind(fn: Callable[..., object], *args: object) -> Callable[[], object]:
    """``fn`` with its arguments bound (one closure per candidate in a loop)."""
    return lambda: fn(*args)


def reference_plan(graph: Graph, threads: int = 1, isa: P.Isa = "auto") -> Plan:
    """The planner's plan with the first applicable chw primitive forced on every conv (no
    timing): the steps, fusions and views every choice shares; its sizes are ``isa``'s."""
    forced = {}
    for layer in graph.layers:
        if layer.op == "conv":
            cands = P.list_primitives(P.spec_from_layer(graph, layer))
            forced[layer.name] = next((p for p in cands if p.layout == "chw"), cands[0]).name
    return default_plan(graph, threads, isa=isa, kernels=forced)


def conv_key_spec(graph: Graph, layer: Layer) -> str:
    s = P.spec_from_layer(graph, layer)
    return json.dumps({"batch": graph.shape_of(layer.inputs[0])[0], "in": s.in_channels, "out": s.out_channels,
                       "hw": [s.height, s.width], "kernel": list(s.kernel), "stride": list(s.stride),
                       "padding": list(s.padding), "dilation": list(s.dilation), "groups": s.groups},
                      sort_keys=True)


def op_key_spec(graph: Graph, layer: Layer) -> str:
    from leanconv.runtime.plan import plain

    return json.dumps({"op": layer.op, "attrs": plain(layer.attrs), "inputs": [list(graph.shape_of(t)) for t in layer.inputs],
                       "weights": {k: list(w.shape) for k, w in sorted(layer.weights.items())}}, sort_keys=True)


def shape_key_spec(shape: Iterable[int]) -> str:
    return json.dumps({"shape": list(shape)})


# The keys carry an ISA: this machine's resolved one, or (``isa``) another device's, whose
# records a cost database holds (CostDB.isa).


def conv_key(graph: Graph, layer: Layer, prim: str, threads: int, isa: str | None = None) -> Key:
    return Key("conv", prim, conv_key_spec(graph, layer), threads, isa or P.resolved_isa())


def op_key(graph: Graph, layer: Layer, threads: int, layout: str = "chw", isa: str | None = None) -> Key:
    """The key of an op run in ``layout`` (flat tensors run chw kernels)."""
    return Key("op", f"{layer.op}:{'hwc' if layout == 'hwc' else 'chw'}", op_key_spec(graph, layer), threads,
               isa or P.resolved_isa())


def op_layouts(graph: Graph, layer: Layer) -> tuple[str, ...]:
    """The layouts the planner may run ``layer`` in: both for a 4-D op that runs in its
    input's layout, else logical order."""
    return ("chw", "hwc") if len(layer.shape) == 4 and layer.op not in LOGICAL_OPS else ("chw",)


def transform_key(shape: Iterable[int], transform: str, isa: str | None = None) -> Key:
    return Key("transform", transform, shape_key_spec(shape), 1, isa or P.resolved_isa())


@dataclass(frozen=True)
class Work:
    what: str
    keys: list[Key]
    measure: Callable[[], dict[Key, Record]]


def conv_float64(x: np.ndarray, w: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    """A conv layer without bias in float64 (NCHW input, OIHW weights; the attrs of the op
    table's ``conv``) with numpy alone: the reference each kernel's error is measured against.
    tests/test_profile.py holds it to the torch reference executor."""
    top, left, bottom, right = attrs["padding"]
    (sh, sw), (dh, dw), groups = attrs["stride"], attrs.get("dilation", (1, 1)), attrs["groups"]
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    w64 = np.asarray(w, np.float64)
    o, cg, kh, kw = w64.shape
    # Windows (n, c, oh, ow, kh, kw): every dilated kh x kw patch, taken at the strides.
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    win = np.lib.stride_tricks.sliding_window_view(xp, span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    og = o // groups
    out = np.empty((xp.shape[0], o, win.shape[2], win.shape[3]))
    for g in range(groups):
        y = np.tensordot(win[:, g * cg:(g + 1) * cg], w64[g * og:(g + 1) * og], axes=([1, 4, 5], [1, 2, 3]))
        out[:, g * og:(g + 1) * og] = y.transpose(0, 3, 1, 2)
    return out


def _probe(graph: Graph, layer: Layer) -> Graph:
    inputs = {t: graph.shape_of(t) for t in dict.fromkeys(layer.inputs)}
    return Graph(f"probe-{layer.name}", inputs, [Layer(layer.name, layer.op, list(layer.inputs), dict(layer.attrs),
                                                       dict(layer.weights))], [layer.name])


def _conv_work(graph: Graph, layer: Layer, threads: int) -> Work:
    spec = P.spec_from_layer(graph, layer)
    prims = P.list_primitives(spec)
    keys = [conv_key(graph, layer, p.name, threads) for p in prims]

    def measure() -> dict[Key, Record]:
        rng = np.random.default_rng(0)
        w = rng.standard_normal(layer.weights["weight"].shape).astype(np.float32)
        x = rng.standard_normal(graph.shape_of(layer.inputs[0])).astype(np.float32)
        ref = conv_float64(x, w, layer.attrs)
        xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        packed = {p.name: p.pack(w, None, spec=spec) for p in prims}
        errors = {}
        for p in prims:
            y = packed[p.name].run(x if p.layout == "chw" else xh, threads)
            y = y if p.layout == "chw" else y.transpose(0, 3, 1, 2)
            errors[p.name] = float(np.max(np.abs(y - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
        timings = time_interleaved({p.name: bind(packed[p.name].run, x if p.layout == "chw" else xh, threads)
                                    for p in prims})
        return {k: Record(timings[p.name].seconds, timings[p.name].spread, timings[p.name].samples,
                          -(-p.workspace_bytes(spec) // ALIGN) * ALIGN * threads, p.packed_bytes(spec), errors[p.name])
                for k, p in zip(keys, prims)}

    return Work(f"conv {layer.name}", keys, measure)


def call_overhead(threads: int) -> float:
    """Seconds the runtime takes to run a one-element relu: its per-call cost, not the op's."""
    from leanconv.runtime import compile

    probe = Graph("overhead", {"x": (1, 1, 1, 1)}, [Layer("y", "relu", ["x"])], ["y"])
    exe = compile(probe, threads=threads)
    x = np.zeros((1, 1, 1, 1), np.float32)
    return time_interleaved({"relu": lambda: exe.run(x)})["relu"].seconds


def hwc_probe_plan(plan: Plan, graph: Graph) -> tuple[Plan, list[tuple[int, ...]]]:
    """A one-op probe's chw plan turned into its hwc form: each input with spatial extent
    transformed to hwc, the op's hwc kernel, its output transformed back; and the shapes of
    the transforms it runs (in order: into hwc, then the output back)."""
    step = next(s for s in plan.steps if isinstance(s, LayerStep))
    tensors = {t: tp for t, tp in plan.tensors.items() if tp.offset is None}
    steps: list[LayerStep | TransformStep] = []
    moved: list[tuple[int, ...]] = []
    offset = 0

    def arena(name: str, shape: tuple[int, ...], layout: str) -> str:
        nonlocal offset
        tp = TensorPlan(shape, layout, offset, 4 * int(np.prod(shape)))  # type: ignore[arg-type]
        tensors[name] = tp
        offset += -(-tp.bytes // ALIGN) * ALIGN
        return name

    inputs = []
    for t in step.inputs:
        shape = graph.shape_of(t)
        if len(shape) == 4 and shape[2:] != (1, 1):
            if f"{t}@hwc" not in tensors:
                steps.append(TransformStep("chw_to_hwc", [t], arena(f"{t}@hwc", shape, "hwc")))
                moved.append(shape)
            t = f"{t}@hwc"
        inputs.append(t)
    out = step.output
    shape = graph.shape_of(out)
    steps.append(replace(step, kernel=op_kernel(step.op, "hwc"), layout="hwc", inputs=inputs,
                         output=arena(f"{out}@hwc", shape, "hwc")))
    steps.append(TransformStep("hwc_to_chw", [f"{out}@hwc"], arena(out, shape, "chw")))
    moved.append(shape)
    return replace(plan, tensors=tensors, steps=steps, arena_bytes=offset), moved


def _op_work(graph: Graph, layer: Layer, threads: int, overhead: Callable[[], float]) -> Work:
    """An op through the runtime in each layout it may run in: a one-layer network in chw,
    and in hwc the same with transforms around it, less their times measured in the same
    rounds; less the runtime's per-call cost."""
    layouts = op_layouts(graph, layer)
    keys = [op_key(graph, layer, threads, lay) for lay in layouts]

    def measure() -> dict[Key, Record]:
        from leanconv.runtime import compile

        probe = _probe(graph, layer)
        exes = {"chw": compile(probe, threads=threads)}
        rng = np.random.default_rng(0)
        feeds = {t: rng.standard_normal(s).astype(np.float32) for t, s in probe.inputs.items()}
        fns: dict[str, Callable[[], object]] = {}
        moved: list[tuple[int, ...]] = []
        if "hwc" in layouts:
            hwc_plan, moved = hwc_probe_plan(exes["chw"].plan, probe)
            exes["hwc"] = compile(probe, hwc_plan)
            for k, shape in enumerate(moved):
                x = rng.standard_normal(shape[1:]).astype(np.float32)
                fns[f"move{k}"] = bind(_native.chw_to_hwc if k < len(moved) - 1 else _native.hwc_to_chw, x)
        fns.update({lay: bind(exe.run, feeds) for lay, exe in exes.items()})
        t = time_interleaved(fns)
        moves = sum(shape[0] * t[f"move{k}"].seconds for k, shape in enumerate(moved))
        step = next(s for s in exes["chw"].plan.steps if isinstance(s, LayerStep))
        ws = -(-step.workspace_bytes // ALIGN) * ALIGN * threads
        return {key: Record(max(t[lay].seconds - overhead() - (moves if lay == "hwc" else 0.0), 0.0), t[lay].spread,
                            t[lay].samples, ws, step.packed_bytes) for key, lay in zip(keys, layouts)}

    return Work(f"{layer.op} {layer.name}", keys, measure)


def _transform_work(shape: tuple[int, ...]) -> Work:
    keys = [transform_key(shape, name) for name in ("chw_to_hwc", "hwc_to_chw")]

    def measure() -> dict[Key, Record]:
        x = np.random.default_rng(0).standard_normal(shape[1:]).astype(np.float32)
        xh = np.ascontiguousarray(x.transpose(1, 2, 0))
        t = time_interleaved({"chw_to_hwc": lambda: _native.chw_to_hwc(x), "hwc_to_chw": lambda: _native.hwc_to_chw(xh)})
        return {k: Record(shape[0] * t[k.kernel].seconds, t[k.kernel].spread, t[k.kernel].samples) for k in keys}

    return Work(f"transforms {'x'.join(map(str, shape))}", keys, measure)


def work(graph: Graph, threads: int) -> Iterator[Work]:
    """Everything to measure for ``graph`` at ``threads`` threads, one piece per layer or shape."""
    plan = reference_plan(graph, threads)
    overhead: list[float] = []

    def cached_overhead() -> float:
        if not overhead:
            overhead.append(call_overhead(threads))
        return overhead[0]

    for step in plan.steps:
        if not isinstance(step, LayerStep) or step.kernel in VIEW_KERNELS:
            continue
        layer = graph.layer(step.layer)
        yield _conv_work(graph, layer, threads) if layer.op == "conv" else _op_work(graph, layer, threads, cached_overhead)
    shapes = {tuple(t.shape) for t in plan.tensors.values() if len(t.shape) == 4}
    for shape in sorted(shapes):
        yield _transform_work(shape)


def profile(graph: Graph, db: CostDB, threads: Iterable[int] = (1,), *, fresh: bool = False,
            progress: Progress | None = None) -> int:
    """Measures what ``db`` lacks for ``graph`` (everything with ``fresh``); returns how many
    records were measured."""
    measured = 0
    seen: set[Key] = set()
    for n in threads:
        for piece in work(graph, n):
            todo = [k for k in piece.keys if k not in seen and (fresh or db.get(k) is None)]
            seen.update(piece.keys)
            if not todo:
                continue
            if progress is not None:
                progress(f"{piece.what} ({n} thread{'s' if n > 1 else ''})")
            for key, record in piece.measure().items():
                db.add(key, record)
                measured += 1
    return measured
