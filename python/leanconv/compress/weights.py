"""Reads the raw weights of a model file as a state dict of numpy arrays, in file order:
a torch ``.pth`` state dict (or a pickled module), an ONNX file (initializers and Constant
nodes), a safetensors file, an ``.npz``, an ``.lcz`` container, or a zoo name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from leanconv.atomic import atomic_write
from leanconv.errors import LeanconvError, MissingPackageError, ModelNotFoundError


def onnx_constants(m: Any) -> dict[str, npt.NDArray[Any]]:
    """Initializers and Constant-node tensors of a loaded ONNX model, by name."""
    from onnx import numpy_helper

    consts: dict[str, npt.NDArray[Any]] = {}
    for init in m.graph.initializer:
        consts[init.name] = numpy_helper.to_array(init)
    for node in m.graph.node:
        if node.op_type == "Constant":
            for at in node.attribute:
                if at.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(at.t)
    return consts


def onnx_weights(path: str | os.PathLike[str]) -> dict[str, npt.NDArray[Any]]:
    """Initializers and Constant-node tensors of an ONNX model, conv weights in graph order."""
    import onnx
    from onnx import numpy_helper

    try:
        m = onnx.load(str(path))
    except Exception as e:  # onnx raises DecodeError and friends
        from leanconv.errors import CorruptFileError

        raise CorruptFileError(f"{path}: not a readable ONNX model ({e})") from None
    consts = onnx_constants(m)
    out: dict[str, npt.NDArray[Any]] = {}
    # weights of compute nodes first, in graph order; then whatever else is constant
    for node in m.graph.node:
        for name in node.input:
            if name in consts and name not in out and consts[name].size >= 1:
                out[name] = consts[name]
    for name, a in consts.items():
        if name not in out:
            out[name] = a
    return out


def torch_weights(path: str | os.PathLike[str]) -> dict[str, npt.NDArray[Any]]:
    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        from leanconv.errors import CorruptFileError

        raise CorruptFileError(f"{path}: not a readable torch state dict ({e})") from None
    if hasattr(obj, "state_dict"):
        obj = obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise LeanconvError(f"{path}: expected a state dict, found {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if hasattr(v, "detach"):
            t = v.detach().cpu()
            if str(t.dtype) == "torch.bfloat16":
                t = t.float()
            out[str(k)] = t.numpy()
    return out


def read_weights(spec: str | os.PathLike[str]) -> dict[str, npt.NDArray[Any]]:
    """Weights of ``spec`` (a file path or a zoo name) as name -> numpy array."""
    p = Path(spec)
    if not p.exists():
        try:
            from leanconv import zoo
        except ImportError:
            zoo = None  # type: ignore[assignment]
        models = getattr(zoo, "MODELS", {}) if zoo is not None else {}
        if str(spec) in models:
            m = models[str(spec)]
            return read_weights(m.path())
        known = ", ".join(models) if models else "none"
        raise ModelNotFoundError(f"{spec}: no such file and no zoo model of that name (zoo: {known})")
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
    """Writes a state dict as ``.pth`` (torch), ``.safetensors`` or ``.npz`` by suffix, atomically
    (see :mod:`leanconv.atomic`)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        try:
            from safetensors.numpy import save
        except ImportError:
            raise MissingPackageError("writing .safetensors needs: pip install safetensors") from None
        data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()})
        with atomic_write(p) as f:
            f.write(data)
    elif suffix == ".npz":
        with atomic_write(p) as f:
            np.savez(f, **tensors)  # type: ignore[arg-type]
    elif suffix in (".pth", ".pt", ".bin"):
        import torch

        with atomic_write(p) as f:
            torch.save({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, f)
    else:
        raise LeanconvError(f"{path}: output must end in .pth, .pt, .safetensors or .npz")
