"""Selection on a real Graph: its steps and measured costs as a :class:`Problem`, a choice as
the runtime's Plan, and the check that a plan meets its budget as the runtime allocates it.

The steps are the reference plan's (:func:`~leanconv.profile.reference_plan`): conv steps
choose among their applicable primitives; other ops run in their full-size input's layout
(``follows``), as the planner runs them; views and ops that read in logical order read chw.
A choice becomes a Plan through the planner with the chosen conv primitives forced, so the
planner remains the one place that lays out tensors, transforms and the arena.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from leanconv import primitives as P
from leanconv.errors import InfeasibleBudgetError
from leanconv.graph import Graph
from leanconv.profile.db import CostDB, Key
from leanconv.profile.profiler import conv_key, op_key, op_layouts, reference_plan, run_key, transform_key
from leanconv.runtime.plan import VIEW_KERNELS, LayerStep, Plan, TransformStep, base_name
from leanconv.runtime.planner import default_plan, op_kernel
from leanconv.select.frontier import Point, frontier
from leanconv.select.ilp import Budgets, Model
from leanconv.select.problem import Candidate, Costs, Node, Problem, Read, ReadMode, Tensor

#: Times the selector re-solves with a tighter budget when the arena packs worse than the
#: cost model's peak of live bytes.
RETRIES = 8


@dataclass
class Selection:
    """A Graph's selection problem, with what turns its choices into Plans."""

    graph: Graph
    threads: int
    problem: Problem
    steps: list[LayerStep]
    #: The cost database's key of each node's candidates (None: a view, which costs nothing),
    #: of each tensor's transforms (into hwc, into chw), and of the runtime's per-call cost.
    keys: list[list[Key | None]]
    tensor_keys: list[tuple[Key, Key]]
    call_key: Key
    #: The ISA of the costs, and so of the plans: another device's when they are its costs.
    isa: P.Isa = "auto"

    def cost_keys(self, choice: list[int]) -> list[Key]:
        """The key of every cost the model sums for ``choice``, once per time it counts it."""
        keys = [self.call_key, *(k for ks, j in zip(self.keys, choice, strict=True) if (k := ks[j]) is not None)]
        return keys + [self.tensor_keys[t][0 if want == "hwc" else 1] for t, want in self.problem.transforms(choice)]

    def predict(self, choice: list[int], seconds: Mapping[Key, float]) -> float:
        """The cost model's time of ``choice`` with the costs ``seconds`` (measured again, say)."""
        return sum(seconds[k] for k in self.cost_keys(choice))

    def kernels(self, choice: list[int]) -> dict[str, str]:
        """The conv primitive per conv layer of ``choice``."""
        return {step.layer: node.candidates[j].kernel
                for step, node, j in zip(self.steps, self.problem.nodes, choice, strict=True) if step.op == "conv"}

    def plan(self, choice: list[int]) -> Plan:
        return default_plan(self.graph, self.threads, isa=self.isa, kernels=self.kernels(choice))


def step_keys(selection: Selection, choice: list[int], plan: Plan) -> dict[str, Key]:
    """The cost database's key of each step of ``plan`` (``selection.plan(choice)``) that
    writes, by its output tensor: the labels :meth:`Executable.profile` measures under."""
    nodes = {node.name: ks[j] for node, ks, j in zip(selection.problem.nodes, selection.keys, choice, strict=True)}
    tensors = {t.name: ks for t, ks in zip(selection.problem.tensors, selection.tensor_keys, strict=True)}
    out = {}
    for step in plan.steps:
        if isinstance(step, TransformStep):
            out[step.output] = tensors[base_name(step.inputs[0])][0 if step.transform == "chw_to_hwc" else 1]
        elif step.kernel not in VIEW_KERNELS:
            key = nodes[step.layer]
            assert key is not None  # a step that writes is no view
            out[step.output] = key
    return out


def runtime_memory(plan: Plan, measure: str) -> int:
    """Bytes the runtime allocates for ``plan``: arena + workspace (+ packed weights for "total")."""
    return plan.memory_bytes - (0 if measure == "total" else plan.packed_bytes)


def build(graph: Graph, db: CostDB, threads: int = 1) -> Selection:
    """The selection problem of ``graph`` with costs from ``db`` (LeanconvError naming the
    first measurement it lacks). The plans are for the ISA of ``db``'s records: a database
    measured on a board plans for the board's kernels (their packed and workspace sizes)."""
    isa = db.isa
    plan_isa: P.Isa = "auto" if db.is_here else isa  # type: ignore[assignment]
    ref = reference_plan(graph, threads, plan_isa)
    steps = [s for s in ref.steps if isinstance(s, LayerStep)]
    n = len(steps)
    producer = {base_name(s.output): i for i, s in enumerate(steps)}
    four_d = [t for t in dict.fromkeys([*graph.inputs, *producer]) if len(graph.shape_of(t)) == 4]
    index = {t: k for k, t in enumerate(four_d)}
    reads: list[list[Read]] = [[] for _ in four_d]
    nodes = []
    keys: list[list[Key | None]] = []
    for i, step in enumerate(steps):
        layer = graph.layer(step.layer)
        shape = graph.shape_of(base_name(step.output))
        follows = None
        if layer.op == "conv":
            cands = []
            keys.append([])
            for p in P.list_primitives(P.spec_from_layer(graph, layer)):
                key = conv_key(graph, layer, p.name, threads, isa)
                keys[-1].append(key)
                r = db.require(key)
                cands.append(Candidate(p.name, p.layout, r.seconds, r.workspace, r.packed, r.error))
            modes: list[ReadMode] = ["node"]
        elif step.kernel in VIEW_KERNELS:
            cands = [Candidate(step.kernel, step.layout, 0.0)]
            keys.append([None])
            modes = ["chw"] * len(step.inputs)
        else:
            layouts = list(op_layouts(graph, layer)) if len(shape) == 4 else [step.layout]
            cands = []
            keys.append([op_key(graph, layer, threads, lay, isa) for lay in layouts])
            for lay in layouts:
                r = db.require(op_key(graph, layer, threads, lay, isa))
                cands.append(Candidate(op_kernel(layer.op, lay), lay, r.seconds, r.workspace, r.packed))
            if len(layouts) == 2:
                full = [t for t in layer.inputs if graph.shape_of(t) == shape] or layer.inputs
                follows = index[full[0]]
            # a (n, c, 1, 1) operand holds the same bytes in either layout
            modes = ["any" if graph.shape_of(t)[2:] == (1, 1) else "node" if len(layouts) == 2 else "chw"
                     for t in layer.inputs]
        for t, mode in zip([base_name(x) for x in step.inputs], modes):
            if t in index:
                reads[index[t]].append(Read(i, mode))
        nodes.append(Node(step.layer, cands, follows))
    for t in ref.outputs:
        if base_name(t) in index:
            reads[index[base_name(t)]].append(Read(n, "chw"))
    tensors: list[Tensor] = []
    tensor_keys = []
    keep = {}
    for k, t in enumerate(four_d):
        if not reads[k]:
            continue
        shape = graph.shape_of(t)
        tensor_keys.append((transform_key(shape, "chw_to_hwc", isa), transform_key(shape, "hwc_to_chw", isa)))
        to_hwc = db.require(tensor_keys[-1][0]).seconds
        to_chw = db.require(tensor_keys[-1][1]).seconds
        keep[k] = len(tensors)
        tensors.append(Tensor(t, 4 * math.prod(shape), producer.get(t), reads[k], to_hwc, to_chw))
    nodes = [replace(nd, follows=None if nd.follows is None else keep[nd.follows]) for nd in nodes]
    overhead = db.require(run_key(threads, isa)).seconds
    return Selection(graph, threads, Problem(nodes, tensors, base_live(ref, n), overhead), steps, keys, tensor_keys,
                     run_key(threads, isa), plan_isa)


def base_live(plan: Plan, n: int) -> list[int]:
    """Bytes of the plan's arena allocations live at each of the n layer steps and the end."""
    point, node = [], 0
    for step in plan.steps:
        point.append(min(node, n))
        node += isinstance(step, LayerStep)
    span: dict[str, list[int]] = {}
    for s, step in enumerate(plan.steps):
        for t in [*step.inputs, step.output]:
            tp = plan.tensors[t]
            root = tp.view_of.tensor if tp.view_of else t
            if root in plan.inputs:
                continue
            lo, hi = span.get(root, [point[s], point[s]])
            span[root] = [min(lo, point[s]), max(hi, point[s])]
    for t in plan.outputs:
        tp = plan.tensors[t]
        root = tp.view_of.tensor if tp.view_of else t
        if root in span:
            span[root][1] = n
    live = [0] * (n + 1)
    for root, (lo, hi) in span.items():
        for s in range(lo, hi + 1):
            live[s] += plan.tensors[root].bytes
    return live


@dataclass
class Chosen:
    choice: list[int]
    costs: Costs  # as the cost model predicts them
    plan: Plan
    memory: int  # as the runtime allocates it


def choose(selection: Selection, budgets: Budgets = Budgets(), model: Model | None = None) -> Chosen:
    """The fastest choice whose plan meets ``budgets`` as the runtime allocates it: when the
    arena packs worse than the model's peak, the memory budget given to the ILP tightens by
    the difference and it solves again. InfeasibleBudgetError when no choice meets them."""
    from leanconv.select.ilp import select

    problem = selection.problem
    model = model or Model(problem, budgets.measure)
    inner = budgets
    for attempt in range(RETRIES):
        try:
            choice = select(problem, inner, model)
        except InfeasibleBudgetError:
            if attempt == 0:
                raise
            break
        plan = selection.plan(choice)
        memory = runtime_memory(plan, budgets.measure)
        if memory <= budgets.memory:
            return Chosen(choice, problem.evaluate(choice, budgets.measure), plan, memory)
        inner = replace(inner, memory=inner.memory - (memory - budgets.memory))
    raise InfeasibleBudgetError(f"no plan found within the memory budget {budgets.memory:,.0f} B as the runtime "
                                f"packs its arena; the closest found needs {memory:,} B", "memory", memory)



def network_frontier(selection: Selection, points: int = 12, base: Budgets = Budgets()) -> list[Point]:
    """The memory/time frontier of a Graph (:func:`~leanconv.select.frontier.frontier`), each
    point's plan meeting its budget as the runtime allocates it; one ILP, warm-started."""
    model = Model(selection.problem, base.measure)

    def solve(b: Budgets) -> tuple[list[int], Costs]:
        chosen = choose(selection, b, model)
        return chosen.choice, chosen.costs

    return frontier(selection.problem, points, base, solve)

def measure_plans(graph: Graph, plans: dict[str, Plan], cap_s: float = 10.0) -> dict[str, float]:
    """Median end-to-end seconds of each plan run by the runtime, in interleaved rounds: the
    calling thread's CPU time for a one-thread plan (as the profiler times its steps), else
    the wall clock."""
    import numpy as np

    from leanconv.profile.profiler import bind, in_network
    from leanconv.runtime import compile

    rng = np.random.default_rng(0)
    feeds = {t: rng.standard_normal(s).astype(np.float32) for t, s in graph.inputs.items()}
    exes = {name: compile(graph, plan) for name, plan in plans.items()}
    t = in_network({}, {name: bind(exe.run, feeds) for name, exe in exes.items()}, sample_s=5e-3, cap_s=cap_s)
    return {name: t[f"{name}:cpu" if exe.plan.threads == 1 else name].seconds for name, exe in exes.items()}


@dataclass
class Verified:
    """Plans run end to end beside the cost model's prediction, both measured in the same
    interleaved rounds (machine load weighs on both alike)."""

    predicted: dict[str, float]  # the cost model's sum, its costs measured in the rounds
    measured: dict[str, float]  # median end-to-end seconds of Executable.run (wall clock)
    spread: dict[str, float]  # the end-to-end samples' interquartile range over their median
    #: Median end-to-end CPU seconds of the calling thread: at one thread, a run's time
    #: without the waits of a CPU shared with other jobs (which the steps' CPU times leave out too).
    measured_cpu: dict[str, float]
    spread_cpu: dict[str, float]
    #: For the plans asked in ``detail``: per step label, (predicted, measured in the network).
    steps: dict[str, dict[str, tuple[float, float]]]


def verify(selection: Selection, choices: dict[str, list[int]], detail: tuple[str, ...] = (),
           cap_s: float = 30.0) -> Verified:
    """Each choice's plan run end to end, and every cost its prediction sums measured again as
    the profiler records it (inside the network plans, else its layer's probe), all in the
    same interleaved rounds; for the plans in ``detail``,
    each step's time inside the network as well."""
    import numpy as np

    from leanconv.profile.profiler import Probe, bind, in_context, in_network, work
    from leanconv.runtime import compile

    graph, threads = selection.graph, selection.threads
    wanted = {k for c in choices.values() for k in selection.cost_keys(c)}
    probes: dict[Key, Probe] = {}
    for found in in_context(graph, threads, wanted):  # as the profiler records them
        probes.update({k: p for k, p in found.items() if k not in probes})
    for piece in work(graph, threads):
        if wanted.intersection(piece.keys) - probes.keys():
            probes.update({k: p for k, p in piece.probes().items() if k in wanted and k not in probes})
    rng = np.random.default_rng(0)
    feeds = {t: rng.standard_normal(s).astype(np.float32) for t, s in graph.inputs.items()}
    exes = {name: compile(graph, selection.plan(c)) for name, c in choices.items()}
    inside: dict[str, dict[str, Key]] = {}
    for name in detail:
        exe = exes[name]
        inside[name] = {label: Key("network", name, label, threads, P.resolved_isa()) for label in exe.profile(feeds, 1)}
        probes.update({key: Probe(exe, feeds, label) for label, key in inside[name].items()})
    t = in_network(probes, {name: bind(exe.run, feeds) for name, exe in exes.items()}, sample_s=5e-3, min_rounds=7,
                   cap_s=cap_s)
    seconds = {k: t[k].seconds for k in wanted}
    steps = {}
    for name in detail:
        keys = step_keys(selection, choices[name], exes[name].plan)
        steps[name] = {label: (seconds[keys[label]] if label in keys else 0.0, t[key].seconds)
                       for label, key in inside[name].items()}
    return Verified({name: selection.predict(c, seconds) for name, c in choices.items()},
                    {name: t[name].seconds for name in choices}, {name: t[name].spread for name in choices},
                    {name: t[f"{name}:cpu"].seconds for name in choices},
                    {name: t[f"{name}:cpu"].spread for name in choices}, steps)
