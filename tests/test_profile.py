"""The profiler and its cost database: what is measured, reuse, --fresh, another machine's
database, and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leanconv import primitives as P
from leanconv.errors import CorruptFileError, LeanconvError
from leanconv.graph import Graph, Layer
from leanconv.profile import CostDB, profile
from leanconv.profile.profiler import conv_key, op_key, run_key, transform_key


def small_graph() -> Graph:
    rng = np.random.default_rng(0)
    conv = {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
    layers = [Layer("c1", "conv", ["x"], dict(conv), {"weight": rng.standard_normal((8, 3, 3, 3)).astype(np.float32)}),
              Layer("r1", "relu", ["c1"]),
              Layer("c2", "conv", ["r1"], dict(conv), {"weight": rng.standard_normal((8, 8, 3, 3)).astype(np.float32)}),
              Layer("sum", "add", ["c2", "r1"])]
    return Graph("small", {"x": (1, 3, 12, 12)}, layers, ["sum"])


def test_every_candidate_op_and_transform_is_measured_then_reused(tmp_path: Path) -> None:
    g, path = small_graph(), tmp_path / "costs.jsonl"
    db = CostDB(path)
    first = profile(g, db)
    for name in ("c1", "c2"):
        layer = g.layer(name)
        spec = P.spec_from_layer(g, layer)
        for p in P.list_primitives(spec):
            r = db.require(conv_key(g, layer, p.name, 1))
            assert r.seconds > 0 and r.samples >= 5 and r.packed == p.packed_bytes(spec) and r.error < 1e-4
            assert r.workspace >= p.workspace_bytes(spec)
    assert db.get(op_key(g, g.layer("sum"), 1)) is not None
    assert db.get(op_key(g, g.layer("r1"), 1)) is None  # fused into c1: not a step of its own
    for t in ("chw_to_hwc", "hwc_to_chw"):
        assert db.require(transform_key((1, 8, 12, 12), t)).seconds > 0
    assert db.require(run_key(1)).seconds > 0
    lines = len(path.read_text().splitlines())  # each record, then those timed again inside the network
    assert first < lines <= 2 * first
    again = CostDB(path)
    assert profile(g, again) == 0 and again.records == db.records
    assert profile(g, again, fresh=True) == first
    assert len(path.read_text().splitlines()) == 2 * lines


def test_a_database_from_another_machine_is_read_for_that_machine(tmp_path: Path) -> None:
    g, path = small_graph(), tmp_path / "board.jsonl"
    profile(g, CostDB(path))
    board = {"cpu": "ARM Cortex-A72", "features": ["asimd", "neon"], "cores": 4, "id": "0123456789abcdef"}
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**line, "device": board, "seconds": 2 * line["seconds"]}) + "\n"
                            for line in lines))
    db = CostDB(path)
    assert db.device == board and not db.is_here and len(db.records) == len({json.dumps(line["key"]) for line in lines})
    key = conv_key(g, g.layer("c1"), "direct_chw", 1)
    here = CostDB(None)
    assert here.get(key) is None and db.require(key).seconds == 2 * next(
        line["seconds"] for line in reversed(lines) if line["key"]["kernel"] == "direct_chw" and line["key"]["spec"] == key.spec)
    with pytest.raises(LeanconvError, match="another file"):
        profile(g, db, fresh=True)


@pytest.mark.parametrize("text, match", [("{not json\n", "not a cost record"),
                                          ('{"schema": 99, "key": {}}\n', "schema 99"),
                                          ('{"schema": 1, "key": {}}\n', "schema 1, this leanconv reads schema 2"),
                                          ('{"schema": 2, "key": {"kind": "conv"}}\n', "not a cost record")])
def test_a_bad_database_line_is_a_corrupt_file_error_naming_the_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n" + text)
    with pytest.raises(CorruptFileError, match=f"bad.jsonl:2: .*{match}"):
        CostDB(path)


def test_a_missing_measurement_names_what_to_profile(tmp_path: Path) -> None:
    g = small_graph()
    with pytest.raises(LeanconvError, match="no conv measurement of direct_chw .* profile the model first"):
        CostDB(tmp_path / "empty.jsonl").require(conv_key(g, g.layer("c1"), "direct_chw", 1))


def test_every_conv_candidate_is_timed_again_inside_the_network(tmp_path: Path) -> None:
    from leanconv.profile.profiler import network_plans, plan_keys

    g = small_graph()
    db = CostDB(tmp_path / "costs.jsonl")
    profile(g, db)
    in_network = {k for plan in network_plans(g, 1) for k in plan_keys(g, plan).values()}
    for name in ("c1", "c2"):
        layer = g.layer(name)
        for p in P.list_primitives(P.spec_from_layer(g, layer)):
            assert conv_key(g, layer, p.name, 1) in in_network
    lines = [json.loads(line) for line in (tmp_path / "costs.jsonl").read_text().splitlines()]
    keys = [json.dumps(line["key"], sort_keys=True) for line in lines]
    assert len(keys) > len(set(keys))  # the network's times follow the probes' and win
    assert all(db.require(k).seconds > 0 for k in in_network)


def test_ops_are_measured_in_each_layout_the_planner_may_run_them_in(tmp_path: Path) -> None:
    from leanconv.profile.profiler import hwc_probe_plan, _probe
    from leanconv.runtime import compile, reference

    g = small_graph()
    db = CostDB(tmp_path / "costs.jsonl")
    profile(g, db)
    for layout in ("chw", "hwc"):
        assert db.require(op_key(g, g.layer("sum"), 1, layout)).samples >= 5
    probe = _probe(g, g.layer("sum"))
    plan = hwc_probe_plan(compile(probe).plan, probe)
    assert [s.kernel for s in plan.steps if hasattr(s, "kernel")] == ["binary_hwc"]
    assert [s.transform for s in plan.steps if hasattr(s, "transform")] == ["chw_to_hwc"] * 2 + ["hwc_to_chw"]
    feeds = {t: np.random.default_rng(1).standard_normal(s).astype(np.float32) for t, s in probe.inputs.items()}
    y = compile(probe, plan).run(feeds)
    np.testing.assert_allclose(y, reference.run(probe, feeds, dtype=np.float64)[0], rtol=1e-6, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_the_numpy_float64_conv_is_the_reference_executors(data: st.DataObject) -> None:
    """The profiler's reference (numpy alone, for boards without torch) against the torch
    reference executor, on random convs: groups, strides, dilations, asymmetric pads."""
    from leanconv.profile.profiler import conv_float64
    from leanconv.runtime import reference

    groups = data.draw(st.sampled_from([1, 2, 3]), "groups")
    cg, og = data.draw(st.integers(1, 3), "cg"), data.draw(st.integers(1, 3), "og")
    kh, kw = data.draw(st.integers(1, 4), "kh"), data.draw(st.integers(1, 4), "kw")
    stride = (data.draw(st.integers(1, 3), "sh"), data.draw(st.integers(1, 3), "sw"))
    dilation = (data.draw(st.integers(1, 2), "dh"), data.draw(st.integers(1, 2), "dw"))
    padding = tuple(data.draw(st.integers(0, 2), f"pad{i}") for i in range(4))
    h = data.draw(st.integers(dilation[0] * (kh - 1) + 1, 11), "h")
    w = data.draw(st.integers(dilation[1] * (kw - 1) + 1, 11), "w")
    n = data.draw(st.integers(1, 2), "n")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), "seed"))
    x = rng.standard_normal((n, groups * cg, h, w)).astype(np.float32)
    wt = rng.standard_normal((groups * og, cg, kh, kw)).astype(np.float32)
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    g = Graph("c", {"x": x.shape}, [Layer("c", "conv", ["x"], attrs, {"weight": wt})], ["c"])
    ref = reference.run(g, x, dtype=np.float64)[0]
    ours = conv_float64(x, wt, attrs)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
