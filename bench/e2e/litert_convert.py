"""Converts a benchmark model folder's ``module.pt`` to ``model.tflite`` with litert-torch.

Runs in the LiteRT conversion environment (requirements-bench-litert.txt), not in .venv:
litert-torch declares torch<2.15 and is installed there with --no-deps. The converted model
keeps the NCHW input (litert-torch inserts the transposes inside the graph).
"""

import sys
from pathlib import Path

import litert_torch
import numpy as np
import torch

folder = Path(sys.argv[1])
model = torch.load(folder / "module.pt", weights_only=False).eval()
x = torch.from_numpy(np.load(folder / "x.npy"))
tmp = folder / "model.tflite.tmp"
litert_torch.convert(model, (x,)).export(str(tmp))
tmp.rename(folder / "model.tflite")
