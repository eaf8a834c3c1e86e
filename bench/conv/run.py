"""Convolution primitives vs PyTorch, per layer of real CNN architectures; GEMM vs OpenBLAS.

    python bench/conv/run.py                   # all models, 1 and 2 threads (~15 min)
    python bench/conv/run.py --models resnet18 --threads 1
    python bench/conv/run.py --models centerface --layers 3 --no-gemm --out /tmp/conv  # a quick look
    python bench/conv/run.py --models mobilenet_v2,efficientnet_lite0 --kinds depthwise,stem --no-gemm --out /tmp/conv

For every distinct conv layer (batch 1, fp32) of ResNet-18, VGG-16, MobileNetV2, SqueezeNet 1.0,
GoogLeNet (torchvision architectures, random weights) and EfficientNet-Lite0
(leanconv.models.efficientnet_lite), or of any model leanconv.io.load_model reads (a zoo name or
a file): each model is imported as a Graph and each conv layer becomes a ConvSpec through
leanconv.primitives.spec_from_layer, the same path the runtime takes. GFLOP/s (2 x direct-convolution MACs per second, median
after warm-up) of every applicable primitive (weights packed once, workspace reused) and of
torch F.conv2d eager in NCHW and channels_last, measured in interleaved rounds (each candidate
once per round, median over rounds); plus workspace and
packed-weight bytes. The GEMM 2048^3 comparison runs in a child process with OPENBLAS_CORETYPE
and OPENBLAS_L2_SIZE removed from its environment. Writes bench/results/conv.md and conv.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["resnet18", "vgg16", "mobilenet_v2", "squeezenet1_0", "googlenet", "efficientnet_lite0"]


def median_time(fn: Callable[[], object], min_time: float = 0.2, max_reps: int = 25) -> tuple[float, float]:
    """(median, min) seconds of fn after two warm-up calls; slow calls are measured 3 times."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first < 0.5:
        fn()
    times: list[float] = []
    reps = 3 if first > 0.3 else max_reps
    start = time.perf_counter()
    while len(times) < reps and (len(times) < 3 or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def gemm_child() -> None:
    """Runs in a child with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset; prints JSON."""
    from leanconv import _native

    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    flops = 2.0 * n**3
    res: dict[str, Any] = {"n": n}
    # Interleaved rounds (numpy, ours, numpy, ours, ...) so both see the same machine state;
    # the paired ratio per round is robust to other load on a shared machine.
    fns = {"numpy_openblas": lambda: a @ b, "leanconv": lambda: _native.sgemm(a, b)}
    times: dict[str, list[float]] = {k: [] for k in fns}
    # Warm-up: page faults of fresh buffers and the CPU's clock ramp would land on whichever
    # side runs first.
    for _ in range(2):
        for f in fns.values():
            f()
    for _ in range(15):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    for k, ts in times.items():
        res[k] = {"gflops_median": flops / statistics.median(ts) / 1e9, "gflops_best": flops / min(ts) / 1e9}
    res["paired_ratio_median"] = statistics.median(o / m for o, m in zip(times["numpy_openblas"], times["leanconv"]))
    err = np.abs(_native.sgemm(a[:256], b) - a[:256].astype(np.float64) @ b).max()
    res["max_abs_err_256_rows"] = float(err)
    try:
        res["numpy_config"] = {
            k: v.get("name", "") if isinstance(v, dict) else str(v)
            for k, v in np.show_config(mode="dicts")["Build Dependencies"].items()  # type: ignore[union-attr]
        }
    except Exception:  # pragma: no cover - informational only
        pass
    print(json.dumps(res))


TORCHVISION = {"resnet18", "vgg16", "mobilenet_v2", "squeezenet1_0", "googlenet"}
SPEC_FIELDS = ("in_channels", "out_channels", "height", "width", "kernel", "stride", "padding", "dilation",
               "groups", "output_hw")


def model_graph(name: str) -> Any:
    """A model as a Graph: a torchvision architecture or EfficientNet-Lite0 on a 1x3x224x224
    input, else whatever leanconv.io.load_model reads (zoo name or file)."""
    import torch

    from leanconv.io import load_model
    from leanconv.io.torch_import import import_torch

    if name in TORCHVISION or name == "efficientnet_lite0":
        import torchvision

        if name == "efficientnet_lite0":
            from leanconv.models.efficientnet_lite import EfficientNetLite0

            model: Any = EfficientNetLite0()
        elif name == "googlenet":
            model = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
        else:
            model = getattr(torchvision.models, name)(weights=None)
        graph = import_torch(model.eval(), torch.zeros(1, 3, 224, 224), name=name)
    else:
        graph = load_model(name)
    return graph


def model_layers(name: str) -> list[tuple[str, Any]]:
    """(layer name, ConvSpec) of every conv layer of :func:`model_graph`."""
    from leanconv.primitives import spec_from_layer

    graph = model_graph(name)
    return [(layer.name, spec_from_layer(graph, layer)) for layer in graph.layers if layer.op == "conv"]


def torch_conv(spec: Any, x: Any, w: Any, b: Any) -> Callable[[], Any]:
    """torch's eager convolution of ``spec``: F.conv2d's own padding when it is symmetric, else
    an explicit F.pad first (what torch itself does for padding="same" with even kernels)."""
    import torch.nn.functional as F

    top, left, bottom, right = spec.padding
    kw = dict(stride=spec.stride, dilation=spec.dilation, groups=spec.groups)
    if (top, left) == (bottom, right):
        return lambda: F.conv2d(x, w, b, padding=(top, left), **kw)
    return lambda: F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, **kw)


def interleaved_times(fns: dict[str, Callable[[], object]], rounds: int = 3) -> dict[str, tuple[float, float]]:
    """(median, min) seconds of each fn, measured in `rounds` interleaved rounds (every fn once
    per round, each time a median over ~0.07 s of calls): a machine whose speed drifts, or that
    other jobs share, slows all candidates of a round alike, so their ratios hold."""
    meds: dict[str, list[float]] = {k: [] for k in fns}
    bests: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            med, best = median_time(fn, min_time=0.07, max_reps=10)
            meds[k].append(med)
            bests[k].append(best)
    return {k: (statistics.median(meds[k]), min(bests[k])) for k in fns}


def bench_layer(spec: Any, threads: list[int], rng: np.random.Generator) -> dict[str, Any]:
    import torch

    from leanconv import primitives as P

    cg = spec.in_channels // spec.groups
    x = rng.standard_normal((1, spec.in_channels, spec.height, spec.width)).astype(np.float32)
    w = (rng.standard_normal((spec.out_channels, cg, *spec.kernel)) / np.sqrt(cg * spec.kernel[0] * spec.kernel[1])).astype(np.float32)
    b = rng.standard_normal(spec.out_channels).astype(np.float32)
    flops = 2.0 * spec.macs
    xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
    xcl = xt.contiguous(memory_format=torch.channels_last)
    wcl = wt.contiguous(memory_format=torch.channels_last)
    res: dict[str, Any] = {"torch": {"nchw": {}, "channels_last": {}}, "primitives": {}}
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    packs = {}
    for prim in P.list_primitives(spec):
        packed = prim.pack(w, b, spec=spec)
        packs[prim.name] = (packed, x if prim.layout == "chw" else xh)
        res["primitives"][prim.name] = {
            "family": prim.family,
            "layout": prim.layout,
            "workspace_bytes": packed.workspace_bytes,
            "packed_bytes": packed.packed_bytes,
            "gflops": {},
        }
    with torch.no_grad():
        for t in threads:
            torch.set_num_threads(t)
            fns: dict[str, Callable[[], object]] = {
                "torch:nchw": torch_conv(spec, xt, wt, bt),
                "torch:channels_last": torch_conv(spec, xcl, wcl, bt),
            }
            for name, (packed, xi) in packs.items():
                fns[name] = functools.partial(packed.run, xi, t)
            for key, (med, best) in interleaved_times(fns).items():
                entry = {"gflops": flops / med / 1e9, "gflops_best": flops / best / 1e9}
                if key.startswith("torch:"):
                    res["torch"][key.split(":", 1)[1]][str(t)] = entry
                else:
                    res["primitives"][key]["gflops"][str(t)] = entry
    torch.set_num_threads(1)
    return res


def winograd_error(rng: np.random.Generator, c: int, hw: int) -> dict[str, float]:
    """Max |error| vs float64 of F(4x4,3x3), F(2x2,3x3), direct and torch on one 3x3 layer."""
    import torch
    import torch.nn.functional as F

    from leanconv import primitives as P

    x = rng.standard_normal((1, c, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    ref = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1).numpy()
    out = {}
    for name in ("winograd4x4_chw", "winograd2x2_chw", "direct_chw", "im2col_chw"):
        y = P.get(name).run(x, w, padding=1)
        out[name] = float(np.abs(y - ref).max())
    out["torch"] = float(np.abs(F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy() - ref).max())
    return out


def full_im2col_bytes(layer: dict[str, Any]) -> int:
    """Bytes of classic im2col's whole lowered matrix (C/g*KH*KW x OH*OW floats): the memory
    baseline. Our im2col_chw lowers cache-sized pixel blocks, so its workspace is far smaller."""
    oh, ow = layer["output_hw"]
    return layer["in_channels"] // layer["groups"] * layer["kernel"][0] * layer["kernel"][1] * oh * ow * 4


def layer_key(spec: Any) -> str:
    top, left, bottom, right = spec.padding
    pad = f"p{top}" if top == left == bottom == right else f"p{top},{left},{bottom},{right}"
    return (
        f"{spec.in_channels}x{spec.height}x{spec.width}->{spec.out_channels} k{spec.kernel[0]}x{spec.kernel[1]} "
        f"s{spec.stride[0]} {pad}" + (f" d{spec.dilation[0]}" if spec.dilation[0] > 1 else "")
        + (f" g{spec.groups}" if spec.groups > 1 else "")
    )


def layer_kind(spec: Any) -> str:
    """depthwise (one input channel per group, several groups), stem (at most 4 input channels,
    an image) or dense."""
    if spec.groups > 1 and spec.groups == spec.in_channels:
        return "depthwise"
    return "stem" if spec.in_channels <= 4 else "dense"


def best_torch(entry: dict[str, Any], t: str) -> float:
    return max(entry["torch"][lay][t]["gflops"] for lay in ("nchw", "channels_last"))


def best_ours(entry: dict[str, Any], t: str) -> tuple[str, float]:
    cands = [(n, p["gflops"][t]["gflops"]) for n, p in entry["primitives"].items()]
    return max(cands, key=lambda c: c[1])


def write_markdown(res: dict[str, Any], path: Path) -> None:
    L: list[str] = []
    threads = res["threads"]
    L.append("# Convolution primitives vs PyTorch (batch 1, fp32)\n")
    L.append(
        f"Machine: {res['machine']}; kernels ISA: {res['isa']}; torch {res['torch_version']}; "
        f"measured {res['date']} with `{res['command']}`; 1-min load average {res['loadavg_start'][0]:.1f} "
        f"at the start, {res['loadavg_end'][0]:.1f} at the end (other jobs share this machine). GFLOP/s = 2 x direct-convolution MACs / "
        "median time. torch = eager F.conv2d (oneDNN), best of NCHW and channels_last, measured in "
        "the same interleaved rounds as ours (eager torch cannot keep packed weights between calls; ours are packed once).\n"
    )
    acc = res["acceptance"]
    L.append("## Acceptance (single thread)\n")
    L.append("| check | measured | target | pass |")
    L.append("|---|---|---|---|")
    if "gemm" in res and "leanconv" in res["gemm"]:
        g = res["gemm"]
        r = g["paired_ratio_median"]
        L.append(
            f"| GEMM 2048^3 vs numpy/OpenBLAS (median of 15 interleaved pairs; best-of: "
            f"{g['leanconv']['gflops_best']:.1f} vs {g['numpy_openblas']['gflops_best']:.1f}) | "
            f"{g['leanconv']['gflops_median']:.1f} vs {g['numpy_openblas']['gflops_median']:.1f} GFLOP/s, "
            f"ratio {r:.2f}x | >= 0.85x | {'yes' if r >= 0.85 else 'NO'} |"
        )
    for item in acc.get("winograd", []):
        L.append(
            f"| Winograd F(4x4,3x3) {item['layer']} | {item['ours']:.1f} vs torch best {item['torch']:.1f} "
            f"GFLOP/s = {item['ratio']:.2f}x | >= 1.5x | {'yes' if item['ratio'] >= 1.5 else 'NO'} |"
        )
    for item in acc.get("winograd_error", []):
        L.append(
            f"| F(4x4,3x3) error vs direct, {item['layer']} | {item['winograd4x4']:.2e} vs "
            f"{item['direct']:.2e} = {item['ratio']:.1f}x | <= 10x | {'yes' if item['ratio'] <= 10 else 'NO'} |"
        )
    mem = acc.get("memory", [])
    if mem:
        worst = max(mem, key=lambda m: m["ratio"])
        L.append(
            f"| lowest-memory 3x3 primitive / whole im2col matrix, worst of {len(mem)} 3x3 layers | "
            f"{worst['ratio']:.3f} ({worst['layer']}: {worst['primitive']}) | <= 0.25 | "
            f"{'yes' if worst['ratio'] <= 0.25 else 'NO'} |"
        )
    for t in threads:
        rs = acc.get("resnet18_3x3", {}).get(t, [])
        if rs:
            worst = min(rs, key=lambda r: r["ratio"])
            L.append(
                f"| goal: ResNet-18 3x3 layers, best ours / torch best, {t} thread(s), worst layer | "
                f"{worst['ratio']:.2f}x ({worst['layer']}) | >= 1.0x | {'yes' if worst['ratio'] >= 1.0 else 'NO'} |"
            )
    L.append("")
    for t in threads:
        L.append(f"## Per layer, {t} thread(s)\n")
        L.append("| layer | models | MFLOP | torch NCHW | torch NHWC | best ours | GFLOP/s | ours/torch | min workspace (primitive) | whole im2col matrix |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for e in res["layers"]:
            tn = e["torch"]["nchw"][t]["gflops"]
            tc = e["torch"]["channels_last"][t]["gflops"]
            name, g = best_ours(e, t)
            prims = e["primitives"]
            lowmem = min(prims.items(), key=lambda kv: kv[1]["workspace_bytes"])
            im2 = full_im2col_bytes(e["layer"])
            L.append(
                f"| {e['key']} | {', '.join(sorted(set(e['models'])))} | {2 * e['macs'] / 1e6:.0f} | {tn:.1f} | {tc:.1f} | "
                f"{name} | {g:.1f} | {g / max(tn, tc):.2f} | {lowmem[1]['workspace_bytes'] / 1024:.0f} KiB ({lowmem[0]}) | "
                f"{im2 / 1024:.0f} KiB |"
            )
        L.append("")
    L.append("## Every primitive, 1 thread (GFLOP/s; workspace KiB)\n")
    for e in res["layers"]:
        t = threads[0]
        cells = ", ".join(
            f"{n} {p['gflops'][t]['gflops']:.1f} ({p['workspace_bytes'] / 1024:.0f})" for n, p in e["primitives"].items()
        )
        L.append(f"- {e['key']}: {cells}")
    path.write_text("\n".join(L) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--layers", type=int, default=0, help="benchmark only the first N distinct layers")
    ap.add_argument(
        "--kinds",
        default="",
        help="comma-separated layer kinds to keep: depthwise (groups == channels), stem (<= 4 input "
        "channels), dense (the others); default all",
    )
    ap.add_argument("--no-gemm", action="store_true")
    ap.add_argument("--gemm-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.gemm_child:
        gemm_child()
        return
    import torch

    from leanconv import primitives as P

    threads = [t for t in args.threads.split(",") if t]
    tint = [int(t) for t in threads]
    rng = np.random.default_rng(0)
    res: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus".strip(),
        "isa": P.resolved_isa(),
        "torch_version": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python bench/conv/run.py " + " ".join(sys.argv[1:]),
        "threads": threads,
        "loadavg_start": list(os.getloadavg()),
    }
    try:
        res["machine"] += " / " + next(
            line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    if not args.no_gemm:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        out = subprocess.run(
            [sys.executable, __file__, "--gemm-child"], env=env, capture_output=True, text=True, check=True
        )
        res["gemm"] = json.loads(out.stdout.strip().splitlines()[-1])
        print("gemm", res["gemm"], flush=True)

    layers: dict[str, dict[str, Any]] = {}
    for m in args.models.split(","):
        for qual, layer in model_layers(m):
            key = layer_key(layer)
            e = layers.setdefault(key, {"key": key, "layer": layer, "models": [], "names": []})
            e["models"].append(m)
            e["names"].append(f"{m}.{qual}")
    print(f"{len(layers)} distinct layers", flush=True)
    kinds = {k for k in args.kinds.split(",") if k}
    unknown = kinds - {"depthwise", "stem", "dense"}
    if unknown:
        ap.error(f"unknown --kinds {sorted(unknown)}; known: depthwise, stem, dense")
    chosen = [e for e in layers.values() if not kinds or layer_kind(e["layer"]) in kinds][: args.layers or None]
    out_layers = []
    for i, e in enumerate(chosen):
        layer = e["layer"]
        r = bench_layer(layer, tint, rng)
        entry = {
            "key": e["key"],
            "models": e["models"],
            "names": e["names"],
            "macs": layer.macs,
            "layer": {k: getattr(layer, k) for k in SPEC_FIELDS},
            **r,
        }
        out_layers.append(entry)
        name, g = best_ours(entry, threads[0])
        print(f"[{i + 1}/{len(chosen)}] {e['key']}: torch {best_torch(entry, threads[0]):.1f}, ours {name} {g:.1f}", flush=True)
    res["layers"] = out_layers

    acc: dict[str, Any] = {"winograd": [], "winograd_error": [], "memory": [], "resnet18_3x3": {}}
    t1 = threads[0]
    for e in out_layers:
        L = e["layer"]
        is3 = tuple(L["kernel"]) == (3, 3) and L["groups"] == 1
        if is3 and tuple(L["stride"]) == (1, 1) and (L["in_channels"], L["height"]) in ((64, 56), (128, 28)) and L["out_channels"] == L["in_channels"]:
            ours = max(e["primitives"][n]["gflops"][t1]["gflops"] for n in ("winograd4x4_chw", "winograd4x4_hwc"))
            tb = best_torch(e, t1)
            acc["winograd"].append({"layer": e["key"], "ours": ours, "torch": tb, "ratio": ours / tb})
        if tuple(L["kernel"]) == (3, 3) and "im2col_chw" in e["primitives"]:
            low = min(e["primitives"].items(), key=lambda kv: kv[1]["workspace_bytes"])
            im2 = full_im2col_bytes(L)
            acc["memory"].append({"layer": e["key"], "primitive": low[0], "bytes": low[1]["workspace_bytes"], "im2col": im2, "ratio": low[1]["workspace_bytes"] / im2})
        if is3 and "resnet18" in e["models"]:
            for t in threads:
                name, g = best_ours(e, t)
                acc["resnet18_3x3"].setdefault(t, []).append({"layer": e["key"], "primitive": name, "ours": g, "torch": best_torch(e, t), "ratio": g / best_torch(e, t)})
    for c, hw in ((64, 56), (128, 28)):
        errs = winograd_error(rng, c, hw)
        acc["winograd_error"].append({"layer": f"{c}x{hw}x{hw} 3x3", **errs, "winograd4x4": errs["winograd4x4_chw"], "direct": errs["direct_chw"], "ratio": errs["winograd4x4_chw"] / errs["direct_chw"]})
    res["acceptance"] = acc
    res["loadavg_end"] = list(os.getloadavg())
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "conv.json").write_text(json.dumps(res, indent=1, default=str))
    write_markdown(res, outdir / "conv.md")
    print(f"wrote {outdir / 'conv.md'} and conv.json")


if __name__ == "__main__":
    main()
