"""`leanconv run [MODEL]`: a model compiled by the runtime and timed: its outputs' shapes, the
latency (median and p90 over timed runs after warm-up) and the memory it runs in (arena beside
its lower bound, workspace, packed weights)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leanconv.cli import command
from leanconv.cli.inspect import parse_shape
from leanconv.cli.output import err_console, print_json, results_console
from leanconv.errors import CorruptFileError

#: Untimed runs first: page faults of the arena and workspace, caches, the thread pool waking.
WARMUP = 3


def read_inputs(path: Path | None, inputs: dict[str, tuple[int, ...]]) -> Any:
    """The run's inputs: an .npy file (one array, for a graph with one input), an .npz file
    (arrays by input name), or seeded standard-normal arrays of the graph's input shapes."""
    if path is None:
        rng = np.random.default_rng(0)
        return {name: rng.standard_normal(shape, dtype=np.float32) for name, shape in inputs.items()}
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CorruptFileError(f"cannot read input {str(path)!r} as .npy or .npz: {e}") from None
    if isinstance(data, np.ndarray):
        return data
    with data:
        return {name: data[name] for name in data.files}


def time_runs(run: Any, runs: int) -> list[float]:
    """Seconds of each of ``runs`` timed calls of ``run`` after WARMUP untimed ones, with a
    progress bar on stderr."""
    for _ in range(WARMUP):
        run()
    seconds = []
    with Progress(TextColumn("[bold]timing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as prog:
        task = prog.add_task("", total=runs)
        for _ in range(runs):
            t0 = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - t0)
            prog.advance(task)
    return seconds


def run_table(report: dict[str, Any]) -> Table:
    """The report of :func:`run` as a rich table: outputs, latency, memory."""
    table = Table(title=f"{report['model']}: {report['threads']} thread(s), {report['latency_ms']['runs']} timed runs",
                  title_justify="left")
    table.add_column("", justify="left")
    table.add_column("value", justify="right")
    for out in report["outputs"]:
        table.add_row(f"output {out['name']}", "x".join(map(str, out["shape"])))
    table.add_section()
    lat = report["latency_ms"]
    table.add_row("latency median", f"{lat['median']:.3f} ms")
    table.add_row("latency p90", f"{lat['p90']:.3f} ms")
    table.add_section()
    mem = report["memory"]
    table.add_row("arena", f"{mem['arena_bytes']:,} B")
    table.add_row("arena lower bound", f"{mem['arena_lower_bound']:,} B")
    table.add_row("arena / lower bound", f"{mem['arena_ratio']:.3f}x")
    table.add_row("workspace", f"{mem['workspace_bytes']:,} B")
    table.add_row("packed weights", f"{mem['packed_bytes']:,} B")
    table.add_row("total (an emitted program's static RAM)", f"{mem['total_bytes']:,} B")
    return table


@command
def run(
    model: Annotated[str | None, typer.Argument(
        help="ONNX or torch file, zoo name, or nothing for the default model")] = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", "-t", help="threads (default 1, or the plan's with --plan)")] = None,
    plan_path: Annotated[Path | None, typer.Option("--plan", help="run this plan (JSON) instead of the default planner's")] = None,
    input_path: Annotated[Path | None, typer.Option(
        "--input", help=".npy array (one-input graphs) or .npz of arrays by input name; random when omitted")] = None,
    input_shape: Annotated[str | None, typer.Option("--input-shape", "-i", help="NCHW input shape, e.g. 1,3,224,224")] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, help="timed runs after the warm-up")] = 20,
    save_plan: Annotated[Path | None, typer.Option("--save-plan", help="write the plan that ran (JSON) here")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the report as JSON on stdout instead of the table")] = False,
) -> None:
    """Run a model with leanconv's runtime: outputs' shapes, latency and memory."""
    from leanconv.io import load_model
    from leanconv.runtime import compile
    from leanconv.runtime.plan import load

    with err_console.status("importing model..."):
        graph = load_model(model, parse_shape(input_shape))
    with err_console.status("planning and packing weights..."):
        plan = None if plan_path is None else load(plan_path, graph)
        exe = compile(graph, plan, threads)
    inputs = read_inputs(input_path, graph.inputs)
    outputs = exe.run(inputs)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    if save_plan is not None:
        exe.plan.save(save_plan)
    bound = exe.arena_lower_bound
    seconds = np.array(time_runs(lambda: exe.run(inputs), runs)) * 1e3
    report = {
        "model": graph.name, "threads": exe.plan.threads,
        "outputs": [{"name": name, "shape": list(y.shape)} for name, y in zip(graph.outputs, outputs, strict=True)],
        "latency_ms": {"median": float(np.median(seconds)), "p90": float(np.percentile(seconds, 90)),
                       "min": float(seconds.min()), "runs": runs},
        "memory": {"arena_bytes": exe.arena_bytes, "arena_lower_bound": bound,
                   "arena_ratio": exe.arena_bytes / bound if bound else 1.0,
                   "workspace_bytes": exe.workspace_bytes, "packed_bytes": exe.packed_bytes,
                   "total_bytes": exe.memory_bytes},
    }
    if json_output:
        print_json(report)
    else:
        results_console().print(run_table(report))

