"""`leanconv inspect` on a zoo model and on an .lcz container."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import leanconv
from leanconv.cli import main


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich folds long names in narrow terminals


def test_inspect_zoo_model_lists_layers_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "squeezenet"]) == 0
    out = capsys.readouterr().out
    assert "squeezenet" in out and "total" in out and "1,235,496" in out  # SqueezeNet 1.0's parameters


def test_inspect_container_lists_tensors_and_codecs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    weights = {"conv.weight": rng.standard_normal((8, 4, 3, 3)).astype(np.float32),
               "conv.bias": rng.standard_normal(8).astype(np.float32)}
    path = tmp_path / "m.lcz"
    leanconv.save(path, leanconv.compress(weights, sparsity=0.5, bits=4))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "conv.weight" in out and "8x4x3x3" in out and "conv.bias" in out and "2 tensors" in out


def test_a_usage_error_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err
