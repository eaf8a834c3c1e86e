"""`leanconv run`: the default model timed, its report as a table and as JSON; a saved plan read
back; a bad input file and a plan for another graph end in one red line and exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from leanconv.cli import app
from leanconv.io import load_model
from leanconv.runtime import compile, reference
from leanconv.runtime.plan import load


@pytest.fixture(autouse=True)
def no_width_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)


def invoke(*args: str) -> dict:
    result = CliRunner().invoke(app, ["run", *args, "--runs", "3", "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_run_reports_outputs_latency_and_memory() -> None:
    report = invoke()
    graph = load_model(None)
    exe = compile(graph)
    assert report["model"] == graph.name and report["threads"] == 1
    assert report["outputs"] == [{"name": t, "shape": list(graph.shape_of(t))} for t in graph.outputs]
    lat = report["latency_ms"]
    assert lat["runs"] == 3 and 0 < lat["min"] <= lat["median"] <= lat["p90"]
    mem = report["memory"]
    assert (mem["arena_bytes"], mem["arena_lower_bound"], mem["workspace_bytes"]) == (
        exe.arena_bytes, exe.arena_lower_bound, exe.workspace_bytes)
    assert mem["packed_bytes"] > 0 and mem["arena_ratio"] == mem["arena_bytes"] / mem["arena_lower_bound"] >= 1.0
    # the total is the plan's memory: an emitted program's static RAM (tests/test_emit.py)
    assert mem["total_bytes"] == mem["arena_bytes"] + mem["workspace_bytes"] + mem["packed_bytes"] \
        == exe.memory_bytes == exe.plan.memory_bytes


def test_run_prints_a_table_on_stdout() -> None:
    result = CliRunner().invoke(app, ["run", "--runs", "2"])
    assert result.exit_code == 0, result.stderr
    for row in ("output head", "latency median", "latency p90", "arena lower bound", "workspace", "packed weights",
                "static RAM"):
        assert row in result.stdout


def test_a_saved_plan_reads_back_and_runs(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    first = invoke("--threads", "2", "--save-plan", str(path))
    graph = load_model(None)
    plan = load(path, graph)
    assert plan.threads == 2
    again = invoke("--plan", str(path))
    assert again["threads"] == 2 and again["memory"]["arena_bytes"] == first["memory"]["arena_bytes"]
    assert again["memory"]["packed_bytes"] == plan.packed_bytes


def test_an_input_file_is_what_runs(tmp_path: Path) -> None:
    graph = load_model(None)
    x = np.random.default_rng(5).standard_normal(graph.inputs["x"]).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", x=x)
    plan_path = tmp_path / "plan.json"
    invoke("--input", str(tmp_path / "x.npy"), "--save-plan", str(plan_path))
    invoke("--input", str(tmp_path / "x.npz"))
    y = compile(graph, load(plan_path, graph)).run(x)
    ref = reference.run(graph, x, dtype=np.float64)[0]
    assert np.abs(y - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def red_line(args: list[str]) -> str:
    result = CliRunner().invoke(app, ["run", *args])
    assert result.exit_code == 1 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    return line


def test_an_input_of_the_wrong_shape_is_a_shape_error(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 28, 27), np.float32))
    assert red_line(["--input", str(tmp_path / "x.npy")]).startswith("error: ShapeError: input 'x' has shape")


def test_an_unreadable_input_is_a_corrupt_file_error(tmp_path: Path) -> None:
    (tmp_path / "x.npy").write_bytes(b"not an array")
    assert red_line(["--input", str(tmp_path / "x.npy")]).startswith("error: CorruptFileError: cannot read input")


def test_a_plan_for_another_graph_is_a_plan_error(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    invoke("--save-plan", str(path))
    line = red_line(["squeezenet", "--plan", str(path)])
    assert line.startswith("error: PlanError: plan was made for graph 'default'")
