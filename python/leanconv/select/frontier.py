"""The memory/time Pareto frontier: the ILP swept over the memory budget (epsilon
constraint), from the smallest feasible budget to the time-only optimum's memory, each solve
warm-started from the last (a looser budget keeps the last choice feasible)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from leanconv.select.ilp import Budgets, Model, select
from leanconv.select.problem import Costs, Problem


@dataclass(frozen=True)
class Point:
    budget: float
    choice: list[int]
    costs: Costs


def frontier(problem: Problem, points: int = 12, base: Budgets = Budgets(),
             solve: Callable[[Budgets], tuple[list[int], Costs]] | None = None) -> list[Point]:
    """Pareto-optimal choices at ``points`` memory budgets evenly spaced from the smallest
    feasible to the unconstrained optimum's (``base`` gives the other budgets and the memory
    measure); dominated and repeated points are dropped. ``solve`` replaces the plain ILP solve
    (the network selector's, which checks the runtime's arena)."""
    model = Model(problem, base.measure)

    def plain(b: Budgets) -> tuple[list[int], Costs]:
        choice = model.solve(b)
        if choice is None:
            choice = select(problem, b, model)  # raises, naming the smallest feasible budget
        return choice, problem.evaluate(choice, b.measure)

    run = solve or plain
    least_choice = model.solve(base, "memory")
    if least_choice is None:
        run(base)  # raises
    assert least_choice is not None
    low = problem.evaluate(least_choice, base.measure).memory
    _, top = plain(base)
    budgets = [low + (top.memory - low) * k / max(points - 1, 1) for k in range(points)]
    out: list[Point] = []
    for b in budgets:
        choice, costs = run(replace(base, memory=b))
        if out and costs.memory == out[-1].costs.memory and costs.seconds == out[-1].costs.seconds:
            continue
        out.append(Point(b, choice, costs))
    return [p for p in out if not any(q.costs.seconds < p.costs.seconds and q.costs.memory <= p.costs.memory
                                      for q in out)]
