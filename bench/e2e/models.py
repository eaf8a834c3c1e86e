"""The benchmark networks and each one's files for every runtime, made once and cached.

Per model a folder holds: ``module.pt`` (the whole torch module, for the torch runtimes and the
LiteRT converter), ``x.npy`` (the batch-1 input) and ``ref.npy`` (torch's output for it: every
runtime is checked against it), ``graph.pkl`` (the leanconv Graph, so the leanconv worker runs
without importing torch), ``model.onnx`` (opset 17, legacy exporter; ONNX Runtime and OpenVINO
read it), ``m.ncnn.param``/``m.ncnn.bin`` (pnnx, fp32 weights) and ``model.tflite``
(litert-torch, converted in its own environment: see ``litert_convert.py``).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: Interpreter of the LiteRT conversion environment (requirements-bench-litert.txt; the
#: Makefile's bench-e2e target makes it here and names it in LITERT_PYTHON).
LITERT_PYTHON = os.environ.get("LITERT_PYTHON", str(HERE / ".cache" / "litert-venv" / "bin" / "python"))


def _torchvision(name: str, **kwargs: Any) -> Callable[[], Any]:
    def build() -> Any:
        import torchvision

        return getattr(torchvision.models, name)(weights=None, **kwargs)

    return build


def _zoo(name: str) -> Callable[[], Any]:
    def build() -> Any:
        from leanconv.io import zoo

        return zoo.module(name)

    return build


#: name -> (builder of the eval-mode torch module, input shape, what its weights are).
MODELS: dict[str, tuple[Callable[[], Any], tuple[int, ...], str]] = {
    "resnet18": (_torchvision("resnet18"), (1, 3, 224, 224), "torchvision, random init"),
    "resnet50": (_torchvision("resnet50"), (1, 3, 224, 224), "torchvision, random init"),
    "mobilenet_v2": (_torchvision("mobilenet_v2"), (1, 3, 224, 224), "torchvision, random init"),
    "efficientnet_lite0": (_zoo("efficientnet-lite0"), (1, 3, 224, 224), "zoo, trained ImageNet weights"),
    "googlenet": (_torchvision("googlenet", aux_logits=False, init_weights=True), (1, 3, 224, 224),
                  "torchvision, random init"),
    "squeezenet1_0": (_torchvision("squeezenet1_0"), (1, 3, 224, 224), "torchvision, random init"),
    "vgg16": (_torchvision("vgg16"), (1, 3, 224, 224), "torchvision, random init"),
    "default": (_zoo("default"), (1, 1, 28, 28), "leanconv's default model (MNIST), trained"),
}


def build(name: str) -> Any:
    import torch

    torch.manual_seed(0)
    return MODELS[name][0]().eval()


def prepare(name: str, cache: Path, need: set[str], log: Callable[[str], None]) -> Path:
    """The folder of ``name``'s files, making those ``need`` asks for ("onnx", "ncnn",
    "tflite") when missing; the torch module, input, reference output and Graph always."""
    import torch

    folder = cache / name
    folder.mkdir(parents=True, exist_ok=True)
    model = None
    x_path, ref_path = folder / "x.npy", folder / "ref.npy"
    if not (folder / "module.pt").exists() or not ref_path.exists() or not (folder / "graph.pkl").exists():
        from leanconv.io.torch_import import import_torch

        model = build(name)
        rng = np.random.default_rng(0)
        x = rng.standard_normal(MODELS[name][1]).astype(np.float32)
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)).numpy()
        np.save(x_path, x)
        np.save(ref_path, ref)
        torch.save(model, folder / "module.pt")
        graph = import_torch(model, torch.from_numpy(x), name=name)
        (folder / "graph.pkl").write_bytes(pickle.dumps(graph))
        log(f"{name}: torch module, reference output and leanconv Graph")
    xt = torch.from_numpy(np.load(x_path))

    def module() -> Any:
        nonlocal model
        if model is None:
            model = torch.load(folder / "module.pt", weights_only=False).eval()
        return model

    if "onnx" in need and not (folder / "model.onnx").exists():
        torch.onnx.export(module(), (xt,), str(folder / "model.onnx"), opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["output"])
        log(f"{name}: ONNX")
    if "ncnn" in need and not (folder / "m.ncnn.bin").exists():
        import pnnx

        # pnnx writes its intermediate files next to the TorchScript file.
        pnnx.export(module(), str(folder / "m.pt"), (xt,), fp16=False)
        log(f"{name}: ncnn (pnnx, fp32)")
    if "tflite" in need and not (folder / "model.tflite").exists():
        if not Path(LITERT_PYTHON).exists():
            raise FileNotFoundError(f"LiteRT conversion needs the environment of requirements-bench-litert.txt "
                                    f"at {LITERT_PYTHON} (`make bench-e2e` makes it; or set LITERT_PYTHON)")
        subprocess.run([LITERT_PYTHON, str(HERE / "litert_convert.py"), str(folder)], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "python")})
        log(f"{name}: LiteRT")
    return folder


if __name__ == "__main__":  # python bench/e2e/models.py CACHE NAME [onnx,ncnn,tflite]
    prepare(sys.argv[2], Path(sys.argv[1]), set(sys.argv[3].split(",")) if len(sys.argv) > 3 else set(), print)
