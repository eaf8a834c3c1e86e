"""Timing that holds up on a shared machine: candidates interleaved in shuffled rounds, each
sample a calibrated number of calls, the median over rounds, repeated until every candidate's
spread is small or a cap is hit."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    seconds: float  # median seconds per call
    spread: float  # interquartile range over the median
    samples: int


def _spread(samples: list[float]) -> float:
    if len(samples) < 4:
        return float("inf")
    q = statistics.quantiles(samples, n=4)
    return (q[2] - q[0]) / max(q[1], 1e-12)


def sample_interleaved(fns: Mapping[str, Callable[[int], Mapping[str, float]]], *, sample_s: float = 2e-3,
                       min_rounds: int = 5, max_rounds: int = 21, stable: float = 0.05, cap_s: float = 4.0,
                       seed: int = 0) -> dict[str, dict[str, Timing]]:
    """The median over rounds of the samples each function returns. ``fns[name](n)`` runs its
    subject ``n`` times and returns one sample per label (seconds per call). ``n`` is calibrated
    so that a sample lasts ``sample_s``; rounds run every function once in a shuffled order;
    after ``min_rounds`` it stops when each label's interquartile range is within ``stable`` of
    its median (a noisy round widens it, so outliers are measured again), after
    ``max_rounds``, or once the rounds have taken ``cap_s``."""
    reps = {}
    for name, fn in fns.items():
        fn(1)  # warm: first touch of buffers and caches
        t0 = time.perf_counter()
        fn(1)
        once = max(time.perf_counter() - t0, 1e-7)
        reps[name] = max(1, int(sample_s / once))
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in fns}
    order = list(fns)
    rng = random.Random(seed)
    start = time.perf_counter()
    for round_ in range(max_rounds):
        rng.shuffle(order)
        for name in order:
            for label, value in fns[name](reps[name]).items():
                samples[name].setdefault(label, []).append(value)
        if round_ + 1 >= min_rounds and (all(_spread(s) <= stable for by in samples.values() for s in by.values())
                                         or time.perf_counter() - start > cap_s):
            break
    return {name: {label: Timing(statistics.median(s), _spread(s), len(s)) for label, s in by.items()}
            for name, by in samples.items()}


def time_interleaved(fns: Mapping[str, Callable[[], object]], *, sample_s: float = 2e-3, min_rounds: int = 5,
                     max_rounds: int = 21, stable: float = 0.05, cap_s: float = 4.0, seed: int = 0) -> dict[str, Timing]:
    """Median wall-clock seconds per call of each function (:func:`sample_interleaved`, each
    sample a calibrated number of calls)."""

    def wall(fn: Callable[[], object]) -> Callable[[int], dict[str, float]]:
        def sample(n: int) -> dict[str, float]:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            return {"": (time.perf_counter() - t0) / n}

        return sample

    timings = sample_interleaved({name: wall(fn) for name, fn in fns.items()}, sample_s=sample_s,
                                 min_rounds=min_rounds, max_rounds=max_rounds, stable=stable, cap_s=cap_s, seed=seed)
    return {name: t[""] for name, t in timings.items()}
