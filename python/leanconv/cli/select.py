"""`leanconv select MODEL -o plan.json`: the fastest plan within the given budgets (the ILP
over measured costs), printed per layer with its predicted and measured end-to-end time;
``--pareto DIR`` writes the memory/time frontier as JSON and a PNG with the baselines marked."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from leanconv.cli import command
from leanconv.cli.output import err_console, print_json, results_console
from leanconv.cli.profile import DEFAULT_COSTS, Costs, Model, Shape, Threads, profile_into
from leanconv.errors import LeanconvError, MissingPackageError

if TYPE_CHECKING:
    from leanconv.select.network import Chosen, Selection

UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_bytes(text: str | None) -> float:
    """"2MB" -> 2e6, "512KiB" -> 524288, None -> no limit."""
    if text is None:
        return math.inf
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if m is None or m.group(2).lower() not in UNITS:
        raise LeanconvError(f"size {text!r} is not a number of bytes with an optional unit "
                            f"(B, KB, MB, GB, KiB, MiB, GiB)")
    return float(m.group(1)) * UNITS[m.group(2).lower()]


def family_of(kernel: str) -> str | None:
    from leanconv import primitives as P

    return P.get(kernel).family if kernel in {p.name for p in P.PRIMITIVES} else None


def plan_rows(sel: Selection, chosen: Chosen) -> list[dict[str, Any]]:
    """Per step of the plan: layer (or transform), kernel, layout, predicted seconds, workspace, packed."""
    from leanconv.runtime.plan import LayerStep, base_name

    cand = {node.name: node.candidates[j] for node, j in zip(sel.problem.nodes, chosen.choice)}
    tensors = {t.name: t for t in sel.problem.tensors}
    rows = []
    for step in chosen.plan.steps:
        if isinstance(step, LayerStep):
            c = cand[step.layer]
            rows.append({"step": step.layer, "kernel": step.kernel, "layout": step.layout, "seconds": c.seconds,
                         "workspace": step.workspace_bytes, "packed": step.packed_bytes})
        else:
            t = tensors.get(base_name(step.output))
            seconds = 0.0 if t is None else t.to_hwc_seconds if step.transform == "chw_to_hwc" else t.to_chw_seconds
            rows.append({"step": step.output, "kernel": step.transform, "layout": step.output.partition("@")[2] or "chw",
                         "seconds": seconds, "workspace": 0, "packed": 0})
    return rows


def plan_table(title: str, rows: list[dict[str, Any]], totals: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    for col, justify in (("step", "left"), ("kernel", "left"), ("layout", "left"), ("time µs", "right"),
                         ("workspace KiB", "right"), ("packed KiB", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r["step"], r["kernel"], r["layout"], f"{r['seconds'] * 1e6:.1f}", f"{r['workspace'] / 1024:.1f}",
                      f"{r['packed'] / 1024:.1f}")
    table.add_section()
    table.add_row("predicted", "", "", f"{totals['predicted_seconds'] * 1e6:.1f}",
                  f"{totals['workspace_bytes'] / 1024:.1f}", f"{totals['packed_bytes'] / 1024:.1f}", style="bold")
    if totals["measured_seconds"] is not None:
        table.add_row("measured", "", "", f"{totals['measured_seconds'] * 1e6:.1f}", "", "", style="bold")
    return table


def write_pareto(out: Path, sel: Selection, measure: str, budgets: Any) -> dict[str, Any]:
    """The frontier and the baselines (predicted time and memory) as frontier.json and frontier.png."""
    from dataclasses import replace

    from leanconv.select.baselines import baselines
    from leanconv.select.network import network_frontier

    points = network_frontier(sel, 12, replace(budgets, memory=math.inf))
    base = {name: sel.problem.evaluate(c, measure)
            for name, c in baselines(sel.problem, family_of, ["direct", "im2col", "winograd4x4"]).items()}
    data: dict[str, Any] = {"model": sel.graph.name, "threads": sel.threads, "measure": measure,
            "frontier": [{"budget": p.budget, "seconds": p.costs.seconds, "memory": p.costs.memory,
                          "kernels": sel.kernels(p.choice)} for p in points],
            "baselines": {n: {"seconds": c.seconds, "memory": c.memory} for n, c in base.items()}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "frontier.json").write_text(json.dumps(data, indent=1))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingPackageError("the frontier plot needs matplotlib (pip install 'leanconv[plot]')") from None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.step([p["memory"] / 1024 for p in data["frontier"]], [p["seconds"] * 1e3 for p in data["frontier"]],
            where="post", marker="o", label="ILP frontier")
    for name, c in data["baselines"].items():
        ax.scatter(c["memory"] / 1024, c["seconds"] * 1e3, marker="x", label=name)
    ax.set_xlabel(f"memory KiB ({measure})")
    ax.set_ylabel("predicted time ms")
    ax.set_title(f"{sel.graph.name}, {sel.threads} thread(s)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "frontier.png", dpi=120)
    plt.close(fig)
    return data


@command
def select(
    model: Model = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="where to write the plan (JSON)")] = Path("plan.json"),
    memory: Annotated[str | None, typer.Option("--memory", help="budget for arena + workspace, e.g. 2MB")] = None,
    weights_memory: Annotated[str | None, typer.Option("--weights-memory", help="budget for packed weights")] = None,
    max_error: Annotated[float | None, typer.Option("--max-error", help="largest relative error per layer")] = None,
    total: Annotated[bool, typer.Option("--total", help="--memory counts packed weights too")] = False,
    threads: Annotated[int, typer.Option("--threads", "-t", help="threads the plan runs")] = 1,
    costs: Costs = DEFAULT_COSTS,
    pareto: Annotated[Path | None, typer.Option("--pareto", help="write the frontier (JSON, PNG) into this folder")] = None,
    input_shape: Shape = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the plan rows and totals as JSON")] = False,
) -> None:
    """Choose each layer's kernel and layout (ILP) within the budgets; write and verify the plan."""
    from leanconv.select.ilp import Budgets
    from leanconv.select.network import build, choose, measure_plans

    measure = "total" if total else "activations"
    budgets = Budgets(memory=parse_bytes(memory), packed=parse_bytes(weights_memory),
                      error=math.inf if max_error is None else max_error, measure=measure)
    graph, db = profile_into(model, input_shape, [threads], costs, fresh=False)
    sel = build(graph, db, threads)
    with err_console.status("solving..."):
        chosen = choose(sel, budgets)
    chosen.plan.save(output)
    measured = None  # with another machine's costs, this machine's time would verify nothing
    if db.is_here:
        with err_console.status("measuring the plan..."):
            measured = measure_plans(graph, {"plan": chosen.plan})["plan"]
    totals = {"predicted_seconds": chosen.costs.seconds, "measured_seconds": measured,
              "memory_bytes": chosen.memory, "arena_bytes": chosen.plan.arena_bytes,
              "workspace_bytes": chosen.plan.workspace_bytes, "packed_bytes": chosen.plan.packed_bytes,
              "max_error": chosen.costs.error, "measure": measure}
    report: dict[str, Any] = {"model": graph.name, "plan": str(output), "steps": plan_rows(sel, chosen), "totals": totals}
    if pareto is not None:
        with err_console.status("tracing the frontier..."):
            report["pareto"] = write_pareto(pareto, sel, measure, budgets)
    if json_output:
        print_json(report)
        return
    console = results_console()
    console.print(plan_table(f"{graph.name}: plan for {threads} thread(s) -> {output}", report["steps"], totals))
    console.print(f"memory ({measure}): {chosen.memory:,} B (arena {chosen.plan.arena_bytes:,}, workspace "
                  f"{chosen.plan.workspace_bytes:,}, packed {chosen.plan.packed_bytes:,}); predicted "
                  f"{chosen.costs.seconds * 1e3:.3f} ms, " + (
                      f"measured {measured * 1e3:.3f} ms ({measured / max(chosen.costs.seconds, 1e-12):.2f}x)"
                      if measured is not None else f"not measured here (costs of {db.device['cpu']})"), highlight=False)
    if pareto is not None:
        console.print(f"frontier: {len(report['pareto']['frontier'])} points -> {pareto / 'frontier.json'}, "
                      f"{pareto / 'frontier.png'}")
