"""The Plan: JSON round trip, and every way a plan can fail to fit its graph is a PlanError
naming what is wrong."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from leanconv import LeanconvError, PlanError
from leanconv._native import arena_plan
from leanconv.graph import Graph, Layer
from leanconv.runtime import compile
from leanconv.runtime import plan as plans
from leanconv.runtime.plan import LayerStep, Plan
from leanconv.runtime.planner import default_plan


def graph() -> Graph:
    rng = np.random.default_rng(0)
    conv = {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
    return Graph("g", {"x": (1, 3, 6, 6)}, [
        Layer("a", "conv", ["x"], conv, {"weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32)}),
        Layer("r", "relu", ["a"]),
        Layer("b", "conv", ["r"], conv, {"weight": rng.standard_normal((4, 4, 3, 3)).astype(np.float32),
                                         "bias": np.ones(4, np.float32)}),
        Layer("c", "conv", ["b"], conv, {"weight": rng.standard_normal((2, 4, 3, 3)).astype(np.float32)}),
        Layer("s", "add", ["c", "c"]),
    ], ["s", "b"])


@pytest.fixture(scope="module")
def made() -> tuple[Graph, Plan]:
    g = graph()
    return g, default_plan(g, kernels={"a": "im2row_hwc", "b": "direct_chw", "c": "kn2row_hwc"})


def test_json_round_trip(made: tuple[Graph, Plan], tmp_path: Path) -> None:
    g, plan = made
    again = Plan.from_json(plan.to_json())
    assert again == plan and again.to_json() == plan.to_json()
    path = tmp_path / "plan.json"
    plan.save(path)
    loaded = plans.load(path, g)
    assert loaded == plan
    data = json.loads(path.read_text())
    assert data["format"] == "leanconv-plan" and data["version"] == 1
    assert data["graph"]["digest"] == plans.graph_digest(g)
    x = np.random.default_rng(1).standard_normal((1, 3, 6, 6)).astype(np.float32)
    for y, z in zip(compile(g, loaded).run(x), compile(g, plan).run(x), strict=True):
        np.testing.assert_array_equal(y, z)


def test_the_digest_covers_structure_not_weight_values() -> None:
    g, h = graph(), graph()
    h.layers[0].weights["weight"] = h.layers[0].weights["weight"] + 1
    assert plans.graph_digest(g) == plans.graph_digest(h)
    h.layers[2].attrs["groups"] = 2
    assert plans.graph_digest(g) != plans.graph_digest(h)


def edited(plan: Plan, edit: str) -> dict:  # type: ignore[type-arg]
    d = copy.deepcopy(plan.to_dict())
    exec(edit, {"d": d})  # noqa: S102 - test edits of the plan's JSON data
    return d


CASES = [
    ('d["graph"]["digest"] = "0" * 64', "digest"),
    ('d["version"] = 2', "version"),
    ('d["format"] = "other"', "format"),
    ('del d["arena_bytes"]', "arena_bytes"),
    ('d["steps"][1]["kernel"] = "fastest_conv"', "unknown kernel 'fastest_conv'"),
    ('d["steps"][1]["inputs"] = ["nowhere"]', "'nowhere'"),
    ('del d["tensors"]["b"]', "'b'"),
    ('d["steps"] = [s for s in d["steps"] if s.get("layer") != "b"]', "missing \\['b'\\]"),
    ('d["steps"][1]["activation"] = "none"', "activation"),
    ('d["steps"][1]["attrs"]["padding"] = [0, 0, 0, 0]', "attrs"),
    ('d["tensors"]["b"]["shape"] = [1, 4, 6, 7]', "shape"),
    ('d["outputs"] = ["c", "b"]', "outputs"),
    ('d["inputs"] = ["y"]', "inputs"),
    ('d["tensors"]["r@chw"]["offset"] = d["tensors"]["b"]["offset"]', "over its input|overlap"),
    ('d["tensors"]["b"]["offset"] = d["arena_bytes"]', "arena"),
    ('d["threads"] = 0', "threads"),
]


@pytest.mark.parametrize(("edit", "message"), CASES, ids=[c[0] for c in CASES])
def test_plans_that_do_not_fit_are_plan_errors(made: tuple[Graph, Plan], edit: str, message: str) -> None:
    g, plan = made
    with pytest.raises(PlanError, match=message):
        p = Plan.from_dict(edited(plan, edit))
        compile(g, p)


def test_overlapping_live_tensors_are_refused(made: tuple[Graph, Plan]) -> None:
    g, plan = made
    steps = [s for s in plan.steps if isinstance(s, LayerStep)]
    assert [s.layer for s in steps] == ["a", "b", "c", "s"]
    # c written over the bytes its own step reads
    d = edited(plan, 'd["tensors"]["c"]["offset"] = d["tensors"]["b@hwc"]["offset"]')
    with pytest.raises(PlanError, match="writes 'c' over its input 'b@hwc'|writes \"c\" over its input"):
        compile(g, Plan.from_dict(d))
    # b, a graph output, lives to the end: c may not be placed over it
    d = edited(plan, 'd["tensors"]["c"]["offset"] = d["tensors"]["b"]["offset"]')
    with pytest.raises(PlanError, match="overlap"):
        compile(g, Plan.from_dict(d))


def test_a_plan_runs_its_own_thread_count(made: tuple[Graph, Plan]) -> None:
    g, plan = made
    with pytest.raises(PlanError, match="threads"):
        compile(g, plan, threads=2)
    with pytest.raises(PlanError, match="threads"):
        default_plan(g, threads=0)


def test_unreadable_plans(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="JSON"):
        Plan.from_json("{")
    with pytest.raises(PlanError, match="cannot read"):
        plans.load(tmp_path / "none.json")
    assert issubclass(PlanError, LeanconvError)


def test_arena_plan_binding() -> None:
    offsets, total, lower = arena_plan([100, 200, 300], [0, 1, 2], [1, 2, 3], [None, None, None])
    # largest first: the 300-byte tensor at 0, the 200-byte one (live with it) above it, the
    # 100-byte one (live only with the 200-byte one) back at 0
    assert (offsets, total, lower) == ([0, 320, 0], 576, 576)
    with pytest.raises(LeanconvError, match="same length"):
        arena_plan([1], [0, 1], [1], [None])
