"""Atomic file output: every file leanconv writes (``.lcz`` containers, decoded state dicts as
``.pth``, ``.safetensors`` or ``.npz``) goes through :func:`atomic_write`.

The data goes to a temporary file beside the target, is flushed to disk, and is renamed over the
target, so a crash, a full disk or an exception half way never leaves a partial file under the
real name. The temporary file is created with mode 0666 and the process umask applied by the
kernel, as ``open()`` does for any tool's output (0644 under umask 022, 0640 under 027), rather
than ``tempfile.mkstemp``'s private 0600.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _create_temp(path: Path) -> tuple[int, Path]:
    """An exclusive new file ``.NAME.RANDOM.tmp`` beside ``path``, mode 0666 less the umask."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, _CREATE, 0o666), tmp
        except FileExistsError:  # another writer drew the same name: draw again
            continue


def _fsync_dir(folder: Path) -> None:
    """Makes a rename in ``folder`` durable (where the platform can open folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """``with atomic_write(p) as f: f.write(...)``: ``p`` holds all of it or is left untouched.

    Missing parent folders are created. On an exception inside the block the temporary file is
    removed and the exception propagates.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(target.parent)
