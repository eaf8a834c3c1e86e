"""The ONNX ops that detector graphs use (Resize, Slice, Split, Pad, ConvTranspose, Squeeze,
LayerNormalization, ...) import into the IR and match onnxruntime, one node at a time over their
attribute forms, and together in a YOLO-style detection head exported from torch."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
from conftest import rel_err
from onnx import TensorProto, helper, numpy_helper

from leanconv.errors import UnsupportedOpError
from leanconv.io.onnx_import import import_onnx
from leanconv.runtime.reference import run

TOL = 1e-5
INT_MAX = 2**63 - 1


def one_node_model(op: str, x_shape: tuple[int, ...], consts: dict[str, np.ndarray | None], opset: int,
                   outputs: int = 1, **attrs: Any) -> onnx.ModelProto:
    """A model of one ``op`` node reading ``x`` and then the constants (initializers, in order;
    None leaves an optional input out)."""
    inputs = ["x"] + [name if value is not None else "" for name, value in consts.items()]
    while inputs[-1] == "":
        inputs.pop()
    outs = [f"y{i}" for i in range(outputs)]
    node = helper.make_node(op, inputs, outs, name=f"the_{op.lower()}", **attrs)
    inits = [numpy_helper.from_array(v, n) for n, v in consts.items() if v is not None]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def assert_matches_onnxruntime(model: onnx.ModelProto, tol: float = TOL) -> None:
    x_info = model.graph.input[0].type.tensor_type.shape.dim
    x = np.random.default_rng(0).standard_normal([d.dim_value for d in x_info]).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"x": x})
    ours = run(import_onnx(model), x)
    assert len(ours) == len(ref)
    for o, r in zip(ours, ref):
        assert o.shape == r.shape
        assert rel_err(o, r) < tol


# -- Resize ---------------------------------------------------------------------------------------

RESIZES = [  # (input H, W) -> (scales) or (sizes): up, down, non-integer, one pixel
    ((4, 5), "scales", (2.0, 3.0)), ((6, 9), "scales", (0.5, 1 / 3)), ((5, 7), "scales", (1.5, 2.25)),
    ((4, 6), "sizes", (7, 3)), ((3, 3), "sizes", (9, 8)), ((5, 4), "sizes", (1, 1)), ((8, 8), "scales", (0.75, 0.6)),
]


@pytest.mark.parametrize("mode, nearest_mode", [("nearest", "floor"), ("nearest", "ceil"),
                                                ("nearest", "round_prefer_floor"),
                                                ("nearest", "round_prefer_ceil"), ("linear", "floor")])
@pytest.mark.parametrize("coord", ["half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners"])
def test_resize_matches_onnxruntime(mode: str, nearest_mode: str, coord: str) -> None:
    for (h, w), given, values in RESIZES:
        full = np.array((1, 1, *values), np.float32) if given == "scales" else np.array((1, 2, *values), np.int64)
        consts: dict[str, np.ndarray | None] = {"roi": None, "scales": full if given == "scales" else None,
                                                "sizes": full if given == "sizes" else None}
        model = one_node_model("Resize", (1, 2, h, w), consts, 13, mode=mode,
                               coordinate_transformation_mode=coord, nearest_mode=nearest_mode)
        assert_matches_onnxruntime(model)


def test_upsample_of_old_opsets_matches_onnxruntime() -> None:
    model = one_node_model("Upsample", (1, 2, 3, 4), {"scales": np.array([1, 1, 2, 3], np.float32)}, 9)
    assert_matches_onnxruntime(model)


# -- Slice, Split, Squeeze, Unsqueeze ---------------------------------------------------------------


def ints(*v: int) -> np.ndarray:
    return np.array(v, np.int64)


@pytest.mark.parametrize("starts, ends, axes", [
    (ints(1), ints(3), ints(1)),
    (ints(-2, 0), ints(INT_MAX, 2), ints(-1, 2)),  # from the end, clamped, negative axes
    (ints(0, 1, 2), ints(1, -1, 4), None),  # no axes: the first dimensions
    (ints(-100), ints(100), ints(3)),  # the whole axis: nothing to cut
])
def test_slice_matches_onnxruntime(starts: np.ndarray, ends: np.ndarray, axes: np.ndarray | None) -> None:
    consts = {"starts": starts, "ends": ends, "axes": axes}
    assert_matches_onnxruntime(one_node_model("Slice", (2, 4, 5, 6), consts, 13))


def test_slice_with_a_step_is_unsupported_and_named() -> None:
    model = one_node_model("Slice", (1, 4, 6, 6), {"starts": ints(0), "ends": ints(6), "axes": ints(3),
                                                   "steps": ints(2)}, 13)
    with pytest.raises(UnsupportedOpError, match="the_slice.*Slice.*steps"):
        import_onnx(model)


@pytest.mark.parametrize("opset, split, attrs, outputs", [
    (13, ints(2, 1, 3), {"axis": 1}, 3),
    (13, None, {"axis": -1}, 2),  # equal halves
    (11, None, {"axis": 2, "split": [1, 4]}, 2),  # sizes as an attribute before opset 13
    (18, None, {"axis": 1, "num_outputs": 4}, 4),  # 7 into 4: pieces of ceil(7/4), the last smaller
])
def test_split_matches_onnxruntime(opset: int, split: np.ndarray | None, attrs: dict[str, Any], outputs: int) -> None:
    shape = (1, 6, 5, 4) if attrs.get("num_outputs") != 4 else (1, 7, 5, 4)
    model = one_node_model("Split", shape, {"split": split}, opset, outputs, **attrs)
    assert_matches_onnxruntime(model)


def test_squeeze_and_unsqueeze_match_onnxruntime() -> None:
    assert_matches_onnxruntime(one_node_model("Squeeze", (1, 3, 1, 4), {"axes": ints(2)}, 13))
    assert_matches_onnxruntime(one_node_model("Squeeze", (1, 3, 1, 4), {}, 13))
    assert_matches_onnxruntime(one_node_model("Unsqueeze", (2, 3, 4), {"axes": ints(0, -1)}, 13))
    assert_matches_onnxruntime(one_node_model("Unsqueeze", (2, 3, 4), {}, 11, axes=[1]))


# -- Pad, ConvTranspose, LayerNormalization ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads, value", [((0, 0, 1, 2, 0, 0, 2, 1), 0.0), ((0, 0, 0, 1, 0, 0, 2, 0), -1.5),
                                         ((0, 0, 2, 0, 0, 0, 0, 0), 0.0), ((0, 0, 0, 0, 0, 0, 0, 3), 2.0)])
def test_pad_matches_onnxruntime(pads: tuple[int, ...], value: float, mode: str) -> None:
    model = one_node_model("Pad", (1, 2, 3, 4), {"pads": ints(*pads), "value": np.array(value, np.float32)}, 13,
                           mode=mode)
    assert_matches_onnxruntime(model)
    graph = import_onnx(model)
    assert [layer.op for layer in graph] == ["pad"]


def test_pad_of_channels_or_wrapped_is_unsupported_and_named() -> None:
    for pads, mode, opset in (((0, 1, 0, 0, 0, 0, 0, 0), "constant", 13), ((0, 0, 1, 1, 0, 0, 1, 1), "wrap", 19)):
        model = one_node_model("Pad", (1, 2, 3, 4), {"pads": ints(*pads)}, opset, mode=mode)
        with pytest.raises(UnsupportedOpError, match="the_pad.*Pad"):
            import_onnx(model)


@pytest.mark.parametrize("pads, stride, output_padding", [((1, 1, 1, 1), (2, 2), (1, 1)), ((0, 1, 2, 0), (2, 3), (0, 0)),
                                                          ((1, 0, 0, 2), (1, 2), (0, 1))])
def test_conv_transpose_matches_onnxruntime(pads: tuple[int, ...], stride: tuple[int, int],
                                            output_padding: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    consts = {"w": rng.standard_normal((4, 3, 3, 4)).astype(np.float32),
              "b": rng.standard_normal(6).astype(np.float32)}
    model = one_node_model("ConvTranspose", (1, 4, 5, 6), consts, 13, pads=list(pads), strides=list(stride),
                           output_padding=list(output_padding), group=2)
    assert_matches_onnxruntime(model)


@pytest.mark.parametrize("axis", [-1, 2])
def test_layer_normalization_matches_onnxruntime(axis: int) -> None:
    rng = np.random.default_rng(4)
    shape = (2, 3, 4, 5)
    normalized = shape[axis % 4:]
    consts = {"scale": rng.standard_normal(normalized).astype(np.float32),
              "bias": rng.standard_normal(normalized).astype(np.float32)}
    assert_matches_onnxruntime(one_node_model("LayerNormalization", shape, consts, 17, axis=axis, epsilon=1e-3))


# -- a YOLO-style detection head exported from torch ------------------------------------------------------


class YoloHead(nn.Module):
    """A YOLOv5-style head over two feature levels: conv -> (N, A, C+5, H, W) -> permute ->
    sigmoid -> split into xy, wh, scores -> decoded with grid and anchor constants -> concat."""

    def __init__(self, classes: int = 3, anchors: int = 2) -> None:
        super().__init__()
        self.a, self.o = anchors, classes + 5
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.SiLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.SiLU())
        self.down = nn.Sequential(nn.Conv2d(16, 16, 3, 2, 1), nn.SiLU())
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.heads = nn.ModuleList([nn.Conv2d(32, self.a * self.o, 1), nn.Conv2d(16, self.a * self.o, 1)])
        self.anchors = [torch.tensor([[10.0, 13.0], [16.0, 30.0]]), torch.tensor([[30.0, 61.0], [62.0, 45.0]])]

    def decode(self, level: int, x: torch.Tensor, stride: float) -> torch.Tensor:
        n, _, h, w = x.shape
        y = x.view(n, self.a, self.o, h, w).permute(0, 1, 3, 4, 2).sigmoid()
        xy, wh, scores = y.split((2, 2, self.o - 4), dim=4)
        gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                indexing="ij")
        grid = torch.stack((gx, gy), 2).view(1, 1, h, w, 2)
        xy = (xy * 2 - 0.5 + grid) * stride
        wh = (wh * 2) ** 2 * self.anchors[level].view(1, self.a, 1, 1, 2)
        box = torch.cat((xy, wh, scores[..., :1], scores[..., 1:]), 4)
        return box.view(n, -1, self.o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x)
        g = self.down(f)
        fine = torch.cat([f, self.up(g)], 1)
        return torch.cat([self.decode(0, self.heads[0](fine), 4.0), self.decode(1, self.heads[1](g), 8.0)], 1)


def test_yolo_style_head_exported_from_torch_matches_onnxruntime() -> None:
    torch.manual_seed(0)
    module = YoloHead().eval()
    x = torch.randn(1, 3, 32, 48)
    buf = io.BytesIO()
    torch.onnx.export(module, (x,), buf, opset_version=17, dynamo=False, input_names=["x"])
    model = onnx.load_from_string(buf.getvalue())
    used = {node.op_type for node in model.graph.node}
    assert {"Reshape", "Transpose", "Sigmoid", "Split", "Slice", "Mul", "Add", "Concat", "Resize"} <= used
    assert_matches_onnxruntime(model)
    with torch.no_grad():
        expected = module(x).numpy()
    assert rel_err(run(import_onnx(model), x.numpy())[0], expected) < TOL
