"""Torch models the pruner takes by name: leanconv's zoo models that are torch modules (the
default model, EfficientNet-Lite0), torchvision architectures (random weights), or a file
holding a whole ``nn.Module``."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from leanconv.errors import ModelNotFoundError
from leanconv.prune.errors import PruneError

TORCHVISION_INPUT = (1, 3, 224, 224)


def load_module(spec: str, input_shape: tuple[int, ...] | None = None) -> tuple[nn.Module, torch.Tensor]:
    """The module (eval mode) and an example input of ``input_shape`` (else the model's own)."""
    from leanconv.io import zoo

    if spec in zoo.MODELS and zoo.MODELS[spec].format != "onnx":
        return zoo.module(spec).eval(), torch.zeros(input_shape or zoo.MODELS[spec].input_shape)
    path = Path(spec)
    if path.is_file():
        module = torch.load(path, map_location="cpu", weights_only=False)  # trusted like code
        if not isinstance(module, nn.Module):
            raise PruneError(f"{spec}: holds a {type(module).__name__}, not a whole torch.nn.Module")
        if input_shape is None:
            raise PruneError(f"{spec}: give the input shape of the model (e.g. 1,3,224,224)")
        return module.eval(), torch.zeros(input_shape)
    import torchvision  # type: ignore[import-untyped]

    if spec in torchvision.models.list_models(module=torchvision.models):
        kwargs = {"aux_logits": False, "init_weights": True} if spec in ("googlenet", "inception_v3") else {}
        return torchvision.models.get_model(spec, weights=None, **kwargs).eval(), torch.zeros(input_shape or TORCHVISION_INPUT)
    raise ModelNotFoundError(f"{spec}: no such file, torch zoo model ({', '.join(n for n, m in zoo.MODELS.items() if m.format != 'onnx')}) "
                             "or torchvision classification model")
