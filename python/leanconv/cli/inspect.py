"""`leanconv inspect [MODEL]`: the layers of a model with shapes, parameters and MACs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leanconv.cli import command
from leanconv.errors import ShapeError
from leanconv.graph import Graph


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """"1,3,224,224" -> (1, 3, 224, 224)."""
    if text is None:
        return None
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(","))
    except ValueError:
        raise ShapeError(f"input shape {text!r} is not a comma-separated list of integers") from None
    if not dims or any(d <= 0 for d in dims):
        raise ShapeError(f"input shape {text!r} must have positive dimensions")
    return dims


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def graph_table(graph: Graph) -> Table:
    table = Table(title=f"{graph.name}: {len(graph)} layers, inputs "
                        + ", ".join(f"{k} {tuple(v)}" for k, v in graph.inputs.items()),
                  title_justify="left")
    for col, justify in (("#", "right"), ("layer", "left"), ("kind", "left"), ("output shape", "left"),
                         ("params", "right"), ("MACs", "right"), ("out KiB", "right")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    rows = graph.stats()
    for i, s in enumerate(rows):
        table.add_row(str(i), s.name, s.kind, "x".join(map(str, s.out_shape)), f"{s.params:,}",
                      _si(s.macs) if s.macs else "", f"{s.out_elems * 4 / 1024:.1f}")
    table.add_section()
    peak = max((s.out_elems for s in rows), default=0)
    table.add_row("", "total", "", "", f"{graph.params:,}", _si(graph.macs), f"peak {peak * 4 / 1024:.1f}",
                  style="bold")
    return table


@command
def inspect(
    model: Annotated[str | None, typer.Argument(help="ONNX or torch file, zoo name, or nothing for the default model")] = None,
    input_shape: Annotated[str | None, typer.Option("--input-shape", "-i", help="NCHW input shape, e.g. 1,3,224,224")] = None,
) -> None:
    """Show a model's layers with shapes, parameters and MACs."""
    from leanconv.io import load_model

    console = Console()
    with console.status("importing model..."):
        graph = load_model(model, parse_shape(input_shape))
    console.print(graph_table(graph))
