"""HiGHS has one thread scheduler per process, fixed by the first solve: selection and pruning
must solve whatever thread count another solver in the process fixed it at."""

from __future__ import annotations

from collections.abc import Iterator

import highspy
import pytest

from leanconv.prune.planner import Option, solve
from leanconv.select.ilp import Budgets, Model
from leanconv.select.problem import Candidate, Node, Problem, Read, Tensor


def _solve_with_threads(threads: int) -> None:
    h = highspy.Highs()
    h.silent()
    h.setOptionValue("threads", threads)
    x = h.addBinary(obj=-1.0)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert h.val(x) == 1.0


@pytest.fixture(params=[1, 3])
def scheduler_of_another_solver(request: pytest.FixtureRequest) -> Iterator[int]:
    highspy.Highs.resetGlobalScheduler(True)
    _solve_with_threads(request.param)
    yield request.param
    highspy.Highs.resetGlobalScheduler(True)


def test_selection_solves_after_another_solver_fixed_the_scheduler(scheduler_of_another_solver: int) -> None:
    tensors = [Tensor("input", 64, None, [Read(0, "node")], 1e-6, 1e-6), Tensor("t0", 64, 0, [Read(1, "chw")], 1e-6, 1e-6)]
    problem = Problem([Node("conv", [Candidate("slow", "chw", 2e-3), Candidate("fast", "chw", 1e-3)])], tensors, [0, 0])
    assert Model(problem).solve(Budgets()) == [1]


def test_pruning_solves_after_another_solver_fixed_the_scheduler(scheduler_of_another_solver: int) -> None:
    options = {"a": [Option(4, 1.0, 10, 1), Option(8, 2.0, 20, 2)], "b": [Option(2, 0.5, 5, 1)]}
    assert solve(options, 2.5) == {"a": 8, "b": 2}
