"""`leanconv inspect [MODEL]`: the layers of a model with shapes, parameters and MACs, or the
tensors of an .lcz container with their codecs and sizes."""

from __future__ import annotations

from pathlib import Path
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


def container_table(path: str) -> Table:
    from leanconv.compress.api import describe_container

    rows = describe_container(path)
    table = Table(title=f"{path}: {len(rows)} tensors", title_justify="left")
    for col, justify in (("tensor", "left"), ("shape", "left"), ("kind", "left"), ("codec", "left"),
                         ("bits", "right"), ("sparsity", "right"), ("merge tol.", "right"), ("bytes", "right"),
                         ("bits/elem", "right")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r["name"], "x".join(map(str, r["shape"])), r["kind"], r["codec"],
                      "" if r["bits"] is None else str(r["bits"]),
                      "" if r["sparsity"] is None else f"{r['sparsity']:.2f}",
                      str(r["merge_tolerance"]) if r["merge_tolerance"] else "", f"{r['bytes']:,}",
                      f"{r['bits_per_element']:.3f}")
    table.add_section()
    table.add_row("payload", "", "", "", "", "", "", f"{sum(r['bytes'] + r['side_bytes'] for r in rows):,}", "",
                  style="bold")
    return table


def _is_container(model: str | None) -> bool:
    from leanconv.compress.container import MAGIC

    if model is None or not Path(model).is_file():
        return False
    with open(model, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


@command
def inspect(
    model: Annotated[str | None, typer.Argument(
        help="ONNX or torch file, .lcz container, zoo name, or nothing for the default model")] = None,
    input_shape: Annotated[str | None, typer.Option("--input-shape", "-i", help="NCHW input shape, e.g. 1,3,224,224")] = None,
) -> None:
    """Show a model's layers with shapes, parameters and MACs (or an .lcz container's tensors)."""
    from leanconv.io import load_model

    console = Console()
    if _is_container(model):
        console.print(container_table(str(model)))
        return
    with console.status("importing model..."):
        graph = load_model(model, parse_shape(input_shape))
    console.print(graph_table(graph))
