"""Model import: ``load_model`` takes a path, a zoo name or nothing (the default model)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from leanconv.errors import CorruptFileError, ModelNotFoundError, ShapeError, TraceError, require
from leanconv.graph import Graph


def load_model(spec: str | os.PathLike[str] | None = None, input_shape: tuple[int, ...] | None = None) -> Graph:
    """Imports a model as a Graph.

    ``spec`` is an ONNX file, a torch file holding a whole ``nn.Module`` (``torch.save(model)``;
    give ``input_shape``), a graph file (:func:`leanconv.io.graph_file.save_graph`; numpy alone
    reads it), a zoo name (``leanconv.io.zoo.MODELS``) or None for the default model.
    """
    from leanconv.io import zoo

    if spec is None:
        return zoo.load(zoo.DEFAULT)
    path = Path(spec)
    if not path.exists():
        if str(spec) in zoo.MODELS:
            return zoo.load(str(spec), input_shape)
        raise ModelNotFoundError(f"{spec}: no such file, and no zoo model of that name "
                                 f"(known: {', '.join(zoo.MODELS)})")
    if path.is_dir():
        raise ModelNotFoundError(f"{spec}: is a directory, not a model file")
    from leanconv.io.graph_file import is_graph_file, load_graph

    if is_graph_file(path):
        return load_graph(path, input_shape)
    if _is_torch_file(path):
        return _load_torch_file(path, input_shape)
    require("onnx", "onnx", f"{spec}: reading an ONNX file")
    from leanconv.io.onnx_import import import_onnx

    return import_onnx(path, {"*": tuple(input_shape)} if input_shape else None)


def _is_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (or, in legacy format, a pickle starting with 0x80)."""
    with open(path, "rb") as f:
        head = f.read(2)
    return zipfile.is_zipfile(path) or head[:1] == b"\x80"


def _load_torch_file(path: Path, input_shape: tuple[int, ...] | None) -> Graph:
    require("torch", "torch", f"{path}: reading a torch file")
    import torch

    from leanconv.io.torch_import import import_torch

    try:
        # Executes pickled code: torch files are trusted like the code that made them.
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise CorruptFileError(f"{path}: not a readable torch file ({type(e).__name__}: {e})") from e
    if isinstance(obj, dict):
        raise CorruptFileError(f"{path}: holds a state dict, not a model; load it into its module and call "
                               "leanconv.io.torch_import.import_torch(module, example_input)")
    if not isinstance(obj, torch.nn.Module):
        raise CorruptFileError(f"{path}: holds a {type(obj).__name__}, not a torch.nn.Module")
    if isinstance(obj, torch.jit.ScriptModule):
        raise TraceError(f"{path}: TorchScript modules cannot be traced with torch.fx; save the nn.Module instead")
    if input_shape is None:
        raise ShapeError(f"{path}: a torch module needs an input shape (e.g. --input-shape 1,3,224,224)")
    return import_torch(obj, torch.zeros(input_shape), name=path.stem)


__all__ = ["load_model"]
