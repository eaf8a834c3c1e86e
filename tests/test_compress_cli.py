"""`leanconv compress` / `leanconv decompress` end to end on small files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import leanconv
from leanconv.cli import app, main


@pytest.fixture(autouse=True)
def no_width_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output goes to a pipe (capsys, CliRunner): nothing may tell rich a width."""
    monkeypatch.delenv("COLUMNS", raising=False)


def test_compress_then_decompress_a_pth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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


def long_named_net(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    net = torch.nn.Sequential()
    net.add_module("feature_extractor_first_block", torch.nn.Conv2d(3, 16, 3))
    net.add_module("feature_extractor_second_block", torch.nn.Conv2d(16, 32, 3))
    src = tmp_path / "net.pth"
    torch.save(net.state_dict(), src)
    return src, net.state_dict()


def table_rows(text: str) -> dict[str, list[str]]:
    rows = [[c.strip() for c in line.strip().strip("│").split("│")] for line in text.splitlines()
            if line.startswith("│")]
    return {r[0]: r for r in rows}


def test_piped_compress_table_has_every_cell_whole(tmp_path: Path) -> None:
    src, sd = long_named_net(tmp_path)
    out = tmp_path / "net.lcz"
    result = CliRunner().invoke(app, ["compress", str(src), "-s", "0.5", "-b", "4", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    rows = table_rows(result.stdout)
    for name in ("feature_extractor_first_block.weight", "feature_extractor_second_block.weight"):
        row = rows[name]
        assert row[1] == "x".join(map(str, sd[name].shape)) and row[2] == "quantized"
        assert row[3] in leanconv.compress.codec_names()
    stored = {r["name"]: r["bytes"] for r in leanconv.compress.describe_container(out)}
    for name in ("feature_extractor_first_block.weight", "feature_extractor_second_block.weight"):
        assert rows[name][8] == f"{stored[name]:,}"
    assert f"wrote {out}: {out.stat().st_size:,} bytes" in result.stdout


def test_compress_json_has_the_rows_and_totals(tmp_path: Path) -> None:
    src, sd = long_named_net(tmp_path)
    out = tmp_path / "net.lcz"
    result = CliRunner().invoke(app, ["compress", str(src), "-s", "0.5", "-b", "4", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["output"] == str(out) and data["file_bytes"] == out.stat().st_size
    assert data["original_bytes"] == sum(v.numel() * 4 for v in sd.values())
    rows = {r["name"]: r for r in data["tensors"]}
    assert set(rows) == {"feature_extractor_first_block.weight", "feature_extractor_second_block.weight"}
    stored = {r["name"]: r for r in leanconv.compress.describe_container(out)}
    for name, r in rows.items():
        assert r["shape"] == list(sd[name].shape) and r["weights"] == sd[name].numel()
        assert r["bytes"] == stored[name]["bytes"] and r["codec"] == stored[name]["codec"]
        assert r["bits_per_weight"] == pytest.approx(8 * r["bytes"] / r["weights"])
        assert r["vs_dense"] == pytest.approx(r["weights"] * 4 / 8 / r["bytes"])
        assert r["vs_zstd19"] == pytest.approx(r["zstd19_bytes"] / r["bytes"])
    t = data["totals"]
    assert t["tensors"] == 2 and t["bytes"] == sum(r["bytes"] for r in rows.values())
    assert t["weights"] == sum(r["weights"] for r in rows.values())
    assert t["bits_per_weight"] == pytest.approx(8 * t["bytes"] / t["weights"])
    no_zstd = CliRunner().invoke(app, ["compress", str(src), "-b", "4", "-o", str(out), "--json", "--no-zstd"])
    data = json.loads(no_zstd.stdout)
    assert data["totals"]["vs_zstd19"] is None and all(r["vs_zstd19"] is None for r in data["tensors"])


def test_errors_with_json_leave_stdout_empty(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compress", str(tmp_path / "missing.pth"), "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "ModelNotFoundError" in result.stderr
    assert CliRunner().invoke(app, ["compress", "--json"]).exit_code == 2  # MODEL is missing
