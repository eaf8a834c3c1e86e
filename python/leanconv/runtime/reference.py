"""The reference executor: runs a Graph layer by layer with each op's reference function
(:mod:`leanconv.ops`, torch functional ops).

It proves importers right (an imported graph must reproduce its framework's output) and is the
float64 reference that leanconv's own kernels are checked against. torch is imported when a
graph is run, not when this module is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from leanconv.errors import LeanconvError, ShapeError, require
from leanconv.ops import OPS

if TYPE_CHECKING:
    import torch

    from leanconv.graph import Graph, Layer

#: The dtypes a graph runs in: float32, or float64 for a reference.
DTYPES = ("float32", "float64")


def execute(graph: Graph, feeds: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every tensor of the graph (inputs and layer outputs, by name) computed from ``feeds``,
    torch tensors by input name; weights take the dtype and device of the first feed (a
    ``meta`` feed computes shapes alone)."""
    import torch

    first = next(iter(feeds.values()))
    values = dict(feeds)
    for layer in graph.layers:

        def weight(key: str, layer: Layer = layer) -> torch.Tensor:
            return torch.as_tensor(layer.weights[key]).to(device=first.device, dtype=first.dtype)

        xs = [values[t] for t in layer.inputs]
        try:
            values[layer.name] = OPS[layer.op].reference(layer, xs, weight)
        except (RuntimeError, ValueError, IndexError) as e:
            shapes = [tuple(x.shape) for x in xs]
            raise ShapeError(f"layer {layer.name!r} ({layer.op}) cannot run on inputs of shape {shapes}: {e}") from e
    return values


def meta_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    """The output shape of every layer as the reference functions compute it, on torch
    ``meta`` tensors (no data): the check of the op table's shape functions."""
    import torch

    feeds = {name: torch.empty(shape, device="meta") for name, shape in graph.inputs.items()}
    values = execute(graph, feeds)
    return {layer.name: tuple(values[layer.name].shape) for layer in graph.layers}


def run(graph: Graph, inputs: Any, dtype: type = np.float32) -> list[npt.NDArray[Any]]:
    """Runs the graph; returns its outputs in order as numpy arrays of ``dtype`` (float32, or
    float64 for a reference).

    ``inputs`` is one array (for a graph with one input) or a dict by input name; arrays are
    numpy arrays or CPU torch tensors."""
    require("torch", "torch", "the reference executor")
    import torch

    if np.dtype(dtype).name not in DTYPES:
        raise LeanconvError(f"dtype must be one of {', '.join(DTYPES)}, got {np.dtype(dtype).name}")
    torch_dtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    feeds = {name: torch.from_numpy(np.ascontiguousarray(a)).to(torch_dtype)
             for name, a in graph.bind_inputs(inputs).items()}
    with torch.no_grad():
        values = execute(graph, feeds)
    return [values[t].numpy() for t in graph.outputs]
