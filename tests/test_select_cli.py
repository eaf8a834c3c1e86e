"""`leanconv profile` and `leanconv select` on the default model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from leanconv.cli import main
from leanconv.cli.select import parse_bytes
from leanconv.errors import LeanconvError
from leanconv.io import load_model
from leanconv.runtime import compile, reference
from leanconv.runtime.plan import LayerStep, load
from leanconv.runtime.planner import default_plan


@pytest.fixture(scope="module")
def costs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("costs") / "costs.jsonl"
    assert main(["profile", "--costs", str(path)]) == 0
    return path


def test_profile_again_reuses_the_database(costs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = len(costs.read_text().splitlines())
    assert main(["profile", "--costs", str(costs)]) == 0
    assert "0 measurements" in capsys.readouterr().err
    assert len(costs.read_text().splitlines()) == lines


def test_select_writes_a_plan_that_runs_and_reports_it(costs: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    plan_path = tmp_path / "plan.json"
    assert main(["select", "--costs", str(costs), "-o", str(plan_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    graph = load_model(None, None)
    plan = load(plan_path, graph)
    totals = report["totals"]
    assert totals["memory_bytes"] == plan.arena_bytes + plan.workspace_bytes
    assert totals["predicted_seconds"] > 0 and totals["measured_seconds"] > 0
    assert [r["kernel"] for r in report["steps"]] == [getattr(s, "kernel", getattr(s, "transform", None))
                                                      for s in plan.steps]
    x = np.random.default_rng(0).standard_normal(next(iter(graph.inputs.values()))).astype(np.float32)
    y, ref = compile(graph, plan).run(x), reference.run(graph, x, dtype=np.float64)[0]
    assert np.max(np.abs(y - ref)) <= 1e-4 * np.max(np.abs(ref))


def test_select_under_a_budget_and_its_frontier(costs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pareto"
    assert main(["select", "--costs", str(costs), "-o", str(tmp_path / "free.json"), "--pareto", str(out)]) == 0
    capsys.readouterr()
    frontier = json.loads((out / "frontier.json").read_text())
    assert (out / "frontier.png").stat().st_size > 0 and "greedy" in frontier["baselines"]
    low = frontier["frontier"][0]["memory"]
    assert main(["select", "--costs", str(costs), "-o", str(tmp_path / "low.json"), "--memory", str(low), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["memory_bytes"] <= low
    assert main(["select", "--costs", str(costs), "-o", str(tmp_path / "no.json"), "--memory", str(low - 1)]) == 1
    assert f"smallest feasible budget is {low:,} B" in capsys.readouterr().err


@pytest.mark.parametrize("text, value", [("2MB", 2e6), ("512KiB", 524288), ("1.5 GiB", 1.5 * 2**30), ("100", 100),
                                         (None, math.inf)])
def test_sizes_parse(text: str | None, value: float) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["2 parsecs", "MB", "-1MB"])
def test_bad_sizes_are_errors(text: str) -> None:
    with pytest.raises(LeanconvError, match="not a number of bytes"):
        parse_bytes(text)


def test_select_for_another_machine_uses_its_costs_and_does_not_time_them_here(
        costs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    board = {"cpu": "ARM Cortex-A72", "features": ["asimd"], "cores": 4, "id": "0123456789abcdef"}
    foreign = tmp_path / "board.jsonl"
    lines = [json.loads(line) for line in costs.read_text().splitlines()]
    for line in lines:  # the board's records are for its ISA, whatever this machine's is
        line["device"], line["key"]["isa"] = board, "neon"
    foreign.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["select", "--costs", str(foreign), "-o", str(tmp_path / "plan.json"), "--json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["measured_seconds"] is None and totals["predicted_seconds"] > 0
    assert len(foreign.read_text().splitlines()) == len(costs.read_text().splitlines())
    # The plan is for the board's kernels: their ISA, and their packed and workspace sizes.
    plan = load(tmp_path / "plan.json")
    assert {s.isa for s in plan.steps if isinstance(s, LayerStep)} == {"neon"}
    graph = load_model(None)
    kernels = {s.layer: s.kernel for s in plan.steps if isinstance(s, LayerStep) and s.op == "conv"}
    neon = default_plan(graph, 1, isa="neon", kernels=kernels)
    assert (plan.packed_bytes, plan.workspace_bytes) == (neon.packed_bytes, neon.workspace_bytes)
