"""Timing shared by the codec benchmarks."""

from __future__ import annotations

import statistics
import time
from typing import Any


def alternate(fns: dict[str, Any], mb: float, rounds: int = 21, abba: bool = False) -> dict[str, float]:
    """Runs `fns` in turn for `rounds` rounds (after two warm-up rounds), so that every one sees
    the same machine: each one's median and best-round MB/s (a shared machine's speed moves in
    phases of seconds to minutes: the best round is the machine at full speed), and each one's median
    speed ratio to the first (the peer) over the rounds. With `abba`, every other round runs them in
    reverse order: on a loaded machine a call of a few milliseconds is slowed by its place in the
    round (the scheduler's time slices), which this shares out evenly."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds + 2):
        order = list(fns.items())
        if abba and r % 2 == 1:
            order.reverse()
        for k, fn in order:
            t = time.perf_counter()
            fn()
            if r >= 2:
                times[k].append(time.perf_counter() - t)
    out = {f"{k}_mbs_median": mb / statistics.median(ts) for k, ts in times.items()}
    out |= {f"{k}_mbs_best": mb / min(ts) for k, ts in times.items()}
    peer = next(iter(fns))
    for k in list(fns)[1:]:
        out[f"{k}_vs_{peer}_median"] = statistics.median(z / a for z, a in zip(times[peer], times[k]))
    return out
