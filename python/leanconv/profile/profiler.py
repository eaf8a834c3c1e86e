"""The profiler: measures every step a Graph's plan can take, into a :class:`CostDB`.

- each conv layer × each applicable primitive (each is one layout; the ISA is the kernels'
  resolved one): time, workspace and packed bytes, max relative error against float64 on a
  random input (:func:`conv_float64`: numpy alone, so a board without torch profiles);
- each other op the runtime runs (a fused activation is part of its conv), in each layout the
  planner may run it in: its time through the runtime (see ``_op_work``);
- each 4-D tensor: the time of its chw-to-hwc and hwc-to-chw transforms;
- the runtime's per-call cost besides its steps (:func:`call_probe`).

Every step is timed inside a probe network by the runtime itself (:func:`in_network`), as it
runs in a whole network: over the runtime's arena and preallocated workspace, with its work
split over the thread pool as the network's is, without Python in the timed span.

The steps are those of the planner's plan with chw kernels forced (:func:`reference_plan`), so
the profiler and the selector agree on what a step is. Records already in the database are
reused unless ``fresh``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from leanconv import primitives as P
from leanconv.graph import Graph, Layer
from leanconv.profile.db import CostDB, Key, Record
from leanconv.profile.measure import Timing, sample_interleaved
from leanconv.runtime.plan import VIEW_KERNELS, LayerStep, Plan, TensorPlan, TransformStep, base_name
from leanconv.runtime.planner import ALIGN, LOGICAL_OPS, default_plan, op_kernel

if TYPE_CHECKING:
    from leanconv.runtime import Executable

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
class Probe:
    """A network whose one timed step is a measurement: ``label`` names the step
    (:meth:`Executable.profile`), or None to time the whole call of :meth:`Executable.run`."""

    exe: Executable
    feeds: dict[str, np.ndarray]
    label: str | None
    workspace: int = 0
    packed: int = 0
    error: float = 0.0


@dataclass(frozen=True)
class Work:
    """What one layer (or tensor shape) contributes to the database: a probe per key, built
    on demand."""

    what: str
    keys: list[Key]
    probes: Callable[[], dict[Key, Probe]]

    def measure(self) -> dict[Key, Record]:
        probes = self.probes()
        t = in_network(probes)
        return {k: Record(t[k].seconds, t[k].spread, t[k].samples, p.workspace, p.packed, p.error)
                for k, p in probes.items()}


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


def in_network(probes: Mapping[Key, Probe], extra: Mapping[str, Callable[[], object]] | None = None,
               **kw: float) -> dict[Key | str, Timing]:
    """Each probe's median seconds, as the runtime times its step (:meth:`Executable.profile`:
    the arena, workspace and thread pool of a real run, no Python in the timed span), the
    probes interleaved in rounds (:func:`sample_interleaved`) with any ``extra`` functions,
    each timed by the wall clock (``name``) and in the calling thread's CPU time (``name:cpu``;
    the process's would add whatever its other threads do meanwhile).

    A one-thread probe is timed in CPU time: a step's own time, whatever share of the CPU
    other jobs leave it (the wall clock counts the waits of a shared machine, more of them
    the longer the span). With more threads, the wall clock (CPU time would add the pool's
    threads up)."""

    def steps(exe: Executable, feeds: dict[str, np.ndarray]) -> Callable[[int], Mapping[str, float]]:
        return lambda n: exe.profile(feeds, n, cpu=exe.plan.threads == 1)

    def wall(fn: Callable[[], object]) -> Callable[[int], Mapping[str, float]]:
        def sample(n: int) -> dict[str, float]:
            c0, t0 = time.thread_time(), time.perf_counter()
            for _ in range(n):
                fn()
            return {"": (time.perf_counter() - t0) / n, "cpu": (time.thread_time() - c0) / n}

        return sample

    fns: dict[str, Callable[[int], Mapping[str, float]]] = {}
    where: dict[Key | str, tuple[str, str]] = {}
    for key, p in probes.items():
        name = f"exe{id(p.exe)}" if p.label is not None else f"call{id(p.exe)}"
        if name not in fns:
            fns[name] = steps(p.exe, p.feeds) if p.label is not None else wall(bind(p.exe.run, p.feeds))
        where[key] = (name, p.label if p.label is not None else "cpu" if p.exe.plan.threads == 1 else "")
    for name, fn in (extra or {}).items():
        fns[f"extra:{name}"] = wall(fn)
        where[name] = (f"extra:{name}", "")
        where[f"{name}:cpu"] = (f"extra:{name}", "cpu")
    t = sample_interleaved(fns, **kw)  # type: ignore[arg-type]
    return {key: t[name][label] for key, (name, label) in where.items()}


def _feeds(probe: Graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {t: rng.standard_normal(s).astype(np.float32) for t, s in probe.inputs.items()}


def _layer_output(plan: Plan) -> str:
    return next(s.output for s in plan.steps if isinstance(s, LayerStep))


def _conv_work(graph: Graph, layer: Layer, threads: int) -> Work:
    """Each applicable primitive as the one conv of a probe network (the planner inserts the
    transforms of an hwc kernel around it): the conv step's time in the runtime, and the
    probe's output against float64."""
    spec = P.spec_from_layer(graph, layer)
    prims = P.list_primitives(spec)
    keys = [conv_key(graph, layer, p.name, threads) for p in prims]

    def probes() -> dict[Key, Probe]:
        from leanconv.runtime import compile

        rng = np.random.default_rng(0)
        w = rng.standard_normal(layer.weights["weight"].shape).astype(np.float32)
        probe = _probe(graph, Layer(layer.name, "conv", [layer.inputs[0]], dict(layer.attrs), {"weight": w}))
        feeds = _feeds(probe)
        ref = conv_float64(next(iter(feeds.values())), w, layer.attrs)
        out = {}
        for k, p in zip(keys, prims):
            exe = compile(probe, default_plan(probe, threads, kernels={layer.name: p.name}))
            y = np.asarray(exe.run(feeds))
            error = float(np.max(np.abs(y - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
            out[k] = Probe(exe, feeds, _layer_output(exe.plan), -(-p.workspace_bytes(spec) // ALIGN) * ALIGN * threads,
                           p.packed_bytes(spec), error)
        return out

    return Work(f"conv {layer.name}", keys, probes)


def call_probe(threads: int) -> Probe:
    """A call of :meth:`Executable.run` on a one-element relu network, whose one step takes
    nanoseconds: the runtime's cost per call besides its steps (binding the inputs, the
    outputs' arrays and copies, the call into the runtime)."""
    from leanconv.runtime import compile

    probe = Graph("overhead", {"x": (1, 1, 1, 1)}, [Layer("y", "relu", ["x"])], ["y"])
    return Probe(compile(probe, threads=threads), {"x": np.zeros((1, 1, 1, 1), np.float32)}, None)


def run_key(threads: int, isa: str | None = None) -> Key:
    """The key of the runtime's per-call cost (:func:`call_probe`)."""
    return Key("run", "call", "{}", threads, isa or P.resolved_isa())


def _run_work(threads: int) -> Work:
    return Work("runtime call", [run_key(threads)], lambda: {run_key(threads): call_probe(threads)})


def hwc_probe_plan(plan: Plan, graph: Graph) -> Plan:
    """A one-op probe's chw plan turned into its hwc form: each input with spatial extent
    transformed to hwc, the op's hwc kernel, its output transformed back."""
    step = next(s for s in plan.steps if isinstance(s, LayerStep))
    tensors = {t: tp for t, tp in plan.tensors.items() if tp.offset is None}
    steps: list[LayerStep | TransformStep] = []
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
            t = f"{t}@hwc"
        inputs.append(t)
    out = step.output
    shape = graph.shape_of(out)
    steps.append(replace(step, kernel=op_kernel(step.op, "hwc"), layout="hwc", inputs=inputs,
                         output=arena(f"{out}@hwc", shape, "hwc")))
    steps.append(TransformStep("hwc_to_chw", [f"{out}@hwc"], arena(out, shape, "chw")))
    return replace(plan, tensors=tensors, steps=steps, arena_bytes=offset)


def _op_work(graph: Graph, layer: Layer, threads: int) -> Work:
    """An op as the one layer of a probe network in each layout it may run in (in hwc with
    transforms around it): the op step's time in the runtime."""
    layouts = op_layouts(graph, layer)
    keys = [op_key(graph, layer, threads, lay) for lay in layouts]

    def probes() -> dict[Key, Probe]:
        from leanconv.runtime import compile

        probe = _probe(graph, layer)
        exes = {"chw": compile(probe, threads=threads)}
        if "hwc" in layouts:
            exes["hwc"] = compile(probe, hwc_probe_plan(exes["chw"].plan, probe))
        feeds = _feeds(probe)
        step = next(s for s in exes["chw"].plan.steps if isinstance(s, LayerStep))
        ws = -(-step.workspace_bytes // ALIGN) * ALIGN * threads
        return {key: Probe(exes[lay], feeds, _layer_output(exes[lay].plan), ws, step.packed_bytes)
                for key, lay in zip(keys, layouts)}

    return Work(f"{layer.op} {layer.name}", keys, probes)


def _transform_work(shape: tuple[int, ...]) -> Work:
    """Both transforms of a tensor of ``shape``, as the runtime runs them (on the calling
    thread, whatever the plan's thread count): those of the hwc probe of a relu over it."""
    keys = [transform_key(shape, name) for name in ("chw_to_hwc", "hwc_to_chw")]

    def probes() -> dict[Key, Probe]:
        from leanconv.runtime import compile

        probe = Graph("transforms", {"x": shape}, [Layer("y", "relu", ["x"])], ["y"])
        exe = compile(probe, hwc_probe_plan(compile(probe).plan, probe))
        feeds = _feeds(probe)
        # the probe reads a 1x1 map in place (both layouts hold the same bytes): the one
        # transform it runs, a copy of the same bytes, times both directions
        into = "x@hwc" if any(s.output == "x@hwc" for s in exe.plan.steps) else "y"
        return {keys[0]: Probe(exe, feeds, into), keys[1]: Probe(exe, feeds, "y")}

    return Work(f"transforms {'x'.join(map(str, shape))}", keys, probes)


def work(graph: Graph, threads: int) -> Iterator[Work]:
    """Everything to measure for ``graph`` at ``threads`` threads, one piece per layer or shape."""
    plan = reference_plan(graph, threads)
    yield _run_work(threads)
    for step in plan.steps:
        if not isinstance(step, LayerStep) or step.kernel in VIEW_KERNELS:
            continue
        layer = graph.layer(step.layer)
        yield _conv_work(graph, layer, threads) if layer.op == "conv" else _op_work(graph, layer, threads)
    shapes = {tuple(t.shape) for t in plan.tensors.values() if len(t.shape) == 4}
    for shape in sorted(shapes):
        yield _transform_work(shape)


def network_plans(graph: Graph, threads: int) -> list[Plan]:
    """Whole-network plans that between them run every conv candidate: the k-th plan runs each
    conv layer's k-th applicable primitive (by layout, then name; cycling where a layer has
    fewer), so a plan's layers tend to share a layout and run few transforms."""
    prims = {layer.name: sorted(P.list_primitives(P.spec_from_layer(graph, layer)), key=lambda p: (p.layout, p.name))
             for layer in graph.layers if layer.op == "conv"}
    count = max((len(ps) for ps in prims.values()), default=1)
    return [default_plan(graph, threads, kernels={name: ps[k % len(ps)].name for name, ps in prims.items()})
            for k in range(count)]


def plan_keys(graph: Graph, plan: Plan) -> dict[str, Key]:
    """The cost database's key of each step of ``plan`` that writes, by its output tensor
    (transforms only at one thread: they are keyed so, running on the calling thread)."""
    out = {}
    for step in plan.steps:
        if isinstance(step, TransformStep):
            if plan.threads == 1:
                out[step.output] = transform_key(graph.shape_of(base_name(step.inputs[0])), step.transform)
        elif step.kernel not in VIEW_KERNELS:
            layer = graph.layer(step.layer)
            out[step.output] = (conv_key(graph, layer, step.kernel, plan.threads) if layer.op == "conv"
                                else op_key(graph, layer, plan.threads, step.layout))
    return out


def in_context(graph: Graph, threads: int, keys: Iterable[Key] | None = None) -> Iterator[dict[Key, Probe]]:
    """Probes of costs inside the whole network (:func:`network_plans`, one compiled at a
    time): each step is timed where the network runs it, after the layers that run before
    it, its weights and input as cold or warm as the network leaves them, which a probe of
    one layer repeated cannot reproduce (its weights stay in cache). Yields each plan's
    probes of ``keys`` (all its steps' when None)."""
    from leanconv.runtime import compile

    wanted = None if keys is None else set(keys)
    rng = np.random.default_rng(0)
    feeds = {t: rng.standard_normal(s).astype(np.float32) for t, s in graph.inputs.items()}
    for plan in network_plans(graph, threads):
        labels = {label: key for label, key in plan_keys(graph, plan).items() if wanted is None or key in wanted}
        if labels:
            exe = compile(graph, plan)
            yield {key: Probe(exe, feeds, label) for label, key in labels.items()}


def profile(graph: Graph, db: CostDB, threads: Iterable[int] = (1,), *, fresh: bool = False,
            progress: Progress | None = None) -> int:
    """Measures what ``db`` lacks for ``graph`` (everything with ``fresh``); returns how many
    records were measured. Each cost is first measured in a probe of its own layer (which
    also gives a conv candidate's error, workspace and packed bytes); then every cost the
    network plans run is timed again inside the network (:func:`in_context`), and that time
    is the one recorded; costs no such plan runs (an op in a layout none of them gives it, a
    transform none inserts) keep their probe's."""
    measured = 0
    seen: set[Key] = set()
    for n in threads:
        new: set[Key] = set()
        for piece in work(graph, n):
            todo = [k for k in piece.keys if k not in seen and (fresh or db.get(k) is None)]
            seen.update(piece.keys)
            if not todo:
                continue
            if progress is not None:
                progress(f"{piece.what} ({n} thread{'s' if n > 1 else ''})")
            for key, record in piece.measure().items():
                db.add(key, record)
                new.add(key)
                measured += 1
        if not new:
            continue
        timed: dict[Key, list[Timing]] = {}
        for k, probes in enumerate(in_context(graph, n, new)):
            if progress is not None:
                progress(f"network plan {k} ({n} thread{'s' if n > 1 else ''})")
            t = in_network(probes)
            for key in probes:
                timed.setdefault(key, []).append(t[key])
        for key, ts in timed.items():
            mid = sorted(ts, key=lambda x: x.seconds)[len(ts) // 2]
            db.add(key, replace(db.require(key), seconds=mid.seconds, spread=mid.spread, samples=mid.samples))
    return measured
