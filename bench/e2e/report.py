"""bench/results/e2e.md and e2e.png from the results run.py gathers (e2e.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtimes import LABELS, REFERENCE

MB = 1024 * 1024


def cell(entry: dict[str, Any]) -> str:
    if "median_ms" not in entry:
        return "failed" if entry else ""
    ratio = f" ({entry['ratio_to_ort']:.2f})" if "ratio_to_ort" in entry else ""
    return f"{entry['median_ms']:.3g}{ratio}"


def latency_table(res: dict[str, Any], t: int) -> list[str]:
    rts = res["runtimes"]
    L = [f"### {t} thread{'s' if t > 1 else ''}: median ms (ratio to ONNX Runtime); min ms\n",
         "| model | " + " | ".join(LABELS[r] for r in rts) + " | leanconv / fastest peer | leanconv min | ORT min "
         "| leanconv / ORT, CPU time |", "|---" * (len(rts) + 5) + "|"]
    for m in res["models"]:
        e = res["results"].get(f"{m}/{t}")
        if e is None:
            continue
        lc = e.get("leanconv", {})
        vs = (f"{lc['ratio_to_fastest_peer']:.2f} ({LABELS[lc['fastest_peer']]})"
              if "ratio_to_fastest_peer" in lc else "")
        mins = [f"{e[r]['min_ms']:.3g}" if "min_ms" in e.get(r, {}) else "" for r in ("leanconv", REFERENCE)]
        cpu = f"{lc['cpu_ratio_to_ort']:.2f}" if "cpu_ratio_to_ort" in lc else ""
        L.append(f"| {m} | " + " | ".join(cell(e.get(r, {})) for r in rts) + f" | {vs} | " + " | ".join(mins)
                 + f" | {cpu} |")
    return L + [""]


def acceptance(res: dict[str, Any]) -> list[str]:
    L = ["## Against the targets\n"]
    for t in res["threads"]:
        rows = {m: res["results"][f"{m}/{t}"].get("leanconv", {}) for m in res["models"] if f"{m}/{t}" in res["results"]}
        rows = {m: r for m, r in rows.items() if "ratio_to_ort" in r}
        if not rows:
            continue
        slower = [f"{m} {r['ratio_to_ort']:.2f}" for m, r in rows.items() if r["ratio_to_ort"] > 1.0]
        fastest = [m for m, r in rows.items() if r.get("ratio_to_fastest_peer", 9) < 1.0]
        goal = [m for m, r in rows.items() if r.get("ratio_to_fastest_peer", 9) <= 0.75]
        L.append(f"- {t} thread(s): leanconv <= 1.0x ONNX Runtime on {len(rows) - len(slower)} of {len(rows)} models"
                 + (f" (slower: {', '.join(slower)})" if slower else "") + "; faster than every peer on "
                 + (", ".join(fastest) or "none") + "; <= 0.75x the fastest peer on " + (", ".join(goal) or "none") + ".")
    return L + [""]


def memory_table(res: dict[str, Any]) -> list[str]:
    rts = res["runtimes"]
    L = ["## Memory\n",
         "leanconv: activation arena, its lower bound (the most bytes live at one step), the shared workspace "
         "and the packed weights, MiB. Every runtime: its process's peak RSS, MiB (the interpreter with numpy "
         "alone is about {:.0f} MiB; the torch runtimes import torch, the others do not).\n".format(
             min((e.get("load", {}).get("base_rss", 0) for r in res["results"].values() for e in r.values()
                  if e.get("load", {}).get("base_rss")), default=0) / MB),
         "| model | threads | arena | lower bound | arena / bound | workspace | packed | "
         + " | ".join(f"RSS {LABELS[r]}" for r in rts) + " |",
         "|---" * (7 + len(rts)) + "|"]
    for key, e in res["results"].items():
        m, t = key.split("/")
        lc = e.get("leanconv", {}).get("load", {})
        mem = ["", "", "", "", ""]
        if "arena_bytes" in lc:
            bound = lc["arena_lower_bound"]
            mem = [f"{lc['arena_bytes'] / MB:.2f}", f"{bound / MB:.2f}",
                   f"{lc['arena_bytes'] / bound:.3f}" if bound else "", f"{lc['workspace_bytes'] / MB:.2f}",
                   f"{lc['packed_bytes'] / MB:.1f}"]
        rss = [f"{e[r]['peak_rss'] / MB:.0f}" if "peak_rss" in e.get(r, {}) else "" for r in rts]
        L.append(f"| {m} | {t} | " + " | ".join(mem) + " | " + " | ".join(rss) + " |")
    return L + [""]


def errors_table(res: dict[str, Any]) -> list[str]:
    rts = res["runtimes"]
    L = ["## Output error against torch (max abs difference / max abs output, worst of the thread counts)\n",
         "| model | " + " | ".join(LABELS[r] for r in rts) + " |", "|---" * (len(rts) + 1) + "|"]
    for m in res["models"]:
        cells = []
        for r in rts:
            errs = [res["results"][f"{m}/{t}"].get(r, {}).get("load", {}).get("error") for t in res["threads"]
                    if f"{m}/{t}" in res["results"]]
            errs = [x for x in errs if x is not None]
            cells.append(f"{max(errs):.1e}" if errs else "")
        L.append(f"| {m} | " + " | ".join(cells) + " |")
    failures = [f"- {key} {LABELS[r]}: {e['failed']}" for key, rs in res["results"].items()
                for r, e in rs.items() if "failed" in e]
    failures += [f"- {m}: {msg}" for m, msg in res["failed"].items()]
    if failures:
        L += ["", "Not timed:", "", *failures]
    return L + [""]


def layers_section(res: dict[str, Any]) -> list[str]:
    if not res["layers"]:
        return []
    L = ["## Where leanconv is slower than ONNX Runtime: per layer\n",
         "Each leanconv conv step timed alone (its primitive, weights packed once, on an input of the step's "
         "shape and layout; the fused activation and the rest of the network not included) beside ONNX "
         "Runtime's profiler (per node; its conv nodes carry the fused activation and, in FusedConv, the "
         "residual add), both measured in the same interleaved rounds, and every figure here the fastest of its "
         "runs (the run least disturbed by other jobs). The layers where leanconv loses most:\n"]
    for key, lay in res["layers"].items():
        m, t = key.split("/")
        rows = [r for r in lay["rows"] if "ort_ms" in r]
        rows.sort(key=lambda r: r["ort_ms"] - r["leanconv_ms"])
        other = lay["leanconv_total_ms"] - lay["leanconv_conv_ms"]
        ort_other = lay["ort_nodes_ms"] - lay["ort_conv_ms"]
        top_other = sorted(lay["ort_other_ops_ms"].items(), key=lambda kv: -kv[1])[:4]
        L += [f"### {m}, {t} thread(s)\n",
              f"leanconv: {lay['leanconv_total_ms']:.1f} ms whole network ({'CPU time' if t == '1' else 'wall clock'}), of which the conv steps alone sum to "
              f"{lay['leanconv_conv_ms']:.1f} ms, leaving {other:.1f} ms for the other steps (pools, adds, "
              f"transforms, concats). ONNX Runtime: {lay['ort_total_ms']:.1f} ms whole network (profiling "
              f"on); its nodes {lay['ort_nodes_ms']:.1f} ms, conv nodes "
              f"{lay['ort_conv_ms']:.1f} ms, others {ort_other:.1f} ms ("
              + ", ".join(f"{op} {ms:.2f}" for op, ms in top_other) + ")."
              + (f" ORT conv nodes left unmatched: {len(lay['ort_unmatched_convs'])}." if lay["ort_unmatched_convs"] else "")
              + "\n",
              "| layer | shape | leanconv kernel | leanconv ms | ORT node (op) | ORT ms | difference ms |",
              "|---|---|---|---|---|---|---|"]
        for r in rows[:10]:
            if r["leanconv_ms"] <= r["ort_ms"]:
                break
            L.append(f"| {r['layer']} | {r['shape']} | {r['kernel']} | {r['leanconv_ms']:.2f} | {r['ort_node']} "
                     f"({r['ort_op']}) | {r['ort_ms']:.2f} | {r['leanconv_ms'] - r['ort_ms']:+.2f} |")
        L.append("")
    return L


def write_markdown(res: dict[str, Any], path: Path) -> None:
    v = res["versions"]
    s = res["settings"]
    L = ["# Whole networks, batch 1, fp32: leanconv against CPU runtimes\n",
         f"CPU: {res['cpu']}; its ISA: {res['cpu_isa']}; leanconv kernels: {res['leanconv_isa']}. "
         + ", ".join(f"{k} {x}" for k, x in v.items()) + f". Measured {res['date']} with `{res['command']}` "
         f"in {res['wall_s'] / 60:.0f} min; 1-min load average {res['loadavg_start'][0]:.1f} at the start, "
         f"{res['loadavg_end'][0]:.1f} at the end." + (f" {res['note']}" if res["note"] else "") + "\n",
         f"Method (bench/e2e/run.py's docstring): each runtime in its own process per (model, threads), output "
         f"checked against torch's before timing (peers within {s['tol']:g}, leanconv within {s['tol_leanconv']:g}); "
         f"{s['rounds']} interleaved rounds in shuffled order, each runtime per round {s['warmup']:g} s of warm-up "
         f"(first round; {s['warmup_round']:g} s later) and at least {s['min_runs']} runs and {s['min_time']:g} s. "
         "Latency = median over rounds of the per-round median; ratios are taken within each round, then the "
         "median over rounds. Only ratios compare across runs: this machine's speed drifts. The last column "
         "takes the same ratio in process CPU time, which leaves out the time other jobs held the core: at one "
         "thread it is what an idle machine would show; at two it counts both threads' busy time.\n",
         "Weights: " + "; ".join(f"{m}: {w}" for m, w in res["weights"].items()) + ".\n",
         *acceptance(res), "## Latency\n"]
    for t in res["threads"]:
        L += latency_table(res, t)
    L += memory_table(res) + errors_table(res) + layers_section(res)
    path.write_text("\n".join(L) + "\n")


def write_chart(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    threads = res["threads"]
    rts = [r for r in res["runtimes"] if r != REFERENCE]
    fig, axes = plt.subplots(len(threads), 1, figsize=(12, 4 * len(threads)), squeeze=False)
    x = np.arange(len(res["models"]))
    width = 0.8 / max(1, len(rts))
    for ax, t in zip(axes[:, 0], threads):
        for i, r in enumerate(rts):
            vals = [res["results"].get(f"{m}/{t}", {}).get(r, {}).get("ratio_to_ort", np.nan) for m in res["models"]]
            ax.bar(x + (i - (len(rts) - 1) / 2) * width, vals, width, label=LABELS[r])
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(x, res["models"])
        ax.set_yscale("log")
        ax.set_ylabel("latency / ONNX Runtime's")
        ax.set_title(f"batch 1, fp32, {t} thread(s); lower is faster ({res['cpu']})", fontsize=9)
        ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
