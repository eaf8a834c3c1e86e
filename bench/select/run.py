"""Primitive selection on real CNNs: the ILP's plan against the baselines, measured end to end
beside the cost model's prediction, and the memory/time frontier.

    python bench/select/run.py                           # the issue's eight models, 1 thread
    python bench/select/run.py --models resnet18,googlenet --threads 1,2 --out /tmp/select

Per model (batch 1, fp32; torchvision architectures with random weights, EfficientNet-Lite0,
or anything leanconv.io.load_model reads, as bench/conv/run.py loads them): profile every
candidate into a cost database (reused across runs), build the selection problem, then
- the time-only ILP plan and each baseline (greedy fastest per layer, greedy with transforms,
  one family everywhere) as runtime plans, run end to end in interleaved rounds together with
  the profiler's probes of every cost their predictions sum (select.network.verify), so the
  machine's load weighs on predicted and measured alike; the ILP plan's steps are timed inside
  the network in the same rounds, to name the steps a prediction misses;
- the frontier over the memory budget for both measures (arena + workspace; and that plus the
  packed weights), each point a plan checked against the runtime's arena, and the memory saved
  at +5%, +10% and +15% predicted time over the time-only optimum;
- solve times (one plan; the whole frontier).
Writes select.md, select.json and one PNG per model and measure into --out (bench/results),
after each model.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "conv"))
from run import model_graph  # noqa: E402  (bench/conv/run.py: one model loader for the benchmarks)

MODELS = ["default", "resnet18", "mobilenet_v2", "squeezenet1_0", "efficientnet_lite0", "googlenet", "resnet50",
          "vgg16"]
SLACKS = (0.05, 0.10, 0.15)
FAMILIES = ["direct", "im2col", "im2row", "winograd4x4"]


def family_of(kernel: str) -> str | None:
    from leanconv import primitives as P

    return P.get(kernel).family if kernel in {p.name for p in P.PRIMITIVES} else None


def saved_at(points: list[dict[str, Any]], seconds: float, memory: float) -> dict[str, float]:
    """Memory of the time-only optimum over the smallest frontier memory within each slack."""
    out = {}
    for slack in SLACKS:
        fits = [p["memory"] for p in points if p["seconds"] <= (1 + slack) * seconds]
        out[f"+{int(slack * 100)}%"] = memory / min(fits) if fits else 1.0
    return out


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []


def bench_model(name: str, threads: int, costs: Path, out: Path, cap_s: float) -> dict[str, Any]:
    from leanconv.profile import CostDB, profile
    from leanconv.select.baselines import baselines
    from leanconv.select.ilp import Budgets
    from leanconv.select.network import build, choose, network_frontier, runtime_memory, verify

    graph = model_graph(name)
    db = CostDB(costs)
    t0 = time.perf_counter()
    profile(graph, db, [threads], progress=lambda what: print(f"  {name}: {what}", file=sys.stderr))
    profile_s = time.perf_counter() - t0
    sel = build(graph, db, threads)
    t0 = time.perf_counter()
    ilp = choose(sel)
    solve_s = time.perf_counter() - t0
    plans = {"ILP": ilp.plan}
    choices = {"ILP": ilp.choice}
    predicted = {"ILP": ilp.costs.seconds}
    memory = {"ILP": ilp.memory}
    for base, choice in baselines(sel.problem, family_of, FAMILIES).items():
        if base == "time-only ILP":
            continue
        plans[base], choices[base] = sel.plan(choice), choice
        predicted[base] = sel.problem.evaluate(choice).seconds
        memory[base] = runtime_memory(plans[base], "activations")
    load_before = loadavg()
    check = verify(sel, choices, detail=("ILP",), cap_s=cap_s)
    steps = {label: {"predicted": p, "measured": m} for label, (p, m) in check.steps["ILP"].items()}
    fronts = {}
    for measure in ("activations", "total"):
        t0 = time.perf_counter()
        points = network_frontier(sel, 12, Budgets(measure=measure))
        frontier_s = time.perf_counter() - t0
        rows = [{"budget": p.budget, "seconds": p.costs.seconds, "memory": p.costs.memory,
                 "runtime_memory": runtime_memory(sel.plan(p.choice), measure)} for p in points]
        top = rows[-1]
        fronts[measure] = {"points": rows, "solve_s": frontier_s, "saved": saved_at(rows, top["seconds"], top["memory"]),
                           "all_within_budget": all(r["runtime_memory"] <= r["budget"] for r in rows)}
        plot(out / f"select_{name}_{measure}.png", name, measure, rows,
             {b: (predicted[b], memory[b] + (plans[b].packed_bytes if measure == "total" else 0)) for b in plans})
    return {"model": name, "threads": threads, "layers": len(graph.layers), "steps": len(sel.problem.nodes),
            "profile_s": profile_s, "solve_s": solve_s, "predicted_db_s": predicted, "predicted_s": check.predicted,
            "measured_s": check.measured, "measured_cpu_s": check.measured_cpu, "measured_spread": check.spread,
            "measured_cpu_spread": check.spread_cpu, "ilp_steps": steps,
            "ilp_kernels": {s.output: getattr(s, "kernel", getattr(s, "transform", "")) for s in ilp.plan.steps},
            "loadavg": [load_before, loadavg()], "memory_bytes": memory, "frontier": fronts}


def plot(path: Path, name: str, measure: str, rows: list[dict[str, Any]], marks: dict[str, tuple[float, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.step([r["memory"] / 2**20 for r in rows], [r["seconds"] * 1e3 for r in rows], where="post", marker="o",
            label="ILP frontier")
    for label, (seconds, mem) in marks.items():
        ax.scatter(mem / 2**20, seconds * 1e3, marker="x", label=label)
    ax.set_xlabel(f"memory MiB ({measure})")
    ax.set_ylabel("predicted time ms")
    ax.set_title(f"{name}: memory/time frontier")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine() -> dict[str, Any]:
    from leanconv import primitives as P
    from leanconv.profile import fingerprint

    load = loadavg()
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "")
    return {"cpu": model or fingerprint()["cpu"], "isa": P.resolved_isa(), "cores": fingerprint()["cores"],
            "python": platform.python_version(), "loadavg": load}


def markdown(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = ["# Primitive selection: ILP vs baselines, memory/time frontier", "",
             f"Machine: {info['cpu']}, kernels' ISA {info['isa']}, {info['cores']} cores, load average "
             f"{' '.join(info['loadavg'])} at the end (each model's before and after its measurement below): the "
             "machine was shared with other jobs while measured.",
             "",
             "Predicted: the cost model's sum for the plan (each step as the profiler times it through the runtime: "
             "inside whole-network plans that between them run every conv candidate, else in a probe network of its "
             "layer; plus the runtime's per-call cost). Each model's costs are measured twice: once "
             "by the profile the ILP selects with (column *DB*), and again in the same interleaved rounds as the "
             "plans' end-to-end runs (column *rounds*), so that machine load weighs on predicted and measured "
             "alike; measured / predicted uses the latter. Measured: `Executable.run` end to end, median over the "
             "rounds (spread: interquartile range over median), by the wall clock and in the calling thread's CPU "
             "time. At one thread the profiler times each step in CPU time too: a run on a CPU shared with other "
             "jobs waits for it in proportion to the load, which the wall clock counts and CPU time does not, so "
             "CPU time is the measure that compares with the prediction. At two threads steps and runs are timed by "
             "the wall clock (CPU time would miss the pool's second thread), and the load weighs on both, more on "
             "the longer spans. "
             "Generated by bench/select/run.py.", ""]
    lines += ["| model | threads | measured / predicted, ILP | range over all plans | ILP / fastest baseline "
              "(measured) | ILP's spread | profile s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        one = r["threads"] == 1
        meas = r["measured_cpu_s"] if one else r["measured_s"]
        spread = (r["measured_cpu_spread"] if one else r["measured_spread"])["ILP"]
        ratios = [meas[k] / r["predicted_s"][k] for k in meas]
        fastest = min(v for k, v in meas.items() if k != "ILP")
        lines.append(f"| {r['model']} | {r['threads']} | {meas['ILP'] / r['predicted_s']['ILP']:.2f} | "
                     f"{min(ratios):.2f}-{max(ratios):.2f} | {meas['ILP'] / fastest:.2f} | {spread:.2f} | {r['profile_s']:.0f} |")
    lines += ["", "Measured: CPU time at one thread, wall clock at two; spread: the interquartile range of the ILP "
              "plan's end-to-end samples over their median. Where the ILP and a baseline chose the same plan (equal "
              "predictions), their measured ratio is the rounds' noise.", ""]
    for r in results:
        lo, hi = r["loadavg"]
        lines += [f"## {r['model']} ({r['threads']} thread(s), {r['steps']} steps)", "",
                  f"Profile {r['profile_s']:.1f} s; ILP solve {r['solve_s'] * 1e3:.0f} ms; load average "
                  f"{' '.join(lo)} before the rounds, {' '.join(hi)} after.", "",
                  "| plan | predicted ms (DB) | predicted ms (rounds) | measured ms | spread | CPU ms | CPU spread | "
                  "measured / ILP | CPU / ILP | measured / predicted | CPU / predicted | memory KiB |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        ilp, ilp_cpu = r["measured_s"]["ILP"], r["measured_cpu_s"]["ILP"]
        for name in r["predicted_s"]:
            p, m, c = r["predicted_s"][name], r["measured_s"][name], r["measured_cpu_s"][name]
            lines.append(f"| {name} | {r['predicted_db_s'][name] * 1e3:.3f} | {p * 1e3:.3f} | {m * 1e3:.3f} | "
                         f"{r['measured_spread'][name]:.2f} | {c * 1e3:.3f} | {r['measured_cpu_spread'][name]:.2f} | "
                         f"{m / ilp:.2f} | {c / ilp_cpu:.2f} | "
                         f"{m / p:.2f} | {c / p:.2f} | {r['memory_bytes'][name] / 1024:.0f} |")
        steps = r["ilp_steps"]
        inside = sum(v["measured"] for v in steps.values())
        pred = sum(v["predicted"] for v in steps.values())
        call = r["predicted_s"]["ILP"] - pred
        whole, clock = (ilp_cpu, "CPU time") if r["threads"] == 1 else (ilp, "wall clock")
        lines += ["", f"ILP plan, step by step in the same rounds ({clock}): its steps sum to {pred * 1e3:.3f} ms "
                  f"predicted and {inside * 1e3:.3f} ms timed inside the network; the runtime's per-call cost is "
                  f"{call * 1e3:.3f} ms predicted, and end to end minus the steps inside is {(whole - inside) * 1e3:.3f} ms. "
                  "The steps furthest from their prediction:", "",
                  "| step | kernel | predicted us | in network us | difference us |", "|---|---|---:|---:|---:|"]
        for label in sorted(steps, key=lambda k: -abs(steps[k]["measured"] - steps[k]["predicted"]))[:6]:
            v = steps[label]
            lines.append(f"| {label} | {r['ilp_kernels'].get(label, '')} | {v['predicted'] * 1e6:.1f} | "
                         f"{v['measured'] * 1e6:.1f} | {(v['measured'] - v['predicted']) * 1e6:+.1f} |")
        lines += ["", "| memory measure | frontier points | sweep s | saved at +5% | +10% | +15% | all points within budget (runtime) |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for measure, f in r["frontier"].items():
            s = f["saved"]
            lines.append(f"| {measure} | {len(f['points'])} | {f['solve_s']:.2f} | {s['+5%']:.2f}x | {s['+10%']:.2f}x | "
                         f"{s['+15%']:.2f}x | {f['all_within_budget']} |")
        lines += ["", f"![{r['model']} frontier](select_{r['model']}_activations.png)", ""]
    lines += ["The research (TASO, arXiv 2005.10709) reports 2.2x less memory for 15% more time on a Cortex-A15.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", default="1")
    ap.add_argument("--costs", type=Path, default=Path("/tmp/leanconv-select-costs.jsonl"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--cap", type=float, default=30.0, help="seconds of interleaved rounds per model")
    ap.add_argument("--rewrite", action="store_true", help="only write select.md again from --out's select.json")
    args = ap.parse_args()
    if args.rewrite:
        rewrite(args.out)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.models.split(","):
        for threads in (int(t) for t in args.threads.split(",")):
            print(f"{name}, {threads} thread(s)", file=sys.stderr)
            results.append(bench_model(name, threads, args.costs, args.out, args.cap))
            write(results, args.out)


def rewrite(out: Path) -> None:
    """select.md again from select.json (after a change to the report's form)."""
    saved = json.loads((out / "select.json").read_text())
    (out / "select.md").write_text(markdown(saved["results"], saved["machine"]))


def write(results: list[dict[str, Any]], out: Path) -> None:
    """Writes the results so far (after each model: a run cut short keeps what it measured)."""
    info = machine()
    (out / "select.json").write_text(json.dumps({"machine": info, "results": results}, indent=1,
                                                default=lambda v: None if isinstance(v, float) and math.isinf(v) else v))
    (out / "select.md").write_text(markdown(results, info))


if __name__ == "__main__":
    main()
