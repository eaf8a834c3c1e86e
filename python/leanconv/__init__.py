"""leanconv: make trained CNNs small and fast on small devices."""

from __future__ import annotations

from leanconv import _native
from leanconv.compress import load, save  # leanconv.compress itself is callable: compress()
from leanconv.errors import (
    CorruptFileError,
    LeanconvError,
    MissingPackageError,
    ModelNotFoundError,
    PlanError,
    ShapeError,
    TraceError,
    UnsupportedOpError,
)
from leanconv.graph import Graph, Layer
from leanconv.io import load_model

__version__ = _native.__version__

__all__ = [
    "CorruptFileError",
    "Graph",
    "Layer",
    "LeanconvError",
    "MissingPackageError",
    "ModelNotFoundError",
    "PlanError",
    "ShapeError",
    "TraceError",
    "UnsupportedOpError",
    "__version__",
    "compress",
    "load",
    "load_model",
    "save",
]
