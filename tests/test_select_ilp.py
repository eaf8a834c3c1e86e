"""The selection ILP against brute-force enumeration of the cost model, on random problems."""

from __future__ import annotations

import itertools
import math
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from leanconv.errors import InfeasibleBudgetError
from leanconv.select.ilp import Budgets, Model, select
from leanconv.select.problem import Candidate, Node, Problem, Read, ReadMode, Tensor

LAYOUTS = ("chw", "hwc")


@st.composite
def problems(draw: st.DrawFn, max_nodes: int = 6) -> Problem:
    """A random schedule: each step reads one or two earlier tensors (or the graph input) in its
    own layout, in chw, or in either; some steps run in their first input's layout; random
    candidates, transform times (up to 10 s, or to 10 µs as real kernels take) and sizes; a
    graph output or two."""
    n = draw(st.integers(1, max_nodes))
    unit = draw(st.sampled_from([1.0, 1e-6]))
    cost = st.floats(0.0, 10.0, allow_nan=False).map(lambda v: round(v, 3) * unit)
    size = st.integers(0, 1000)
    tensors = [Tensor("input", draw(size), None, [], draw(cost), draw(cost))]
    nodes: list[Node] = []
    for i in range(n):
        follows = draw(st.booleans())
        cands = [Candidate(f"k{j}", layout if not follows else LAYOUTS[j % 2], draw(cost), draw(size),
                           draw(size), draw(st.floats(0.0, 1.0)))
                 for j, layout in enumerate(draw(st.lists(st.sampled_from(LAYOUTS), min_size=1, max_size=3)))]
        if follows:
            cands = cands[:2] if len(cands) >= 2 else cands + [Candidate("k1", "hwc", draw(cost))]
        reads = draw(st.lists(st.integers(0, i), min_size=1, max_size=2, unique=True))
        for r, k in enumerate(reads):
            mode: ReadMode = "node" if follows and r == 0 else draw(st.sampled_from(["node", "chw", "any"]))
            tensors[k].reads.append(Read(i, mode))
        nodes.append(Node(f"n{i}", cands, reads[0] if follows else None))
        tensors.append(Tensor(f"t{i}", draw(size), i, [], draw(cost), draw(cost)))
    for k in draw(st.lists(st.integers(1, n), min_size=1, max_size=2, unique=True)):
        tensors[k].reads.append(Read(n, "chw"))
    tensors = [t for t in tensors if t.reads]
    nodes = [Node(nd.name, nd.candidates, None if nd.follows is None else
                  [t.name for t in tensors].index(f"t{nd.follows - 1}" if nd.follows else "input"))
             for nd in nodes]
    base = [draw(size) for _ in range(n + 1)]
    return Problem(nodes, tensors, base)


def brute_force(problem: Problem, budgets: Budgets) -> float:
    best = math.inf
    for choice in itertools.product(*(range(len(nd.candidates)) for nd in problem.nodes)):
        if not problem.follows_ok(choice):
            continue
        c = problem.evaluate(choice, budgets.measure)
        if c.memory <= budgets.memory and c.packed <= budgets.packed and c.error <= budgets.error:
            best = min(best, c.seconds)
    return best


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(problems(), st.sampled_from(["activations", "total"]), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1),
       st.integers(0, 7))
def test_ilp_optimum_equals_brute_force_and_meets_every_budget(problem: Problem, measure: str, fm: float,
                                                                 fp: float, err: float, which: int) -> None:
    free = brute_force(problem, Budgets(measure=measure))
    assume(math.isfinite(free))
    top = Model(problem, measure)
    fastest = top.solve(Budgets(measure=measure))
    assert fastest is not None
    worst = problem.evaluate(fastest, measure)
    # budgets between nothing and the fastest choice's needs, each on or off
    budgets = Budgets(memory=fm * worst.memory * 1.2 if which & 1 else math.inf,
                      packed=fp * worst.packed * 1.2 if which & 2 else math.inf,
                      error=err if which & 4 else math.inf, measure=measure)
    want = brute_force(problem, budgets)
    if not math.isfinite(want):
        with pytest.raises(InfeasibleBudgetError):
            select(problem, budgets)
        return
    choice = select(problem, budgets)
    got = problem.evaluate(choice, measure)
    assert got.seconds == pytest.approx(want, rel=1e-9, abs=1e-15)
    assert got.memory <= budgets.memory and got.packed <= budgets.packed and got.error <= budgets.error


@SETTINGS
@given(problems(), st.sampled_from(["activations", "total"]))
def test_an_infeasible_memory_budget_names_the_smallest_feasible_one(problem: Problem, measure: str) -> None:
    least = min(problem.evaluate(c, measure).memory
                for c in itertools.product(*(range(len(nd.candidates)) for nd in problem.nodes))
                if problem.follows_ok(c))
    with pytest.raises(InfeasibleBudgetError) as e:
        select(problem, Budgets(memory=least - 1, measure=measure))
    assert e.value.budget == "memory" and e.value.smallest == least
    assert f"{least:,} B" in str(e.value)
    choice = select(problem, Budgets(memory=least, measure=measure))
    assert problem.evaluate(choice, measure).memory <= least


def chain_problem(n: int, seed: int) -> Problem:
    """A 150-step network-like schedule: a chain with a residual add every third step; each
    conv-like step has 6 candidates in both layouts, with random times and workspace and
    packed sizes that scale with the layer as real kernels' do (none, a copy of the input,
    a k*k lowering, a transformed tile set); the adds run in their input's layout."""
    import random

    rng = random.Random(seed)
    tensors = [Tensor("input", 4096, None, [], 1e-5, 1e-5)]
    nodes = []
    for i in range(n):
        x = len(tensors) - 1
        size = tensors[x].bytes
        if i % 3 == 2:
            nodes.append(Node(f"add{i}", [Candidate("add_chw", "chw", rng.uniform(1e-5, 2e-5)),
                                          Candidate("add_hwc", "hwc", rng.uniform(1e-5, 2e-5))], follows=x))
            tensors[x].reads.append(Read(i, "node"))
            tensors[x - 2].reads.append(Read(i, "node"))
        else:
            weights = rng.randrange(1 << 12, 1 << 18)
            nodes.append(Node(f"conv{i}", [Candidate(f"k{j}", LAYOUTS[j % 2], rng.uniform(1e-4, 1e-3),
                                                     int(size * factor), int(weights * rng.uniform(1, 4)))
                                           for j, factor in enumerate((0, 0, 1, 1, 9, rng.uniform(2, 4)))]))
            tensors[x].reads.append(Read(i, "node"))
        tensors.append(Tensor(f"t{i}", rng.randrange(1 << 14, 1 << 18), i, [], 2e-5, 2e-5))
    tensors[-1].reads.append(Read(n, "chw"))
    return Problem(nodes, tensors, [rng.randrange(1 << 16, 1 << 19) for _ in range(n + 1)])


def test_a_150_step_problem_solves_well_under_a_second_per_plan() -> None:
    problem = chain_problem(150, 0)
    model = Model(problem)
    free = problem.evaluate(model.solve(Budgets()) or [])
    least = problem.evaluate(model.solve(Budgets(), "memory") or [])
    t0 = time.perf_counter()
    budgets = [least.memory + (free.memory - least.memory) * f for f in (0.0, 0.25, 0.5, 0.75)]
    for b in budgets:
        choice = model.solve(Budgets(memory=b))
        assert choice is not None and problem.evaluate(choice).memory <= b
    per_plan = (time.perf_counter() - t0) / len(budgets)
    print(f"150 steps: {per_plan * 1e3:.0f} ms per plan")
    assert per_plan < 5.0  # the target is < 1 s; a loose bound here, as the machine is shared
