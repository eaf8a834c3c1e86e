"""Choosing a channel count per group.

The performance-aware planner is an integer program (HiGHS): per group exactly one option (a
channel count from its curve, with its latency, MACs and retained importance); maximize the
importance kept subject to the total latency (or MACs) within a budget. The baselines prune
every group by the same ratio the way Torch-Pruning's default pruner does (optionally rounding
kept channels to a multiple), or round those counts to the fast end of each curve's plateau.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch_pruning as tp  # type: ignore[import-untyped]

from leanconv.highs import quiet_highs
from leanconv.prune.curves import Curve
from leanconv.prune.errors import PruneError
from leanconv.prune.groups import Group, output_layers

Resource = Literal["latency", "macs"]


@dataclass(frozen=True)
class Option:
    """One channel count of a group: the latency and MACs of the group's layers at that count,
    and the importance its kept channels retain."""

    count: int
    latency: float
    macs: float
    importance: float

    def cost(self, resource: Resource) -> float:
        return self.latency if resource == "latency" else self.macs


def retained(scores: np.ndarray, count: int) -> float:
    """The importance kept by keeping the ``count`` highest-scoring channels."""
    return float(np.sort(np.asarray(scores, dtype=np.float64))[::-1][:count].sum())


def solve(options: Mapping[str, Sequence[Option]], budget: float, resource: Resource = "latency") -> dict[str, int]:
    """Per group the option count maximizing total importance with the summed cost of the
    chosen options at most ``budget``; a PruneError when no choice fits."""
    from leanconv.highs import highspy

    if any(not opts for opts in options.values()):
        raise PruneError("every group needs at least one option")
    cheapest = sum(min(o.cost(resource) for o in opts) for opts in options.values())
    if cheapest > budget:
        raise PruneError(f"no plan fits: the {resource} budget is {budget:.6g}, the cheapest plan needs {cheapest:.6g}")
    h = quiet_highs()
    chosen = {name: [h.addBinary(obj=o.importance) for o in opts] for name, opts in options.items()}
    for xs in chosen.values():
        h.addConstr(sum(xs[1:], xs[0]) == 1)
    cost = [o.cost(resource) * x for name, opts in options.items() for o, x in zip(opts, chosen[name])]
    h.addConstr(sum(cost[1:], cost[0]) <= budget)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.maximize()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise PruneError(f"the planner found no optimal plan ({h.modelStatusToString(h.getModelStatus())})")
    return {name: opts[int(np.argmax([h.val(x) for x in chosen[name]]))].count for name, opts in options.items()}


def uniform_counts(model: nn.Module, example: torch.Tensor, groups: Sequence[Group], ratio: float,
                   round_to: int | None = None) -> dict[str, int]:
    """The channel counts Torch-Pruning's default pruner (MetaPruner, L1 magnitude) leaves at
    ``ratio`` with ``round_to`` (None, or a multiple kept channels are rounded to)."""
    if not 0 <= ratio < 1:
        raise PruneError(f"a pruning ratio is in [0, 1), got {ratio}")
    model = copy.deepcopy(model).eval()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
    pruner = tp.pruner.MetaPruner(model, example, importance=tp.importance.GroupMagnitudeImportance(p=1),
                                  pruning_ratio=ratio, round_to=round_to, root_module_types=[nn.Conv2d],
                                  ignored_layers=output_layers(model, graph))
    pruner.step()
    counts = {}
    for g in groups:
        module = model.get_submodule(g.name)
        assert isinstance(module, nn.Conv2d)
        counts[g.name] = int(module.out_channels)
    return counts


def fast_end_counts(curves: Mapping[str, Curve], counts: Mapping[str, int]) -> dict[str, int]:
    """Each count rounded to the fast end of its plateau."""
    return {name: curves[name].fast_end(c) for name, c in counts.items()}
