"""Surgery through Torch-Pruning: a pruned model computes what the unpruned model computes with
the pruned channels zeroed where they are consumed, on residual, depthwise and concat nets."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torchvision

import leanconv.runtime
from leanconv.io.torch_import import import_torch
from leanconv.models.default_net import load_default
from leanconv.prune.errors import PruneError
from leanconv.prune.groups import Group, dependency_graph, find_groups, tp_group
from leanconv.prune.surgery import fine_tune, keep_most_important, prune_channels


def randomize_bn(model: nn.Module, seed: int) -> nn.Module:
    """Batch norms with non-trivial statistics, so a zeroed channel's BN output is not zero."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    return model.eval()


def small_densenet() -> nn.Module:
    return torchvision.models.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=16, bn_size=2,
                                       num_classes=10)


class ResCat(nn.Module):
    """A residual pair (a, b) and a concat of its sum with a side branch c, consumed by d."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.c = nn.Conv2d(3, 6, 1)
        self.d = nn.Conv2d(14, 10, 1)
        self.head = nn.Linear(10, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x))
        y = y + self.b(y)
        y = torch.cat([y, torch.relu(self.c(x))], 1)
        return self.head(self.d(y).mean((2, 3)))


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "default": (load_default, (2, 1, 28, 28)),
    "resnet18": (lambda: torchvision.models.resnet18(num_classes=10), (1, 3, 32, 32)),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(num_classes=10), (1, 3, 32, 32)),
    "googlenet": (lambda: torchvision.models.googlenet(num_classes=10, aux_logits=False, init_weights=True), (1, 3, 32, 32)),
    "densenet": (small_densenet, (1, 3, 32, 32)),
    "rescat": (ResCat, (1, 3, 8, 8)),
}


def zero_channels(model: nn.Module, example: torch.Tensor, removed: dict[str, list[int]]) -> nn.Module:
    """``model`` with each group's removed channels zeroed in the weights of the layers that
    consume them, through the same dependency graph (so concat offsets are right)."""
    graph = dependency_graph(model, example)
    for name, idxs in removed.items():
        for item in tp_group(graph, model, name, idxs):
            m = item.dep.target.module
            consumes = item.dep.handler.__func__.__name__ == "prune_in_channels"
            if consumes and isinstance(m, (nn.Conv2d, nn.Linear)):
                assert getattr(m, "groups", 1) == 1
                m.weight.data[:, item.idxs] = 0
    return model


def random_keep(groups: list[Group], seed: int) -> dict[str, list[int]]:
    rng = np.random.default_rng(seed)
    keep = {}
    for g in groups:
        count = int(rng.integers(1, g.channels))
        keep[g.name] = sorted(int(i) for i in rng.choice(g.channels, count, replace=False))
    return keep


@pytest.mark.parametrize("name", list(MODELS))
def test_pruned_model_equals_unpruned_with_pruned_channels_zeroed(name: str) -> None:
    make, shape = MODELS[name]
    torch.manual_seed(0)
    model = randomize_bn(make(), 1)
    x = torch.randn(shape)
    groups = {g.name: g for g in find_groups(model, x)}
    keep = random_keep(list(groups.values()), 2)
    assert keep, "no prunable groups found"
    pruned = prune_channels(model, x, keep)
    removed = {n: sorted(set(range(groups[n].channels)) - set(k)) for n, k in keep.items()}
    reference = zero_channels(model, x, removed)
    with torch.no_grad():
        want, got = reference(x), pruned(x)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4 * float(want.abs().max()))
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in model.parameters())


def test_residual_and_concat_channels_are_pruned_together() -> None:
    model, x = ResCat().eval(), torch.randn(1, 3, 8, 8)
    groups = {g.name: g for g in find_groups(model, x)}
    assert set(groups) == {"a", "c", "d"}  # b's outputs are a's (residual); the head is the output
    assert {(m.module, m.role) for m in groups["a"].members} == {("a", "out"), ("b", "both"), ("d", "in")}
    assert {(m.module, m.role) for m in groups["c"].members} == {("c", "out"), ("d", "in")}
    pruned = prune_channels(model, x, {"a": [0, 2, 5], "c": [1, 4], "d": [0, 1, 2, 3, 4, 5]})
    assert (pruned.a.out_channels, pruned.b.in_channels, pruned.b.out_channels) == (3, 3, 3)
    assert (pruned.c.out_channels, pruned.d.in_channels, pruned.d.out_channels) == (2, 5, 6)
    assert pruned.head.in_features == 6
    assert torch.isfinite(pruned(x)).all()


def test_depthwise_channels_pass_through() -> None:
    model, x = load_default(), torch.zeros(1, 1, 28, 28)
    groups = {g.name: g for g in find_groups(model, x)}
    assert {(m.module, m.role) for m in groups["expand.0"].members} == {("expand.0", "out"), ("dw.0", "both"), ("pw.0", "in")}
    pruned = prune_channels(model, x, {"expand.0": list(range(24))})
    assert (pruned.expand[0].out_channels, pruned.dw[0].groups, pruned.pw[0].in_channels) == (24, 24, 24)


def test_pruned_model_exports_to_graph_and_onnx_and_trains() -> None:
    model, x = load_default(), torch.rand(1, 1, 28, 28)
    groups = find_groups(model, x)
    scores = {g.name: np.arange(g.channels)[::-1].astype(float) for g in groups}
    keep = keep_most_important(scores, {g.name: max(1, g.channels * 5 // 8) for g in groups})
    assert keep["stem.0"] == list(range(10))  # the highest scores are the lowest indices
    pruned = prune_channels(model, x, keep)
    with torch.no_grad():
        want = pruned(x).numpy()
    got = leanconv.runtime.compile(import_torch(pruned, x)).run(x.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    buf = io.BytesIO()
    torch.onnx.export(pruned, (x,), buf, opset_version=17, dynamo=False, input_names=["x"])
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": x.numpy()})[0], want, rtol=1e-4, atol=1e-4)
    gen = torch.Generator().manual_seed(0)
    data = [(torch.rand(16, 1, 28, 28, generator=gen), torch.randint(0, 10, (16,), generator=gen))] * 4

    def train_loss(m: nn.Module) -> float:  # what the optimizer minimizes: batch statistics
        with torch.no_grad():
            return float(nn.functional.cross_entropy(m.train()(data[0][0]), data[0][1]))

    before = train_loss(pruned)
    tuned = fine_tune(pruned, data, epochs=3, lr=1e-2)
    assert not tuned.training
    assert train_loss(tuned) < before


def test_bad_keep_is_a_prune_error() -> None:
    model, x = load_default(), torch.zeros(1, 1, 28, 28)
    with pytest.raises(PruneError, match="no prunable group 'nope'"):
        prune_channels(model, x, {"nope": [0]})
    with pytest.raises(PruneError, match="cannot keep"):
        prune_channels(model, x, {"stem.0": []})
    with pytest.raises(PruneError, match="cannot keep"):
        prune_channels(model, x, {"stem.0": [16]})
    with pytest.raises(PruneError, match="1..16"):
        keep_most_important({"stem.0": np.ones(16)}, {"stem.0": 17})
