"""The emitted C program against leanconv's runtime, same plan, one thread.

    .venv/bin/python bench/emit/run.py                      # default, MobileNetV2, ResNet-18
    .venv/bin/python bench/emit/run.py --models default --rounds 5

For each model (the default model; MobileNetV2 and ResNet-18 as torchvision architectures,
random init, 224x224): the default planner's one-thread plan, compiled by the runtime
(``leanconv.runtime.compile``) and emitted as C with raw weights (``leanconv.emit``), built
with the flags the crate builds the kernels with (the cc crate's: -std=c99 -O3
-ffunction-sections -fdata-sections -fPIC; the kernels pick their x86 ISA at run time in both).
The program's outputs are checked against the runtime's (max|y - ref| / max|ref| <= 1e-5)
before anything is timed. Then rounds alternate the two, in shuffled order: the runtime times
its runs in this process (``Executable.run`` from Python, warmed up), the program its own
runs in a fresh process (``<name>_main ... RUNS``, its median); each gets at least --min-time
seconds. Both wall-clock and CPU time (``time.process_time``; the program's ``clock()``) are
taken per run: on a shared machine CPU time is less disturbed by other jobs. A side's latency is the median over rounds of its per-round median, the ratio the
median over rounds of the per-round ratio (program / runtime), so that the machine's drift
slows both sides of a ratio alike. The static RAM the program reports is checked against the
plan's and the runtime's memory.

Writes bench/results/emit.md and emit.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
#: The cc crate's flags for the kernels in rust/core/build.rs (opt_level 3, C99), without the
#: warnings.
CFLAGS = "-std=c99 -O3 -ffunction-sections -fdata-sections -fPIC"


def load(name: str) -> Any:
    from leanconv.graph import Graph
    from leanconv.io import load_model

    if name == "default":
        graph: Graph = load_model(None)
        return graph
    import torch
    import torchvision

    from leanconv.io.torch_import import import_torch

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)().eval()
    return import_torch(model, torch.zeros(1, 3, 224, 224), name=name)


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        return m.group(1).strip() if m else platform.processor()
    except (OSError, subprocess.CalledProcessError):
        return platform.processor()


def time_runtime(exe: Any, x: np.ndarray, min_time: float) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of runs of ``exe`` over at least ``min_time`` (after
    one warm-up)."""
    exe.run(x)
    wall: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    while len(wall) < 5 or time.perf_counter() - start < min_time:
        c0, t0 = time.process_time(), time.perf_counter()
        exe.run(x)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def time_program(main: Path, weights: Path, x_path: Path, out: Path, runs: int) -> tuple[float, float]:
    """The program's median wall-clock and CPU seconds of ``runs`` runs (one process)."""
    done = subprocess.run([str(main), str(weights), str(x_path), str(out), str(runs)], capture_output=True,
                          text=True, check=True)
    m = re.search(r", median ([0-9.]+) s.*cpu median ([0-9.]+) s", done.stdout)
    assert m, done.stdout
    return float(m.group(1)), float(m.group(2))


def bench(name: str, folder: Path, rounds: int, min_time: float, objects_from: Path | None) -> dict[str, Any]:
    from leanconv import _native
    from leanconv.emit import emit
    from leanconv.runtime import compile
    from leanconv.runtime.planner import default_plan

    graph = load(name)
    plan = default_plan(graph, 1)
    exe = compile(graph, plan)
    project = folder / name
    result = emit(graph, project, plan=plan)
    if objects_from is not None:
        for obj in (objects_from / "kernels" / "src").glob("*.o"):
            shutil.copy(obj, project / "kernels" / "src" / obj.name)
    subprocess.run(["make", "-s", "-j2", "-C", str(project), "CC=gcc", f"CFLAGS={CFLAGS}"], check=True)
    shape = next(iter(graph.inputs.values()))
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    x_path, out = project / "x.npy", project / "y.npy"
    np.save(x_path, x)
    main, weights = project / f"{result.name}_main", project / result.weights_file
    ref = exe.run(x)
    ref = ref[0] if isinstance(ref, list) else ref
    time_program(main, weights, x_path, out, 1)
    y = np.load(out)
    err = float(np.max(np.abs(y - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
    if err > 1e-5:
        raise SystemExit(f"{name}: the program's output differs from the runtime's by {err:.2e} (relative)")
    if not result.ram_bytes == plan.memory_bytes == exe.memory_bytes:
        raise SystemExit(f"{name}: static RAM {result.ram_bytes} is not the plan's {plan.memory_bytes} "
                         f"or the runtime's {exe.memory_bytes}")
    estimate, _ = time_runtime(exe, x, 0.2)
    runs = max(5, int(min_time / max(estimate, 1e-6)))
    per_round: list[dict[str, float]] = []
    for r in range(rounds):
        sides = ["runtime", "program"]
        random.shuffle(sides)
        got: dict[str, float] = {}
        for side in sides:
            if side == "runtime":
                got["runtime"], got["runtime_cpu"] = time_runtime(exe, x, min_time)
            else:
                got["program"], got["program_cpu"] = time_program(main, weights, x_path, out, runs)
        got["ratio"] = got["program"] / got["runtime"]
        got["cpu_ratio"] = got["program_cpu"] / got["runtime_cpu"]
        per_round.append(got)
        print(f"  {name} round {r + 1}: runtime {got['runtime'] * 1e3:.3f} ms, program {got['program'] * 1e3:.3f} ms, "
              f"ratio {got['ratio']:.3f}, CPU-time ratio {got['cpu_ratio']:.3f}", flush=True)
    # the same plan with --weights lcz (8 bits, no pruning): flash, init scratch, init time
    lz = emit(graph, folder / f"{name}-lcz", plan=plan, weights="lcz")
    for obj in (project / "kernels" / "src").glob("*.o"):
        shutil.copy(obj, folder / f"{name}-lcz" / "kernels" / "src" / obj.name)
    subprocess.run(["make", "-s", "-j2", "-C", str(folder / f"{name}-lcz"), "CC=gcc", f"CFLAGS={CFLAGS}"], check=True)
    inits = {}
    for key, proj, res in (("raw", project, result), ("lcz", folder / f"{name}-lcz", lz)):
        done = subprocess.run([str(proj / f"{res.name}_main"), str(proj / res.weights_file), str(x_path), str(out), "1"],
                              capture_output=True, text=True, check=True)
        m = re.search(r"init ([0-9.]+) s", done.stdout)
        assert m, done.stdout
        inits[key] = float(m.group(1))
    kernels = sorted({s.kernel for s in plan.steps if getattr(s, "op", "") == "conv"})
    return {
        "model": name, "input": list(shape), "steps": len(plan.steps), "conv_kernels": kernels,
        "isa": _native.isa_resolve("auto"), "rel_err": err,
        "runtime_ms": statistics.median(r["runtime"] for r in per_round) * 1e3,
        "program_ms": statistics.median(r["program"] for r in per_round) * 1e3,
        "ratio": statistics.median(r["ratio"] for r in per_round),
        "ratio_min": min(r["ratio"] for r in per_round), "ratio_max": max(r["ratio"] for r in per_round),
        "runtime_cpu_ms": statistics.median(r["runtime_cpu"] for r in per_round) * 1e3,
        "program_cpu_ms": statistics.median(r["program_cpu"] for r in per_round) * 1e3,
        "cpu_ratio": statistics.median(r["cpu_ratio"] for r in per_round),
        "cpu_ratio_min": min(r["cpu_ratio"] for r in per_round),
        "cpu_ratio_max": max(r["cpu_ratio"] for r in per_round),
        "rounds": per_round, "static_ram_bytes": result.ram_bytes, "plan_memory_bytes": plan.memory_bytes,
        "runtime_memory_bytes": exe.memory_bytes, "weights_bytes": result.weights_bytes,
        "lcz_weights_bytes": lz.weights_bytes, "lcz_codecs": lz.codecs, "lcz_init_scratch_bytes": lz.init_scratch_bytes,
        "init_s": inits,
    }


def report(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Emitted C program vs the runtime (same plan, one thread)",
        "",
        f"CPU: {meta['cpu']}, {meta['cores']} cores; kernels' ISA: {meta['isa']}; {meta['cc']}; "
        f"CFLAGS `{meta['cflags']}`. Machine shared with other jobs: ratios come from interleaved rounds "
        f"({meta['rounds']} rounds, at least {meta['min_time']} s per side per round).",
        "",
        "Command: `.venv/bin/python bench/emit/run.py` (bench/emit/run.py says how it measures).",
        "",
        "| model | input | runtime ms | program ms | program / runtime, wall clock (median; min-max over rounds) "
        "| runtime CPU ms | program CPU ms | program / runtime, CPU time | static RAM = plan = runtime memory (B) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {'x'.join(map(str, r['input']))} | {r['runtime_ms']:.3f} | "
                     f"{r['program_ms']:.3f} | {r['ratio']:.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f}) | "
                     f"{r['runtime_cpu_ms']:.3f} | {r['program_cpu_ms']:.3f} | "
                     f"{r['cpu_ratio']:.3f} ({r['cpu_ratio_min']:.3f}-{r['cpu_ratio_max']:.3f}) | "
                     f"{r['static_ram_bytes']:,} |")
    lines += ["", "Flash (weights file; the code is `make size`'s) and init, the same plan with raw weights and with "
              "`--weights lcz` (8 bits per channel, no pruning, codecs chosen among those kernels_c decodes):", "",
              "| model | raw weights (B) | lcz weights (B) | raw / lcz | lcz codecs (tensors) | lcz init scratch (B) "
              "| init raw ms | init lcz ms |", "|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        codecs = ", ".join(f"{c} {n}" for c, n in r["lcz_codecs"].items())
        lines.append(f"| {r['model']} | {r['weights_bytes']:,} | {r['lcz_weights_bytes']:,} | "
                     f"{r['weights_bytes'] / r['lcz_weights_bytes']:.2f} | {codecs} | {r['lcz_init_scratch_bytes']:,} | "
                     f"{r['init_s']['raw'] * 1e3:.2f} | {r['init_s']['lcz'] * 1e3:.2f} |")
    lines += ["", "The lcz file keeps biases and linear weights as float32 (read in place): MobileNetV2's "
              "classifier (1280x1000) is most of its file.", "", "The runtime's time includes its Python call (binding the input, releasing the GIL, "
              "returning the output as numpy); the program's is the C call alone."]
    busy = max(r["runtime_ms"] / r["runtime_cpu_ms"] for r in rows)
    if busy > 1.5:
        lines += ["", f"Wall-clock time was up to {busy:.1f}x the CPU time in this run: other jobs held the cores "
                  "for much of it, so the CPU-time ratios are the ones to read."]
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="default,mobilenet_v2,resnet18")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=1.0)
    args = ap.parse_args()
    from leanconv import _native

    cc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    meta = {"cpu": cpu_name(), "cores": len(os.sched_getaffinity(0)), "isa": _native.isa_resolve("auto"),
            "cc": cc, "cflags": CFLAGS, "rounds": args.rounds, "min_time": args.min_time,
            "python": sys.version.split()[0]}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        first: Path | None = None
        for name in args.models.split(","):
            print(f"{name}:", flush=True)
            rows.append(bench(name, Path(tmp), args.rounds, args.min_time, first))
            first = first or Path(tmp) / name
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "emit.json").write_text(json.dumps({"meta": meta, "models": rows}, indent=1) + "\n")
            (RESULTS / "emit.md").write_text(report(rows, meta))
    print(report(rows, meta))


if __name__ == "__main__":
    main()
