"""Import layering, checked in fresh interpreters: the Graph IR and the op table import neither the
runtime nor torch, and a Graph is built (shapes, statistics) with numpy alone."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str) -> None:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_graph_does_not_import_the_runtime() -> None:
    run_python("import sys, leanconv.graph; assert 'leanconv.runtime' not in sys.modules")


def test_graph_ops_and_reference_module_do_not_import_torch() -> None:
    run_python(
        "import sys, leanconv, leanconv.graph, leanconv.ops, leanconv.runtime.reference\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )


def test_a_graph_is_built_with_numpy_alone() -> None:
    run_python("""
import sys
import numpy as np
from leanconv.graph import Graph, Layer

conv = {"stride": (2, 2), "padding": (1, 0, 1, 1), "dilation": (1, 1), "groups": 1}
pool = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": True}
g = Graph("g", {"x": (2, 3, 9, 9)}, [
    Layer("c", "conv", ["x"], conv, {"weight": np.ones((4, 3, 3, 3), np.float32)}),
    Layer("r", "relu", ["c"]),
    Layer("p", "maxpool", ["r"], pool),
    Layer("m", "mean", ["p"], {"axes": (2, 3), "keepdims": False}),
    Layer("s", "slice", ["m"], {"axis": 1, "start": 1, "end": 3}),
    Layer("fc", "linear", ["s"], {}, {"weight": np.ones((5, 2), np.float32)}),
], ["fc"])
assert [layer.shape for layer in g] == [(2, 4, 5, 4), (2, 4, 5, 4), (2, 4, 3, 2), (2, 4), (2, 2), (2, 5)], g.layers
assert g.stats()[0].macs == 2 * 4 * 5 * 4 * 3 * 9
assert 'torch' not in sys.modules, 'torch imported'
assert 'leanconv.runtime' not in sys.modules, 'runtime imported'
""")
