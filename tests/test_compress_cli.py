"""`leanconv compress` / `leanconv decompress` end to end on small files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import leanconv
from leanconv.cli import main


def test_compress_then_decompress_a_pth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU(), torch.nn.Conv2d(16, 8, 3))
    src = tmp_path / "net.pth"
    torch.save(net.state_dict(), src)
    out = tmp_path / "net.lcz"
    assert main(["compress", str(src), "-s", "0.75", "-b", "4", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "0.weight" in text and "vs zstd-19" in text and "wrote" in text
    back = leanconv.load(out)
    w = net.state_dict()["0.weight"].numpy()
    assert back["0.weight"].shape == w.shape
    assert np.count_nonzero(back["0.weight"]) <= w.size // 4
    np.testing.assert_array_equal(back["0.bias"], net.state_dict()["0.bias"].numpy())
    dec = tmp_path / "net_back.pth"
    assert main(["decompress", str(out), "-o", str(dec)]) == 0
    sd = torch.load(dec, weights_only=True)
    net.load_state_dict(sd)
    assert main(["compress", str(out), "-b", "8", "-o", str(tmp_path / "again.lcz"), "--no-zstd"]) == 0


def test_errors_are_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compress", str(tmp_path / "missing.pth")]) == 1
    assert "ModelNotFoundError" in capsys.readouterr().err
    bad = tmp_path / "bad.lcz"
    bad.write_bytes(b"not a container at all")
    assert main(["decompress", str(bad)]) == 1
    assert "CorruptFileError" in capsys.readouterr().err
    src = tmp_path / "x.pth"
    torch.save({"w": torch.randn(4, 4)}, src)
    assert main(["compress", str(src), "-b", "9", "-o", str(tmp_path / "x.lcz")]) == 1
    assert main(["compress", str(src), "-c", "nope", "-o", str(tmp_path / "x.lcz")]) == 1
