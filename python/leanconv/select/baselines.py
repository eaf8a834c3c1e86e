"""The choices the ILP is compared against, on the same cost model: greedy fastest kernel per
step ignoring transforms, greedy counting the transforms of each step's inputs, one family
everywhere it applies, and the time-only ILP. Steps that run in their input's layout follow it
in every baseline, as in the runtime."""

from __future__ import annotations

from collections.abc import Callable

from leanconv.select.ilp import Budgets, select
from leanconv.select.problem import Candidate, Problem


def _greedy(problem: Problem, score: Callable[[int, Candidate, list[str]], float]) -> list[int]:
    choice: list[int] = []
    layouts: list[str] = []
    for i, node in enumerate(problem.nodes):
        options = list(range(len(node.candidates)))
        if node.follows is not None:
            t = problem.tensors[node.follows]
            want = "hwc" if t.producer is not None and layouts[t.producer] == "hwc" else "chw"
            options = [j for j in options if node.candidates[j].layout == want]
        j = min(options, key=lambda j: score(i, node.candidates[j], layouts))
        choice.append(j)
        layouts.append(node.candidates[j].layout)
    return choice


def greedy_fastest(problem: Problem) -> list[int]:
    """Each step's fastest candidate, transforms ignored."""
    return _greedy(problem, lambda i, c, layouts: c.seconds)


def greedy_with_transforms(problem: Problem) -> list[int]:
    """Each step's candidate fastest with the transforms its inputs would need, given the
    choices already made upstream."""
    def score(i: int, c: Candidate, layouts: list[str]) -> float:
        move = 0.0
        for t in problem.tensors:
            if any(r.node == i and r.mode == "node" for r in t.reads):
                have = "hwc" if t.producer is not None and layouts[t.producer] == "hwc" else "chw"
                if have != c.layout:
                    move += t.to_hwc_seconds if c.layout == "hwc" else t.to_chw_seconds
        return c.seconds + move
    return _greedy(problem, score)


def one_family(problem: Problem, family_of: Callable[[str], str | None], family: str) -> list[int]:
    """``family``'s fastest candidate wherever it applies (by ``family_of(kernel)``), else the
    fastest; greedy with transforms."""
    def score(i: int, c: Candidate, layouts: list[str]) -> float:
        return (0.0 if family_of(c.kernel) == family else 1e9) + c.seconds
    return _greedy(problem, score)


def time_only(problem: Problem) -> list[int]:
    """The ILP without budgets."""
    return select(problem, Budgets())


def baselines(problem: Problem, family_of: Callable[[str], str | None], families: list[str]) -> dict[str, list[int]]:
    """Every baseline by name."""
    out = {"greedy": greedy_fastest(problem), "greedy+transforms": greedy_with_transforms(problem),
           "time-only ILP": time_only(problem)}
    for f in families:
        out[f"all {f}"] = one_family(problem, family_of, f)
    return out
