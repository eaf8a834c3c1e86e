"""Channel importance per group through Torch-Pruning's importance classes: L1 or L2 weight
magnitude, batch-norm scale, or first-order Taylor (weight x gradient on a batch). Scores are
normalized per group by their mean, so groups of different scales compare."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch_pruning as tp  # type: ignore[import-untyped]

from leanconv.prune.errors import PruneError
from leanconv.prune.groups import Group, dependency_graph, tp_group

IMPORTANCES: dict[str, Callable[[], object]] = {
    "l1": lambda: tp.importance.GroupMagnitudeImportance(p=1),
    "l2": lambda: tp.importance.GroupMagnitudeImportance(p=2),
    "bn": lambda: tp.importance.BNScaleImportance(),
    "taylor": lambda: tp.importance.GroupTaylorImportance(),
}

Batch = tuple[torch.Tensor, torch.Tensor]


def channel_scores(model: nn.Module, example: torch.Tensor, groups: Sequence[Group], kind: str = "l1",
                   batch: Batch | None = None,
                   loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
                   ) -> dict[str, np.ndarray]:
    """Per group, one score per channel (higher: keep). ``taylor`` needs ``batch`` (inputs,
    targets) and ``loss_fn``; the gradients are taken on a copy, the model is left untouched."""
    if kind not in IMPORTANCES:
        raise PruneError(f"unknown importance {kind!r}; known: {', '.join(IMPORTANCES)}")
    model = copy.deepcopy(model).eval()
    if kind == "taylor":
        if batch is None:
            raise PruneError("taylor importance needs a batch of (inputs, targets)")
        model.zero_grad()
        loss_fn(model(batch[0]), batch[1]).backward()
    graph = dependency_graph(model, example)
    importance = IMPORTANCES[kind]()
    scores = {}
    for g in groups:
        with torch.no_grad():
            s = importance(tp_group(graph, model, g.name, range(g.channels)))  # type: ignore[operator]
        if s is None:
            raise PruneError(f"group {g.name!r} has no parameters that {kind!r} importance reads "
                             "(bn: a batch norm after the convolution)")
        scores[g.name] = s.detach().double().numpy()
    return scores
