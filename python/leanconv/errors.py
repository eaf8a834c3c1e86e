"""The exception classes of leanconv, defined once.

Every error leanconv raises on bad input is a :class:`LeanconvError` (a ``ValueError``), so
callers can catch one class; the subclasses say what was wrong. The Rust binding raises these
same classes (rust/py/src/errors.rs looks them up here by name).
"""

from __future__ import annotations


class LeanconvError(ValueError):
    """Base class of every error leanconv raises on bad input."""


class ModelNotFoundError(LeanconvError):
    """A model path that does not exist, or a zoo name that is not known."""


class MissingPackageError(LeanconvError):
    """An optional package that a requested model or feature needs is not installed."""


class CorruptFileError(LeanconvError):
    """A file that is truncated, fails its checksum, or is not of the format it claims."""


class ShapeError(LeanconvError):
    """Array shapes that do not fit an operation."""


class UnsupportedOpError(LeanconvError):
    """A model operation or attribute that leanconv cannot represent."""


class PlanError(LeanconvError):
    """A runtime plan that does not fit its graph: wrong format, version or graph digest, an
    unknown tensor, layer or kernel, or an arena placement where live tensors overlap."""


class InfeasibleBudgetError(LeanconvError):
    """A selection budget (memory, packed weights, error) that no kernel choice meets; it
    names the smallest budget that one does (``budget``: which one, ``smallest``: its value)."""

    def __init__(self, message: str, budget: str, smallest: float) -> None:
        super().__init__(message)
        self.budget = budget
        self.smallest = smallest


class TraceError(LeanconvError):
    """A torch module that cannot be traced into a graph (dynamic control flow, ...)."""


def require(module: str, extra: str, what: str) -> None:
    """A MissingPackageError naming ``pip install 'leanconv[extra]'`` when ``module`` is not
    installed: the optional packages (pyproject.toml's extras: torch, onnx, highspy) are checked
    where a feature first needs them, so a wheel installed with numpy alone says what to add."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingPackageError(f"{what} needs the package {module!r}: pip install 'leanconv[{extra}]'")


__all__ = [
    "LeanconvError",
    "ModelNotFoundError",
    "MissingPackageError",
    "CorruptFileError",
    "ShapeError",
    "UnsupportedOpError",
    "PlanError",
    "InfeasibleBudgetError",
    "TraceError",
    "require",
]
