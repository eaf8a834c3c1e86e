"""An op outside the op table fails to import with an UnsupportedOpError that names the op and
the node it sits in, for both importers."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

from leanconv.errors import UnsupportedOpError
from leanconv.io.onnx_import import import_onnx
from leanconv.io.torch_import import import_torch


class CumsumFunction(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x.relu(), 1)


class CumsumMethod(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.relu().cumsum(dim=1)


class WithInstanceNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.norm = nn.InstanceNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


@pytest.mark.parametrize("module, message", [
    (CumsumFunction(), r"torch node 'cumsum' \(call_function cumsum\): 'cumsum' is not supported"),
    (CumsumMethod(), r"torch node 'cumsum' \(call_method cumsum\): 'cumsum' is not supported"),
    (WithInstanceNorm(), r"torch node 'norm' \(call_module norm\): module InstanceNorm2d is not supported"),
])
def test_torch_op_outside_the_table_names_op_and_node(module: nn.Module, message: str) -> None:
    with pytest.raises(UnsupportedOpError, match=message):
        import_torch(module, torch.zeros(1, 3, 4, 4))


def _onnx_model(nodes: list[onnx.NodeProto], out: str) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w")
    s = numpy_helper.from_array(np.ones(2, np.float32), "s")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], [w, s])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("node, message", [
    (helper.make_node("Erf", ["c"], ["y"], name="gelu/erf"), r"ONNX node 'gelu/erf' \(Erf\): op 'Erf' is not supported"),
    (helper.make_node("Erf", ["c"], ["y"]), r"ONNX node 'y' \(Erf\): op 'Erf' is not supported"),  # unnamed: its output
    (helper.make_node("InstanceNormalization", ["c", "s", "s"], ["y"], name="in1"),
     r"ONNX node 'in1' \(InstanceNormalization\)"),
    (helper.make_node("MyOp", ["c"], ["y"], name="custom1", domain="com.example"),
     r"ONNX node 'custom1' \(MyOp\): custom domain 'com.example'"),
])
def test_onnx_op_outside_the_table_names_op_and_node(node: onnx.NodeProto, message: str) -> None:
    model = _onnx_model([helper.make_node("Conv", ["x", "w"], ["c"], name="conv1"), node], "y")
    with pytest.raises(UnsupportedOpError, match=message):
        import_onnx(model)
