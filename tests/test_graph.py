"""Graph IR: shapes, MACs, batch-norm folding and validation, over generated layer configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import rel_err
from hypothesis import given, settings
from hypothesis import strategies as st

from leanconv.errors import ShapeError, UnsupportedOpError
from leanconv.graph import Graph, Layer
from leanconv.io.torch_import import import_torch
from leanconv.runtime.reference import run


@st.composite
def conv_configs(draw: st.DrawFn) -> dict[str, int]:
    groups = draw(st.sampled_from([1, 2, 3]))
    k = draw(st.sampled_from([1, 2, 3, 5]))
    dilation = draw(st.integers(1, 2))
    cfg = dict(
        c_in=groups * draw(st.integers(1, 3)), c_out=groups * draw(st.integers(1, 3)), groups=groups, k=k,
        stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 2)), dilation=dilation,
        h=draw(st.integers(1, 9)), w=draw(st.integers(1, 9)), batch=draw(st.integers(1, 2)),
    )
    span = dilation * (k - 1) + 1
    if cfg["h"] + 2 * cfg["padding"] < span or cfg["w"] + 2 * cfg["padding"] < span:
        cfg["h"] = cfg["w"] = span
    return cfg


class ConvBnPool(nn.Module):
    def __init__(self, c: dict[str, int], bias: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c["c_in"], c["c_out"], c["k"], c["stride"], c["padding"], c["dilation"], c["groups"],
                              bias=bias)
        self.bn = nn.BatchNorm2d(c["c_out"])
        self.act = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c["c_out"], 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.act(self.bn(self.conv(x)))), 1))


@settings(max_examples=40, deadline=None)
@given(conv_configs(), st.booleans(), st.integers(0, 2**31 - 1))
def test_imported_conv_bn_matches_torch_and_counts_macs(c: dict[str, int], bias: bool, seed: int) -> None:
    torch.manual_seed(seed)
    m = ConvBnPool(c, bias)
    with torch.no_grad():
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.5, 2)
        m.bn.weight.uniform_(-2, 2)
        m.bn.bias.uniform_(-1, 1)
    x = torch.randn(c["batch"], c["c_in"], c["h"], c["w"])
    g = import_torch(m, x)
    assert [layer.op for layer in g] == ["conv", "clip", "global_avgpool", "flatten", "linear"]  # BN folded
    with torch.no_grad():
        assert rel_err(run(g, x.numpy(), np.float64)[0], m.double()(x.double()).numpy()) < 1e-5
    conv = g.layers[0]
    n, o, oh, ow = conv.shape
    assert g.stats()[0].macs == n * o * oh * ow * (c["c_in"] // c["groups"]) * c["k"] ** 2
    assert conv.params == c["c_out"] * (c["c_in"] // c["groups"]) * c["k"] ** 2 + c["c_out"]


def test_kinds_tell_depthwise_and_pointwise_apart() -> None:
    m = nn.Sequential(nn.Conv2d(4, 4, 3, groups=4), nn.Conv2d(4, 8, 1), nn.Conv2d(8, 8, 3))
    g = import_torch(m, torch.zeros(1, 4, 8, 8))
    assert [layer.kind for layer in g] == ["depthwise", "conv1x1", "conv"]


def test_batchnorm_with_two_readers_is_not_folded() -> None:
    class TwoReaders(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.bn(y) + y

    m = TwoReaders().eval()
    with torch.no_grad():
        m.bn.running_var.fill_(4.0)
    x = torch.randn(1, 2, 3, 3)
    g = import_torch(m, x)
    assert [layer.op for layer in g] == ["conv", "batchnorm", "add"]
    with torch.no_grad():
        assert rel_err(run(g, x.numpy())[0], m(x).numpy()) < 1e-6


def test_validation_errors_name_the_problem() -> None:
    conv = {"weight": np.zeros((2, 1, 1, 1), np.float32)}
    attrs = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}
    with pytest.raises(ShapeError, match="reads 'missing'"):
        Graph("g", {"x": (1, 1, 2, 2)}, [Layer("c", "conv", ["missing"], attrs, conv)], ["c"])
    with pytest.raises(ShapeError, match="defined twice"):
        Graph("g", {"x": (1, 1, 2, 2)}, [Layer("x", "relu", ["x"])], ["x"])
    with pytest.raises(ShapeError, match=r"layer 'c' \(conv\).*1 channels.*needs 3"):
        Graph("g", {"x": (1, 1, 2, 2)}, [Layer("c", "conv", ["x"], attrs, {"weight": np.zeros((2, 3, 1, 1))})], ["c"])
    with pytest.raises(UnsupportedOpError, match="'lstm'"):
        Layer("l", "lstm", ["x"])


def test_reference_run_checks_its_inputs() -> None:
    g = Graph("g", {"x": (1, 2, 3, 3)}, [Layer("r", "relu", ["x"])], ["r"])
    with pytest.raises(ShapeError, match="expects"):
        run(g, np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(ShapeError, match="missing graph input"):
        run(g, {"y": np.zeros((1, 2, 3, 3), np.float32)})
