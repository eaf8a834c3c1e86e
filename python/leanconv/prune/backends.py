"""Where latency is measured: a backend turns a layer (or a whole model) into a callable that
runs it once; :func:`interleaved_medians` times callables fairly on a shared machine.

A backend is a small interface (:class:`Backend`) so that the profiler's cost database can
stand in for measuring layers one by one."""

from __future__ import annotations

import contextlib
import io
import platform
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn

from leanconv.prune.errors import PruneError
from leanconv.prune.layers import LayerSpec

Runner = Callable[[], object]

#: How latency is timed. "wall": elapsed time, what a user of the model waits. "cpu": the
#: process's CPU time, which equals the elapsed time of a one-thread run on an idle machine
#: and is not inflated by time the process spends descheduled on a busy shared one (a
#: benchmark's choice; more threads would add their CPU times up, so it is one-thread only).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


class Backend(Protocol):
    """Runs layers and models on one execution engine."""

    name: str
    threads: int
    clock: str

    def layer_runner(self, spec: LayerSpec) -> Runner:
        """A callable that runs a layer of shape ``spec`` once (weights and input prepared)."""
        ...

    def model_runner(self, model: nn.Module, example: torch.Tensor) -> Runner:
        """A callable that runs ``model`` once on ``example``."""
        ...

    def context(self) -> contextlib.AbstractContextManager[object]:
        """Held while runners run (thread settings)."""
        ...


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[object]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield None
    finally:
        torch.set_num_threads(before)


class TorchBackend:
    """PyTorch eager on the CPU, NCHW or channels_last, without autograd."""

    def __init__(self, threads: int = 1, channels_last: bool = False) -> None:
        self.threads = threads
        self.clock = "wall"
        self.channels_last = channels_last
        self.name = "torch-nhwc" if channels_last else "torch"

    def _prepare(self, model: nn.Module, x: torch.Tensor) -> Runner:
        if self.channels_last and x.dim() == 4:
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)

        def run() -> object:
            with torch.inference_mode():
                return model(x)
        return run

    def layer_runner(self, spec: LayerSpec) -> Runner:
        return self._prepare(spec.module(), spec.input())

    def model_runner(self, model: nn.Module, example: torch.Tensor) -> Runner:
        return self._prepare(model.eval(), example)

    def context(self) -> contextlib.AbstractContextManager[object]:
        return torch_threads(self.threads)


class OrtBackend:
    """ONNX Runtime's CPU provider, all graph optimizations on, models exported by torch."""

    name = "ort"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.clock = "wall"

    def model_runner(self, model: nn.Module, example: torch.Tensor) -> Runner:
        import onnxruntime as ort  # type: ignore[import-untyped]

        buf = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter needs no onnxscript
            torch.onnx.export(model.eval(), (example,), buf,  # type: ignore[arg-type]  # a file object works
                              opset_version=17, dynamo=False, input_names=["x"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])
        feed = {"x": example.numpy()}
        return lambda: session.run(None, feed)

    def layer_runner(self, spec: LayerSpec) -> Runner:
        return self.model_runner(spec.module(), spec.input())

    def context(self) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()


class LeanconvBackend:
    """leanconv's own runtime with its default plan (imported through the Graph)."""

    name = "leanconv"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.clock = "wall"

    def model_runner(self, model: nn.Module, example: torch.Tensor) -> Runner:
        import leanconv.runtime
        from leanconv.io.torch_import import import_torch

        executable = leanconv.runtime.compile(import_torch(model, example), threads=self.threads)
        x = np.ascontiguousarray(example.numpy(), dtype=np.float32)
        return lambda: executable.run(x)

    def layer_runner(self, spec: LayerSpec) -> Runner:
        # torch.fx traces a container's children as modules; a bare layer as a function call
        return self.model_runner(nn.Sequential(spec.module()), spec.input())

    def context(self) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()


BACKENDS: dict[str, Callable[[int], Backend]] = {
    "leanconv": LeanconvBackend,
    "torch": TorchBackend,
    "torch-nhwc": lambda threads: TorchBackend(threads, channels_last=True),
    "ort": OrtBackend,
}


def make_backend(name: str, threads: int = 1, clock: str = "wall") -> Backend:
    """Backend ``name`` on ``threads`` threads, its latencies timed by ``clock`` (see :data:`CLOCKS`)."""
    if name not in BACKENDS:
        raise PruneError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    if threads < 1:
        raise PruneError(f"threads must be at least 1, got {threads}")
    if clock not in CLOCKS:
        raise PruneError(f"unknown clock {clock!r}; known: {', '.join(CLOCKS)}")
    if clock == "cpu" and threads != 1:
        raise PruneError(f"the cpu clock times one thread; {threads} threads need the wall clock")
    backend = BACKENDS[name](threads)
    backend.clock = clock
    return backend


def fingerprint() -> str:
    """The machine a measurement belongs to: CPU model, SIMD width, torch version."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}|{simd_isa()}|torch {torch.__version__}"


def simd_isa() -> str:
    """The widest x86 float SIMD the CPU advertises (avx512f, avx2, sse), or the machine name."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        flags = set()
    for isa in ("avx512f", "avx2", "sse"):
        if isa in flags:
            return isa
    return platform.machine()


def interleaved_medians(runners: Sequence[Runner], rounds: int = 7, min_sample_s: float = 2e-4,
                        seed: int = 0, clock: str = "wall") -> list[float]:
    """Seconds per call of each runner on ``clock``: the median over ``rounds`` rounds, each
    round timing every runner once in a shuffled order, so that a slow phase of a shared machine
    falls on all of them alike. A sample repeats a runner until it lasts ``min_sample_s``."""
    if not runners:
        return []
    now = CLOCKS[clock]
    repeats = []
    for run in runners:  # warm up, and size each sample
        run()
        start = now()
        run()
        once = max(now() - start, 1e-7)
        repeats.append(max(1, int(np.ceil(min_sample_s / once))))
    rng = np.random.default_rng(seed)
    samples = np.empty((rounds, len(runners)))
    for r in range(rounds):
        for i in rng.permutation(len(runners)):
            run, k = runners[i], repeats[i]
            start = now()
            for _ in range(k):
                run()
            samples[r, i] = (now() - start) / k
    return [float(v) for v in np.median(samples, axis=0)]
