"""GraphBuilder: what every importer shares: unique tensor names and shapes known as soon as a
layer is added. Importers keep their own map from framework tensor names to these names."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from leanconv.graph import Graph, Layer
from leanconv.ops import output_shape


class GraphBuilder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.inputs: dict[str, tuple[int, ...]] = {}
        self.layers: list[Layer] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._used: set[str] = set()

    def unique(self, hint: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.]+", "_", hint).strip("_") or "t"
        name, k = base, 1
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def add_input(self, hint: str, shape: tuple[int, ...]) -> str:
        name = self.unique(hint)
        self.inputs[name] = tuple(int(d) for d in shape)
        self.shapes[name] = self.inputs[name]
        return name

    def add(
        self,
        op: str,
        inputs: list[str],
        hint: str,
        attrs: dict[str, Any] | None = None,
        weights: dict[str, np.ndarray] | None = None,
    ) -> str:
        """Adds a layer reading `inputs` and returns its output tensor name."""
        ins = list(inputs)
        # Own, writable float32 copies: framework arrays may be read-only views of a file.
        ws = {k: np.array(v, dtype=np.float32) for k, v in (weights or {}).items()}
        layer = Layer(self.unique(hint), op, ins, dict(attrs or {}), ws)
        layer.shape = output_shape(layer, [self.shapes[t] for t in ins])
        self.layers.append(layer)
        self.shapes[layer.name] = layer.shape
        return layer.name

    def build(self, outputs: list[str]) -> Graph:
        return Graph(self.name, self.inputs, self.layers, list(outputs))
