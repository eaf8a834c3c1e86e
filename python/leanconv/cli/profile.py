"""`leanconv profile MODEL`: measure every kernel the model's plan can use into a cost database."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from leanconv.cli import command
from leanconv.cli.inspect import parse_shape
from leanconv.cli.output import err_console, results_console

if TYPE_CHECKING:
    from leanconv.graph import Graph
    from leanconv.profile import CostDB

DEFAULT_COSTS = "leanconv-costs.jsonl"
Threads = Annotated[list[int], typer.Option("--threads", "-t", help="thread counts to measure (repeatable)")]
Costs = Annotated[str, typer.Option("--costs", help="cost database (JSON lines); another machine's selects for it")]
Shape = Annotated[str | None, typer.Option("--input-shape", "-i", help="NCHW input shape, e.g. 1,3,224,224")]
Model = Annotated[str | None, typer.Argument(help="ONNX or torch file, zoo name, or nothing for the default model")]


def profile_into(model: str | None, input_shape: str | None, threads: list[int], costs: str, fresh: bool) -> tuple[Graph, CostDB]:
    """Loads the model and measures what the database lacks, with a spinner; (graph, db)."""
    from leanconv.io import load_model
    from leanconv.profile import CostDB, profile

    with err_console.status("importing model..."):
        graph = load_model(model, parse_shape(input_shape))
    db = CostDB(costs)
    t0 = time.perf_counter()
    measured = 0
    if db.is_here:
        with err_console.status("profiling...") as status:
            measured = profile(graph, db, threads, fresh=fresh, progress=lambda what: status.update(f"profiling {what}"))
    err_console.print(f"{graph.name}: {measured} measurements in {time.perf_counter() - t0:.1f} s, "
                      f"{len(db.records)} in {costs} for {db.device['cpu']}", highlight=False)
    return graph, db


@command
def profile(model: Model = None, threads: Threads = [1],  # noqa: B006 (typer reads the default)
            costs: Costs = DEFAULT_COSTS, fresh: Annotated[bool, typer.Option("--fresh", help="re-measure everything")] = False,
            input_shape: Shape = None) -> None:
    """Measure each layer's kernels (time, workspace, packed bytes, error) and the layout transforms."""
    profile_into(model, input_shape, threads, costs, fresh)
    results_console().print(f"cost database: {costs}")
