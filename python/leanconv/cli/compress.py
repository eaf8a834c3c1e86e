"""`leanconv compress MODEL -s 0.75 -b 4 -o model.lcz` and `leanconv decompress model.lcz`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leanconv.cli import command


def _zstd19(codes: np.ndarray) -> int | None:
    try:
        import zstandard
    except ImportError:
        return None
    return len(zstandard.ZstdCompressor(level=19).compress(codes.tobytes()))


def layer_table(cm: Any, with_zstd: bool = True) -> Table:
    """Per-tensor table: codec, bits per weight, order-0 entropy, ratios vs dense and zstd-19."""
    table = Table(title="compressed tensors", title_justify="left")
    for col, j in (("tensor", "left"), ("shape", "left"), ("kind", "left"), ("codec", "left"),
                   ("bits/w", "right"), ("H0 bits/w", "right"), ("vs dense", "right"), ("vs zstd-19", "right"),
                   ("bytes", "right")):
        table.add_column(col, justify=j, overflow="fold")  # type: ignore[arg-type]
    tot_bytes = tot_n = tot_dense = tot_h0 = tot_z = 0.0
    z_ok = with_zstd
    for t in cm.values():
        n = max(t.numel, 1)
        if t.kind in ("quantized", "shared"):
            dense = n * (t.bits or 8) / 8
            h0 = t.h0_bits / n
            z = _zstd19(t.codes()) if with_zstd else None
            z_ok = z_ok and z is not None
            ratio_z = f"{z / t.nbytes:.2f}x" if z else "-"
            table.add_row(t.name, "x".join(map(str, t.shape)), t.kind, t.codec, f"{t.bits_per_weight:.3f}",
                          f"{h0:.3f}", f"{dense / max(t.nbytes, 1):.2f}x", ratio_z, f"{t.nbytes:,}")
            tot_bytes += t.nbytes
            tot_n += n
            tot_dense += dense
            tot_h0 += t.h0_bits
            tot_z += z or 0
    if tot_n:
        table.add_section()
        table.add_row("quantized total", "", "", "", f"{8 * tot_bytes / tot_n:.3f}", f"{tot_h0 / tot_n:.3f}",
                      f"{tot_dense / tot_bytes:.2f}x", f"{tot_z / tot_bytes:.2f}x" if z_ok and tot_z else "-",
                      f"{int(tot_bytes):,}", style="bold")
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
) -> None:
    """Prune, quantize and encode a model's weights into an .lcz container."""
    from leanconv.compress.api import CompressedModel
    from leanconv.compress.api import compress as do_compress
    from leanconv.io.weights import read_weights

    console = Console()
    with console.status(f"reading {model}..."):
        weights = read_weights(model)
    out = output or Path(Path(model).stem + ".lcz")
    with Progress(TextColumn("[bold]compressing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as prog:
        task = prog.add_task("", total=len(weights))

        def tick(name: str) -> None:
            prog.update(task, advance=1, description=name)

        cm = do_compress(weights, sparsity=sparsity, bits=bits or None, codec=codec,
                         prune="global" if global_prune else "layer", method="kmeans" if kmeans else "uniform",
                         progress=tick, merge_tolerance=merge_tolerance)
    assert isinstance(cm, CompressedModel)
    size = cm.save(out)
    console.print(layer_table(cm, with_zstd=zstd))
    fp32 = sum(int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize for t in cm.values())
    console.print(f"wrote [bold]{out}[/]: {size:,} bytes ({fp32 / max(size, 1):.1f}x smaller than the "
                  f"{fp32:,} bytes of the original tensors)")


@command
def decompress(
    container: Annotated[Path, typer.Argument(help=".lcz file")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help=".pth, .safetensors or .npz (default .pth)")] = None,
) -> None:
    """Decode an .lcz container back into a state dict (dequantized weights)."""
    from leanconv.compress.api import load
    from leanconv.io.weights import write_weights

    console = Console()
    with console.status(f"decoding {container}..."):
        tensors = load(container)
    out = output or container.with_suffix(".pth")
    write_weights(out, tensors)
    console.print(f"wrote [bold]{out}[/]: {len(tensors)} tensors")
