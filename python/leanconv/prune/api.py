"""``plan`` and ``apply``: performance-aware pruning of a torch model for one backend, and the
end-to-end check that refuses a pruned model that did not get faster as planned.

The plan's latency model is separable and relative: the pruned model takes the unpruned
model's measured latency times (L + sum of the groups' curve changes) / L, where L is the summed
latency of all the model's layers, measured like the curves. Ratios of measurements taken alike
survive a busy machine better than differences of absolute times. A layer between two groups
counts in both, each with the other side unpruned, which over-predicts the pruned time of a
layer narrowed on both sides (a x b of its cost against a + b - 1): the model errs slow.
:func:`verify` measures the whole pruned model to catch where the model is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from leanconv.prune.backends import Backend, interleaved_medians, make_backend
from leanconv.prune.curves import Curve, LatencyCache, LayerTimer, group_curve
from leanconv.prune.errors import PlanRefusedError, PruneError
from leanconv.prune.groups import Group, find_groups
from leanconv.prune.importance import Batch, channel_scores
from leanconv.prune.layers import LayerSpec, group_specs, pruned_specs, record_specs
from leanconv.prune.planner import Option, Resource, retained, solve
from leanconv.prune.surgery import keep_most_important, prune_channels

#: Called with (what is being done, steps done, steps in all).
Progress = Callable[[str, int, int], None]

_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def parse_target(text: str) -> tuple[str, float]:
    """"0.6x" -> ("ratio", 0.6); "12ms" -> ("seconds", 0.012) (units s, ms, us)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(x|s|ms|us)\s*", text)
    if m is None:
        raise PruneError(f"target {text!r}: give a ratio of the unpruned model (0.6x) or a time (12ms, 800us)")
    value, unit = float(m.group(1)), m.group(2)
    if value <= 0 or (unit == "x" and value > 1):
        raise PruneError(f"target {text!r}: a ratio in (0, 1], or a positive time")
    return ("ratio", value) if unit == "x" else ("seconds", value * _UNITS[unit])


def model_macs(specs: Mapping[str, LayerSpec]) -> int:
    return sum(s.macs for s in specs.values())


@dataclass
class PrunePlan:
    """Channel counts per group, the channels each keeps, and what the plan expects."""

    backend: str
    threads: int
    clock: str
    resource: Resource
    channels: dict[str, int]
    counts: dict[str, int]
    keep: dict[str, list[int]]
    unpruned_latency: float
    predicted_latency: float
    unpruned_macs: int
    macs: int
    curves: dict[str, Curve] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "threads": self.threads, "clock": self.clock, "resource": self.resource,
                "groups": [{"group": g, "channels": self.channels[g], "count": self.counts[g]} for g in self.counts],
                "unpruned_latency_s": self.unpruned_latency, "predicted_latency_s": self.predicted_latency,
                "unpruned_macs": self.unpruned_macs, "macs": self.macs,
                "curves": [c.to_json() for c in self.curves.values()]}


@dataclass
class Analysis:
    """What planning needs to know about a model on a backend: its groups, layer shapes, curves,
    measured latency and channel scores. Several plans (targets, baselines) share one."""

    model: nn.Module
    example: torch.Tensor
    backend: Backend
    groups: list[Group]
    specs: dict[str, LayerSpec]
    curves: dict[str, Curve]
    latency: float
    layer_latency: float
    scores: dict[str, np.ndarray]

    def change(self, counts: Mapping[str, int]) -> float:
        """Summed change of the groups' curve latencies at ``counts``."""
        return sum(self.curves[g].latency(c) - self.curves[g].latency(self.channels[g]) for g, c in counts.items())

    def predict(self, counts: Mapping[str, int]) -> float:
        return self.latency * (self.layer_latency + self.change(counts)) / self.layer_latency

    @property
    def channels(self) -> dict[str, int]:
        return {g.name: g.channels for g in self.groups}

    def plan_for(self, counts: Mapping[str, int], resource: Resource = "latency") -> PrunePlan:
        """A plan with the given counts (every group; missing ones stay unpruned)."""
        full = {g.name: int(counts.get(g.name, g.channels)) for g in self.groups}
        keep = keep_most_important(self.scores, full)
        return PrunePlan(self.backend.name, self.backend.threads, self.backend.clock, resource, self.channels, full, keep, self.latency,
                         self.predict(full), model_macs(self.specs),
                         model_macs(pruned_specs(self.groups, self.specs, full)), self.curves)


def model_latency(backend: Backend, models: list[nn.Module], example: torch.Tensor, rounds: int = 9) -> list[float]:
    """End-to-end seconds per inference of each model on ``backend``, measured interleaved."""
    runners = [backend.model_runner(m, example) for m in models]
    with backend.context():
        return interleaved_medians(runners, rounds, min_sample_s=1e-3, clock=backend.clock)


def analyze(model: nn.Module, example: torch.Tensor, backend: str | Backend = "leanconv", threads: int = 1,
            clock: str = "wall", importance: str = "l1", batch: Batch | None = None, cache: str | Path | None = None,
            rounds: int = 7, progress: Progress | None = None) -> Analysis:
    """Groups, curves (measured on ``backend``, cached in the JSON-lines file ``cache``), the
    unpruned latency and channel scores of ``model`` run on ``example``."""
    model = model.eval()
    be = make_backend(backend, threads, clock) if isinstance(backend, str) else backend
    groups = find_groups(model, example)
    if not groups:
        raise PruneError(f"{type(model).__name__} has no prunable channel groups")
    specs = record_specs(model, example)
    timer = LayerTimer(be, LatencyCache(cache), rounds=rounds)
    curves = {}
    for i, g in enumerate(groups):
        if progress:
            progress(f"curve {g.name}", i, len(groups))
        curves[g.name] = group_curve(g, specs, timer)
    if progress:
        progress("unpruned model", len(groups), len(groups))
    latency = model_latency(be, [model], example)[0]
    layer_latency = sum(timer.seconds(list(specs.values())))
    scores = channel_scores(model, example, groups, importance, batch)
    return Analysis(model, example, be, groups, specs, curves, latency, layer_latency, scores)


def _group_macs(group: Group, specs: dict[str, LayerSpec], count: int) -> float:
    return float(sum(s.macs for s in group_specs(group, specs, count)))


def plan_analysis(analysis: Analysis, target: str | float, resource: Resource = "latency",
                  min_channels: int | Mapping[str, int] = 1) -> PrunePlan:
    """The performance-aware plan for ``target``: a ratio of the unpruned model ("0.6x") or,
    for latency, a time ("12ms"; a float is seconds). Candidate counts are each curve's plateau
    fast ends (and the full width) of at least ``min_channels``."""
    kind, value = parse_target(target) if isinstance(target, str) else ("seconds", float(target))
    if resource == "macs" and kind != "ratio":
        raise PruneError("a MAC target is a ratio of the unpruned model's MACs (e.g. 0.5x)")
    a = analysis
    options: dict[str, list[Option]] = {}
    for g in a.groups:
        floor = min_channels if isinstance(min_channels, int) else min_channels.get(g.name, 1)
        curve = a.curves[g.name]
        counts = sorted({c for c, _ in curve.candidates() if c >= floor} | {g.channels})
        options[g.name] = [Option(c, curve.latency(c), _group_macs(g, a.specs, c), retained(a.scores[g.name], c))
                           for c in counts]
    if resource == "latency":
        ratio = value if kind == "ratio" else value / a.latency
        budget = (ratio - 1) * a.layer_latency + sum(a.curves[g.name].latency(g.channels) for g in a.groups)
    else:
        budget = value * model_macs(a.specs) - model_macs(a.specs) + sum(
            _group_macs(g, a.specs, g.channels) for g in a.groups)
    return a.plan_for(solve(options, budget, resource), resource)


def plan(model: nn.Module, example: torch.Tensor, target: str | float, backend: str | Backend = "leanconv",
         resource: Resource = "latency", min_channels: int | Mapping[str, int] = 1, **options: Any) -> PrunePlan:
    """Measures ``model`` on ``backend`` (see :func:`analyze` for ``options``) and plans the
    channel counts that keep the most importance within ``target``."""
    return plan_analysis(analyze(model, example, backend, **options), target, resource, min_channels)


def apply(model: nn.Module, example: torch.Tensor, plan: PrunePlan) -> nn.Module:
    """A pruned copy of ``model``: each group keeps the channels the plan chose."""
    return prune_channels(model, example, plan.keep)


@dataclass
class Verification:
    unpruned_latency: float
    pruned_latency: float
    predicted_latency: float
    layers: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"unpruned_latency_s": self.unpruned_latency, "pruned_latency_s": self.pruned_latency,
                "predicted_latency_s": self.predicted_latency, "layers": self.layers}


def judge(result: Verification, margin: float = 0.10) -> Verification:
    """Refuses (PlanRefusedError) a pruned model slower than the unpruned one, or more than
    ``margin`` slower than predicted, naming the layers responsible: those that did not get
    faster, else the three whose time fell least."""
    slower = result.pruned_latency > result.unpruned_latency
    missed = result.pruned_latency > result.predicted_latency * (1 + margin)
    if not (slower or missed):
        return result
    stuck = [r for r in result.layers if r["pruned_s"] >= r["unpruned_s"]]
    blamed = stuck or sorted(result.layers, key=lambda r: r["pruned_s"] / r["unpruned_s"], reverse=True)[:3]
    names = ", ".join(r["layer"] for r in blamed) or "(no layer was pruned)"
    why = ("slower than the unpruned model" if slower else
           f"more than {margin:.0%} slower than predicted ({result.predicted_latency * 1e3:.3f} ms)")
    raise PlanRefusedError(
        f"plan refused: the pruned model takes {result.pruned_latency * 1e3:.3f} ms against "
        f"{result.unpruned_latency * 1e3:.3f} ms unpruned, {why}; layers responsible: {names}",
        {**result.to_json(), "responsible": [r["layer"] for r in blamed]})


def verify(model: nn.Module, pruned: nn.Module, example: torch.Tensor, plan: PrunePlan,
           backend: str | Backend | None = None, margin: float = 0.10, rounds: int = 9) -> Verification:
    """Measures the unpruned and pruned models end to end (interleaved) on the plan's backend,
    and each pruned layer against its unpruned self; :func:`judge` decides. The prediction is
    the plan's predicted ratio times the unpruned model's latency measured now, so a machine
    that got slower or faster since planning moves both alike. A failing measurement is taken
    again before the plan is refused, as a step is confirmed: one busy phase refuses nothing."""
    be = make_backend(plan.backend, plan.threads, plan.clock) if backend is None else (
        make_backend(backend, plan.threads, plan.clock) if isinstance(backend, str) else backend)
    try:
        return _measure_and_judge(model, pruned, example, plan, be, margin, rounds)
    except PlanRefusedError:
        return _measure_and_judge(model, pruned, example, plan, be, margin, rounds)


def _measure_and_judge(model: nn.Module, pruned: nn.Module, example: torch.Tensor, plan: PrunePlan, be: Backend,
                       margin: float, rounds: int) -> Verification:
    unpruned_s, pruned_s = model_latency(be, [model.eval(), pruned.eval()], example, rounds)
    groups = find_groups(model, example)
    specs = record_specs(model, example)
    after = pruned_specs(groups, specs, plan.counts)
    changed = [name for name in specs if after[name] != specs[name]]
    timer = LayerTimer(be, rounds=rounds)
    times = timer.seconds([specs[n] for n in changed] + [after[n] for n in changed], fresh=True)
    layers = [{"layer": n, "unpruned_s": times[i], "pruned_s": times[len(changed) + i],
               "channels": [specs[n].c_in, specs[n].c_out], "pruned_channels": [after[n].c_in, after[n].c_out]}
              for i, n in enumerate(changed)]
    predicted = plan.predicted_latency / plan.unpruned_latency * unpruned_s
    return judge(Verification(unpruned_s, pruned_s, predicted, layers), margin)
