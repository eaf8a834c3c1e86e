"""Selection on real graphs: the selected plans run in the runtime, match the reference, and
meet their budgets as the runtime allocates them; the frontier and the baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_runtime import check_network, networks

from leanconv import primitives as P
from leanconv.errors import InfeasibleBudgetError
from leanconv.graph import Graph
from leanconv.profile import CostDB, profile
from leanconv.select.baselines import baselines
from leanconv.select.frontier import frontier
from leanconv.select.ilp import Budgets, Model
from leanconv.select.network import build, choose, runtime_memory


def family_of(kernel: str) -> str | None:
    return P.get(kernel).family if kernel in {p.name for p in P.PRIMITIVES} else None


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                                 HealthCheck.function_scoped_fixture])
@given(networks(), st.sampled_from(["activations", "total"]))
def test_selected_plans_run_match_the_reference_and_meet_their_budget(
        tmp_path: Path, net: tuple[Graph, np.ndarray], measure: str) -> None:
    graph, x = net
    db = CostDB(tmp_path / "costs.jsonl")
    profile(graph, db)
    sel = build(graph, db)
    free = choose(sel, Budgets(measure=measure))
    check_network(graph, x, free.plan)
    assert free.memory == runtime_memory(free.plan, measure)
    for name, choice in baselines(sel.problem, family_of, ["direct", "im2col"]).items():
        assert sel.problem.evaluate(choice).seconds >= free.costs.seconds - 1e-12, name
    least = sel.problem.evaluate(Model(sel.problem, measure).solve(Budgets(measure=measure), "memory") or [], measure)
    budget = (least.memory + free.memory) // 2
    try:
        tight = choose(sel, Budgets(memory=budget, measure=measure))
    except InfeasibleBudgetError as e:  # the arena packs worse than every choice's live bytes
        assert e.budget == "memory"
        return
    assert tight.memory <= budget and tight.costs.seconds >= free.costs.seconds - 1e-12
    check_network(graph, x, tight.plan)


def test_the_default_model_frontier_is_pareto_and_each_point_fits_its_budget(tmp_path: Path) -> None:
    from leanconv.io import load_model

    graph = load_model(None, None)
    db = CostDB(tmp_path / "costs.jsonl")
    profile(graph, db)
    sel = build(graph, db)
    points = frontier(sel.problem, points=10)
    model = Model(sel.problem)
    least = sel.problem.evaluate(model.solve(Budgets(), "memory") or [])
    fastest = sel.problem.evaluate(model.solve(Budgets()) or [])
    assert points[0].costs.memory == least.memory and points[-1].costs.seconds == pytest.approx(fastest.seconds)
    for a, b in zip(points, points[1:]):
        assert a.costs.memory < b.costs.memory and a.costs.seconds > b.costs.seconds
    for p in points:
        assert p.costs.memory <= p.budget
        chosen = choose(sel, Budgets(memory=p.budget))
        assert chosen.memory <= p.budget and chosen.costs.seconds == pytest.approx(p.costs.seconds)
    with pytest.raises(InfeasibleBudgetError, match=f"smallest feasible budget is {points[0].costs.memory:,} B"):
        choose(sel, Budgets(memory=points[0].costs.memory - 1))


def test_predictions_sum_the_costs_of_each_step_the_plan_runs(tmp_path: Path) -> None:
    from leanconv.io import load_model
    from leanconv.select.network import step_keys, verify

    graph = load_model(None, None)
    db = CostDB(tmp_path / "costs.jsonl")
    profile(graph, db)
    sel = build(graph, db)
    choices = {"ILP": choose(sel).choice, **baselines(sel.problem, family_of, ["direct", "im2row"])}
    recorded = {k: r.seconds for k, r in db.records.items()}
    for name, choice in choices.items():
        assert sel.predict(choice, recorded) == pytest.approx(sel.problem.evaluate(choice).seconds, rel=1e-12), name
        plan = sel.plan(choice)
        keys = step_keys(sel, choice, plan)
        writing = [s.output for s in plan.steps if getattr(s, "kernel", None) not in ("concat_view", "reshape_view")]
        assert list(keys) == writing
        # the plan's steps are the model's costs, each counted once, and the runtime's call
        assert sorted(map(str, [sel.call_key, *keys.values()])) == sorted(map(str, sel.cost_keys(choice))), name
    check = verify(sel, {"ILP": choices["ILP"], "direct": choices["all direct"]}, detail=("ILP",), cap_s=1.0)
    assert set(check.measured) == set(check.predicted) == {"ILP", "direct"}
    assert all(v > 0 for v in [*check.measured.values(), *check.predicted.values(), *check.measured_cpu.values()])
    assert list(check.steps["ILP"]) == [*step_keys(sel, choices["ILP"], sel.plan(choices["ILP"])), "<outputs>"]
