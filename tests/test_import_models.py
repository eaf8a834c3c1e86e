"""Every real model imports, and the imported Graph reproduces its framework's output to 1e-4
relative (torch for torch models, onnxruntime for ONNX models); the shapes the op table infers
are the shapes the reference functions compute."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import rel_err
from onnx import numpy_helper

from leanconv.io import zoo
from leanconv.io.onnx_import import import_onnx
from leanconv.models.default_net import default_record, load_digits_split
from leanconv.graph import Graph
from leanconv.runtime import compile
from leanconv.runtime.reference import meta_shapes, run

TOL = 1e-4


def ort_outputs(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i in sess.get_inputs() if i.name not in {t.name for t in model.graph.initializer}}
    return sess.run(None, feeds)  # type: ignore[return-value]


def assert_inferred_shapes_are_computed(graph: Graph) -> None:
    assert meta_shapes(graph) == {layer.name: layer.shape for layer in graph}


IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # PP-OCR's normalization


def image_batch(shape: tuple[int, ...], photo: str = "chelsea",
                norm: tuple[tuple[float, ...], tuple[float, ...]] = IMAGENET) -> np.ndarray:
    """A real photo from skimage (or, for "text", printed text rendered with PIL) resized to
    `shape` and normalized, NCHW float32."""
    from skimage import color, data, transform

    n, c, h, w = shape
    if photo == "text":
        img = rendered_text(h, w)
    else:
        img = getattr(data, photo)()
        img = transform.resize(img if img.ndim == 3 else color.gray2rgb(img), (h, w), anti_aliasing=True)
    x = (img - np.array(norm[0])) / np.array(norm[1])
    return np.broadcast_to(x.transpose(2, 0, 1)[:c], (n, c, h, w)).astype(np.float32).copy()


def rendered_text(h: int, w: int) -> np.ndarray:
    """Black printed lines on white, (h, w, 3) in [0, 1]: something a text detector must find."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(h // 7, 8))
    for i, line in enumerate(["leanconv 2026", "SMALL DEVICES", "fast convs 123"]):
        draw.text((w // 24, h // 14 + i * h * 3 // 10), line, fill="black", font=font)
    return np.asarray(img, np.float64) / 255.0


def test_default_model_matches_torch_and_its_recorded_accuracy() -> None:
    record = default_record()
    assert record["test_accuracy"] >= 0.97  # type: ignore[operator]
    split = load_digits_split(int(record["seed"]))  # type: ignore[arg-type]
    module = zoo.module("default")
    from leanconv.io.torch_import import import_torch

    graph = import_torch(module, torch.from_numpy(split.x_test))
    assert_inferred_shapes_are_computed(graph)
    logits = run(graph, split.x_test)[0]
    with torch.no_grad():
        assert rel_err(logits, module(torch.from_numpy(split.x_test)).numpy()) < TOL
    accuracy = float((logits.argmax(1) == split.y_test).mean())
    assert accuracy == pytest.approx(record["test_accuracy"], abs=1e-3)
    assert {layer.kind for layer in graph} >= {"conv", "conv1x1", "depthwise", "linear", "add", "maxpool"}
    assert not any(layer.op == "batchnorm" for layer in graph)


def test_efficientnet_lite0_matches_torch_and_sees_the_cat() -> None:
    graph = zoo.load("efficientnet-lite0")
    assert_inferred_shapes_are_computed(graph)
    x = image_batch(graph.inputs[next(iter(graph.inputs))])
    ours = run(graph, x)[0]
    with torch.no_grad():
        ref = zoo.module("efficientnet-lite0")(torch.from_numpy(x)).numpy()
    assert rel_err(ours, ref) < TOL
    assert int(ours.argmax()) in (281, 282, 285)  # tabby, tiger cat, Egyptian cat
    assert sum(layer.kind == "depthwise" for layer in graph) == 16


@pytest.mark.parametrize("name, shape, photo, norm", [("ppocrv4-det", (1, 3, 192, 288), "text", HALF),
                                                      ("centerface", None, "astronaut", IMAGENET)])
def test_trained_onnx_models_match_onnxruntime(name: str, shape: tuple[int, ...] | None, photo: str,
                                               norm: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    path = zoo.MODELS[name].path()
    graph = zoo.load(name, shape)
    assert_inferred_shapes_are_computed(graph)
    x = image_batch(graph.inputs[next(iter(graph.inputs))], photo, norm)
    ref = ort_outputs(onnx.load(path), x)
    ours = run(graph, x)
    assert len(ours) == len(ref)
    for o, r in zip(ours, ref):
        assert rel_err(o, r) < TOL
    if name == "ppocrv4-det":  # the detector finds the text: its probability map is not flat
        assert float(ref[0].max()) > 0.5
    # Their FPN and heads upsample: nearest resizes (PP-OCRv4) and transposed convolutions.
    ops = {layer.op for layer in graph}
    assert {"conv_transpose", "resize"} <= ops if name == "ppocrv4-det" else "conv_transpose" in ops


def randomized(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """The onnx architecture files hold constant weights (ConstantOfShape nodes): give them
    random He-scaled weights so that a wrong connection cannot hide behind equal values."""
    rng = np.random.default_rng(seed)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in inits:
            shape = tuple(int(d) for d in inits[node.input[0]])
            if len(shape) >= 2:
                fan_in = int(np.prod(shape[1:]))
                value = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
            else:
                value = rng.uniform(0.5, 1.5, shape)  # biases and batch-norm statistics
            out.graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
        else:
            out.graph.node.append(node)
    return out


ARCHITECTURES = ["resnet50", "googlenet", "squeezenet", "vgg19", "alexnet", "inception-v2", "shufflenet",
                 "densenet121", "zfnet512"]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_onnx_architectures_match_onnxruntime(name: str) -> None:
    model = onnx.load(zoo.MODELS[name].path())
    # As shipped (constant weights through ConstantOfShape), then with random weights.
    for variant in (model, randomized(model)):
        graph = import_onnx(variant, name=name)
        assert_inferred_shapes_are_computed(graph)
        x = np.random.default_rng(1).standard_normal(graph.inputs[next(iter(graph.inputs))]).astype(np.float32)
        ours, ref = run(graph, x), ort_outputs(variant, x)
        for o, r in zip(ours, ref):
            assert rel_err(o, r) < TOL
    # The softmax output of random weights must not be flat, or the comparison proves little.
    assert float(np.max(ref[0]) - np.min(ref[0])) > 1e-4


#: Every torchvision classification CNN (random weights, eval mode, batch 1) with the input side it
#: runs at (the smallest each architecture takes, or 64). The call forms they exercise:
#: torch.flatten(x, 1) and x.mean([2, 3]) (MnasNet); chunk/view/transpose channel shuffles
#: (ShuffleNetV2); hardswish, hardsigmoid and squeeze-excitation ``x * scale`` (MobileNetV3,
#: RegNetY); stochastic depth and SiLU (EfficientNet); torch.cat of branches (GoogLeNet,
#: Inception, DenseNet, SqueezeNet); transform_input's x[:, i] indexing, unsqueeze and constant
#: arithmetic, and aux heads that run in training only (GoogLeNet, Inception-v3); channels-last
#: LayerNorm between permutes, GELU and the layer-scale parameter (ConvNeXt).
TORCHVISION: dict[str, int] = {
    "resnet18": 64, "resnet50": 64, "mobilenet_v2": 64, "mobilenet_v3_small": 64, "mobilenet_v3_large": 64,
    "shufflenet_v2_x0_5": 64, "shufflenet_v2_x1_0": 64, "regnet_x_400mf": 64, "regnet_y_400mf": 64,
    "efficientnet_b0": 64, "mnasnet0_5": 64, "densenet121": 64, "squeezenet1_0": 64, "squeezenet1_1": 64,
    "googlenet": 64, "inception_v3": 75, "convnext_tiny": 64,
}
#: Those that take over 5 s here (model construction, tracing and the two runs).
SLOW_TORCHVISION = {"resnet50", "efficientnet_b0", "densenet121", "inception_v3", "regnet_y_400mf", "convnext_tiny"}
_TORCHVISION_OPTIONS: dict[str, dict[str, bool]] = {
    "googlenet": {"aux_logits": True, "transform_input": True, "init_weights": True},
    "inception_v3": {"aux_logits": True, "transform_input": True, "init_weights": True},
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TORCHVISION else n
                                  for n in TORCHVISION])
def test_torchvision_architectures_match_torch(name: str) -> None:
    import torchvision.models as tvm

    from leanconv.io.torch_import import import_torch

    torch.manual_seed(0)
    module = getattr(tvm, name)(weights=None, **_TORCHVISION_OPTIONS.get(name, {})).eval()
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # statistics that are not the identity
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        for key, p in module.named_parameters():
            if key.endswith("layer_scale"):  # ConvNeXt starts it at 1e-6, which would hide its blocks
                p.uniform_(0.5, 1.0)
    side = TORCHVISION[name]
    x = torch.from_numpy(image_batch((1, 3, side, side)))
    graph = import_torch(module, x)
    assert_inferred_shapes_are_computed(graph)
    with torch.no_grad():
        ref = module(x).numpy()
    assert rel_err(run(graph, x)[0], ref) < TOL  # a torch tensor, as the README's example passes
    assert rel_err(compile(graph).run(x), ref) < TOL  # the runtime, with its default plan
    assert float(ref.max() - ref.min()) > 1e-3 * float(np.abs(ref).max())
    if name == "convnext_tiny":  # its channels-last runs are folded to NCHW
        assert not any(layer.op in ("transpose", "linear") for layer in graph.layers[:-1])
