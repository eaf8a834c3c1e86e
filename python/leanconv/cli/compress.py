"""`leanconv compress MODEL -s 0.75 -b 4 -o model.lcz` and `leanconv decompress model.lcz`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leanconv.cli import command
from leanconv.cli.output import err_console, print_json, results_console


def _zstd19(codes: np.ndarray) -> int | None:
    try:
        import zstandard
    except ImportError:
        return None
    return len(zstandard.ZstdCompressor(level=19).compress(codes.tobytes()))


def tensor_rows(cm: Any, with_zstd: bool = True) -> list[dict[str, Any]]:
    """One row per quantized tensor: codec, size, bits per weight, order-0 entropy, and the ratios
    to dense storage at the same bit width and to zstd-19 of the codes (None without zstd)."""
    rows = []
    for t in cm.values():
        if t.kind not in ("quantized", "shared"):
            continue
        n = max(t.numel, 1)
        dense = n * (t.bits or 8) / 8
        z = _zstd19(t.codes()) if with_zstd else None
        rows.append({
            "name": t.name, "shape": list(t.shape), "kind": t.kind, "codec": t.codec, "weights": t.numel,
            "bytes": t.nbytes, "dense_bytes": dense, "zstd19_bytes": z,
            "bits_per_weight": t.bits_per_weight, "h0_bits_per_weight": t.h0_bits / n,
            "vs_dense": dense / max(t.nbytes, 1), "vs_zstd19": z / max(t.nbytes, 1) if z is not None else None,
        })  # fmt: skip
    return rows


def tensor_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows of :func:`tensor_rows` summed: the quantized tensors as one."""
    size = sum(r["bytes"] for r in rows)
    n = sum(r["weights"] for r in rows)
    z = [r["zstd19_bytes"] for r in rows]
    z_total = sum(z) if rows and None not in z else None
    return {
        "tensors": len(rows), "weights": n, "bytes": size, "dense_bytes": sum(r["dense_bytes"] for r in rows),
        "zstd19_bytes": z_total, "bits_per_weight": 8 * size / max(n, 1),
        "h0_bits_per_weight": sum(r["h0_bits_per_weight"] * r["weights"] for r in rows) / max(n, 1),
        "vs_dense": sum(r["dense_bytes"] for r in rows) / max(size, 1),
        "vs_zstd19": z_total / max(size, 1) if z_total is not None else None,
    }  # fmt: skip


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def tensor_table(rows: list[dict[str, Any]], totals: dict[str, Any]) -> Table:
    """The rows and totals as a rich table."""
    table = Table(title="compressed tensors", title_justify="left")
    for col, j in (("tensor", "left"), ("shape", "left"), ("kind", "left"), ("codec", "left"),
                   ("bits/w", "right"), ("H0 bits/w", "right"), ("vs dense", "right"), ("vs zstd-19", "right"),
                   ("bytes", "right")):
        table.add_column(col, justify=j, overflow="fold")  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r["name"], "x".join(map(str, r["shape"])), r["kind"], r["codec"], f"{r['bits_per_weight']:.3f}",
                      f"{r['h0_bits_per_weight']:.3f}", _ratio(r["vs_dense"]), _ratio(r["vs_zstd19"]),
                      f"{r['bytes']:,}")
    if rows:
        table.add_section()
        table.add_row("quantized total", "", "", "", f"{totals['bits_per_weight']:.3f}",
                      f"{totals['h0_bits_per_weight']:.3f}", _ratio(totals["vs_dense"]), _ratio(totals["vs_zstd19"]),
                      f"{totals['bytes']:,}", style="bold")
    return table


@command
def compress(
    model: Annotated[str, typer.Argument(help=".pth state dict, .onnx, .safetensors, .npz, .lcz, or a zoo name")],
    sparsity: Annotated[float, typer.Option("--sparsity", "-s", help="fraction of weights pruned by magnitude")] = 0.0,
    bits: Annotated[int, typer.Option("--bits", "-b", help="quantization bits (2..8); 0 = lossless")] = 8,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="output .lcz (default: MODEL.lcz)")] = None,
    codec: Annotated[str, typer.Option("--codec", "-c", help="codec name or auto")] = "auto",
    global_prune: Annotated[bool, typer.Option("--global", help="one pruning threshold over all layers")] = False,
    kmeans: Annotated[bool, typer.Option("--kmeans", help="k-means weight sharing instead of uniform")] = False,
    zstd: Annotated[bool, typer.Option("--zstd/--no-zstd", help="compare each layer with zstd-19")] = True,
    merge_tolerance: Annotated[int, typer.Option(
        "--merge-tolerance",
        help="lossy: replace rare weight patterns by frequent ones within this many quantization steps "
             "(zeros kept; 0 = off)")] = 0,
    json_output: Annotated[bool, typer.Option(
        "--json", help="print the per-tensor rows and totals as JSON on stdout instead of the table")] = False,
) -> None:
    """Prune, quantize and encode a model's weights into an .lcz container."""
    from leanconv.compress.api import CompressedModel
    from leanconv.compress.api import compress as do_compress
    from leanconv.io.weights import read_weights

    with err_console.status(f"reading {model}..."):
        weights = read_weights(model)
    out = output or Path(Path(model).stem + ".lcz")
    with Progress(TextColumn("[bold]compressing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=err_console, transient=True) as prog:
        task = prog.add_task("", total=len(weights))

        def tick(name: str) -> None:
            prog.update(task, advance=1, description=name)

        cm = do_compress(weights, sparsity=sparsity, bits=bits or None, codec=codec,
                         prune="global" if global_prune else "layer", method="kmeans" if kmeans else "uniform",
                         progress=tick, merge_tolerance=merge_tolerance)
    assert isinstance(cm, CompressedModel)
    size = cm.save(out)
    rows = tensor_rows(cm, with_zstd=zstd)
    totals = tensor_totals(rows)
    original = sum(int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize for t in cm.values())
    if json_output:
        print_json({"output": str(out), "file_bytes": size, "original_bytes": original, "tensors": rows,
                    "totals": totals})
        return
    console = results_console()
    console.print(tensor_table(rows, totals))
    console.print(f"wrote [bold]{out}[/]: {size:,} bytes ({original / max(size, 1):.1f}x smaller than the "
                  f"{original:,} bytes of the original tensors)")


@command
def decompress(
    container: Annotated[Path, typer.Argument(help=".lcz file")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help=".pth, .safetensors or .npz (default .pth)")] = None,
) -> None:
    """Decode an .lcz container back into a state dict (dequantized weights)."""
    from leanconv.compress.api import load
    from leanconv.io.weights import write_weights

    with err_console.status(f"decoding {container}..."):
        tensors = load(container)
    out = output or container.with_suffix(".pth")
    write_weights(out, tensors)
    results_console().print(f"wrote [bold]{out}[/]: {len(tensors)} tensors")
