"""The C decoders (kernels_c/src/dec_*.c) against the Rust decoders, on one thread.

    .venv/bin/python bench/codecs/c_decode.py

Compiles the decoders into a shared library with the flags the crate builds them with (-O3,
C99), encodes EfficientNet-Lite0's conv weights at s=0.5 b=4 with every codec that has a C
decoder, checks that C decodes them exactly, then decodes the whole model with C and with Rust
in alternation, both into memory already held. Writes bench/results/codecs_c_decode.{md,json};
run.py adds the same table to codecs.md.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KERNELS = ROOT / "kernels_c"
sys.path.insert(0, str(HERE))

from timing import alternate  # noqa: E402

from leanconv import _native  # noqa: E402

# The codecs with a C decoder, as the container names them.
C_CODECS = ["dense", "huffman", "csr", "bitmap", "bsr", "pattern", "srans"]


def build_library(out_dir: Path) -> ctypes.CDLL:
    """The decoders as a shared library, compiled as rust/core/build.rs compiles them."""
    lib = out_dir / "liblc_decode.so"
    sources = sorted(str(p) for p in (KERNELS / "src").glob("dec_*.c"))
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-std=c99", "-O3", "-shared", "-fPIC", f"-I{KERNELS / 'include'}", "-o", str(lib), *sources],
                   check=True)
    dll = ctypes.CDLL(str(lib))
    size_p = ctypes.POINTER(ctypes.c_size_t)
    dll.lc_decode.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, size_p, ctypes.c_size_t,
                              ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
    dll.lc_decode.restype = ctypes.c_int
    dll.lc_decode_workspace_bytes.argtypes = [ctypes.c_int, size_p, ctypes.c_size_t]
    dll.lc_decode_workspace_bytes.restype = ctypes.c_size_t
    dll.lc_codec_id.argtypes = [ctypes.c_char_p]
    dll.lc_codec_id.restype = ctypes.c_int
    return dll


class CDecoder:
    """Every tensor's C decode call, its arguments prepared once (the streams, shapes, outputs
    and workspace stay referenced here)."""

    def __init__(self, dll: ctypes.CDLL, name: str, layers: list[np.ndarray], blobs: list[bytes]) -> None:
        self.dll = dll
        codec = dll.lc_codec_id(name.encode())
        self.streams = [np.frombuffer(b, np.uint8) for b in blobs]
        self.shapes = [(ctypes.c_size_t * q.ndim)(*q.shape) for q in layers]
        self.outs = [np.empty(q.shape, np.int8) for q in layers]
        ws_bytes = max(dll.lc_decode_workspace_bytes(codec, s, len(s)) for s in self.shapes)
        self.ws = np.empty(max(ws_bytes, 4) // 4 + 1, np.uint32)
        self.calls = [
            (codec, s.ctypes.data, s.size, shape, len(shape), o.ctypes.data, o.size, self.ws.ctypes.data, ws_bytes)
            for s, shape, o in zip(self.streams, self.shapes, self.outs)
        ]

    def __call__(self) -> None:
        for args in self.calls:
            rc = self.dll.lc_decode(*args)
            if rc != 0:
                raise RuntimeError(f"C decoder returned {rc}")


def paired(layers: list[np.ndarray], rounds: int = 21) -> dict[str, dict[str, float]]:
    """Per codec: Rust's and C's decode speed (MB/s of int8 codes, medians of `rounds`
    alternating rounds, best round too) and C's median speed ratio to Rust."""
    mb = sum(q.size for q in layers) / 1e6
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as d:
        dll = build_library(Path(d))
        for name in C_CODECS:
            blobs = [_native.encode_codes(q, name)[1] for q in layers]
            c = CDecoder(dll, name, layers, blobs)
            c()
            for q, o in zip(layers, c.outs):
                if not np.array_equal(q, o):
                    raise AssertionError(f"C {name} does not decode a {q.shape} tensor exactly")
            views = [(np.frombuffer(b, np.uint8), list(q.shape), name) for b, q in zip(blobs, layers)]
            bufs = [np.empty(q.shape, np.int8) for q in layers]
            out[name] = alternate({
                "rust": lambda: [_native.decode_codes(*v, o) for v, o in zip(views, bufs)],
                "c": c,
            }, mb, rounds, abba=True)
    return out


def table(res: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| codec | Rust decode | C decode | C vs Rust |", "|---|---|---|---|"]
    for name, r in res.items():
        lines.append(f"| {name} | {r['rust_mbs_median']:.0f} ({r['rust_mbs_best']:.0f}) | "
                     f"{r['c_mbs_median']:.0f} ({r['c_mbs_best']:.0f}) | {r['c_vs_rust_median']:.2f}x |")
    return lines


HEADER = ("C decoders against Rust's, EfficientNet-Lite0 s=0.5 b=4, one thread, both into held memory "
          "(MB/s of int8 codes, medians of 21 alternating rounds, every other round in reverse order; "
          "best round in brackets).")


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.platform()
    return f"{platform.machine()} {os.cpu_count()} cpus, {model}, {isa()}"


def isa() -> str:
    """The vector extensions the decoders may use here: both sides are built for baseline x86-64
    (the C with -O3 and no -march) and pick their AVX2 paths (srans) at run time."""
    try:
        flags = set(next(line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")))
    except (OSError, StopIteration):
        return "ISA unknown"
    have = [name for flag, name in [("sse4_2", "SSE4.2"), ("avx2", "AVX2"), ("avx512f", "AVX-512F")] if flag in flags]
    used = "AVX2" if "avx2" in flags else "scalar"
    return f"ISA {'/'.join(have) or 'baseline'}; srans decodes with {used} in both"


def main() -> None:
    from leanconv.compress import prune_magnitude, quantize_per_channel
    from models import MODELS

    weights = MODELS["M1_effnet_lite0"]()
    layers = [quantize_per_channel(prune_magnitude(w, 0.5), 4).codes for w in weights.values()]
    res = paired(layers)
    result: dict[str, Any] = {"machine": machine(), "c_decode_effnet_s0.5_b4": res}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "codecs_c_decode.json").write_text(json.dumps(result, indent=1))
    lines = ["# C decoders vs Rust decoders", "", f"Generated by `.venv/bin/python bench/codecs/c_decode.py` on "
             f"{result['machine']}.", "", HEADER, ""] + table(res)
    (out / "codecs_c_decode.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
