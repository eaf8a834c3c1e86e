"""`leanconv inspect [MODEL]`: the layers of a model with shapes, parameters and MACs, or the
tensors of an .lcz container with their codecs and sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from leanconv.cli import command
from leanconv.cli.output import err_console, print_json, results_console
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


def graph_report(graph: Graph) -> dict[str, Any]:
    """The model's layers (index, name, kind, output shape, parameters, MACs, float32 output
    bytes) and totals (parameters, MACs, the largest output)."""
    stats = graph.stats()
    layers: list[dict[str, Any]] = [{"index": i, "name": s.name, "kind": s.kind, "output_shape": list(s.out_shape), "params": s.params,
               "macs": s.macs, "out_bytes": s.out_elems * 4} for i, s in enumerate(stats)]
    totals = {"layers": len(layers), "params": graph.params, "macs": graph.macs,
              "peak_out_bytes": max((r["out_bytes"] for r in layers), default=0)}
    return {"model": graph.name, "inputs": {k: list(v) for k, v in graph.inputs.items()}, "layers": layers,
            "totals": totals}


def graph_table(report: dict[str, Any]) -> Table:
    """:func:`graph_report` as a rich table."""
    inputs = ", ".join(f"{k} {tuple(v)}" for k, v in report["inputs"].items())
    table = Table(title=f"{report['model']}: {report['totals']['layers']} layers, inputs {inputs}",
                  title_justify="left")
    for col, justify in (("#", "right"), ("layer", "left"), ("kind", "left"), ("output shape", "left"),
                         ("params", "right"), ("MACs", "right"), ("out KiB", "right")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in report["layers"]:
        table.add_row(str(r["index"]), r["name"], r["kind"], "x".join(map(str, r["output_shape"])),
                      f"{r['params']:,}", _si(r["macs"]) if r["macs"] else "", f"{r['out_bytes'] / 1024:.1f}")
    table.add_section()
    totals = report["totals"]
    table.add_row("", "total", "", "", f"{totals['params']:,}", _si(totals["macs"]),
                  f"peak {totals['peak_out_bytes'] / 1024:.1f}", style="bold")
    return table


def container_report(path: str) -> dict[str, Any]:
    """The container's tensors (see :func:`leanconv.compress.describe_container`) and totals."""
    from leanconv.compress.api import describe_container

    rows = [{**r, "shape": list(r["shape"])} for r in describe_container(path)]
    totals = {"tensors": len(rows), "bytes": sum(r["bytes"] for r in rows),
              "payload_bytes": sum(r["bytes"] + r["side_bytes"] for r in rows)}
    return {"container": path, "tensors": rows, "totals": totals}


def container_table(report: dict[str, Any]) -> Table:
    """:func:`container_report` as a rich table."""
    rows = report["tensors"]
    table = Table(title=f"{report['container']}: {len(rows)} tensors", title_justify="left")
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
    table.add_row("payload", "", "", "", "", "", "", f"{report['totals']['payload_bytes']:,}", "", style="bold")
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
    json_output: Annotated[bool, typer.Option(
        "--json", help="print the rows and totals as JSON on stdout instead of the table")] = False,
) -> None:
    """Show a model's layers with shapes, parameters and MACs (or an .lcz container's tensors)."""
    from leanconv.io import load_model

    if _is_container(model):
        report = container_report(str(model))
        table = container_table
    else:
        with err_console.status("importing model..."):
            graph = load_model(model, parse_shape(input_shape))
        report = graph_report(graph)
        table = graph_table
    if json_output:
        print_json(report)
    else:
        results_console().print(table(report))
