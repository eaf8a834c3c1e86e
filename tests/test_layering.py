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


#: Optional packages (pyproject.toml's extras) and what pulls them in.
OPTIONAL = ("torch", "torchvision", "onnx", "onnxruntime", "highspy", "torch_pruning", "matplotlib", "scipy")


def test_the_wheel_runs_with_numpy_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With every optional package unimportable (as on a board that installed the wheel without
    extras): the codecs, a primitive, the runtime on the default model, emit and
    `leanconv profile` work, and a feature that needs an extra names the pip command."""
    run_python(f"""
import sys
for name in {OPTIONAL!r}:
    sys.modules[name] = None  # import name -> ImportError, find_spec(name) -> None

import numpy as np
import leanconv
from leanconv import primitives as P
from leanconv.cli import main
from leanconv.compress import decode_codes, encode_codes
from leanconv.emit import emit
from leanconv.errors import MissingPackageError
from leanconv.io import load_model
from leanconv.profile.profiler import conv_float64
from leanconv.runtime import compile

rng = np.random.default_rng(0)
w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
cm = leanconv.compress({{"conv.weight": w}}, sparsity=0.5, bits=4)
leanconv.save(r"{tmp_path}/w.lcz", cm)
assert leanconv.load(r"{tmp_path}/w.lcz")["conv.weight"].shape == w.shape
codes = rng.integers(-8, 8, (16, 8, 3, 3)).astype(np.int8)
used, data = encode_codes(codes)
assert (decode_codes(data, codes.shape, used) == codes).all()

x = rng.standard_normal((1, 4, 9, 9)).astype(np.float32)
y = P.get("direct_chw").run(x, w, padding=1)
attrs = {{"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}}
assert np.abs(y - conv_float64(x, w, attrs)).max() < 1e-4

graph = load_model(None)
assert compile(graph).run(np.zeros((1, 1, 28, 28), np.float32)).shape == (1, 10)
emit(graph, r"{tmp_path}/out")

# One conv layer as a graph file keeps the profile short.
from leanconv.graph import Graph, Layer
from leanconv.io.graph_file import save_graph
g = Graph("one", {{"x": (1, 4, 9, 9)}}, [Layer("c", "conv", ["x"], attrs, {{"weight": w}}), Layer("r", "relu", ["c"])], ["r"])
save_graph(g, r"{tmp_path}/one.npz")
assert main(["profile", r"{tmp_path}/one.npz", "--costs", r"{tmp_path}/costs.jsonl"]) == 0
import contextlib, io
err = io.StringIO()
with contextlib.redirect_stderr(err):
    assert main(["select", r"{tmp_path}/one.npz", "--costs", r"{tmp_path}/costs.jsonl", "-o", r"{tmp_path}/p.json"]) == 1
assert "MissingPackageError" in err.getvalue() and "pip install 'leanconv[select]'" in err.getvalue(), err.getvalue()

open(r"{tmp_path}/m.onnx", "wb").write(b"\\x08\\x07")
for what, call in [("leanconv\\[onnx\\]", lambda: load_model(r"{tmp_path}/m.onnx")),
                   ("leanconv\\[select\\]", lambda: __import__("leanconv.select.ilp")),
                   ("leanconv\\[torch\\]", lambda: __import__("leanconv.io.zoo", fromlist=["module"]).module("default"))]:
    try:
        call()
    except MissingPackageError as e:
        import re
        assert re.search(what, str(e)), e
    else:
        raise AssertionError(what)
loaded = [n for n in {OPTIONAL!r} if sys.modules.get(n) is not None]
assert not loaded, loaded
""")
