"""Lossy pattern merging (Wen & Gregg): bits per weight and accuracy cost on the default model.

    PYTHONPATH=python .venv/bin/python bench/codecs/merge.py

For s in {0, 0.25, 0.5, 0.75}, b in {8, 4} and tolerance in {0, 1, 2} (tolerance > 0 also
with a dictionary cap of 16 patterns): prune (per layer, magnitude) and quantize (per output channel)
every conv and fully connected weight of the default model (LeanNet, leanconv.io.zoo "default"),
merge rare patterns into frequent ones within the tolerance (``_native.merge_patterns``, zeros
kept), then measure the bits per weight of the pattern codec and of auto (run.py's
``measure_cell``: every byte needed to decode, not the fp32 scales; every codec decoded and
compared), the order-0 entropy, the number of distinct patterns, the weights changed, and the
test accuracy of the dequantized model on the 1,000-image test split, against the unmerged
quantized model of the same (s, b). Batch-norm parameters and biases stay fp32. One-shot
per-layer pruning at s >= 0.5 alone breaks this small network (its 144-weight stem above all),
so accuracy is also given with the batch-norm statistics re-estimated on the 4,000 training
images (no weight is trained; the same for merged and unmerged), and s in {0, 0.25} are added.
Writes bench/results/pattern_merge.md and pattern_merge.json.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from run import measure_cell  # noqa: E402

from leanconv import _native  # noqa: E402
from leanconv.io import zoo  # noqa: E402
from leanconv.compress import Quantized, prune_magnitude, quantize_per_channel  # noqa: E402
from leanconv.compress.api import CompressedModel, compress, default_select  # noqa: E402
from leanconv.models.default_net import accuracy, default_record, load_digits_split  # noqa: E402

GRID = [(0.0, 8), (0.0, 4), (0.25, 8), (0.25, 4), (0.5, 8), (0.5, 4), (0.75, 8), (0.75, 4)]
#: (tolerance in code units, dictionary cap); (0, None) is the unmerged quantized model.
MERGES = [(0, None), (1, None), (2, None), (1, 16), (2, 16)]


def quantized_layers(sd: dict[str, torch.Tensor], s: float, b: int) -> dict[str, Quantized]:
    """The tensors leanconv.compress quantizes by default (conv and linear weights)."""
    out = {}
    for k, v in sd.items():
        a = v.numpy()
        if default_select(k, a):
            out[k] = quantize_per_channel(prune_magnitude(a, s), b)
    return out


def recalibrated(net: torch.nn.Module, x: np.ndarray, batch: int = 500) -> torch.nn.Module:
    """``net`` with every batch norm's running statistics re-estimated on ``x`` (a cumulative
    average over all of it; the weights are untouched)."""
    for mod in net.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
            mod.momentum = None
    net.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            net(torch.from_numpy(x[i : i + batch]))
    return net.eval()


def run() -> dict[str, Any]:
    model = zoo.module("default")
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    split = load_digits_split()
    fp32_acc = accuracy(model, split.x_test, split.y_test)
    recorded = float(default_record()["test_accuracy"])  # type: ignore[arg-type]
    assert abs(fp32_acc - recorded) < 1e-9, (fp32_acc, recorded)
    rows = []
    for s, b in GRID:
        layers = quantized_layers(sd, s, b)
        base_acc = base_bn = None
        for tol, cap in MERGES:
            t0 = time.perf_counter()
            merged = {}
            before = after = 0
            for k, q in layers.items():
                codes, pb, pa = _native.merge_patterns(q.codes, tol, max_patterns=cap)
                merged[k] = codes
                before += pb
                after += pa
            if cap is None:
                # The public path (leanconv.compress) must give exactly these codes.
                cm = compress(dict(sd), sparsity=s, bits=b, merge_tolerance=tol)
                assert isinstance(cm, CompressedModel)
                for k in layers:
                    assert np.array_equal(cm[k].codes(), merged[k]), k
            changed = sum(int(np.count_nonzero(merged[k] != q.codes)) for k, q in layers.items())
            nonzero = sum(int(np.count_nonzero(q.codes)) for q in layers.values())
            cell = measure_cell(list(merged.values()), b, verify=True)
            net = copy.deepcopy(model)
            new_sd = dict(sd)
            for k, q in layers.items():
                new_sd[k] = torch.from_numpy(Quantized(merged[k], q.scales, b, q.axis).dequantize())
            net.load_state_dict(new_sd)
            acc = accuracy(net, split.x_test, split.y_test)
            acc_bn = accuracy(recalibrated(net, split.x_train), split.x_test, split.y_test)
            if tol == 0:
                base_acc, base_bn = acc, acc_bn
            assert base_acc is not None and base_bn is not None
            row = {
                "s": s, "b": b, "tolerance": tol, "max_patterns": cap,
                "weights": cell["weights"], "zero_codes": cell["zero_codes"],
                "patterns_before": before, "patterns_after": after,
                "changed_weights": changed, "changed_of_nonzero": changed / max(nonzero, 1),
                "pattern_bpw": cell["lc_pattern"], "auto_bpw": cell["lc_auto"], "crans_bpw": cell["lc_crans"],
                "H0": cell["H0"], "auto_choices": cell["auto_choices"],
                "accuracy": acc, "accuracy_unmerged": base_acc, "accuracy_fp32": fp32_acc,
                "accuracy_bn": acc_bn, "accuracy_bn_unmerged": base_bn,
            }
            rows.append(row)
            print(f"s={s} b={b} tol={tol} cap={cap}: patterns {before}->{after}, pattern {row['pattern_bpw']:.3f} "
                  f"auto {row['auto_bpw']:.3f} b/w, acc {acc:.3f} (unmerged {base_acc:.3f}), BN re-estimated "
                  f"{acc_bn:.3f} (unmerged {base_bn:.3f}) "
                  f"({time.perf_counter() - t0:.1f}s)", flush=True)
    return {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.processor() or platform.platform()}",
        "model": "default (LeanNet, MNIST-5k), conv + fc weights",
        "test_images": int(split.y_test.size),
        "rows": rows,
    }


def write(result: dict[str, Any]) -> None:
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "pattern_merge.json").write_text(json.dumps(result, indent=1))
    r0 = result["rows"][0]
    lines = [
        "# Lossy pattern merging: bits per weight and accuracy cost (default model)", "",
        "Generated by `PYTHONPATH=python .venv/bin/python bench/codecs/merge.py` on " + result["machine"] + ".",
        f"Model: {result['model']} ({r0['weights']} weights); fp32 test accuracy {r0['accuracy_fp32']:.3f} on "
        f"{result['test_images']} test images. Per-layer magnitude pruning to s, per-channel b-bit quantization "
        "(CODEC_ANCHORS protocol), then `merge_patterns`: every pattern outside the dictionary (k×k kernel "
        "slices; 4-vectors for 1x1 and fc weights) is replaced by the most frequent dictionary pattern with the "
        "same zeros within the tolerance (code units, per weight). cap: at most that many dictionary patterns "
        "serve as targets (the others become candidates too). Bits per weight count every byte needed to decode "
        "(not the fp32 scales); every codec was decoded and compared on every tensor. Accuracy: the dequantized "
        "model; BN and biases fp32. BN re-est.: the same model with its batch-norm statistics re-estimated on "
        "the 4,000 training images (no weight trained): one-shot per-layer pruning at s >= 0.5 alone breaks this "
        "small network, merged or not.", "",
        "| s | b | tol | cap | zeros | patterns | changed (of non-zeros) | pattern b/w | crans b/w | auto b/w | "
        "H0 | auto picks | accuracy | vs unmerged | acc. BN re-est. | vs unmerged |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        picks = ", ".join(f"{k} {v}" for k, v in r["auto_choices"].items())
        lines.append(
            f"| {r['s']} | {r['b']} | {r['tolerance']} | {r['max_patterns'] or '-'} | {100 * r['zero_codes']:.0f}% | "
            f"{r['patterns_before']} → {r['patterns_after']} | {r['changed_weights']} "
            f"({100 * r['changed_of_nonzero']:.1f}%) | {r['pattern_bpw']:.3f} | {r['crans_bpw']:.3f} | "
            f"{r['auto_bpw']:.3f} | {r['H0']:.3f} | {picks} | {100 * r['accuracy']:.1f}% | "
            f"{100 * (r['accuracy'] - r['accuracy_unmerged']):+.1f} pt | {100 * r['accuracy_bn']:.1f}% | "
            f"{100 * (r['accuracy_bn'] - r['accuracy_bn_unmerged']):+.1f} pt |")
    (out / "pattern_merge.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    write(run())
