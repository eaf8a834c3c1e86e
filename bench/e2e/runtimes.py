"""One runtime running one model at one thread count, in its own process (a worker).

    python bench/e2e/runtimes.py RUNTIME MODEL_FOLDER THREADS

The worker loads the model (nothing but numpy and its runtime imported: its peak RSS is its
own), runs it once on the folder's input and answers one JSON line: the output's error against
torch's (max|y - ref| / max|ref|) and the memory it reports. Then it answers commands on stdin,
one JSON line each, so that the parent can interleave runtimes in rounds without reloading:

    time WARMUP_S MIN_RUNS MIN_S   warm up, then run at least MIN_RUNS times and MIN_S seconds:
                                   {"times": [wall seconds, ...], "cpu_times": [...]}
    layers RUNS                    leanconv: each conv step alone (its primitive, packed once)
    profile                        ONNX Runtime (as ort_profile): its profiler's per-node times
    quit                           {"peak_rss": bytes}, then exits
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

Run = Callable[[], Any]
#: A loader: (model folder, threads) -> (run, output of run as an array, memory figures).
Loader = Callable[[Path, int], tuple[Run, Callable[[Any], np.ndarray], dict[str, Any]]]


def peak_rss() -> int:
    """Peak resident set of this process, bytes: /proc's VmHWM, which starts afresh at exec
    (getrusage's ru_maxrss carries the parent's peak over fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def arena_lower_bound(plan: Any) -> int:
    """The most arena bytes live at one step: every allocation (an arena tensor that is not a
    view, with its views) lives from the first step touching it to the last (graph outputs to
    the end); the lower bound is the largest sum over one step."""
    roots = {n: t.bytes for n, t in plan.tensors.items() if t.view_of is None and t.offset is not None}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for s, step in enumerate(plan.steps):
        for t in [*step.inputs, step.output]:
            view = plan.tensors[t].view_of
            root = view.tensor if view else t
            if root in roots:
                first.setdefault(root, s)
                last[root] = s
    for t in plan.outputs:
        view = plan.tensors[t].view_of
        root = view.tensor if view else t
        if root in roots:
            last[root] = len(plan.steps)
    return max((sum(b for r, b in roots.items() if r in first and first[r] <= s <= last[r])
                for s in range(len(plan.steps) + 1)), default=0)


def load_leanconv(folder: Path, threads: int) -> tuple[Run, Callable[[Any], np.ndarray], dict[str, Any]]:
    import pickle

    from leanconv.runtime import compile

    graph = pickle.loads((folder / "graph.pkl").read_bytes())
    exe = compile(graph, threads=threads)
    x = np.load(folder / "x.npy")
    kernels: dict[str, int] = {}
    for step in exe.plan.steps:
        name = str(getattr(step, "kernel", None) or getattr(step, "transform", ""))
        kernels[name] = kernels.get(name, 0) + 1
    mem = {"arena_bytes": exe.arena_bytes, "workspace_bytes": exe.workspace_bytes, "packed_bytes": exe.packed_bytes,
           "arena_lower_bound": arena_lower_bound(exe.plan), "kernels": kernels}
    WORKER_STATE["exe"] = exe
    return (lambda: exe.run(x)), np.asarray, mem


def load_ort(folder: Path, threads: int, profile: bool = False) -> tuple[Run, Callable[[Any], np.ndarray], dict[str, Any]]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = str(folder / f"ort_profile_t{threads}")
    sess = ort.InferenceSession(str(folder / "model.onnx"), so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: np.load(folder / "x.npy")}
    WORKER_STATE["ort"] = sess
    return (lambda: sess.run(None, feed)), lambda out: out[0], {}


def load_openvino(folder: Path, threads: int) -> tuple[Run, Callable[[Any], np.ndarray], dict[str, Any]]:
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(folder / "model.onnx")), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    x = np.load(folder / "x.npy")

    def run() -> Any:
        request.infer({0: x})
        return request.get_output_tensor(0).data

    return run, np.asarray, {}


def load_ncnn(folder: Path, threads: int) -> tuple[Run, Callable[[Any], np.ndarray], dict[str, Any]]:
    import ncnn

    net = ncnn.Net()
    opt = net.opt
    opt.num_threads = threads
    opt.use_vulkan_compute = False
    # fp32 throughout: ncnn's defaults store weights (and pack and compute) in fp16/bf16 where
    # the CPU allows, which is not the comparison this benchmark makes.
    for flag in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage",
                 "use_bf16_packed"):
        setattr(opt, flag, False)
    net.load_param(str(folder / "m.ncnn.param"))
    net.load_model(str(folder / "m.ncnn.bin"))
    # clone(): a Mat made from a numpy array borrows its memory without keeping it alive.
    x = ncnn.Mat(np.load(folder / "x.npy"), batch_index=0).clone()

    def run() -> Any:
        ex = net.create_extractor()
        ex.input("in0", x)
        _, out = ex.extract("out0")
        return out

    WORKER_STATE["ncnn"] = net
    return run, lambda out: out.numpy(batch_index=0), {}


def load_litert(folder: Path, threads: int) -> tuple[Run, Callable[[Any], np.ndarray], dict[str, Any]]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(folder / "model.tflite"), num_threads=threads)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    x = np.load(folder / "x.npy")

    def run() -> Any:
        interp.set_tensor(inp, x)
        interp.invoke()
        return interp.get_tensor(out)

    return run, np.asarray, {}


def _torch_loader(variant: str) -> Loader:
    def load(folder: Path, threads: int) -> tuple[Run, Callable[[Any], np.ndarray], dict[str, Any]]:
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        model = torch.load(folder / "module.pt", weights_only=False).eval()
        x = torch.from_numpy(np.load(folder / "x.npy"))
        if variant == "channels_last":
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        elif variant == "jit":
            with torch.no_grad():
                model = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, (x,))))

        def run() -> Any:
            with torch.inference_mode():
                return model(x)

        return run, lambda out: out.numpy(), {}

    return load


#: Every runtime the benchmark knows, by the name used on the command line and in the results.
LOADERS: dict[str, Loader] = {
    "leanconv": load_leanconv,
    "ort": load_ort,
    "openvino": load_openvino,
    "litert": load_litert,
    "ncnn": load_ncnn,
    "torch": _torch_loader("eager"),
    "torch_cl": _torch_loader("channels_last"),
    "torch_jit": _torch_loader("jit"),
}
LABELS = {"leanconv": "leanconv", "ort": "ONNX Runtime", "openvino": "OpenVINO", "litert": "LiteRT/XNNPACK",
          "ncnn": "ncnn", "torch": "torch eager", "torch_cl": "torch channels_last",
          "torch_jit": "torch jit.freeze"}
#: The runtime every ratio is taken against.
REFERENCE = "ort"
#: The file each runtime reads, made by models.prepare (None: the torch module or the Graph).
NEEDS = {"ort": "onnx", "openvino": "onnx", "litert": "tflite", "ncnn": "ncnn"}
#: Objects some commands need after loading (the leanconv Executable, the ORT session).
WORKER_STATE: dict[str, Any] = {}


def timed(run: Run, warmup_s: float, min_runs: int, min_s: float) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU seconds of each run after ``warmup_s`` of warm-up. CPU time
    leaves out the time other jobs held the core: at one thread it is the latency an idle
    machine would show (at two it adds both threads' busy time, spinning included)."""
    t_end = time.perf_counter() + warmup_s
    run()
    while time.perf_counter() < t_end:
        run()
    wall: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    while len(wall) < min_runs or time.perf_counter() - start < min_s:
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def conv_layer_times(threads: int, runs: int) -> list[dict[str, Any]]:
    """Each conv step of the leanconv plan alone: its primitive packed once with the layer's
    weights, run on an input of the step's shape and layout (fastest of ``runs``; the returned
    output array is allocated per call, the runtime writes into its arena instead)."""
    if "conv_steps" not in WORKER_STATE:
        from leanconv import primitives as P
        from leanconv.runtime.plan import LayerStep

        exe = WORKER_STATE["exe"]
        rng = np.random.default_rng(0)
        steps = []
        for step in exe.plan.steps:
            if not isinstance(step, LayerStep) or step.op != "conv":
                continue
            layer = exe.graph.layer(step.layer)
            spec = P.spec_from_layer(exe.graph, layer)
            packed = P.get(step.kernel).pack(layer.weights["weight"], layer.weights.get("bias"), spec=spec)
            x = rng.standard_normal(exe.plan.tensors[step.inputs[0]].shape).astype(np.float32)
            if packed.layout == "hwc":
                x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
            out = exe.plan.tensors[step.output].shape
            shape = (f"{spec.in_channels}->{spec.out_channels} k{spec.kernel[0]}x{spec.kernel[1]} s{spec.stride[0]} "
                     f"{out[2]}x{out[3]}" + (f" g{spec.groups}" if spec.groups > 1 else ""))
            row = {"layer": step.layer, "kernel": step.kernel, "weight": list(layer.weights["weight"].shape),
                   "input": list(exe.plan.tensors[step.inputs[0]].shape), "output": list(out), "shape": shape}
            steps.append((row, packed, x))
        WORKER_STATE["conv_steps"] = steps
    return [{**row, "seconds": min(timed(lambda: packed.run(x, threads), 0.0, runs, 0.0)[0])}
            for row, packed, x in WORKER_STATE["conv_steps"]]


def ort_profile() -> list[dict[str, Any]]:
    """ONNX Runtime's profiler, per node, over every run since the session started: fastest
    microseconds, its op, the shapes of its inputs (weights second) and outputs."""
    path = WORKER_STATE["ort"].end_profiling()
    events = json.loads(Path(path).read_text())
    Path(path).unlink()
    nodes: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        args = e.get("args", {})
        node = nodes.setdefault(e["name"][: -len("_kernel_time")], {
            "op": args.get("op_name", ""),
            "inputs": [next(iter(s.values())) for s in args.get("input_type_shape", [])],
            "outputs": [next(iter(s.values())) for s in args.get("output_type_shape", [])],
            "us": [],
        })
        node["us"].append(float(e["dur"]))
    return [{"name": n, "op": v["op"], "inputs": v["inputs"], "outputs": v["outputs"], "us": min(v["us"])}
            for n, v in nodes.items()]


def main() -> None:
    runtime, folder, threads = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    profile = runtime == "ort_profile"
    base_rss = peak_rss()
    t0 = time.perf_counter()
    run, to_array, mem = load_ort(folder, threads, profile=True) if profile else LOADERS[runtime](folder, threads)
    ref = np.load(folder / "ref.npy")
    y = to_array(run()).reshape(-1).astype(np.float64)
    err = float(np.abs(y - ref.reshape(-1)).max() / np.abs(ref).max()) if y.size == ref.size else float("inf")
    print(json.dumps({"error": err, "load_s": time.perf_counter() - t0, "base_rss": base_rss, **mem}), flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "time":
            wall, cpu = timed(run, float(args[0]), int(args[1]), float(args[2]))
            reply: Any = {"times": wall, "cpu_times": cpu}
        elif cmd == "layers":
            reply = {"layers": conv_layer_times(threads, int(args[0]))}
        elif cmd == "profile":
            reply = {"nodes": ort_profile()}
        elif cmd == "quit":
            print(json.dumps({"peak_rss": peak_rss()}), flush=True)
            return
        else:
            reply = {"fail": f"unknown command {cmd!r}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
