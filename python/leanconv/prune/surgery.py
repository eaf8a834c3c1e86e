"""Channel surgery through Torch-Pruning: a copy of the model with each group narrowed to the
channels it keeps. The copy is an ordinary torch module (trainable, exportable to the Graph and
to ONNX); the original is left as it was."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from leanconv.prune.errors import PruneError
from leanconv.prune.groups import dependency_graph, find_groups, tp_group


def prune_channels(model: nn.Module, example: torch.Tensor, keep: Mapping[str, Sequence[int]]) -> nn.Module:
    """A copy of ``model`` in which each group named in ``keep`` retains exactly the listed
    channels (indices into the group's channels, in any order); other groups are untouched."""
    pruned = copy.deepcopy(model)
    graph = dependency_graph(pruned, example)
    groups = {g.name: g for g in find_groups(pruned, example, graph)}
    for name, idxs in keep.items():
        group = groups.get(name)
        if group is None:
            raise PruneError(f"no prunable group {name!r}; groups: {', '.join(groups)}")
        kept = {int(i) for i in idxs}
        if not kept or min(kept) < 0 or max(kept) >= group.channels:
            raise PruneError(f"group {name!r} has channels 0..{group.channels - 1}: cannot keep {sorted(kept)[:8]}")
        removed = sorted(set(range(group.channels)) - kept)
        if removed:
            tp_group(graph, pruned, name, removed).prune()
    return pruned


def keep_most_important(scores: Mapping[str, np.ndarray], counts: Mapping[str, int]) -> dict[str, list[int]]:
    """Per group, the indices of its ``counts[name]`` highest-scoring channels (ties broken
    towards the lower index, so the choice is deterministic)."""
    keep = {}
    for name, count in counts.items():
        s = np.asarray(scores[name], dtype=np.float64)
        if not 1 <= count <= len(s):
            raise PruneError(f"group {name!r}: {count} channels requested, it has 1..{len(s)}")
        order = np.lexsort((np.arange(len(s)), -s))
        keep[name] = sorted(int(i) for i in order[:count])
    return keep


def fine_tune(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], epochs: int = 1,
              lr: float = 1e-3,
              loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy) -> nn.Module:
    """The hook for a training loop: ``epochs`` passes of AdamW over ``batches`` (a re-iterable
    of (input, target) pairs, e.g. a DataLoader). Returns the model in eval mode."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        for x, y in batches:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    return model.eval()
