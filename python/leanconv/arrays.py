"""Argument normalisation shared by the whole public API: arrays and integer pairs.

Every entry point that takes tensor data accepts numpy arrays and torch tensors through
:func:`to_numpy`, and every ``int or (h, w)`` argument goes through :func:`as_pair`, so the
rules (and their error messages) are the same everywhere. torch is never imported here: a
tensor is recognised by its type's module, so numpy-only installs work.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from leanconv.errors import LeanconvError

__all__ = ["as_c_float32", "as_pair", "is_torch_tensor", "to_numpy"]


def is_torch_tensor(x: object) -> bool:
    """Whether ``x`` is a torch tensor (or parameter), without importing torch."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "numpy")


def to_numpy(x: object, what: str = "array", *, from_device: bool = False) -> npt.NDArray[Any]:
    """A numpy array of a numpy array, a torch tensor or an array-like.

    A CPU torch tensor becomes a view of its memory (no copy; detached from autograd).
    A tensor on another device is refused unless ``from_device`` (then it is copied to the
    CPU), because a silent device copy on a hot path would hide where the time goes.
    bfloat16 is widened to float32, which numpy cannot represent otherwise."""
    if is_torch_tensor(x):
        t = x.detach()  # type: ignore[attr-defined]
        if t.device.type != "cpu":
            if not from_device:
                raise LeanconvError(f"{what} must be a CPU tensor, got device {t.device}")
            t = t.cpu()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return t.numpy()  # type: ignore[no-any-return]
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as e:
        raise LeanconvError(f"{what} must be a numpy array or a torch tensor, got {type(x).__name__}") from e


def as_c_float32(x: object, what: str) -> npt.NDArray[np.float32]:
    """A float32, C-contiguous numpy view of a numpy array or CPU torch tensor, never a copy:
    kernels read the caller's memory, and a wrong dtype or order is the caller's to fix."""
    if not (isinstance(x, np.ndarray) or is_torch_tensor(x)):
        raise LeanconvError(f"{what} must be a numpy array or a CPU torch tensor, got {type(x).__name__}")
    a = to_numpy(x, what)
    if a.dtype != np.float32:
        raise LeanconvError(f"{what} must be float32, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise LeanconvError(
            f"{what} must be C-contiguous (np.ascontiguousarray, or .contiguous() on a tensor; "
            "for NHWC pass t.permute(0, 2, 3, 1) of a channels_last tensor)"
        )
    return a  # type: ignore[return-value]


def as_pair(v: object, what: str, minimum: int = 0) -> tuple[int, int]:
    """``v`` as ``(h, w)``: an int means both; a pair of ints is taken as it is. Each must be at
    least ``minimum``. Accepts numpy integers; refuses bools and floats."""

    def is_int(e: object) -> bool:
        return isinstance(e, (int, np.integer)) and not isinstance(e, bool)

    if is_int(v):
        pair = (int(v), int(v))  # type: ignore[call-overload]
    elif isinstance(v, (tuple, list)) and len(v) == 2 and all(is_int(e) for e in v):
        pair = (int(v[0]), int(v[1]))
    else:
        raise LeanconvError(f"{what} must be an int or a pair of ints, got {v!r}")
    if min(pair) < minimum:
        raise LeanconvError(f"{what} must be >= {minimum}, got {v!r}")
    return pair
