"""Graph files (numpy alone reads them): the shipped default model's is the torch import of its
weights, any graph round-trips exactly, and a bad file is a CorruptFileError."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from leanconv.errors import CorruptFileError, LeanconvError
from leanconv.graph import Graph, Layer
from leanconv.io import load_model, zoo
from leanconv.io.graph_file import is_graph_file, load_graph, save_graph
from leanconv.io.torch_import import import_torch
from leanconv.runtime.plan import graph_digest
from leanconv.runtime.reference import run


def assert_same_graph(a: Graph, b: Graph) -> None:
    assert (a.name, a.inputs, a.outputs) == (b.name, b.inputs, b.outputs)
    assert graph_digest(a) == graph_digest(b)
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        assert (la.name, la.op, la.inputs, la.shape) == (lb.name, lb.op, lb.inputs, lb.shape)
        # Types too: a tuple attr must not come back as a list.
        assert repr(la.attrs) == repr(lb.attrs), la.name
        assert la.weights.keys() == lb.weights.keys(), la.name
        for k in la.weights:
            assert la.weights[k].dtype == lb.weights[k].dtype == np.float32
            np.testing.assert_array_equal(la.weights[k], lb.weights[k], err_msg=f"{la.name}.{k}")


def test_the_shipped_default_graph_is_the_torch_import_of_the_default_weights() -> None:
    model = zoo.MODELS[zoo.DEFAULT]
    imported = import_torch(zoo.module(zoo.DEFAULT), torch.zeros(model.input_shape), name=zoo.DEFAULT)
    assert_same_graph(load_model(None), imported)


def test_default_reference_is_the_reference_executors() -> None:
    """tests/data/default_reference.npz, the fixture test_device.py (numpy alone, also under
    qemu-aarch64) holds the runtime to, is the torch reference executor's float64 output."""
    from test_device import DEFAULT_REFERENCE, default_input

    with np.load(DEFAULT_REFERENCE) as ref:
        logits = ref["logits"]
    np.testing.assert_allclose(run(load_model(None), default_input(), dtype=np.float64)[0], logits, rtol=1e-12)


def test_a_graph_round_trips_with_every_kind_of_attr(tmp_path: Path) -> None:
    conv = {"stride": (2, 2), "padding": (1, 0, 1, 1), "dilation": (1, 1), "groups": 1}
    pool = {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": True}
    rng = np.random.default_rng(0)
    g = Graph("odd name/é", {"x": (2, 3, 9, 9)}, [
        Layer("c", "conv", ["x"], conv, {"weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
                                          "bias": rng.standard_normal(4).astype(np.float32)}),
        Layer("r", "clip", ["c"], {"min": np.float32(-0.5), "max": 6.0}),
        Layer("p", "maxpool", ["r"], pool),
        Layer("m", "mean", ["p"], {"axes": (2, 3), "keepdims": False}),
        Layer("fc", "linear", ["m"], {}, {"weight": rng.standard_normal((5, 4)).astype(np.float32)}),
    ], ["fc"])
    path = tmp_path / "g.npz"
    save_graph(g, path)
    assert is_graph_file(path)
    back = load_graph(path)
    assert back.layers[1].attrs == {"min": -0.5, "max": 6.0} and type(back.layers[1].attrs["min"]) is float
    g.layers[1].attrs["min"] = -0.5  # numpy scalars are stored as Python numbers
    assert_same_graph(g, back)
    assert_same_graph(g, load_model(path))
    # Another batch size: every shape inferred again.
    assert load_graph(path, (5, 3, 9, 9)).layers[-1].shape == (5, 5)
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_attr_that_a_file_cannot_hold_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    g = Graph("g", {"x": (1, 4)}, [Layer("r", "clip", ["x"], {"min": 0.0, "max": float("inf")})], ["r"])
    with pytest.raises(LeanconvError, match="layer 'r'.*inf"):
        save_graph(g, tmp_path / "g.npz")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("what", ["truncated", "no structure", "bad structure", "other format"])
def test_a_bad_graph_file_is_a_corrupt_file_error(tmp_path: Path, what: str) -> None:
    good = tmp_path / "good.npz"
    save_graph(load_model(None), good)
    bad = tmp_path / "bad.npz"
    if what == "truncated":
        bad.write_bytes(good.read_bytes()[:1000])
    else:
        structure = {"no structure": None, "bad structure": "{'format': 'leanconv-graph', 'version': 1, 'layers': [(",
                     "other format": "{'format': 'something', 'version': 1}"}[what]
        arrays = {"w": np.zeros(3, np.float32)} if structure is None else {"__graph__": np.array(structure)}
        np.savez(bad, **arrays)
    with pytest.raises(CorruptFileError, match="bad.npz"):
        load_graph(bad)
    if what == "no structure":
        assert not is_graph_file(bad)
    assert zipfile.is_zipfile(good)
