"""Latency as a function of a group's channel count, on one backend.

A curve is sampled adaptively: a coarse grid first, then bisection inside every interval whose
ends differ, which walks down to the exact count where the latency jumps (a step) in a few
measurements per step, and stops on smooth ramps. A step counts only if a fresh, interleaved
re-measurement of the counts on both sides shows it again: one slow sample on a busy machine
makes no step. Between steps lie plateaus; the last count of a plateau is its fast end, the
most channels for that latency.

Layer latencies are cached as JSON lines (:class:`LatencyCache`), one record per measured layer
shape, keyed like the cost database's records (backend, threads, machine fingerprint, shape).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leanconv.prune.backends import Backend, fingerprint, interleaved_medians
from leanconv.prune.errors import PruneError
from leanconv.prune.groups import Group
from leanconv.prune.layers import LayerSpec, group_specs

SCHEMA = 1

#: Measures a batch of channel counts (interleaved) and returns seconds per count; the flag
#: asks for fresh measurements, bypassing any cache.
Measure = Callable[[Sequence[int], bool], dict[int, float]]


class LatencyCache:
    """Measured layer latencies, appended as JSON lines to ``path`` (None: in memory only). A
    later record for the same key wins, so a re-measurement replaces the one before."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._fingerprint = fingerprint()
        self._seconds: dict[str, float] = {}
        if self.path is not None and self.path.exists():
            for n, line in enumerate(self.path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    key = self._key(rec["backend"], rec["threads"], rec["clock"], rec["fingerprint"], rec["spec"])
                    self._seconds[key] = float(rec["seconds"])
                except (ValueError, KeyError, TypeError) as e:
                    raise PruneError(f"{self.path}:{n}: not a latency record ({type(e).__name__}: {e})") from e

    @staticmethod
    def _key(backend: str, threads: int, clock: str, machine: str, spec: dict[str, Any]) -> str:
        return json.dumps([backend, threads, clock, machine, spec], sort_keys=True)

    def get(self, backend: Backend, spec: LayerSpec) -> float | None:
        return self._seconds.get(self._key(backend.name, backend.threads, backend.clock, self._fingerprint,
                                           spec.to_json()))

    def put(self, backend: Backend, spec: LayerSpec, seconds: float, rounds: int) -> None:
        rec: dict[str, Any] = {"schema": SCHEMA, "kind": "layer-latency", "backend": backend.name, "threads": backend.threads,
               "clock": backend.clock, "fingerprint": self._fingerprint, "spec": spec.to_json(), "macs": spec.macs, "seconds": seconds,
               "rounds": rounds, "time": time.time()}
        self._seconds[self._key(backend.name, backend.threads, backend.clock, self._fingerprint, rec["spec"])] = seconds
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(rec) + "\n")


class LayerTimer:
    """Layer latencies on a backend: cached ones from the cache, the rest measured together in
    interleaved rounds."""

    def __init__(self, backend: Backend, cache: LatencyCache | None = None, rounds: int = 7,
                 min_sample_s: float = 2e-4) -> None:
        self.backend = backend
        self.cache = cache if cache is not None else LatencyCache()
        self.rounds = rounds
        self.min_sample_s = min_sample_s

    def seconds(self, specs: Sequence[LayerSpec], fresh: bool = False) -> list[float]:
        missing = list(dict.fromkeys(s for s in specs if fresh or self.cache.get(self.backend, s) is None))
        runners = [self.backend.layer_runner(s) for s in missing]
        with self.backend.context():
            measured = interleaved_medians(runners, self.rounds, self.min_sample_s, clock=self.backend.clock)
        got = dict(zip(missing, measured))
        for spec, t in got.items():
            self.cache.put(self.backend, spec, t, self.rounds)
        return [got[s] if s in got else float(self.cache.get(self.backend, s) or 0.0) for s in specs]

    def group_measure(self, group: Group, specs: dict[str, LayerSpec]) -> Measure:
        """A :data:`Measure` for ``group``: its layers' summed latency at each count."""
        def measure(counts: Sequence[int], fresh: bool) -> dict[int, float]:
            per_count = [group_specs(group, specs, c) for c in counts]
            flat = self.seconds([s for layer_specs in per_count for s in layer_specs], fresh)
            out, i = {}, 0
            for c, layer_specs in zip(counts, per_count):
                out[c] = float(sum(flat[i:i + len(layer_specs)]))
                i += len(layer_specs)
            return out
        return measure


def _differ(a: float, b: float, rel_tol: float) -> bool:
    return abs(a - b) > rel_tol * min(a, b)


@dataclass
class Curve:
    """A group's sampled latency curve with its confirmed steps."""

    group: str
    channels: int
    points: dict[int, float]
    #: (a, b): neighbouring sampled counts with a confirmed change of latency between them.
    steps: list[tuple[int, int]] = field(default_factory=list)

    def plateaus(self) -> list[tuple[int, int, float]]:
        """(first count, last count, latency: the median over its samples), in count order."""
        counts = sorted(self.points)
        bounds = {a for a, _ in self.steps}
        out, start = [], counts[0]
        for i, c in enumerate(counts):
            if c in bounds or i == len(counts) - 1:
                members = [self.points[k] for k in counts if start <= k <= c]
                out.append((start, c, float(np.median(members))))
                if i + 1 < len(counts):
                    start = counts[i + 1]
        return out

    def latency(self, count: int) -> float:
        """The plateau latency at ``count``; between the two sides of a step, the slower."""
        plateaus = self.plateaus()
        for i, (first, last, t) in enumerate(plateaus):
            if first <= count <= last:
                return t
            if i + 1 < len(plateaus) and last < count < plateaus[i + 1][0]:
                return max(t, plateaus[i + 1][2])
        raise PruneError(f"group {self.group!r}: {count} is outside 1..{self.channels}")

    def fast_end(self, count: int, down: bool = False) -> int:
        """Round ``count`` to the fast end of its plateau (the most channels at the same latency);
        with ``down``, to the fast end of the plateau below. A count inside an unresolved step
        rounds to the side below it."""
        plateaus = self.plateaus()
        index = next((i for i, (first, last, _) in enumerate(plateaus) if count <= last), None)
        if index is None or count < 1:
            raise PruneError(f"group {self.group!r}: {count} is outside 1..{self.channels}")
        if count < plateaus[index][0]:  # between two plateaus
            index -= 1
        if down:
            index -= 1
        if index < 0:
            raise PruneError(f"group {self.group!r}: no plateau below {count} channels")
        return plateaus[index][1]

    def candidates(self) -> list[tuple[int, float]]:
        """Plateau fast ends that no other plateau beats (more channels and no slower), as
        (count, latency), by count."""
        out: list[tuple[int, float]] = []
        for _, last, t in sorted(self.plateaus(), key=lambda p: -p[1]):
            if not out or t < out[-1][1]:
                out.append((last, t))
        return sorted(out)

    def to_json(self) -> dict[str, Any]:
        return {"group": self.group, "channels": self.channels,
                "points": [[c, self.points[c]] for c in sorted(self.points)], "steps": [list(s) for s in self.steps]}


def coarse_counts(channels: int, intervals: int = 8) -> list[int]:
    """About ``intervals`` evenly spaced counts from channels/intervals up to ``channels``; with
    power-of-two channel counts they land on the multiples that kernel widths favour."""
    return sorted({max(1, round(channels * i / intervals)) for i in range(1, intervals + 1)} | {channels})


def sample_curve(group: str, channels: int, measure: Measure, intervals: int = 8, rel_tol: float = 0.05,
                 ramp_span: int = 4, budget: int = 64) -> Curve:
    """Samples the curve of a group (see the module docstring). ``rel_tol``: latencies closer
    than this fraction are the same; ``ramp_span``: a smooth rise is bisected no finer;
    ``budget``: the most counts measured (besides the re-measurement of steps)."""
    points = measure(coarse_counts(channels, intervals), False)
    counts = sorted(points)
    todo = list(zip(counts, counts[1:]))
    while todo and len(points) < budget:
        splits = [(a, b) for a, b in todo if b - a > 1 and _differ(points[a], points[b], rel_tol)]
        splits = splits[:budget - len(points)]
        if not splits:
            break
        points.update(measure([(a + b) // 2 for a, b in splits], False))
        todo = []
        for a, b in splits:
            m = (a + b) // 2
            like_a, like_b = not _differ(points[m], points[a], rel_tol), not _differ(points[m], points[b], rel_tol)
            if like_a and not like_b:
                todo.append((m, b))
            elif like_b and not like_a:
                todo.append((a, m))
            elif b - a > ramp_span:
                todo += [(a, m), (m, b)]
    return Curve(group, channels, points, confirm_steps(points, measure, rel_tol))


def confirm_steps(points: dict[int, float], measure: Measure, rel_tol: float) -> list[tuple[int, int]]:
    """The neighbouring sampled pairs whose latencies differ, kept where a fresh measurement of
    both (all pairs in one interleaved batch) differs the same way."""
    counts = sorted(points)
    suspects = [(a, b) for a, b in zip(counts, counts[1:]) if _differ(points[a], points[b], rel_tol)]
    if not suspects:
        return []
    again = measure(sorted({c for pair in suspects for c in pair}), True)
    return [(a, b) for a, b in suspects
            if _differ(again[a], again[b], rel_tol) and (again[b] > again[a]) == (points[b] > points[a])]


def group_curve(group: Group, specs: dict[str, LayerSpec], timer: LayerTimer, **options: Any) -> Curve:
    """The measured curve of ``group`` on the timer's backend."""
    return sample_curve(group.name, group.channels, timer.group_measure(group, specs), **options)
