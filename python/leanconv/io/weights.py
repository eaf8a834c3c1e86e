"""The weights of a model file as a state dict of numpy arrays, in file order: a torch
``.pth`` state dict, an ONNX file (initializers and Constant nodes), a safetensors file, an
``.npz``, an ``.lcz`` container, or a zoo name; and state dicts written back to a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from leanconv.arrays import to_numpy
from leanconv.errors import CorruptFileError, LeanconvError, MissingPackageError, ModelNotFoundError


def onnx_weights(path: str | os.PathLike[str]) -> dict[str, npt.NDArray[Any]]:
    """Initializers and Constant-node tensors of an ONNX model: those that nodes read first, in
    graph order (conv weights in layer order), then the other constants."""
    from leanconv.io.onnx_import import onnx_constants, read_onnx

    model = read_onnx(path)
    consts = onnx_constants(model)
    out: dict[str, npt.NDArray[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            if name in consts and name not in out:
                out[name] = consts[name]
    for name, a in consts.items():
        out.setdefault(name, a)
    return out


def torch_weights(path: str | os.PathLike[str]) -> dict[str, npt.NDArray[Any]]:
    """The tensors of a torch state dict file (or of a checkpoint holding one under
    ``state_dict``) as numpy arrays; entries that are not tensors are left out."""
    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, ... on foreign files
        raise CorruptFileError(f"{path}: not a readable torch state dict ({e})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise LeanconvError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return {str(k): to_numpy(v, f"{path}: {k}") for k, v in obj.items() if isinstance(v, torch.Tensor)}


def read_weights(spec: str | os.PathLike[str]) -> dict[str, npt.NDArray[Any]]:
    """Weights of ``spec`` (a file path or a zoo name) as name -> numpy array."""
    p = Path(spec)
    if not p.exists():
        from leanconv.io import zoo

        if str(spec) in zoo.MODELS:
            return read_weights(zoo.MODELS[str(spec)].path())
        raise ModelNotFoundError(f"{spec}: no such file and no zoo model of that name (zoo: {', '.join(zoo.MODELS)})")
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return onnx_weights(p)
    if suffix == ".lcz":
        from leanconv.compress.api import load

        return load(p)
    if suffix == ".safetensors":
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise MissingPackageError("reading .safetensors needs: pip install safetensors") from None
        return dict(load_file(str(p)))
    if suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    return torch_weights(p)


def write_weights(path: str | os.PathLike[str], tensors: dict[str, npt.NDArray[Any]]) -> None:
    """Writes a state dict as ``.pth`` (torch), ``.safetensors`` or ``.npz`` by suffix."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        try:
            from safetensors.numpy import save_file
        except ImportError:
            raise MissingPackageError("writing .safetensors needs: pip install safetensors") from None
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(p))
    elif suffix == ".npz":
        np.savez(p, **tensors)  # type: ignore[arg-type]
    elif suffix in (".pth", ".pt", ".bin"):
        import torch

        torch.save({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, str(p))
    else:
        raise LeanconvError(f"{path}: output must end in .pth, .pt, .safetensors or .npz")
