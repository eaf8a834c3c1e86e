"""`leanconv inspect` on a zoo model and on an .lcz container: tables whole when piped, --json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import leanconv
from leanconv.cli import app, main
from leanconv.io import load_model


@pytest.fixture(autouse=True)
def no_width_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output goes to a pipe (capsys, CliRunner): nothing may tell rich a width."""
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture
def container(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    weights = {"features.block_with_a_long_name.conv.weight": rng.standard_normal((8, 4, 3, 3)).astype(np.float32),
               "features.block_with_a_long_name.conv.bias": rng.standard_normal(8).astype(np.float32)}
    path = tmp_path / "m.lcz"
    leanconv.save(path, leanconv.compress(weights, sparsity=0.5, bits=4))
    return path


def test_inspect_zoo_model_lists_layers_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "squeezenet"]) == 0
    out = capsys.readouterr().out
    assert "squeezenet" in out and "total" in out and "1,235,496" in out  # SqueezeNet 1.0's parameters


def test_piped_table_has_every_cell_whole() -> None:
    result = CliRunner().invoke(app, ["inspect"])
    assert result.exit_code == 0, result.stderr
    rows = [[c.strip() for c in line.strip().strip("│").split("│")]
            for line in result.stdout.splitlines() if line.startswith("│")]
    stats = load_model(None).stats()
    assert [r[:5] for r in rows[: len(stats)]] == [
        [str(i), s.name, s.kind, "x".join(map(str, s.out_shape)), f"{s.params:,}"] for i, s in enumerate(stats)]
    assert rows[-1][1] == "total" and rows[-1][4] == f"{load_model(None).params:,}"


def test_inspect_json_has_the_rows_and_totals() -> None:
    result = CliRunner().invoke(app, ["inspect", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    graph = load_model(None)
    stats = graph.stats()
    assert data["model"] == graph.name and data["inputs"] == {k: list(v) for k, v in graph.inputs.items()}
    assert [r["name"] for r in data["layers"]] == [s.name for s in stats]
    for r, s in zip(data["layers"], stats):
        assert (r["kind"], r["output_shape"], r["params"], r["macs"], r["out_bytes"]) == (
            s.kind, list(s.out_shape), s.params, s.macs, 4 * s.out_elems)
    assert data["totals"] == {"layers": len(stats), "params": graph.params, "macs": graph.macs,
                              "peak_out_bytes": 4 * max(s.out_elems for s in stats)}
    assert sum(r["params"] for r in data["layers"]) == graph.params


def test_inspect_container_lists_tensors_and_codecs(container: Path) -> None:
    result = CliRunner().invoke(app, ["inspect", str(container)])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for name in ("features.block_with_a_long_name.conv.weight", "features.block_with_a_long_name.conv.bias"):
        assert f" {name} " in out
    assert "8x4x3x3" in out and "2 tensors" in out


def test_inspect_container_json(container: Path) -> None:
    result = CliRunner().invoke(app, ["inspect", str(container), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    rows = {r["name"]: r for r in data["tensors"]}
    assert data["container"] == str(container)
    w = rows["features.block_with_a_long_name.conv.weight"]
    assert w["shape"] == [8, 4, 3, 3] and w["kind"] == "quantized" and w["bits"] == 4
    assert rows["features.block_with_a_long_name.conv.bias"]["shape"] == [8]
    assert data["totals"]["tensors"] == 2
    assert data["totals"]["payload_bytes"] == sum(r["bytes"] + r["side_bytes"] for r in data["tensors"])


def test_a_known_error_is_one_line_on_stderr_and_exit_1() -> None:
    for args in (["inspect", "no-such-model"], ["inspect", "no-such-model", "--json"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and "ModelNotFoundError" in result.stderr
        assert main(args) == 1


def test_a_usage_error_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err
    assert CliRunner().invoke(app, ["inspect", "--no-such-option"]).exit_code == 2
