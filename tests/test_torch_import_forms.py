"""Every call form torch.fx produces for flatten, mean, chunk, split and reshape imports, and
the imported Graph reproduces torch's output."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import rel_err

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
