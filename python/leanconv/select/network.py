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
from dataclasses import dataclass, replace

from leanconv import primitives as P
from leanconv.errors import InfeasibleBudgetError
from leanconv.graph import Graph
from leanconv.profile.db import CostDB
from leanconv.profile.profiler import conv_key, op_key, op_layouts, reference_plan, transform_key
from leanconv.runtime.plan import VIEW_KERNELS, LayerStep, Plan, base_name
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
    #: The ISA of the costs, and so of the plans: another device's when they are its costs.
    isa: P.Isa = "auto"

    def kernels(self, choice: list[int]) -> dict[str, str]:
        """The conv primitive per conv layer of ``choice``."""
        return {step.layer: node.candidates[j].kernel
                for step, node, j in zip(self.steps, self.problem.nodes, choice, strict=True) if step.op == "conv"}

    def plan(self, choice: list[int]) -> Plan:
        return default_plan(self.graph, self.threads, isa=self.isa, kernels=self.kernels(choice))


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
    for i, step in enumerate(steps):
        layer = graph.layer(step.layer)
        shape = graph.shape_of(base_name(step.output))
        follows = None
        if layer.op == "conv":
            cands = []
            for p in P.list_primitives(P.spec_from_layer(graph, layer)):
                r = db.require(conv_key(graph, layer, p.name, threads, isa))
                cands.append(Candidate(p.name, p.layout, r.seconds, r.workspace, r.packed, r.error))
            modes: list[ReadMode] = ["node"]
        elif step.kernel in VIEW_KERNELS:
            cands = [Candidate(step.kernel, step.layout, 0.0)]
            modes = ["chw"] * len(step.inputs)
        else:
            layouts = list(op_layouts(graph, layer)) if len(shape) == 4 else [step.layout]
            cands = []
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
    keep = {}
    for k, t in enumerate(four_d):
        if not reads[k]:
            continue
        shape = graph.shape_of(t)
        to_hwc = db.require(transform_key(shape, "chw_to_hwc", isa)).seconds
        to_chw = db.require(transform_key(shape, "hwc_to_chw", isa)).seconds
        keep[k] = len(tensors)
        tensors.append(Tensor(t, 4 * math.prod(shape), producer.get(t), reads[k], to_hwc, to_chw))
    nodes = [replace(nd, follows=None if nd.follows is None else keep[nd.follows]) for nd in nodes]
    return Selection(graph, threads, Problem(nodes, tensors, base_live(ref, n)), steps, plan_isa)


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
    """Median end-to-end seconds of each plan run by the runtime, in interleaved rounds."""
    import numpy as np

    from leanconv.profile.measure import time_interleaved
    from leanconv.profile.profiler import bind
    from leanconv.runtime import compile

    rng = np.random.default_rng(0)
    feeds = {t: rng.standard_normal(s).astype(np.float32) for t, s in graph.inputs.items()}
    exes = {name: compile(graph, plan) for name, plan in plans.items()}
    timings = time_interleaved({name: bind(exe.run, feeds) for name, exe in exes.items()},
                               sample_s=5e-3, cap_s=cap_s)
    return {name: t.seconds for name, t in timings.items()}
