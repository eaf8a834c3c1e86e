"""Performance-aware pruning against uniform pruning, measured: writes bench/results/prune.md,
prune.json and one PNG per curve of the default model.

1. Channel steps: torch CPU's latency of a 3x3 conv, 128 -> c channels at 28x28, swept over
   every c in 96..128 (interleaved medians) and sampled adaptively by the pruner; the width the
   CPU implies (AVX-512: 16, AVX2: 8) against the confirmed steps. The same on the leanconv
   runtime.
2. The default model on each backend: uniform pruning (Torch-Pruning's pruner at 12, 25, 50%,
   round_to None and 8), uniform rounded to the fast end, performance-aware at the MACs of
   uniform-25% and at its predicted latency. Every pruned model is measured end to end,
   interleaved with the unpruned one; accuracy on the held-out digits after the same one-epoch
   fine-tuning for every method.

Run: .venv/bin/python bench/prune/run.py [--backends torch,ort,leanconv] [--rounds 9]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leanconv.models.default_net import accuracy, load_default, load_digits_split
from leanconv.prune.api import analyze, model_latency, plan_analysis
from leanconv.prune.backends import interleaved_medians, make_backend, simd_isa
from leanconv.prune.curves import LayerTimer, sample_curve
from leanconv.prune.layers import LayerSpec
from leanconv.prune.planner import fast_end_counts, uniform_counts
from leanconv.prune.plots import plot_curve
from leanconv.prune.surgery import fine_tune, prune_channels

RESULTS = Path(__file__).resolve().parents[1] / "results"
RATIOS = (0.12, 0.25, 0.5)


def step_check(backend_name: str, rounds: int, clock: str) -> dict[str, Any]:
    backend = make_backend(backend_name, 1, clock)
    counts = list(range(96, 129))
    spec = LayerSpec("conv", 1, 128, 128, 28, 28, (3, 3), (1, 1), (1, 1))
    specs = [LayerSpec("conv", 1, 128, c, 28, 28, (3, 3), (1, 1), (1, 1)) for c in counts]
    with backend.context():
        sweep = interleaved_medians([backend.layer_runner(s) for s in specs], rounds, 1e-3, clock=clock)
    timer = LayerTimer(backend, rounds=rounds, min_sample_s=1e-3)

    def measure(cs: Any, fresh: bool) -> dict[int, float]:
        import dataclasses
        return dict(zip(cs, timer.seconds([dataclasses.replace(spec, c_out=c) for c in cs], fresh)))

    curve = sample_curve("conv3x3_28x28_128", 128, measure)
    return {"backend": backend_name, "sweep": dict(zip(counts, sweep)), "curve": curve.to_json(),
            "steps": curve.steps, "sampled": len(curve.points)}


def bench_model(backend_name: str, rounds: int, clock: str, split: Any,
                accuracy_cache: dict[str, float]) -> dict[str, Any]:
    model, example = load_default(), torch.zeros(1, 1, 28, 28)
    a = analyze(model, example, backend_name, clock=clock, rounds=rounds)
    plans: dict[str, dict[str, int]] = {}
    for r in RATIOS:
        for rt in (None, 8):
            plans[f"uniform {r:.0%}" + (" round_to=8" if rt else "")] = uniform_counts(model, example, a.groups, r, rt)
        plans[f"uniform {r:.0%} fast end"] = fast_end_counts(a.curves, plans[f"uniform {r:.0%}"])
    u25 = a.plan_for(plans["uniform 25%"])
    for label, target, resource in (("perf-aware, MACs of uniform 25%", u25.macs / u25.unpruned_macs, "macs"),
                                    ("perf-aware, latency of uniform 25%", min(1.0, u25.predicted_latency / a.latency), "latency")):
        try:
            plans[label] = plan_analysis(a, f"{target:.6f}x", resource, min_channels=4).counts  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - an unreachable target is a result too
            print(f"{backend_name}: {label}: {e}", file=sys.stderr)
    pruned = {name: prune_channels(model, example, a.plan_for(c).keep) for name, c in plans.items()}
    times = model_latency(a.backend, [model, *pruned.values()], example, rounds)
    rows = []
    for (name, counts), t in zip(plans.items(), times[1:]):
        plan = a.plan_for(counts)
        key = json.dumps(counts, sort_keys=True)
        if key not in accuracy_cache:
            torch.manual_seed(0)
            m = prune_channels(model, example, plan.keep)
            x, y = torch.from_numpy(split.x_train), torch.from_numpy(split.y_train)
            batches = list(zip(x.split(64), y.split(64)))
            accuracy_cache[key] = accuracy(fine_tune(m, batches, epochs=1, lr=1e-3), split.x_test, split.y_test)
        rows.append({"method": name, "counts": counts, "macs": plan.macs, "predicted_s": plan.predicted_latency,
                     "measured_s": t, "speedup": times[0] / t, "slower_than_unpruned": t > times[0],
                     "accuracy": accuracy_cache[key]})
    base_acc = accuracy(model, split.x_test, split.y_test)
    return {"backend": backend_name, "unpruned_s": times[0], "unpruned_macs": u25.unpruned_macs,
            "unpruned_accuracy": base_acc, "rows": rows,
            "curves": {g: c.to_json() for g, c in a.curves.items()},
            "plots": [str(plot_curve(c, RESULTS / f"prune_{backend_name}_{g.replace('.', '_')}.png", None,
                                     f"default {g} on {backend_name}")) for g, c in a.curves.items()]}


def write_markdown(res: dict[str, Any], path: Path) -> None:
    width = {"avx512f": 16, "avx2": 8}.get(res["isa"])
    lines = [
        "# Performance-aware channel pruning vs uniform pruning",
        "",
        f"Machine: {res['machine']}; SIMD: {res['isa']}; torch {res['torch']}; measured {res['when']} with "
        f"`python bench/prune/run.py {' '.join(res['argv'])}`; 1-min load average {res['load'][0]:.1f} at the start, "
        f"{res['load'][1]:.1f} at the end: other jobs shared this 2-core machine while it ran; ratios come from "
        "interleaved rounds. Latency: batch 1, fp32, one thread, timed by the "
        + ("process's CPU time (`--clock cpu`: on an idle machine the elapsed time of a one-thread run; time spent "
           "descheduled by other jobs does not count)." if res["clock"] == "cpu" else "wall clock."),
        "",
        "## Channel steps of a 3x3 conv, 128 -> c at 28x28",
        "",
        f"Expected step width from the CPU's SIMD: {width}. Sweep: median time (µs) at every c; pruner: the steps "
        "it confirmed after adaptive sampling and re-measurement.",
        "",
        "| backend | sweep µs at c = 96, 104, 112, 113, 120, 127, 128 | steps confirmed (below, above) | counts sampled |",
        "|---|---|---|---|",
    ]
    for s in res["steps"]:
        sw = s["sweep"]
        cells = ", ".join(f"{sw[c] * 1e6:.0f}" for c in (96, 104, 112, 113, 120, 127, 128))
        lines.append(f"| {s['backend']} | {cells} | {s['steps']} | {s['sampled']} |")
    for m in res["models"]:
        lines += ["", f"## Default model on {m['backend']}", "",
                  f"Unpruned: {m['unpruned_s'] * 1e3:.3f} ms, {m['unpruned_macs']:,} MACs, accuracy "
                  f"{m['unpruned_accuracy']:.3f} (no fine-tuning).", "",
                  "| method | kept channels | MACs | predicted ms | measured ms | speedup | slower than unpruned | accuracy (1 epoch) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in m["rows"]:
            lines.append(f"| {r['method']} | {', '.join(str(v) for v in r['counts'].values())} | {r['macs']:,} | "
                         f"{r['predicted_s'] * 1e3:.3f} | {r['measured_s'] * 1e3:.3f} | {r['speedup']:.2f}x | "
                         f"{'YES' if r['slower_than_unpruned'] else 'no'} | {r['accuracy']:.3f} |")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="torch,ort,leanconv")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: time by the process's CPU time, steadier on a shared machine")
    args = ap.parse_args()
    torch.set_num_threads(1)
    load_start = os.getloadavg()[0]
    backends = args.backends.split(",")
    steps = [step_check(b, args.rounds, args.clock) for b in ("torch", "leanconv") if b in backends]
    split = load_digits_split(0)
    acc: dict[str, float] = {}
    models = [bench_model(b, args.rounds, args.clock, split, acc) for b in backends]
    res: dict[str, Any] = {"machine": f"{platform.machine()} {os.cpu_count()} cpus / {platform.processor() or 'cpu'}",
           "isa": simd_isa(), "torch": torch.__version__, "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "argv": sys.argv[1:], "clock": args.clock, "load": [load_start, os.getloadavg()[0]], "steps": steps, "models": models}
    try:
        with open("/proc/cpuinfo") as f:
            res["machine"] += " " + next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "prune.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    write_markdown(res, RESULTS / "prune.md")
    print((RESULTS / "prune.md").read_text())


if __name__ == "__main__":
    main()
