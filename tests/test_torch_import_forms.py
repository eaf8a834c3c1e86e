"""Every call form torch.fx produces for flatten, mean, chunk, split, reshape, concatenation,
indexing, arithmetic, activations, normalization, padding, pooling and interpolation imports,
and the imported Graph reproduces torch's output."""

from __future__ import annotations

from collections.abc import Callable

import operator

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import rel_err

from leanconv.errors import UnsupportedOpError
from leanconv.io.torch_import import import_torch
from leanconv.runtime.reference import run

Forward = Callable[[torch.Tensor], torch.Tensor | tuple[torch.Tensor, ...]]


class Lambda(nn.Module):
    """A module whose forward is `fn`; torch.fx traces through the function's body."""

    def __init__(self, fn: Forward) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return self.fn(x)


def _pair_of_chunks(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = torch.chunk(x, 2, 1)
    return b, a


FORMS: dict[str, Forward | nn.Module] = {
    "torch.flatten(x, 1)": lambda x: torch.flatten(x, 1),
    "torch.flatten(x, start_dim=1, end_dim=-1)": lambda x: torch.flatten(x, start_dim=1, end_dim=-1),
    "torch.flatten(x, 1, 2)": lambda x: torch.flatten(x, 1, 2),
    "x.flatten(1)": lambda x: x.flatten(1),
    "x.flatten(start_dim=2)": lambda x: x.flatten(start_dim=2),
    "x.flatten(end_dim=1)": lambda x: x.flatten(end_dim=1),
    "x.flatten()": lambda x: x.flatten(),
    "nn.Flatten()": nn.Flatten(),
    "nn.Flatten(2, 3)": nn.Flatten(2, 3),
    "nn.Flatten(0, 1)": nn.Flatten(0, 1),
    "x.mean((2, 3))": lambda x: x.mean((2, 3)),
    "x.mean(dim=[2, 3], keepdim=True)": lambda x: x.mean(dim=[2, 3], keepdim=True),
    "x.mean(dim=[2, 3], keepdim=False)": lambda x: x.mean(dim=[2, 3], keepdim=False),
    "x.mean([-1, -2], True)": lambda x: x.mean([-1, -2], True),
    "torch.mean(x, dim=(2, 3))": lambda x: torch.mean(x, dim=(2, 3)),
    "torch.mean(x, 1, keepdim=True)": lambda x: torch.mean(x, 1, keepdim=True),
    "x.mean(-1)": lambda x: x.mean(-1),
    "x.mean(1)": lambda x: x.mean(1),
    "x.mean()": lambda x: x.mean(),
    "torch.chunk(x, 2, 1)": _pair_of_chunks,
    "x.chunk(2, dim=1)[1]": lambda x: x.chunk(2, dim=1)[1],
    "x.chunk(3, dim=-1) (uneven)": lambda x: x.chunk(3, dim=-1),
    "torch.cat(x.chunk(2, 1)[::-1]...)": lambda x: torch.cat([x.chunk(2, 1)[1], x.chunk(2, 1)[0]], 1),
    "torch.split(x, 1, dim=1)": lambda x: torch.split(x, 1, dim=1),
    "torch.split(x, [3, 2], 2)": lambda x: torch.split(x, [3, 2], 2),
    "x.split([1, 3], 1)[1]": lambda x: x.split([1, 3], 1)[1],
    "x.split(split_size=2, dim=3)": lambda x: x.split(split_size=2, dim=3),
    "torch.reshape(x, (1, -1))": lambda x: torch.reshape(x, (1, -1)),
    "x.reshape(2, -1, 5)": lambda x: x.reshape(2, -1, 5),
    "x.view(x.size(0), -1)": lambda x: x.view(x.size(0), -1),
    "torch.cat((x, x))": lambda x: torch.cat((x, x)),
    "torch.cat([x, x.relu()], dim=-1)": lambda x: torch.cat([x, x.relu()], dim=-1),
    "torch.cat(tensors=[x, x], dim=1)": lambda x: torch.cat(tensors=[x, x], dim=1),
    "torch.concat([x, x], 2)": lambda x: torch.concat([x, x], 2),
    "torch.concatenate([x, x], axis=3)": lambda x: torch.concatenate([x, x], axis=3),
    "x * x.sigmoid()": lambda x: x * x.sigmoid(),
    "x * torch.sigmoid(x).mean((2, 3), keepdim=True)": lambda x: x * torch.sigmoid(x).mean((2, 3), keepdim=True),
    "F.relu(x, inplace=True)": lambda x: F.relu(x.clone(), inplace=True),
    "F.hardswish(x) + F.hardsigmoid(x, inplace=True)": lambda x: F.hardswish(x) + F.hardsigmoid(x.clone(), inplace=True),
    "F.gelu(x) - F.gelu(x, approximate='tanh')": lambda x: F.gelu(x) * 3 - F.gelu(x, approximate="tanh"),
    "torch.add(x, 1)": lambda x: torch.add(x, 1),
    "operator.add(2, x)": lambda x: operator.add(2, x),
    "torch.add(x, x.tanh(), alpha=-0.5)": lambda x: torch.add(x, x.tanh(), alpha=-0.5),
    "torch.sub(x, 3.0, alpha=2)": lambda x: torch.sub(x, 3.0, alpha=2),
    "1 - x / 4": lambda x: 1 - x / 4,
    "2 / (x * x + 1)": lambda x: 2 / (x * x + 1),
    "x ** 2 + 2 ** x": lambda x: x**2 + 2**x,
    "x.pow(3)": lambda x: x.pow(3),
    "x[:, 0]": lambda x: x[:, 0],
    "x[:, 1:3]": lambda x: x[:, 1:3],
    "x[..., -2:]": lambda x: x[..., -2:],
    "x[0, :, None, 1:-1, ::1]": lambda x: x[0, :, None, 1:-1, ::1],
    "x[:, :x.size(1) // 2]": lambda x: x[:, : x.size(1) // 2],
    "torch.unsqueeze(x[:, 0], 1) * 0.5 + 0.1 (transform_input)": lambda x: torch.cat(
        [torch.unsqueeze(x[:, i], 1) * (0.2 + i) + 0.1 * i for i in range(3)], 1),
    "x.unsqueeze(-1).squeeze(-1)": lambda x: x.unsqueeze(-1).squeeze(-1),
    "F.layer_norm(x, x.shape[-1:])": lambda x: F.layer_norm(x, x.shape[-1:]),
    "x.permute(0, 2, 3, 1) -> F.layer_norm -> permute (ConvNeXt's LayerNorm2d)": lambda x: F.layer_norm(
        x.permute(0, 2, 3, 1), (4,), torch.linspace(0.5, 1.5, 4), torch.linspace(-1, 1, 4), 1e-6).permute(0, 3, 1, 2),
    "nn.LayerNorm([5, 6])": nn.LayerNorm([5, 6]),
    "nn.LayerNorm(6, elementwise_affine=False)": nn.LayerNorm(6, elementwise_affine=False),
    "nn.Sequential(nn.GELU(), nn.Dropout(), nn.Identity(), nn.ReLU(inplace=True))": nn.Sequential(
        nn.GELU(), nn.Dropout(), nn.Identity(), nn.ReLU(inplace=True)),
    "F.dropout(x, 0.3, training=False)": lambda x: F.dropout(x, 0.3, training=False),
    "F.pad(x, (1, 2, 3, 0))": lambda x: F.pad(x, (1, 2, 3, 0)),
    "F.pad(x, [0, 1], value=-2.0)": lambda x: F.pad(x, [0, 1], value=-2.0),
    "nn.ZeroPad2d((0, 1, 2, 0))": nn.ZeroPad2d((0, 1, 2, 0)),
    "nn.ReflectionPad2d((2, 1, 0, 3))": nn.ReflectionPad2d((2, 1, 0, 3)),
    "F.pad(x, (1, 1, 2, 2), mode='replicate')": lambda x: F.pad(x, (1, 1, 2, 2), mode="replicate"),
    "F.adaptive_avg_pool2d(x, (5, 3)) (even windows)": lambda x: F.adaptive_avg_pool2d(x, (5, 3)),
    "F.adaptive_avg_pool2d(x, 3) (uneven windows)": lambda x: F.adaptive_avg_pool2d(x, 3),
    "nn.AdaptiveAvgPool2d((None, 4))": nn.AdaptiveAvgPool2d((None, 4)),
    "F.interpolate(x, scale_factor=2)": lambda x: F.interpolate(x, scale_factor=2),
    "F.interpolate(x, scale_factor=1.7)": lambda x: F.interpolate(x, scale_factor=1.7),
    "F.interpolate(x, size=(7, 4), mode='nearest-exact')": lambda x: F.interpolate(x, size=(7, 4), mode="nearest-exact"),
    "F.interpolate(x, scale_factor=(1.5, 0.6), mode='bilinear')": lambda x: F.interpolate(
        x, scale_factor=(1.5, 0.6), mode="bilinear"),
    "F.interpolate(x, scale_factor=1.5, mode='bilinear', recompute_scale_factor=True)": lambda x: F.interpolate(
        x, scale_factor=1.5, mode="bilinear", recompute_scale_factor=True),
    "nn.Upsample(size=(3, 9), mode='bilinear', align_corners=True)": nn.Upsample(
        size=(3, 9), mode="bilinear", align_corners=True),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_call_form_imports_and_matches_torch(form: str) -> None:
    fn = FORMS[form]
    module = fn if isinstance(fn, nn.Module) else Lambda(fn)
    x = torch.randn(2, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    graph = import_torch(module, x)
    with torch.no_grad():
        expected = module(x)
    expected = expected if isinstance(expected, tuple) else (expected,)
    ours = run(graph, x.numpy())
    assert len(ours) == len(expected)
    for o, e in zip(ours, expected):
        assert o.shape == tuple(e.shape)
        assert rel_err(o, e.numpy()) < 1e-5


def test_split_pieces_become_one_slice_layer_each() -> None:
    graph = import_torch(Lambda(lambda x: x.split([1, 3], 1)[1]), torch.zeros(1, 4, 2, 2))
    assert [(layer.op, layer.attrs) for layer in graph] == [("slice", {"axis": 1, "start": 1, "end": 4})]


def test_spatial_mean_is_a_global_avgpool() -> None:
    graph = import_torch(Lambda(lambda x: x.mean((2, 3))), torch.zeros(1, 4, 2, 2))
    assert [layer.op for layer in graph] == ["global_avgpool", "flatten"]
    assert graph.layers[-1].shape == (1, 4)


def test_reference_run_takes_torch_tensors() -> None:
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    x = torch.randn(1, 3, 6, 6)
    graph = import_torch(module, x)
    with torch.no_grad():
        expected = module(x).numpy()
    name = next(iter(graph.inputs))
    for given in (x, {name: x}):
        assert rel_err(run(graph, given)[0], expected) < 1e-6
    assert run(graph, x, np.float64)[0].dtype == np.float64


class LayerScale(nn.Module):
    """ConvNeXt's block tail: a learned per-channel scale, stochastic depth, the residual."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.linspace(0.1, 1.0, 4).reshape(4, 1, 1))
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torchvision.ops

        y = torchvision.ops.stochastic_depth(self.gamma * self.conv(x), 0.5, "row", self.training)
        y += x
        return y


def test_layer_scale_is_a_constant_of_the_graph() -> None:
    module = LayerScale()
    x = torch.randn(1, 4, 5, 6)
    graph = import_torch(module, x)
    assert list(graph.inputs) == ["x"]
    mul = next(layer for layer in graph if layer.op == "mul")
    assert mul.weights["const"].shape == (4, 1, 1)
    with torch.no_grad():
        assert rel_err(run(graph, x)[0], module(x).numpy()) < 1e-6


def test_random_calls_at_inference_are_unsupported() -> None:
    with pytest.raises(UnsupportedOpError, match="dropout.*training=True"):
        import_torch(Lambda(lambda x: F.dropout(x, 0.2)), torch.zeros(1, 2, 3, 3))


class ChannelsLastBlock(nn.Module):
    """ConvNeXt's block body: permute to NHWC, LayerNorm, Linear, GELU, Linear, a per-channel
    scale, permute back; ``tap`` also returns a tensor from inside the run."""

    def __init__(self, tap: bool = False) -> None:
        super().__init__()
        self.tap = tap
        self.norm = nn.LayerNorm(4, eps=1e-6)
        self.up, self.down = nn.Linear(4, 8), nn.Linear(8, 4)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        h = self.up(self.norm(x.permute(0, 2, 3, 1)))
        y = (self.down(F.gelu(h)) * self.scale).permute(0, 3, 1, 2) + x
        return (y, h) if self.tap else y


def test_channels_last_runs_become_nchw_layers() -> None:
    x = torch.randn(2, 4, 5, 6)
    module = ChannelsLastBlock()
    graph = import_torch(module, x)
    assert [layer.op for layer in graph] == ["layernorm", "conv", "gelu", "conv", "mul", "add"]
    assert graph.layers[0].attrs["axes"] == (1,)
    with torch.no_grad():
        assert rel_err(run(graph, x)[0], module(x).numpy()) < 1e-5


def test_channels_last_run_read_from_outside_is_kept() -> None:
    x = torch.randn(2, 4, 5, 6)
    module = ChannelsLastBlock(tap=True)
    graph = import_torch(module, x)
    assert sum(layer.op == "transpose" for layer in graph) == 2
    with torch.no_grad():
        for ours, ref in zip(run(graph, x), module(x)):
            assert rel_err(ours, ref.numpy()) < 1e-5


def test_a_transpose_and_its_inverse_cancel() -> None:
    graph = import_torch(Lambda(lambda x: x.permute(0, 2, 3, 1).permute(0, 3, 1, 2).relu()), torch.zeros(1, 2, 3, 4))
    assert [layer.op for layer in graph] == ["relu"]
