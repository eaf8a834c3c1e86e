"""`leanconv prune` end to end on the default model: JSON plan, PNG curves, the pruned module
saved, the latency cache filled; a refused plan ends in one error line and exit code 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from leanconv.cli import main
from leanconv.prune import api
from leanconv.prune.errors import PlanRefusedError


@pytest.fixture(autouse=True)
def no_width_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)


def test_prune_default_model_writes_plan_plots_and_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache, out = tmp_path / "latency.jsonl", tmp_path / "pruned.pt"
    args = ["prune", "default", "-b", "torch", "--target-macs", "0.6x", "--cache", str(cache), "--plots",
            str(tmp_path / "plots"), "-o", str(out), "--no-verify", "--min-channels", "4"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    groups = {g["group"]: g for g in report["plan"]["groups"]}
    assert set(groups) == {"stem.0", "down.0", "res_a.0", "expand.0", "pw.0"}
    assert report["plan"]["macs"] < report["plan"]["unpruned_macs"]
    assert all(Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in report["plots"])
    pruned = torch.load(out, weights_only=False)
    assert pruned.stem[0].out_channels == groups["stem.0"]["count"] >= 4
    assert pruned(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    lines = cache.read_text().splitlines()
    assert lines and all(json.loads(line)["backend"] == "torch" for line in lines)
    assert main(args) == 0  # the table, from the cache this time
    text = capsys.readouterr().out
    assert "res_a.0" in text and "fast ends" in text and "wrote" in text
    assert cache.read_text().splitlines()[:len(lines)] == lines


def test_a_refused_plan_exits_1_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PlanRefusedError("plan refused: slower; layers responsible: stem.0", {"responsible": ["stem.0"]})

    monkeypatch.setattr(api, "verify", refuse)
    out = tmp_path / "pruned.pt"
    code = main(["prune", "default", "-b", "torch", "--cache", str(tmp_path / "c.jsonl"), "-o", str(out), "-t", "0.9x"])
    assert code == 1
    assert "PlanRefusedError: plan refused: slower; layers responsible: stem.0" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_model_and_bad_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "c.jsonl"
    assert main(["prune", "no-such-net", "--cache", str(cache)]) == 1
    assert "ModelNotFoundError" in capsys.readouterr().err
    assert main(["prune", "default", "-t", "fast", "--cache", str(cache)]) == 1
    assert "target 'fast'" in capsys.readouterr().err
    assert not cache.exists()


FINE_TUNE_SCRIPT = '''
import torch

gen = torch.Generator().manual_seed(0)
data = [(torch.rand(16, 1, 28, 28, generator=gen), torch.randint(0, 10, (16,), generator=gen))] * 4


def loader():
    return data


def evaluate(model):
    with torch.no_grad():
        return -float(torch.nn.functional.cross_entropy(model.train()(data[0][0]), data[0][1]))
'''


def test_fine_tune_script_tunes_the_pruned_model_before_it_is_saved(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    script, out = tmp_path / "tune.py", tmp_path / "pruned.pt"
    script.write_text(FINE_TUNE_SCRIPT)
    args = ["prune", "default", "-b", "torch", "--target-macs", "0.6x", "--cache", str(tmp_path / "c.jsonl"),
            "--no-verify", "--fine-tune", str(script), "--epochs", "3", "--lr", "1e-2", "-o", str(out), "--json"]
    assert main(args) == 0
    tuned = json.loads(capsys.readouterr().out)["fine_tune"]
    assert tuned["epochs"] == 3 and tuned["score_after"] > tuned["score_before"]
    assert not torch.load(out, weights_only=False).training


@pytest.mark.parametrize("text, message", [
    ("x = 1\n", "defines no loader()"),
    ("loader = 3\n", "loader is not a function"),
    ("raise RuntimeError('no data here')\n", "failed to load: RuntimeError: no data here"),
])
def test_a_broken_fine_tune_script_fails_before_anything_is_measured(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    script, cache = tmp_path / "tune.py", tmp_path / "c.jsonl"
    script.write_text(text)
    assert main(["prune", "default", "-b", "torch", "--cache", str(cache), "--fine-tune", str(script)]) == 1
    assert message in capsys.readouterr().err
    assert not cache.exists()
    assert main(["prune", "default", "--cache", str(cache), "--fine-tune", str(tmp_path / "none.py")]) == 1
    assert "does not exist" in capsys.readouterr().err
