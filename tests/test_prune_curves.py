"""Latency curves: adaptive sampling and step detection on synthetic noisy staircases, rounding
to the fast end, the layer-latency cache, and every backend producing a curve."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from leanconv.models.default_net import load_default
from leanconv.prune.backends import BACKENDS, TorchBackend, interleaved_medians, make_backend
from leanconv.prune.curves import Curve, LatencyCache, LayerTimer, Measure, coarse_counts, group_curve, sample_curve
from leanconv.prune.errors import PruneError
from leanconv.prune.groups import find_groups
from leanconv.prune.layers import LayerSpec, record_specs


def staircase(width: int, noise: float, seed: int, spikes: dict[int, float] | None = None) -> tuple[Measure, list[int]]:
    """A latency rising by one unit every ``width`` channels, with relative Gaussian noise; a
    count in ``spikes`` reads that much slower the first time it is measured. Also returns the
    list of counts measured, in order."""
    rng = np.random.default_rng(seed)
    pending = dict(spikes or {})
    log: list[int] = []

    def measure(counts: Sequence[int], fresh: bool) -> dict[int, float]:
        out = {}
        for c in counts:
            log.append(c)
            out[c] = (2 + math.ceil(c / width)) * (1 + noise * rng.standard_normal()) * pending.pop(c, 1.0)
        return out
    return measure, log


@settings(max_examples=25, deadline=None)
@given(width=st.sampled_from([8, 16]), blocks=st.integers(4, 12), seed=st.integers(0, 2**16))
def test_steps_are_found_exactly_on_noisy_staircases(width: int, blocks: int, seed: int) -> None:
    channels = width * blocks
    measure, log = staircase(width, 0.005, seed)
    curve = sample_curve("g", channels, measure, rel_tol=0.03, budget=128)
    lowest = coarse_counts(channels)[0]  # counts below the coarse grid are not sampled
    assert min(curve.points) == lowest
    assert curve.steps == [(k * width, k * width + 1) for k in range(1, blocks) if k * width >= lowest]
    assert len(set(log)) < channels  # sampled, not swept
    for first, last, t in curve.plateaus():
        assert math.ceil(first / width) == math.ceil(last / width)
        assert t == pytest.approx(2 + math.ceil(last / width), rel=0.02)


def test_a_slow_sample_alone_makes_no_step() -> None:
    flat, _ = staircase(10**6, 0.002, 0)
    spikes = {64: 1.6, 96: 1.5, 112: 1.4}
    spiky, log = staircase(10**6, 0.002, 0, spikes)
    assert sample_curve("g", 128, flat).steps == []
    curve = sample_curve("g", 128, spiky)
    assert curve.steps == []
    assert [p[:2] for p in curve.plateaus()] == [(16, 128)]
    assert set(spikes) <= set(log[log.index(128) + 1:])  # re-measured after the first pass


def test_fast_end_rounds_within_and_below_a_plateau() -> None:
    measure, _ = staircase(16, 0.0, 0)
    curve = sample_curve("g", 128, measure)
    assert curve.fast_end(113) == 128
    assert curve.fast_end(112) == 112
    assert curve.fast_end(100) == 112
    assert curve.fast_end(113, down=True) == 112
    assert curve.fast_end(100, down=True) == 96
    assert curve.latency(120) == 10 and curve.latency(112) == 9
    with pytest.raises(PruneError, match="no plateau below"):
        curve.fast_end(16, down=True)
    with pytest.raises(PruneError, match="outside"):
        curve.fast_end(129)


def test_candidates_drop_plateaus_that_a_wider_one_beats() -> None:
    # 48 channels run slower than 64 (an odd shape a library handles badly)
    curve = Curve("g", 64, {16: 1.0, 32: 2.0, 48: 5.0, 64: 3.0}, [(16, 32), (32, 48), (48, 64)])
    assert curve.candidates() == [(16, 1.0), (32, 2.0), (64, 3.0)]
    assert coarse_counts(64) == [8, 16, 24, 32, 40, 48, 56, 64]
    assert coarse_counts(5) == [1, 2, 3, 4, 5]


class CountingBackend:
    """Runs nothing; counts the layers it was asked to prepare."""

    name = "counting"
    threads = 1
    clock = "wall"

    def __init__(self) -> None:
        self.prepared: list[LayerSpec] = []

    def layer_runner(self, spec: LayerSpec) -> object:
        self.prepared.append(spec)
        return lambda: None

    def model_runner(self, model: object, example: object) -> object:
        return lambda: None

    def context(self) -> object:
        import contextlib
        return contextlib.nullcontext()


def test_cache_serves_measured_layers_and_fresh_ones_are_remeasured(tmp_path: Path) -> None:
    path = tmp_path / "latency.jsonl"
    specs = [LayerSpec("conv", 1, 8, c, 6, 6, (3, 3), (1, 1), (1, 1)) for c in (4, 8, 4)]
    first = CountingBackend()
    got = LayerTimer(first, LatencyCache(path), rounds=3).seconds(specs)  # type: ignore[arg-type]
    assert len(first.prepared) == 2 and got[0] == got[2]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["spec"]["c_out"] for r in records] == [4, 8]
    assert records[0]["schema"] == 1 and records[0]["macs"] == specs[0].macs
    assert LayerSpec.from_json(records[1]["spec"]) == specs[1]
    second = CountingBackend()
    timer = LayerTimer(second, LatencyCache(path), rounds=3)  # type: ignore[arg-type]
    assert timer.seconds(specs) == got and second.prepared == []
    timer.seconds(specs[:1], fresh=True)
    assert second.prepared == specs[:1] and len(path.read_text().splitlines()) == 3
    path.write_text("{not json\n")
    with pytest.raises(PruneError, match="latency.jsonl:1"):
        LatencyCache(path)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_backend_measures_a_group_curve(backend: str) -> None:
    model, x = load_default(), torch.zeros(1, 1, 28, 28)
    group = find_groups(model, x)[0]  # the stem: 16 channels into the stride-2 conv
    specs = record_specs(model, x)
    assert specs["stem.0"] == LayerSpec("conv", 1, 1, 16, 28, 28, (3, 3), (1, 1), (1, 1))
    timer = LayerTimer(make_backend(backend), rounds=2, min_sample_s=0)
    curve = group_curve(group, specs, timer, intervals=4, budget=8)
    assert {4, 8, 12, 16} <= set(curve.points) and len(curve.points) <= 8
    assert all(0 < t < 1 for t in curve.points.values())


def test_backend_names_and_threads_are_checked() -> None:
    assert make_backend("torch-nhwc", 2).name == "torch-nhwc" and isinstance(make_backend("torch"), TorchBackend)
    with pytest.raises(PruneError, match="unknown backend 'cudnn'"):
        make_backend("cudnn")
    with pytest.raises(PruneError, match="at least 1"):
        make_backend("torch", 0)
    assert make_backend("ort", 1, "cpu").clock == "cpu" and make_backend("leanconv").clock == "wall"
    with pytest.raises(PruneError, match="unknown clock 'tsc'"):
        make_backend("torch", 1, "tsc")
    with pytest.raises(PruneError, match="2 threads need the wall clock"):
        make_backend("torch", 2, "cpu")


def test_the_cpu_clock_does_not_count_time_spent_waiting() -> None:
    import time

    def wait() -> None:
        time.sleep(2e-3)

    def spin() -> None:
        end = time.perf_counter() + 2e-3
        while time.perf_counter() < end:
            pass

    wall = interleaved_medians([wait, spin], rounds=3, min_sample_s=0, clock="wall")
    cpu = interleaved_medians([wait, spin], rounds=3, min_sample_s=0, clock="cpu")
    assert min(wall) >= 2e-3 and cpu[1] > 10 * cpu[0]


def test_latencies_on_another_clock_are_cached_apart(tmp_path: Path) -> None:
    path, spec = tmp_path / "latency.jsonl", LayerSpec("conv", 1, 8, 4, 6, 6, (3, 3), (1, 1), (1, 1))
    wall, cpu = CountingBackend(), CountingBackend()
    cpu.clock = "cpu"
    LayerTimer(wall, LatencyCache(path), rounds=1).seconds([spec])  # type: ignore[arg-type]
    LayerTimer(cpu, LatencyCache(path), rounds=1).seconds([spec])  # type: ignore[arg-type]
    assert cpu.prepared == [spec]
    assert [json.loads(line)["clock"] for line in path.read_text().splitlines()] == ["wall", "cpu"]
