"""Channel importance through Torch-Pruning: each kind ranks a dead channel last and the
magnitude kinds rank a strengthened channel first, one score per channel of each group."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from leanconv.models.default_net import load_default
from leanconv.prune.errors import PruneError
from leanconv.prune.groups import find_groups
from leanconv.prune.importance import IMPORTANCES, channel_scores

STRONG, DEAD = 3, 5


def model_with_marked_channels() -> nn.Module:
    """The default model with res_a's channel STRONG scaled up and DEAD zeroed everywhere it
    lives (conv weights, batch norm, res_b's input weights)."""
    model = load_default()
    conv, bn, consumer = model.res_a[0], model.res_a[1], model.res_b[0]
    with torch.no_grad():
        for p in (conv.weight, bn.weight):
            p[STRONG] *= 10
        for p in (conv.weight, bn.weight, bn.bias):
            p[DEAD] = 0
        consumer.weight[:, STRONG] *= 10
        consumer.weight[:, DEAD] = 0
    return model


@pytest.mark.parametrize("kind", list(IMPORTANCES))
def test_each_importance_ranks_marked_channels(kind: str) -> None:
    model, x = model_with_marked_channels(), torch.rand(8, 1, 28, 28)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    groups = find_groups(model, x[:1])
    batch = (x, torch.arange(8) % 10)
    scores = channel_scores(model, x[:1], groups, kind, batch=batch)
    assert {g.name: len(scores[g.name]) for g in groups} == {g.name: g.channels for g in groups}
    s = scores["res_a.0"]
    assert np.all(np.isfinite(s))
    assert int(np.argmin(s)) == DEAD and s[DEAD] == 0
    if kind != "taylor":  # a gradient need not grow with its weight
        assert int(np.argmax(s)) == STRONG
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_importance_errors() -> None:
    model, x = load_default(), torch.rand(1, 1, 28, 28)
    groups = find_groups(model, x)
    with pytest.raises(PruneError, match="unknown importance 'hessian'"):
        channel_scores(model, x, groups, "hessian")
    with pytest.raises(PruneError, match="needs a batch"):
        channel_scores(model, x, groups, "taylor")
    plain = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))
    with pytest.raises(PruneError, match="no parameters that 'bn'"):
        channel_scores(plain, x, find_groups(plain, x), "bn")
