"""Every file leanconv writes gets the mode the user's umask gives new files and is written
atomically: the CLI's compress/decompress outputs and leanconv.save."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch

import leanconv
from leanconv.atomic import atomic_write
from leanconv.cli import main
from leanconv.io.weights import write_weights

WEIGHTS: dict[str, npt.NDArray[Any]] = {"conv.weight": np.arange(8 * 4 * 9, dtype=np.float32).reshape(8, 4, 3, 3) / 100,
           "conv.bias": np.linspace(-1, 1, 8, dtype=np.float32)}


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def only_file(folder: Path) -> Path:
    """The one file in ``folder``: no temporary file is left beside an output."""
    files = list(folder.iterdir())
    assert len(files) == 1, files
    return files[0]


def test_cli_compress_output_gets_the_umask_mode(tmp_path: Path, umask: int) -> None:
    src = tmp_path / "net.pth"
    torch.save({k: torch.from_numpy(v) for k, v in WEIGHTS.items()}, src)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "net.lcz"
    assert main(["compress", str(src), "-b", "4", "--no-zstd", "-o", str(out)]) == 0
    assert only_file(tmp_path / "out") == out
    assert mode(out) == 0o666 & ~umask


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".npz"])
def test_cli_decompress_output_gets_the_umask_mode(tmp_path: Path, umask: int, suffix: str) -> None:
    src = tmp_path / "net.lcz"
    leanconv.save(src, WEIGHTS)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / f"net{suffix}"
    assert main(["decompress", str(src), "-o", str(out)]) == 0
    assert only_file(tmp_path / "out") == out
    assert mode(out) == 0o666 & ~umask
    from leanconv.io.weights import read_weights

    back = read_weights(out)
    for k, v in WEIGHTS.items():
        np.testing.assert_array_equal(back[k], v)


def test_save_gets_the_umask_mode(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "m.lcz"
    leanconv.save(out, leanconv.compress(WEIGHTS, sparsity=0.5, bits=4))
    assert only_file(tmp_path) == out
    assert mode(out) == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "w.bin"
    out.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(out) as f:
            f.write(b"half of the new ")
            raise RuntimeError("disk full")
    assert out.read_bytes() == b"old contents"
    assert only_file(tmp_path) == out


def test_a_failing_writer_leaves_no_partial_state_dict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def save_half(obj: object, f: Any) -> None:
        half = b"PK\x03\x04 half a zip"
        f.write(half) if hasattr(f, "write") else Path(f).write_bytes(half)
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", save_half)
    out = tmp_path / "sd.pth"
    with pytest.raises(OSError, match="No space left"):
        write_weights(out, WEIGHTS)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_creates_missing_folders_and_replaces(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "c.bin"
    for data in (b"first", b"second"):
        with atomic_write(out) as f:
            f.write(data)
        assert out.read_bytes() == data
    assert only_file(out.parent) == out
