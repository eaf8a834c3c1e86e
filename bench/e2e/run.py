"""Whole networks, batch 1, fp32: leanconv's runtime against the strongest CPU runtimes.

    python bench/e2e/run.py                                   # everything (~25 min)
    python bench/e2e/run.py --models resnet18 --runtimes leanconv,ort,torch --threads 1 --rounds 2

Models (bench/e2e/models.py): ResNet-18, ResNet-50, MobileNetV2, GoogLeNet, SqueezeNet 1.0,
VGG-16 (torchvision architectures, random init, 224x224), EfficientNet-Lite0 (trained weights
from the zoo) and the default model. Runtimes (bench/e2e/runtimes.py): leanconv
(``leanconv.runtime.compile`` with the default planner), ONNX Runtime (ORT_ENABLE_ALL),
OpenVINO (the same ONNX file), LiteRT with XNNPACK (litert-torch's .tflite), ncnn (pnnx, fp32
throughout), torch eager NCHW, channels_last, and torch.jit.freeze + optimize_for_inference.

Method: every runtime of a (model, threads) configuration runs in its own fresh process,
loaded once; its output is checked against torch's before it is timed (max|y - ref| /
max|ref| <= --tol, leanconv <= --tol-leanconv: the runtime's documented bound with Winograd
layers). Rounds then run every runtime once, in shuffled order, each time a warm-up and at
least --min-runs runs and --min-time seconds; a runtime's latency is the median over rounds
of its per-round median (and the minimum of all its runs), its ratio to ONNX Runtime the
median over rounds of the ratio of the two per-round medians, so that the machine's drift
slows both sides of a ratio alike. Memory: leanconv's arena (and the arena's lower bound, the
most bytes live at one step), workspace and packed weights; every runtime's process peak RSS.
Where leanconv is slower than ONNX Runtime, each leanconv conv step is timed alone and set
beside ONNX Runtime's profiler (per node) to show which layers cost the difference.
Writes bench/results/e2e.md, e2e.json and e2e.png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from models import MODELS, ROOT, prepare  # noqa: E402
from runtimes import LOADERS, NEEDS, REFERENCE  # noqa: E402

PACKAGES = ["torch", "onnxruntime", "openvino", "ai-edge-litert", "ncnn", "pnnx"]


class Worker:
    """One runtime's process for one (model, threads) configuration."""

    def __init__(self, runtime: str, folder: Path, threads: int) -> None:
        self.runtime = runtime
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "python")}
        self.stderr: IO[str] = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen([sys.executable, str(HERE / "runtimes.py"), runtime, str(folder), str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.ready = self.reply()

    def reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.stderr.seek(0)
            tail = self.stderr.read().strip().splitlines()[-3:]
            raise RuntimeError(f"{self.runtime} worker exited ({self.proc.returncode}): {' | '.join(tail)}")
        return dict(json.loads(line))

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.reply()

    def close(self) -> int:
        """Ends the worker; its peak RSS in bytes."""
        try:
            return int(self.ask("quit")["peak_rss"])
        finally:
            self.proc.wait()
            self.stderr.close()


def measure(folder: Path, runtimes: list[str], threads: int, args: argparse.Namespace,
            rng: random.Random) -> dict[str, Any]:
    """Every runtime of one (model, threads) configuration, in interleaved rounds."""
    workers: dict[str, Worker] = {}
    out: dict[str, Any] = {}
    for rt in runtimes:
        try:
            w = Worker(rt, folder, threads)
        except (RuntimeError, ValueError) as e:
            out[rt] = {"failed": str(e)}
            print(f"  {rt}: {e}", flush=True)
            continue
        tol = args.tol_leanconv if rt == "leanconv" else args.tol
        out[rt] = {"load": w.ready}
        if w.ready["error"] > tol:
            out[rt]["failed"] = f"output differs from torch's: error {w.ready['error']:.2e} > {tol:g}"
            print(f"  {rt}: {out[rt]['failed']}", flush=True)
            out[rt]["peak_rss"] = w.close()
            continue
        workers[rt] = w
    rounds: dict[str, list[list[float]]] = {rt: [] for rt in workers}
    cpu_rounds: dict[str, list[list[float]]] = {rt: [] for rt in workers}
    for r in range(args.rounds):
        order = list(workers)
        rng.shuffle(order)
        warmup = args.warmup if r == 0 else args.warmup_round
        for rt in order:
            reply = workers[rt].ask(f"time {warmup} {args.min_runs} {args.min_time}")
            rounds[rt].append(reply["times"])
            cpu_rounds[rt].append(reply["cpu_times"])
        meds = {rt: statistics.median(ts[-1]) * 1e3 for rt, ts in rounds.items()}
        print(f"  round {r + 1}: " + ", ".join(f"{rt} {ms:.1f}" for rt, ms in meds.items()), flush=True)
    for rt, w in workers.items():
        per_round = [statistics.median(ts) for ts in rounds[rt]]
        entry = out[rt]
        entry.update(median_ms=statistics.median(per_round) * 1e3, min_ms=min(min(ts) for ts in rounds[rt]) * 1e3,
                     round_medians_ms=[t * 1e3 for t in per_round], runs=sum(len(ts) for ts in rounds[rt]))
        cpu_per_round = [statistics.median(ts) for ts in cpu_rounds[rt]]
        entry.update(cpu_median_ms=statistics.median(cpu_per_round) * 1e3)
        if REFERENCE in workers:
            ref_rounds = [statistics.median(ts) for ts in rounds[REFERENCE]]
            entry["ratio_to_ort"] = statistics.median(a / b for a, b in zip(per_round, ref_rounds))
            ref_cpu = [statistics.median(ts) for ts in cpu_rounds[REFERENCE]]
            entry["cpu_ratio_to_ort"] = statistics.median(a / b for a, b in zip(cpu_per_round, ref_cpu))
        entry["peak_rss"] = w.close()
    timed = [rt for rt in workers if rt != "leanconv"]
    if "leanconv" in workers and timed:
        lc = [statistics.median(ts) for ts in rounds["leanconv"]]
        # The fastest peer by median; leanconv's ratio to it taken per round like the others.
        fastest = min(timed, key=lambda rt: out[rt]["median_ms"])
        peer = [statistics.median(ts) for ts in rounds[fastest]]
        out["leanconv"]["fastest_peer"] = fastest
        out["leanconv"]["ratio_to_fastest_peer"] = statistics.median(a / b for a, b in zip(lc, peer))
    return out


def is_conv(node: dict[str, Any]) -> bool:
    return "Conv" in node["op"] and len(node["inputs"]) > 1


def layer_costs(folder: Path, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    """leanconv's conv steps timed alone against ONNX Runtime's per-node profile, both in the
    same interleaved rounds and both the fastest of their runs (on a shared machine the
    fastest run is the one least disturbed), matched by kernel size, input and output size and output
    channels (ORT may pad channels to its block size), in execution order: the input size tells a
    block's stride-2 1x1 downsample from the 1x1 conv of the same output shape beside it."""
    lw, pw = Worker("leanconv", folder, threads), Worker("ort_profile", folder, threads)
    try:
        # One thread: CPU time, which leaves out the time other jobs held the core, as the short
        # runs of single layers mostly do.
        clock = "cpu_times" if threads == 1 else "times"
        per_round, totals, ort_totals = [], [], []
        for _ in range(args.rounds):
            per_round.append(lw.ask(f"layers {args.layer_runs}")["layers"])
            totals += lw.ask(f"time {args.warmup_round} 3 0")[clock]
            ort_totals += pw.ask(f"time {args.warmup_round} 3 0")[clock]  # profiled
        nodes = pw.ask("profile")["nodes"]
    finally:
        lw.close()
        pw.close()
    layers = [{**rows[0], "seconds": min(r["seconds"] for r in rows)} for rows in zip(*per_round)]
    convs = [n for n in nodes if is_conv(n)]
    used: set[int] = set()
    rows = []
    for layer in layers:
        o, _, kh, kw = layer["weight"]
        oh, ow = layer["output"][2:]
        ih, iw = layer["input"][2:]
        match = None
        for i, n in enumerate(convs):
            x, wt, out = n["inputs"][0], n["inputs"][1], n["outputs"][0]
            same_input = len(x) < 4 or list(x[-2:]) == [ih, iw]
            if (i not in used and list(wt[2:]) == [kh, kw] and list(out[2:]) == [oh, ow] and o <= wt[0] < o + 16
                    and same_input):
                match = i
                break
        row = {"layer": layer["layer"], "kernel": layer["kernel"], "leanconv_ms": layer["seconds"] * 1e3,
               "shape": layer["shape"]}
        if match is not None:
            used.add(match)
            row.update(ort_node=convs[match]["name"], ort_op=convs[match]["op"], ort_ms=convs[match]["us"] / 1e3)
        rows.append(row)
    ort_conv = sum(n["us"] for n in convs) / 1e3
    ort_all = sum(n["us"] for n in nodes) / 1e3
    lc_conv = sum(r["leanconv_ms"] for r in rows)
    other_ops: dict[str, float] = {}
    for n in nodes:
        if not is_conv(n):
            other_ops[n["op"]] = other_ops.get(n["op"], 0.0) + n["us"] / 1e3
    return {"rows": rows, "leanconv_total_ms": min(totals) * 1e3, "ort_total_ms": min(ort_totals) * 1e3, "leanconv_conv_ms": lc_conv,
            "ort_nodes_ms": ort_all, "ort_conv_ms": ort_conv, "ort_other_ops_ms": other_ops,
            "ort_unmatched_convs": [convs[i]["name"] for i in range(len(convs)) if i not in used]}


def machine() -> dict[str, str]:
    from leanconv import primitives as P

    cpu = ""
    flags: set[str] = set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = ", ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile") if f in flags)
    return {"cpu": f"{cpu} ({os.cpu_count()} cpus)", "cpu_isa": isa or "unknown", "leanconv_isa": P.resolved_isa()}


def versions() -> dict[str, str]:
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of: {', '.join(MODELS)}")
    ap.add_argument("--runtimes", default=",".join(LOADERS), help=f"comma-separated, of: {', '.join(LOADERS)}")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds per (model, threads)")
    ap.add_argument("--min-runs", type=int, default=10, help="runs per runtime and round, at least")
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds per runtime and round, at least")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before the first round")
    ap.add_argument("--warmup-round", type=float, default=0.2, help="seconds of warm-up before each later round")
    ap.add_argument("--tol", type=float, default=1e-5, help="peers' max|y - ref| / max|ref| against torch")
    ap.add_argument("--tol-leanconv", type=float, default=1e-4, help="leanconv's (Winograd layers' bound)")
    ap.add_argument("--layer-runs", type=int, default=5, help="runs per layer of the per-layer comparison")
    ap.add_argument("--layer-threads", default="1",
                    help="thread counts that get the per-layer comparison where leanconv is slower ('' for none)")
    ap.add_argument("--note", default="", help="a line on the conditions of the run, written into the results")
    ap.add_argument("--cache", default=str(HERE / ".cache"), help="converted models (made once)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--seed", type=int, default=0, help="of the rounds' shuffled orders")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    runtimes = [r for r in args.runtimes.split(",") if r]
    threads = [int(t) for t in args.threads.split(",") if t]
    for bad, known, what in ((set(models) - set(MODELS), MODELS, "models"), (set(runtimes) - set(LOADERS), LOADERS, "runtimes")):
        if bad:
            ap.error(f"unknown {what} {sorted(bad)}; known: {', '.join(known)}")

    res: dict[str, Any] = {
        **machine(), "versions": versions(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python bench/e2e/run.py " + " ".join(sys.argv[1:]), "note": args.note,
        "loadavg_start": list(os.getloadavg()), "models": models, "runtimes": runtimes, "threads": threads,
        "settings": {k: getattr(args, k) for k in ("rounds", "min_runs", "min_time", "warmup", "warmup_round",
                                                    "tol", "tol_leanconv")},
        "weights": {m: MODELS[m][2] for m in models}, "results": {}, "layers": {}, "failed": {},
    }
    start = time.perf_counter()
    need = {NEEDS[r] for r in runtimes if r in NEEDS}
    rng = random.Random(args.seed)
    for m in models:
        try:
            folder = prepare(m, Path(args.cache), need, lambda s: print(s, flush=True))
        except Exception as e:  # a conversion failing costs one model, not the run
            res["failed"][m] = f"{type(e).__name__}: {e}"
            print(f"{m}: {res['failed'][m]}", flush=True)
            continue
        for t in threads:
            print(f"{m}, {t} thread(s)", flush=True)
            entry = measure(folder, runtimes, t, args, rng)
            res["results"][f"{m}/{t}"] = entry
            lc, ort = entry.get("leanconv", {}), entry.get(REFERENCE, {})
            if str(t) in args.layer_threads.split(",") and "median_ms" in lc and "median_ms" in ort and lc["ratio_to_ort"] > 1.0:
                print(f"  per-layer comparison (leanconv {lc['ratio_to_ort']:.2f}x ONNX Runtime)", flush=True)
                res["layers"][f"{m}/{t}"] = layer_costs(folder, t, args)
            save(res, Path(args.out), start)  # after each configuration: a long run stopped early keeps its results
    print(f"wrote {Path(args.out) / 'e2e.md'}, e2e.json and e2e.png in {res['wall_s'] / 60:.1f} min")


def save(res: dict[str, Any], outdir: Path, start: float) -> None:
    from report import write_chart, write_markdown

    res["loadavg_end"] = list(os.getloadavg())
    res["wall_s"] = time.perf_counter() - start
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "e2e.json").write_text(json.dumps(res, indent=1))
    write_markdown(res, outdir / "e2e.md")
    write_chart(res, outdir / "e2e.png")


if __name__ == "__main__":
    main()
