"""Codec benchmark: the CODEC_ANCHORS protocol grid on real models.

    .venv/bin/python bench/codecs/run.py [--quick | --check] [--update] [--models M1_effnet_lite0,...]

For every model and (s, b) in {0, 0.5, 0.75} x {8, 4}: prune per layer, quantize per output
channel (leanconv.compress, exactly the protocol), then measure in bits per weight: dense,
Deep Compression CSR and CSR+Huffman (per-model tables, 5 bits per table entry), a plain
bitmap format, zstd-3 and zstd-19 (one frame), constriction's order-0 rANS, the order-0
entropy H0, every leanconv codec (per tensor, everything needed to decode) and auto; NNCodec
figures are read from CODEC_ANCHORS.md. Every leanconv codec is decoded and compared with the
codes (exact round trip) on every tensor. Speeds (MB/s of int8 codes) are measured on
EfficientNet-Lite0 at s=0.5, b=4. Writes bench/results/codecs.md and codecs.json.

The codecs' output is part of what the results state: every cell's byte count per leanconv
codec must equal the one in the committed bench/results/codecs.json, else the run stops and
names the cell. `--update` accepts a deliberate change of a codec's output; `--check` only
measures the sizes and compares them, writing nothing.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from models import MODELS  # noqa: E402
from timing import alternate  # noqa: E402

import c_decode  # noqa: E402

from leanconv import _native  # noqa: E402
from leanconv.compress import prune_magnitude, quantize_per_channel  # noqa: E402

GRID = [(0.0, 8), (0.0, 4), (0.5, 8), (0.5, 4), (0.75, 8), (0.75, 4)]
ANCHORS = [ROOT.parent / "shared" / "CODEC_ANCHORS.md", ROOT / "shared" / "CODEC_ANCHORS.md"]
RESULTS = ROOT / "bench" / "results"


def default_model() -> dict[str, np.ndarray] | None:
    """The shipped default model's conv weights, when python/leanconv/models has it."""
    try:
        from leanconv.io import zoo

        path = zoo.MODELS["default"].path()
    except Exception:
        return None
    import torch

    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    if hasattr(sd, "state_dict"):
        sd = sd.state_dict()
    return {k: v.numpy().astype(np.float32) for k, v in sd.items() if hasattr(v, "ndim") and v.ndim == 4}


def nncodec_figures() -> dict[tuple[str, float, int], float]:
    for p in ANCHORS:
        if p.exists():
            out = {}
            for line in p.read_text().splitlines():
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cells) == 11 and re.match(r"M\d_", cells[0]):
                    try:
                        out[(cells[0], float(cells[1]), int(cells[2]))] = float(cells[10])
                    except ValueError:
                        pass
            return out
    return {}


def huffman_bits(freqs: np.ndarray) -> int:
    """Total bits of an (unlimited) Huffman code for these frequencies."""
    f = [int(x) for x in freqs if x > 0]
    if len(f) <= 1:
        return sum(f)
    heapq.heapify(f)
    total = 0
    while len(f) > 1:
        a = heapq.heappop(f)
        b = heapq.heappop(f)
        total += a + b
        heapq.heappush(f, a + b)
    return total


def csr_entries(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deep Compression relative-index entries of one layer: (codes, skips)."""
    flat = q.reshape(-1)
    nz = np.flatnonzero(flat)
    if nz.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    gaps = np.diff(np.concatenate([[-1], nz])) - 1
    fillers = gaps // 16
    skips_last = gaps - 16 * fillers
    n = int(fillers.sum()) + nz.size
    codes = np.zeros(n, np.int64)
    skips = np.full(n, 15, np.int64)
    pos = np.cumsum(fillers + 1) - 1
    codes[pos] = flat[nz]
    skips[pos] = skips_last
    return codes, skips


def entropy_bits(counts: np.ndarray) -> float:
    c = counts[counts > 0].astype(np.float64)
    return float(-(c * np.log2(c / c.sum())).sum())


# Decoding a model takes milliseconds: more repeats find the machine's quiet moments for every
# decoder alike (a shared virtual machine's speed swings over minutes).
DECODE_REPEAT = 15


def timed(fn: Any, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure_cell(layers: list[np.ndarray], b: int, verify: bool) -> dict[str, Any]:
    n = sum(q.size for q in layers)
    stream = np.concatenate([q.reshape(-1) for q in layers])
    res: dict[str, Any] = {"weights": n, "zero_codes": float(np.mean(stream == 0))}
    res["dense"] = float(b)
    codes_l, skips_l = zip(*(csr_entries(q) for q in layers))
    codes = np.concatenate(codes_l)
    skips = np.concatenate(skips_l)
    res["deepcomp_csr"] = codes.size * (b + 4) / n
    cf = np.bincount(codes + 128, minlength=256)
    sf = np.bincount(skips, minlength=16)
    table = 5 * (int((cf > 0).sum()) + int((sf > 0).sum()))
    res["deepcomp_huffman"] = (huffman_bits(cf) + huffman_bits(sf) + table) / n
    nnz = int(np.count_nonzero(stream))
    res["bitmap_dense_nz"] = (n + nnz * b) / n
    try:
        import zstandard

        raw = stream.tobytes()
        res["zstd3"] = 8 * len(zstandard.ZstdCompressor(level=3).compress(raw)) / n
        res["zstd19"] = 8 * len(zstandard.ZstdCompressor(level=19).compress(raw)) / n
    except ImportError:
        pass
    hist = np.bincount(stream.astype(np.int64) + 128, minlength=256)
    res["H0"] = entropy_bits(hist) / n
    try:
        import constriction

        probs = (hist / n).astype(np.float64)
        model = constriction.stream.model.Categorical(probs, perfect=False)
        enc = constriction.stream.stack.AnsCoder()
        enc.encode_reverse((stream.astype(np.int32) + 128), model)
        # compressed words plus the histogram (16 bits per used symbol) as the table
        res["constriction_rans0"] = (32 * enc.num_words() + 16 * int((hist > 0).sum())) / n
    except ImportError:
        pass
    totals: dict[str, int] = {}
    best = auto_best = 0
    for q in layers:
        sizes = dict(_native.codec_sizes(q))
        for k, v in sizes.items():
            totals[k] = totals.get(k, 0) + v
        best += min(sizes.values())
        auto_best += min(sizes[c] for c in _native.auto_candidates(q.size))
        if verify:
            for name in sizes:
                _, blob = _native.encode_codes(q, name)
                assert len(blob) == sizes[name], (name, q.shape)
                back = _native.decode_codes(np.frombuffer(blob, np.uint8), list(q.shape), name)
                if not np.array_equal(back, q):
                    raise AssertionError(f"{name} does not round-trip a {q.shape} tensor")
    for k, v in totals.items():
        res[f"lc_{k}"] = 8 * v / n
    used = [_native.encode_codes(q, "auto") for q in layers]
    res["lc_auto"] = 8 * sum(len(bl) for _, bl in used) / n
    # auto tries fewer codecs (no crans; csr, bsr and pattern on small tensors only); lc_min is
    # the minimum over every codec.
    res["lc_min"] = 8 * best / n
    assert res["lc_min"] - 1e-9 <= res["lc_auto"] == 8 * auto_best / n
    res["auto_choices"] = {c: sum(1 for u, _ in used if u == c) for c in sorted({u for u, _ in used})}
    for (u, bl), q in zip(used, layers):
        back = _native.decode_codes(np.frombuffer(bl, np.uint8), list(q.shape), u)
        if not np.array_equal(back, q):
            raise AssertionError(f"auto ({u}) does not round-trip a {q.shape} tensor")
    return res


def speeds(layers: list[np.ndarray]) -> dict[str, float]:
    n = sum(q.size for q in layers)
    mb = n / 1e6
    out: dict[str, float] = {}
    stream = np.concatenate([q.reshape(-1) for q in layers])
    raw = stream.tobytes()
    import zstandard

    for lvl in (3, 19):
        c = zstandard.ZstdCompressor(level=lvl)
        d = zstandard.ZstdDecompressor()
        blob = c.compress(raw)
        out[f"zstd{lvl}_encode"] = mb / timed(lambda: c.compress(raw), 1 if lvl == 19 else 3)
        out[f"zstd{lvl}_decode"] = mb / timed(lambda: d.decompress(blob), DECODE_REPEAT)
    try:
        import constriction

        hist = np.bincount(stream.astype(np.int64) + 128, minlength=256)
        model = constriction.stream.model.Categorical((hist / n).astype(np.float64), perfect=False)
        syms = stream.astype(np.int32) + 128

        def cenc() -> Any:
            e = constriction.stream.stack.AnsCoder()
            e.encode_reverse(syms, model)
            return e.get_compressed()

        words = cenc()
        out["constriction_rans0_encode"] = mb / timed(cenc)
        out["constriction_rans0_decode"] = mb / timed(
            lambda: constriction.stream.stack.AnsCoder(words).decode(model, n), DECODE_REPEAT
        )
    except ImportError:
        pass
    for name in ["auto"] + [c for c, _, _ in _native.codec_table()]:
        blobs = [_native.encode_codes(q, name) for q in layers]
        views = [(np.frombuffer(bl, np.uint8), list(q.shape), u) for (u, bl), q in zip(blobs, layers)]
        out[f"lc_{name}_encode"] = mb / timed(lambda: [_native.encode_codes(q, name) for q in layers])
        out[f"lc_{name}_decode"] = mb / timed(lambda: [_native.decode_codes(*v) for v in views], DECODE_REPEAT)
        # Into memory already held (decode_codes(..., out=)): the codec without allocation.
        bufs = [np.empty(q.shape, np.int8) for q in layers]
        out[f"lc_{name}_decode_prealloc"] = mb / timed(
            lambda: [_native.decode_codes(*v, o) for v, o in zip(views, bufs)], DECODE_REPEAT
        )
        if name in ("auto", "crans", "srans"):
            with ThreadPoolExecutor(2) as ex:
                out[f"lc_{name}_encode_2t"] = mb / timed(lambda: list(ex.map(lambda q: _native.encode_codes(q, name), layers)))
                out[f"lc_{name}_decode_2t"] = mb / timed(
                    lambda: list(ex.map(lambda v: _native.decode_codes(*v), views)), DECODE_REPEAT
                )
    return out


def paired_decode(layers: list[np.ndarray]) -> dict[str, float]:
    """auto's decode against zstd-3's, in alternation."""
    import zstandard

    mb = sum(q.size for q in layers) / 1e6
    raw = np.concatenate([q.reshape(-1) for q in layers]).tobytes()
    zblob = zstandard.ZstdCompressor(level=3).compress(raw)
    zd = zstandard.ZstdDecompressor()
    used = [_native.encode_codes(q, "auto") for q in layers]
    views = [(np.frombuffer(bl, np.uint8), list(q.shape), u) for (u, bl), q in zip(used, layers)]
    bufs = [np.empty(q.shape, np.int8) for q in layers]
    return alternate({
        "zstd3": lambda: zd.decompress(zblob),
        "auto": lambda: [_native.decode_codes(*v) for v in views],
        "auto_held": lambda: [_native.decode_codes(*v, o) for v, o in zip(views, bufs)],
    }, mb)


def paired_encode(layers: list[np.ndarray]) -> dict[str, float]:
    """auto's encode (one thread, and two over tensors) against zstd-3's, in alternation."""
    import zstandard

    mb = sum(q.size for q in layers) / 1e6
    raw = np.concatenate([q.reshape(-1) for q in layers]).tobytes()
    zc = zstandard.ZstdCompressor(level=3)
    with ThreadPoolExecutor(2) as ex:
        return alternate({
            "zstd3": lambda: zc.compress(raw),
            "auto": lambda: [_native.encode_codes(q, "auto") for q in layers],
            "auto_2t": lambda: list(ex.map(lambda q: _native.encode_codes(q, "auto"), layers)),
        }, mb, rounds=11)


def state_dict_time() -> float:
    """Whole EfficientNet-Lite0 state_dict: prune + quantize + encode + write, from Python."""
    import tempfile

    import torch

    import leanconv
    from leanconv.io import zoo

    sd = torch.load(zoo.MODELS["efficientnet-lite0"].path(), map_location="cpu", weights_only=True)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "m.lcz"
        return timed(lambda: leanconv.save(out, leanconv.compress(sd, sparsity=0.5, bits=4)))


COLS = [
    ("dense", "dense a"), ("deepcomp_csr", "DeepComp CSR b"), ("deepcomp_huffman", "DeepComp+Huffman c"),
    ("bitmap_dense_nz", "bitmap"), ("zstd3", "zstd-3"), ("zstd19", "zstd-19"),
    ("constriction_rans0", "constriction rANS0"), ("H0", "H0"),
    ("lc_huffman", "lc huffman"), ("lc_csr", "lc csr"), ("lc_bitmap", "lc bitmap"), ("lc_bsr", "lc bsr"),
    ("lc_pattern", "lc pattern"), ("lc_crans", "lc crans"), ("lc_srans", "lc srans"), ("lc_min", "lc min"), ("lc_auto", "**lc auto**"), ("nncodec", "NNCodec"),
]


def codec_bytes(row: dict[str, Any]) -> dict[str, int]:
    """Bytes of every leanconv codec (and auto) over a cell, from its bits per weight: the bench
    stores 8 * bytes / weights, which gives the bytes back exactly."""
    return {k[3:]: round(v * row["weights"] / 8) for k, v in row.items() if k.startswith("lc_") and k != "lc_min"}


def committed_rows() -> dict[tuple[str, float, int], dict[str, Any]]:
    """The committed results' rows by (model, s, b) (none without a results file)."""
    path = RESULTS / "codecs.json"
    if not path.exists():
        return {}
    return {(r["model"], r["s"], r["b"]): r for r in json.loads(path.read_text())["rows"]}


def size_changes(row: dict[str, Any], committed: dict[str, Any]) -> list[str]:
    """How a cell's measured weights and codec bytes differ from the committed ones."""
    if row["weights"] != committed["weights"]:
        return [f"{row['weights']} weights, committed {committed['weights']}"]
    old = codec_bytes(committed)
    return [f"{k} {v} bytes, committed {old.get(k)}" for k, v in codec_bytes(row).items() if old.get(k) != v]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the per-codec decode check and speeds")
    ap.add_argument("--check", action="store_true",
                    help="measure the sizes (as --quick) and compare them with the committed results; write nothing")
    ap.add_argument("--update", action="store_true",
                    help="accept codec sizes that differ from the committed results (a deliberate format change)")
    ap.add_argument("--models", default="")
    args = ap.parse_args()
    args.quick |= args.check
    committed = {} if args.update else committed_rows()
    nn = nncodec_figures()
    models: dict[str, Any] = dict(MODELS)
    dm = default_model()
    if dm:
        models["M6_default_leannet"] = lambda: dm
    if args.models:
        models = {k: v for k, v in models.items() if k in args.models.split(",")}
    rows = []
    compared = 0
    for mname, loader in models.items():
        weights = loader()
        for s, b in GRID:
            t = time.perf_counter()
            layers = [quantize_per_channel(prune_magnitude(w, s), b).codes for w in weights.values()]
            r = measure_cell(layers, b, verify=not args.quick)
            r.update(model=mname, s=s, b=b, layers=len(layers))
            key = (mname, s, b)
            if key in nn:
                r["nncodec"] = nn[key]
            rows.append(r)
            print(f"{mname} s={s} b={b}: H0 {r['H0']:.3f} auto {r['lc_auto']:.3f} NNCodec {r.get('nncodec', '-')}"
                  f" ({time.perf_counter() - t:.1f}s)", flush=True)
            if key in committed:
                compared += 1
                if changes := size_changes(r, committed[key]):
                    sys.exit(f"{mname} s={s} b={b}: the codecs' output differs from {RESULTS / 'codecs.json'}: "
                             + "; ".join(changes) + ". Rerun with --update to accept a deliberate format change.")
    if args.update:
        print("codec sizes taken as measured (--update)")
    else:
        print(f"{compared} of {len(rows)} cells compared with {RESULTS / 'codecs.json'}: every codec's bytes equal")
    if args.check:
        return
    result: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.processor() or platform.platform()}",
        "rows": rows,
    }
    if not args.quick and "M1_effnet_lite0" in models:
        w = models["M1_effnet_lite0"]()
        layers = [quantize_per_channel(prune_magnitude(x, 0.5), 4).codes for x in w.values()]
        result["speed_effnet_s0.5_b4"] = speeds(layers)
        result["paired_decode_effnet_s0.5_b4"] = paired_decode(layers)
        result["paired_encode_effnet_s0.5_b4"] = paired_encode(layers)
        result["c_decode_effnet_s0.5_b4"] = c_decode.paired(layers)
        result["state_dict_compress_save_s"] = state_dict_time()
    write(result)


def write(result: dict[str, Any]) -> None:
    out = RESULTS
    out.mkdir(parents=True, exist_ok=True)
    (out / "codecs.json").write_text(json.dumps(result, indent=1))
    lines = ["# Codec benchmark (bits per weight; lower is better)", "",
             "Generated by `.venv/bin/python bench/codecs/run.py` on " + result["machine"] + ".",
             "Protocol: CODEC_ANCHORS.md (per-layer magnitude pruning, per-channel symmetric quantization, "
             "every 4-D conv weight). lc = leanconv codecs, per tensor, counting every byte needed to decode "
             "(not the fp32 scales). NNCodec from CODEC_ANCHORS.md. Every lc codec was decoded and compared "
             "with the codes on every tensor.", ""]
    lines.append("| model | s | b | weights | zeros | " + " | ".join(c for _, c in COLS) + " | auto vs H0 | auto vs NNCodec | auto picks |")
    lines.append("|" + "---|" * (len(COLS) + 8))
    for r in result["rows"]:
        cells = [r["model"], f"{r['s']}", str(r["b"]), str(r["weights"]), f"{100 * r['zero_codes']:.0f}%"]
        cells += [f"{r[k]:.3f}" if k in r else "-" for k, _ in COLS]
        cells.append(f"{100 * (r['lc_auto'] / r['H0'] - 1):+.1f}%")
        cells.append(f"{100 * (r['lc_auto'] / r['nncodec'] - 1):+.1f}%" if "nncodec" in r else "-")
        cells.append(", ".join(f"{k} {v}" for k, v in r["auto_choices"].items()))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Seed claim: ratio over dense b-bit storage after pruning and quantization", "",
              "| model | s | b | huffman | csr | bsr | pattern | crans | srans | auto |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {r['s']} | {r['b']} | " + " | ".join(
            f"{r['dense'] / r['lc_' + k]:.2f}x" for k in ("huffman", "csr", "bsr", "pattern", "crans", "srans", "auto")) + " |")
    pruned = [r for r in result["rows"] if r["s"] in (0.5, 0.75)]
    if pruned:
        lines += ["", "Range over every model at s in {0.5, 0.75} (the seed reports 1.4x to 3.1x on top of "
                  "pruning and quantization):", ""]
        for k in ("pattern", "bsr", "huffman", "csr", "crans", "srans", "auto"):
            ratios = [r["dense"] / r["lc_" + k] for r in pruned]
            lines.append(f"- {k}: {min(ratios):.2f}x to {max(ratios):.2f}x")
    acc = []
    for mname in sorted({r["model"] for r in result["rows"]}):
        cells = [r for r in result["rows"] if r["model"] == mname and r["s"] in (0.5, 0.75)]
        below_h0 = sum(r["lc_auto"] < r["H0"] for r in cells)
        with_nn = [r for r in cells if "nncodec" in r]
        at_nn = sum(r["lc_auto"] <= r["nncodec"] for r in with_nn)
        acc.append(f"| {mname} | {below_h0}/{len(cells)} | {at_nn}/{len(with_nn)} |")
    lines += ["", "## Acceptance cells (s in {0.5, 0.75}, b in {4, 8})", "",
              "| model | auto < H0 | auto <= NNCodec |", "|---|---|---|"] + acc
    sp = result.get("speed_effnet_s0.5_b4")
    if sp:
        lines += ["", "## Speed, EfficientNet-Lite0 s=0.5 b=4 (MB/s of int8 codes; encode best of 3, decode best of "
                  f"{DECODE_REPEAT}; 1 thread unless marked)", "",
                  "Decode allocates each output as zstd does; \"into held memory\" decodes into arrays the caller "
                  "already has (`decode_codes(..., out=)`), the codec's own speed.", "",
                  "| coder | encode | decode | decode into held memory |", "|---|---|---|---|"]
        names = sorted({k.rsplit("_", 1)[0] for k in sp if k.endswith(("_encode", "_decode"))})
        for nm in names:
            held = f"{sp[nm + '_decode_prealloc']:.0f}" if nm + "_decode_prealloc" in sp else "-"
            lines.append(f"| {nm} | {sp.get(nm + '_encode', 0):.0f} | {sp.get(nm + '_decode', 0):.0f} | {held} |")
        for nm in ("lc_auto", "lc_crans", "lc_srans"):
            if nm + "_encode_2t" in sp:
                lines.append(f"| {nm} (2 threads) | {sp[nm + '_encode_2t']:.0f} | {sp[nm + '_decode_2t']:.0f} | - |")
        pd = result["paired_decode_effnet_s0.5_b4"]
        lines += ["", "Decoding auto's output and zstd-3's in alternation (21 rounds, medians; best round in "
                  f"brackets): zstd-3 {pd['zstd3_mbs_median']:.0f} ({pd['zstd3_mbs_best']:.0f}) MB/s, auto "
                  f"{pd['auto_mbs_median']:.0f} ({pd['auto_mbs_best']:.0f}) MB/s "
                  f"({pd['auto_vs_zstd3_median']:.2f}x zstd-3), auto into held memory {pd['auto_held_mbs_median']:.0f} "
                  f"({pd['auto_held_mbs_best']:.0f}) MB/s ({pd['auto_held_vs_zstd3_median']:.2f}x)."]
        pe = result["paired_encode_effnet_s0.5_b4"]
        lines += ["", "Encoding with auto and with zstd-3 in alternation (11 rounds, medians; best round in "
                  f"brackets): zstd-3 {pe['zstd3_mbs_median']:.0f} ({pe['zstd3_mbs_best']:.0f}) MB/s, auto "
                  f"{pe['auto_mbs_median']:.0f} ({pe['auto_mbs_best']:.0f}) MB/s "
                  f"({pe['auto_vs_zstd3_median']:.2f}x zstd-3), auto on two threads {pe['auto_2t_mbs_median']:.0f} "
                  f"({pe['auto_2t_mbs_best']:.0f}) MB/s ({pe['auto_2t_vs_zstd3_median']:.2f}x)."]
        if "c_decode_effnet_s0.5_b4" in result:
            lines += ["", c_decode.HEADER, ""] + c_decode.table(result["c_decode_effnet_s0.5_b4"])
        lines += ["", f"Whole EfficientNet-Lite0 state_dict, `leanconv.save(path, leanconv.compress(sd, sparsity=0.5, bits=4))`: "
                  f"{result['state_dict_compress_save_s']:.3f} s (best of 3)."]
    (out / "codecs.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
