"""A user's fine-tuning script for ``leanconv prune --fine-tune script.py``.

The script is a Python file that defines:

- ``loader()`` (required): a re-iterable of ``(input, target)`` batches, e.g. a DataLoader;
- ``loss_fn(output, target)`` (optional): the loss to minimise, cross-entropy when absent;
- ``evaluate(model) -> float`` (optional): a score (accuracy, say) reported before and after.

The pruned model is tuned by :func:`leanconv.prune.surgery.fine_tune` over ``loader()``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from leanconv.prune.errors import PruneError


@dataclass(frozen=True)
class FineTuneScript:
    path: Path
    loader: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None
    evaluate: Callable[[torch.nn.Module], float] | None


def load_script(path: Path) -> FineTuneScript:
    """The script's functions; a PruneError naming the file when it cannot be loaded or lacks ``loader``."""
    if not path.is_file():
        raise PruneError(f"fine-tuning script {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"leanconv_fine_tune_{abs(hash(str(path)))}", path)
    if spec is None or spec.loader is None:
        raise PruneError(f"fine-tuning script {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's code: any failure is reported as the script's
        raise PruneError(f"fine-tuning script {path} failed to load: {type(e).__name__}: {e}") from e
    functions: dict[str, Any] = {}
    for name in ("loader", "loss_fn", "evaluate"):
        f = getattr(module, name, None)
        if f is not None and not callable(f):
            raise PruneError(f"fine-tuning script {path}: {name} is not a function")
        functions[name] = f
    if functions["loader"] is None:
        raise PruneError(f"fine-tuning script {path} defines no loader() returning (input, target) batches")
    return FineTuneScript(path, functions["loader"], functions["loss_fn"], functions["evaluate"])
