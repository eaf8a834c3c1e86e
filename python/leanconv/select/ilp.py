"""Primitive selection as an integer linear program, solved by HiGHS (``highspy``).

Variables: a binary ``x[i, j]`` per step ``i`` and candidate ``j`` (exactly one per step); per
tensor two continuous ``z`` in [0, 1], one per transform (to hwc, to chw), linearising "some
reader needs the layout the producer did not write": ``z_hwc >= need_hwc(reader) - hwc(producer)``
and ``z_chw >= hwc(producer) - need_hwc(reader)`` for every reader, where ``hwc(step)`` is the
sum of the step's hwc candidates' binaries. Minimising puts each ``z`` at its bound, so the
objective (the candidates' seconds plus each transform's seconds) is the cost model's time
(:meth:`~leanconv.select.problem.Problem.evaluate`). Steps that run in their input's layout get
``hwc(step) = hwc(producer)``.

Memory: a continuous ``W >= workspace(i)`` per step (the shared scratch buffer), ``P`` = the sum
of packed bytes, and ``M >= base[s] + W (+ P) + sum of the transform copies live at s`` for
every schedule point s; budgets are upper bounds on ``M`` and ``P``, so a sweep over budgets
only moves column bounds and each solve starts from the last solution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from leanconv.errors import InfeasibleBudgetError, LeanconvError
from leanconv.highs import highspy, quiet_highs
from leanconv.select.problem import MEASURES, Problem

INF = math.inf
#: Objective units per second: HiGHS's tolerances are absolute (about 1e-6), and kernels
#: differ by microseconds, so the objective counts microseconds.
TIME_SCALE = 1e6


@dataclass(frozen=True)
class Budgets:
    """Optional limits: peak memory (bytes, in ``measure``), packed weights (bytes), error."""

    memory: float = INF
    packed: float = INF
    error: float = INF
    measure: str = "activations"


class Model:
    """The ILP of one Problem; solve it under any Budgets, warm-started from the last solve."""

    def __init__(self, problem: Problem, measure: str = "activations") -> None:
        if measure not in MEASURES:
            raise LeanconvError(f"memory measure {measure!r} is not one of {MEASURES}")
        self.problem, self.measure = problem, measure
        h = quiet_highs()
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 1e-12)
        self.h = h
        self.ncol = 0
        n = len(problem.nodes)
        self.x: list[list[int]] = []
        for node in problem.nodes:
            self.x.append([self.col(TIME_SCALE * c.seconds, 0.0, 1.0, integer=True) for c in node.candidates])
        self.z: list[tuple[int, int]] = [
            (self.col(TIME_SCALE * t.to_hwc_seconds, 0.0, 1.0), self.col(TIME_SCALE * t.to_chw_seconds, 0.0, 1.0))
            for t in problem.tensors]
        self.w = self.col(0.0, 0.0, INF)
        self.p = self.col(0.0, 0.0, INF)
        self.m = self.col(0.0, 0.0, INF)
        self.e = self.col(0.0, 0.0, INF)
        for cols in self.x:  # exactly one candidate per step
            self.row(1.0, 1.0, {c: 1.0 for c in cols})
        for i, node in enumerate(problem.nodes):
            if node.follows is not None:
                terms = self.hwc(i)
                for c, v in self.producer_hwc(node.follows).items():
                    terms[c] = terms.get(c, 0.0) - v
                self.row(0.0, 0.0, terms)
        for k, t in enumerate(problem.tensors):
            zh, zc = self.z[k]
            have = self.producer_hwc(k)
            for r in t.reads:
                if r.mode == "any":
                    continue
                need = self.hwc(r.node) if r.mode == "node" and r.node < n else {}
                # z_hwc - need + have >= 0 and z_chw + need - have >= 0
                self.row(0.0, INF, self.combine({zh: 1.0}, need, -1.0, have, 1.0))
                self.row(0.0, INF, self.combine({zc: 1.0}, need, 1.0, have, -1.0))
        for i, node in enumerate(problem.nodes):  # W >= workspace of step i
            terms = {c: -float(cand.workspace) for c, cand in zip(self.x[i], node.candidates)}
            terms[self.w] = 1.0
            self.row(0.0, INF, terms)
        for i, node in enumerate(problem.nodes):  # E >= error of step i
            terms = {c: -float(cand.error) for c, cand in zip(self.x[i], node.candidates)}
            terms[self.e] = 1.0
            self.row(0.0, INF, terms)
        packed = {c: -float(cand.packed) for cols, node in zip(self.x, problem.nodes)
                  for c, cand in zip(cols, node.candidates)}
        packed[self.p] = 1.0
        self.row(0.0, 0.0, packed)
        copies: list[dict[int, float]] = [{} for _ in range(n + 1)]
        for k, t in enumerate(problem.tensors):
            for s in t.live:
                for c in self.z[k]:
                    copies[s][c] = copies[s].get(c, 0.0) + float(t.bytes)
        for s in range(n + 1):  # M - W (- P) - copies >= base[s]
            terms = {c: -v for c, v in copies[s].items()}
            terms[self.m], terms[self.w] = 1.0, -1.0
            if measure == "total":
                terms[self.p] = -1.0
            self.row(float(problem.base[s]), INF, terms)
        self.costs = np.array(h.getLp().col_cost_, dtype=float)
        self.last: np.ndarray | None = None

    # -- building --------------------------------------------------------------------------

    def col(self, cost: float, lo: float, hi: float, integer: bool = False) -> int:
        self.h.addCol(float(cost), lo, hi, 0, np.array([], dtype=np.int32), np.array([], dtype=float))
        if integer:
            self.h.changeColIntegrality(self.ncol, highspy.HighsVarType.kInteger)
        self.ncol += 1
        return self.ncol - 1

    def row(self, lo: float, hi: float, terms: dict[int, float]) -> None:
        idx = np.array(list(terms), dtype=np.int32)
        self.h.addRow(lo, hi, len(idx), idx, np.array(list(terms.values()), dtype=float))

    def hwc(self, i: int) -> dict[int, float]:
        node = self.problem.nodes[i]
        return {c: 1.0 for c, cand in zip(self.x[i], node.candidates) if cand.layout == "hwc"}

    def producer_hwc(self, k: int) -> dict[int, float]:
        p = self.problem.tensors[k].producer
        return {} if p is None else self.hwc(p)

    @staticmethod
    def combine(base: dict[int, float], a: dict[int, float], fa: float, b: dict[int, float],
                fb: float) -> dict[int, float]:
        out = dict(base)
        for terms, f in ((a, fa), (b, fb)):
            for c, v in terms.items():
                out[c] = out.get(c, 0.0) + f * v
        return out

    # -- solving ---------------------------------------------------------------------------

    def solve(self, budgets: Budgets, objective: str = "time") -> list[int] | None:
        """The best choice (a candidate index per step) under ``budgets``, minimising time
        (or ``"memory"``, ``"packed"``, ``"error"``: its largest per-step value), or None when no choice meets them."""
        if budgets.measure != self.measure:
            raise LeanconvError(f"this model counts memory as {self.measure!r}, not {budgets.measure!r}")
        h = self.h
        h.changeColBounds(self.m, 0.0, float(budgets.memory))
        h.changeColBounds(self.p, 0.0, float(budgets.packed))
        for cols, node in zip(self.x, self.problem.nodes):
            for c, cand in zip(cols, node.candidates):
                h.changeColBounds(c, 0.0, 1.0 if cand.error <= budgets.error else 0.0)
        cost = np.zeros(self.ncol)
        if objective == "time":
            cost = self.costs
        elif objective in ("memory", "packed", "error"):
            cost[{"memory": self.m, "packed": self.p, "error": self.e}[objective]] = 1.0
            if objective != "error":  # bytes are whole: a tie-break worth under one byte prefers the faster
                cost += 0.5 * self.costs / max(float(self.costs.sum()), 1e-30)
        else:
            raise LeanconvError(f"objective {objective!r} is not time, memory, packed or error")
        h.changeColsCost(self.ncol, np.arange(self.ncol, dtype=np.int32), np.asarray(cost, dtype=float))
        if self.last is not None:
            sol = highspy.HighsSolution()
            sol.col_value = list(self.last)
            sol.value_valid = True
            h.setSolution(sol)
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            if status == highspy.HighsModelStatus.kInfeasible:
                return None
            raise LeanconvError(f"the selection ILP ended {h.modelStatusToString(status)}")
        values = np.array(h.getSolution().col_value)
        self.last = values
        return [int(np.argmax([values[c] for c in cols])) for cols in self.x]


def select(problem: Problem, budgets: Budgets = Budgets(), model: Model | None = None) -> list[int]:
    """The fastest choice meeting ``budgets``; InfeasibleBudgetError naming the smallest
    feasible value of the first budget that cannot be met (error, then packed, then memory)."""
    model = model or Model(problem, budgets.measure)
    choice = model.solve(budgets)
    if choice is not None:
        return choice
    by_error = model.solve(Budgets(measure=budgets.measure), "error")
    assert by_error is not None
    least_error = problem.evaluate(by_error, budgets.measure).error
    if least_error > budgets.error:
        raise InfeasibleBudgetError(f"no kernel choice meets the error bound {budgets.error:.3g}; the smallest "
                                    f"feasible bound is {least_error:.3g}", "error", least_error)
    by_packed = model.solve(Budgets(error=budgets.error, measure=budgets.measure), "packed")
    assert by_packed is not None
    least_packed = problem.evaluate(by_packed, budgets.measure).packed
    if least_packed > budgets.packed:
        raise InfeasibleBudgetError(f"no kernel choice meets the packed-weights budget {budgets.packed:,.0f} B; "
                                    f"the smallest feasible budget is {least_packed:,} B", "packed", least_packed)
    by_memory = model.solve(Budgets(error=budgets.error, packed=budgets.packed, measure=budgets.measure), "memory")
    assert by_memory is not None
    least = problem.evaluate(by_memory, budgets.measure).memory
    raise InfeasibleBudgetError(f"no kernel choice meets the memory budget {budgets.memory:,.0f} B ({budgets.measure});"
                                f" the smallest feasible budget is {least:,} B", "memory", least)
