"""plan / apply / verify: targets, the refusal of plans that did not pay off, and a plan for the
default model measured on torch CPU end to end."""

from __future__ import annotations

import pytest
import torch

from leanconv.errors import LeanconvError
from leanconv.models.default_net import load_default
from leanconv.prune.api import Analysis, Verification, analyze, apply, judge, parse_target, plan_analysis, verify
from leanconv.prune.errors import PlanRefusedError, PruneError


def test_targets_parse() -> None:
    assert parse_target("0.6x") == ("ratio", 0.6)
    assert parse_target("12ms") == ("seconds", pytest.approx(0.012))
    assert parse_target("800us") == ("seconds", pytest.approx(8e-4))
    assert parse_target("1s") == ("seconds", 1.0)
    for bad in ("fast", "1.5x", "0x", "12 parsecs", ""):
        with pytest.raises(PruneError, match="target"):
            parse_target(bad)


def rows(*times: tuple[str, float, float]) -> list[dict[str, object]]:
    return [{"layer": n, "unpruned_s": u, "pruned_s": p} for n, u, p in times]


def test_judge_accepts_a_plan_that_paid_off() -> None:
    ok = Verification(1.0, 0.7, 0.65, rows(("a", 0.5, 0.3)))
    assert judge(ok) is ok


def test_judge_refuses_a_slower_model_naming_layers_that_did_not_speed_up() -> None:
    result = Verification(1.0, 1.05, 0.8, rows(("a", 0.5, 0.3), ("b", 0.2, 0.25), ("c", 0.1, 0.1)))
    with pytest.raises(PlanRefusedError, match="slower than the unpruned model; layers responsible: b, c") as e:
        judge(result)
    assert isinstance(e.value, LeanconvError)
    assert e.value.report["responsible"] == ["b", "c"] and e.value.report["pruned_latency_s"] == 1.05


def test_judge_refuses_a_missed_prediction_naming_the_least_improved_layers() -> None:
    result = Verification(1.0, 0.9, 0.7, rows(("a", 0.5, 0.2), ("b", 0.2, 0.19), ("c", 0.1, 0.05), ("d", 0.1, 0.09)))
    with pytest.raises(PlanRefusedError, match=r"more than 10% slower than predicted .*responsible: b, d, c"):
        judge(result)
    assert judge(result, margin=0.3) is result


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return analyze(load_default(), torch.zeros(1, 1, 28, 28), "torch", rounds=3)


def test_plan_meets_its_target_on_fast_ends(analysis: Analysis) -> None:
    cheapest = {g: min(c for c, _ in curve.candidates() if c >= 4) for g, curve in analysis.curves.items()}
    ratio = (1 + analysis.predict(cheapest) / analysis.latency) / 2  # halfway: reachable whatever was measured
    plan = plan_analysis(analysis, f"{ratio:.6f}x", min_channels=4)
    assert plan.predicted_latency <= ratio * plan.unpruned_latency * (1 + 1e-5)
    assert plan.macs < plan.unpruned_macs
    for name, count in plan.counts.items():
        curve = analysis.curves[name]
        assert count == curve.channels or count in dict(curve.candidates())
        assert count >= 4 and len(plan.keep[name]) == count
    pruned = apply(analysis.model, analysis.example, plan)
    assert pruned.stem[0].out_channels == plan.counts["stem.0"]
    assert pruned.expand[0].out_channels == pruned.dw[0].groups == plan.counts["expand.0"]
    try:  # a busy machine may refuse the plan; either way the report names what was measured
        result = verify(analysis.model, pruned, analysis.example, plan, margin=0.5, rounds=3)
        layers = result.layers
    except PlanRefusedError as e:
        layers = e.report["layers"]  # type: ignore[assignment]
        assert e.report["responsible"]
    narrowed = {m.module for g in analysis.groups if plan.counts[g.name] < g.channels for m in g.members}
    assert narrowed and {r["layer"] for r in layers} == narrowed


def test_mac_target_and_impossible_targets(analysis: Analysis) -> None:
    plan = plan_analysis(analysis, "0.5x", resource="macs")
    assert plan.macs < plan.unpruned_macs and plan.resource == "macs"
    assert plan.to_json()["groups"][0]["group"] == "stem.0"
    with pytest.raises(PruneError, match="ratio of the unpruned model's MACs"):
        plan_analysis(analysis, "1ms", resource="macs")
    with pytest.raises(PruneError, match="no plan fits"):
        plan_analysis(analysis, 1e-9)
