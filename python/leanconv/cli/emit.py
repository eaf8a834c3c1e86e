"""`leanconv emit MODEL [--plan plan.json] [--weights raw|lcz] [--force] -o out/`: the model run
by a plan as a self-contained C99 project (leanconv.emit). With ``--weights lcz``, ``--bits``,
``--sparsity`` and ``--codec`` say how the packed weights are compressed."""

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
    weights: Annotated[str, typer.Option(
        "--weights", help="raw (float32), or lcz (packed weights compressed, decoded at init)")] = "raw",
    bits: Annotated[int | None, typer.Option("--bits", "-b", help="lcz: quantization bits, 2..8 (default 8)")] = None,
    sparsity: Annotated[float | None, typer.Option(
        "--sparsity", "-s", help="lcz: fraction of each packed weight pruned by magnitude (default 0)")] = None,
    codec: Annotated[str | None, typer.Option(
        "--codec", help="lcz: auto (smallest per tensor among those kernels_c decodes) or one of them")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace the output folder if it exists")] = False,
    name: Annotated[str | None, typer.Option("--name", help="C name prefix (default: from the model)")] = None,
    input_shape: Annotated[str | None, typer.Option("--input-shape", "-i", help="NCHW input shape, e.g. 1,3,224,224")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print what was written as JSON")] = False,
) -> None:
    """Write the model, run by a plan, as a C99 project: network, weights blob, kernels, main, Makefile."""
    from leanconv.emit import emit as emit_project
    from leanconv.emit.blob import check_weights_mode
    from leanconv.emit.lcz import LczOptions
    from leanconv.errors import LeanconvError
    from leanconv.io import load_model
    from leanconv.runtime import plan as plans

    check_weights_mode(weights)
    options = None
    if (bits, sparsity, codec) != (None, None, None):
        if weights != "lcz":
            raise LeanconvError("--bits, --sparsity and --codec apply to --weights lcz only")
        d = LczOptions()
        options = LczOptions(d.sparsity if sparsity is None else sparsity, d.bits if bits is None else bits,
                             d.codec if codec is None else codec)
        options.check()
    with err_console.status("importing model..."):
        graph = load_model(model, parse_shape(input_shape))
    chosen = plans.load(plan, graph) if plan is not None else None
    with err_console.status("planning and writing the C project..."):
        result = emit_project(graph, output, plan=chosen, weights=weights, force=force, name=name,
                              lcz_options=options)
    if json_output:
        print_json(asdict(result))
        return
    table = Table(title=f"{result.path}: {result.name}, {result.steps} steps, one thread", title_justify="left")
    table.add_column("memory")
    table.add_column("bytes", justify="right")
    for label, value in (("arena", result.arena_bytes), ("workspace", result.workspace_bytes),
                         ("packed weights", result.packed_bytes), ("init scratch", result.init_scratch_bytes),
                         ("static RAM", result.ram_bytes),
                         (f"weights file {result.weights_file} (flash)", result.weights_bytes)):
        table.add_row(label, f"{value:,}")
    console = results_console()
    console.print(table)
    if result.codecs:
        console.print("codecs of the packed weights: " + ", ".join(f"{c} x{n}" for c, n in result.codecs.items()))
    console.print(f"flash = code + the weights file: `make -C {result.path} size` measures the code; "
                  f"`make -C {result.path}` builds {result.name}_main")
