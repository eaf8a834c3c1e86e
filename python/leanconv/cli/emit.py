"""`leanconv emit MODEL [--plan plan.json] [--weights raw|lcz] [--force] -o out/`: the model run
by a plan as a self-contained C99 project (leanconv.emit)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leanconv.cli import command
from leanconv.cli.inspect import parse_shape
from leanconv.cli.output import err_console, print_json, results_console


@command
def emit(
    output: Annotated[Path, typer.Option("--output", "-o", help="the project folder to write")],
    model: Annotated[str | None, typer.Argument(
        help="ONNX or torch file, zoo name, or nothing for the default model")] = None,
    plan: Annotated[Path | None, typer.Option(
        "--plan", help="a plan saved for this model (default: the default planner's, one thread)")] = None,
    weights: Annotated[str, typer.Option("--weights", help="raw, or lcz (needs C codec decoders)")] = "raw",
    force: Annotated[bool, typer.Option("--force", help="replace the output folder if it exists")] = False,
    name: Annotated[str | None, typer.Option("--name", help="C name prefix (default: from the model)")] = None,
    input_shape: Annotated[str | None, typer.Option("--input-shape", "-i", help="NCHW input shape, e.g. 1,3,224,224")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print what was written as JSON")] = False,
) -> None:
    """Write the model, run by a plan, as a C99 project: network, weights blob, kernels, main, Makefile."""
    from leanconv.emit import emit as emit_project
    from leanconv.emit.blob import check_weights_mode
    from leanconv.io import load_model
    from leanconv.runtime import plan as plans

    check_weights_mode(weights)
    with err_console.status("importing model..."):
        graph = load_model(model, parse_shape(input_shape))
    chosen = plans.load(plan, graph) if plan is not None else None
    with err_console.status("planning and writing the C project..."):
        result = emit_project(graph, output, plan=chosen, weights=weights, force=force, name=name)
    if json_output:
        print_json(asdict(result))
        return
    table = Table(title=f"{result.path}: {result.name}, {result.steps} steps, one thread", title_justify="left")
    table.add_column("memory")
    table.add_column("bytes", justify="right")
    for label, value in (("arena", result.arena_bytes), ("workspace", result.workspace_bytes),
                         ("packed weights", result.packed_bytes), ("static RAM", result.ram_bytes),
                         ("weights blob (flash)", result.weights_bytes)):
        table.add_row(label, f"{value:,}")
    console = results_console()
    console.print(table)
    console.print(f"flash = code + the weights blob: `make -C {result.path} size` measures the code; "
                  f"`make -C {result.path}` builds {result.name}_main")
