"""A Graph in one file that numpy alone reads back: ``save_graph(graph, path)``, ``load_graph(path)``.

The file is an ``.npz`` archive: ``__graph__`` holds the structure (format, version, name,
inputs, outputs and per layer its name, op, inputs and attrs) as a Python literal, read with
``ast.literal_eval`` so that tuples stay tuples and nothing is executed; ``<index>/<key>`` holds
each layer's weights as float32. It is how a graph imported on a host (with torch or onnx)
reaches a device that has neither: the shipped default model is one
(``leanconv/models/default.graph.npz``, written by ``scripts/train_default_model.py``).
"""

from __future__ import annotations

import ast
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from leanconv.atomic import atomic_write
from leanconv.errors import CorruptFileError, LeanconvError
from leanconv.graph import Graph, Layer

FORMAT = "leanconv-graph"
VERSION = 1
STRUCTURE = "__graph__"


def _literal(value: Any, where: str) -> Any:
    """``value`` with numpy scalars as Python numbers; a LeanconvError when its repr does not
    read back as itself (the file would not hold the graph)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, tuple):
        return tuple(_literal(v, where) for v in value)
    if isinstance(value, list):
        return [_literal(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _literal(v, where) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and np.isfinite(value):
        return value
    raise LeanconvError(f"{where}: the attr value {value!r} cannot be stored in a graph file")


def save_graph(graph: Graph, path: str | os.PathLike[str]) -> None:
    """Writes ``graph`` to ``path`` (an ``.npz`` archive), atomically."""
    structure = {
        "format": FORMAT,
        "version": VERSION,
        "name": graph.name,
        "inputs": [(name, tuple(shape)) for name, shape in graph.inputs.items()],
        "outputs": list(graph.outputs),
        "layers": [(layer.name, layer.op, list(layer.inputs), _literal(layer.attrs, f"layer {layer.name!r}"))
                   for layer in graph.layers],
    }
    arrays: dict[str, np.ndarray] = {STRUCTURE: np.array(repr(structure))}
    for i, layer in enumerate(graph.layers):
        for key, w in layer.weights.items():
            arrays[f"{i}/{key}"] = np.ascontiguousarray(w, dtype=np.float32)
    with atomic_write(path) as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]


def is_graph_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an ``.npz`` archive holding a graph structure."""
    try:
        with zipfile.ZipFile(path) as z:
            return f"{STRUCTURE}.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def load_graph(path: str | os.PathLike[str], input_shape: tuple[int, ...] | None = None) -> Graph:
    """Reads a graph written by :func:`save_graph`. ``input_shape`` replaces the shape of its
    one input (another batch size, say); every layer's shape is inferred again."""
    where = Path(path)
    try:
        with np.load(where, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        structure = ast.literal_eval(str(arrays.pop(STRUCTURE)))
        if not isinstance(structure, dict) or structure.get("format") != FORMAT:
            raise CorruptFileError(f"{where}: not a leanconv graph file")
        if structure.get("version") != VERSION:
            raise CorruptFileError(f"{where}: graph file version {structure.get('version')!r}, "
                                   f"this leanconv reads version {VERSION}")
        layers = []
        for i, (name, op, inputs, attrs) in enumerate(structure["layers"]):
            prefix = f"{i}/"
            weights = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            layers.append(Layer(name, op, list(inputs), dict(attrs), weights))
        inputs = {name: tuple(shape) for name, shape in structure["inputs"]}
        outputs = list(structure["outputs"])
        name = str(structure["name"])
    except LeanconvError:
        raise
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, zipfile.BadZipFile) as e:
        raise CorruptFileError(f"{where}: not a readable leanconv graph file ({type(e).__name__}: {e})") from e
    if input_shape is not None:
        if len(inputs) != 1:
            raise LeanconvError(f"{where}: an input shape fits a graph with one input; this one has {len(inputs)}")
        inputs = {next(iter(inputs)): tuple(int(d) for d in input_shape)}
    return Graph(name, inputs, layers, outputs)


__all__ = ["is_graph_file", "load_graph", "save_graph"]
