"""`leanconv emit`: the emitted C project builds with gcc -std=c99 -Wall -Wextra -Werror,
natively and for aarch64 (run under qemu-aarch64), and its outputs equal the runtime's for the
same plan; its static buffers are the plan's memory; with ``--weights lcz`` the weights it
decodes at init pack to the same bytes as the raw-weights program's and its outputs are that
program's exactly; bad input leaves nothing behind.

Building the kernel library takes most of the time: the native projects share one build of
its objects (same sources, same flags)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import leanconv
from conftest import rel_err
from leanconv import _native
from leanconv.cli import main
from leanconv.emit import EmitResult, emit, lcz
from leanconv.errors import LeanconvError, PlanError
from leanconv.graph import Graph
from leanconv.io import load_model
from leanconv.io.torch_import import import_torch
from leanconv.runtime import compile
from leanconv.runtime.plan import LayerStep, Plan
from leanconv.runtime.planner import default_plan

WARNINGS = "-std=c99 -Wall -Wextra -Werror"
NATIVE = f"{WARNINGS} -O2"
ROOT = Path(__file__).resolve().parents[1]


def make(project: Path, *args: str) -> None:
    out = subprocess.run(["make", "-s", "-j2", "-C", str(project), *args], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr


def build_native(project: Path, objects_from: Path | None = None) -> None:
    """Builds with gcc and the strict flags, reusing the kernel objects of ``objects_from``."""
    if objects_from is not None:
        for obj in (objects_from / "kernels" / "src").glob("*.o"):
            shutil.copy(obj, project / "kernels" / "src" / obj.name)  # newer than the sources
    make(project, "CC=gcc", f"CFLAGS={NATIVE}")


def run_program(project: Path, result: EmitResult, inputs: list[np.ndarray], outputs: int,
                prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Runs the program twice on ``inputs``, writing its outputs and its packed weights
    (packed.bin) into the project."""
    args = [*prefix, str(project / f"{result.name}_main"), "--packed", str(project / "packed.bin"),
            str(project / result.weights_file)]
    for i, x in enumerate(inputs):
        np.save(project / f"in{i}.npy", x)
        args.append(str(project / f"in{i}.npy"))
    args += [str(project / f"out{i}.npy") for i in range(outputs)]
    return subprocess.run([*args, "2"], capture_output=True, text=True, timeout=600)


def outputs_of(project: Path, result: EmitResult, inputs: list[np.ndarray], outputs: int,
               prefix: tuple[str, ...] = ()) -> list[np.ndarray]:
    run = run_program(project, result, inputs, outputs, prefix)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "run(s), best" in run.stdout
    return [np.load(project / f"out{i}.npy") for i in range(outputs)]


def check_against_runtime(graph: Graph, plan: Plan, project: Path, result: EmitResult,
                          prefix: tuple[str, ...] = ()) -> None:
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal(s, dtype=np.float32) for s in graph.inputs.values()]
    ref = compile(graph, plan).run(dict(zip(graph.inputs, inputs)))
    refs = ref if isinstance(ref, list) else [ref]
    got = outputs_of(project, result, inputs, len(refs), prefix)
    for y, r in zip(got, refs):
        assert y.shape == r.shape
        assert rel_err(y, r) <= 1e-5


def static_buffer_bytes(project: Path, name: str) -> int:
    """Bytes of the network object's writable static data (bss and data), from its symbols."""
    out = subprocess.run(["nm", "-S", str(project / f"{name}.o")], capture_output=True, text=True, check=True)
    total = 0
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "bBdD":
            total += int(parts[1], 16)
    return total


@pytest.fixture(scope="module")
def default_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Graph, Plan, Path, EmitResult]:
    graph = load_model(None)
    plan = default_plan(graph)
    project = tmp_path_factory.mktemp("emit") / "default"
    result = emit(graph, project, plan=plan)
    build_native(project)
    return graph, plan, project, result


def test_default_model_builds_strict_and_equals_the_runtime(default_model: tuple[Graph, Plan, Path, EmitResult]) -> None:
    graph, plan, project, result = default_model
    check_against_runtime(graph, plan, project, result)


def test_static_ram_is_the_plans_memory(default_model: tuple[Graph, Plan, Path, EmitResult]) -> None:
    """The program's static RAM, as emit reports it and as its object file holds it, is the
    plan's memory and the runtime's for the same plan."""
    graph, plan, project, result = default_model
    memory = plan.memory_bytes
    assert memory == plan.arena_bytes + plan.workspace_bytes + plan.packed_bytes == compile(graph, plan).memory_bytes
    assert result.ram_bytes == memory and result.init_scratch_bytes == 0
    # the pointer to the weights file besides the static block
    assert static_buffer_bytes(project, result.name) == memory + np.dtype(np.uintp).itemsize
    assert json.loads((project / "emit.json").read_text())["ram_bytes"] == memory
    assert result.weights_bytes == (project / "weights.bin").stat().st_size
    size = subprocess.run(["make", "-s", "-C", str(project), "size"], capture_output=True, text=True, check=True)
    assert f"weights {result.weights_bytes} bytes" in size.stdout and f"static RAM {memory} bytes" in size.stdout


def test_mobilenet_v2_equals_the_runtime(default_model: tuple[Graph, Plan, Path, EmitResult], tmp_path: Path) -> None:
    graph = mobilenet_v2()
    plan = default_plan(graph)
    result = emit(graph, tmp_path / "mnv2", plan=plan)
    build_native(tmp_path / "mnv2", objects_from=default_model[2])
    check_against_runtime(graph, plan, tmp_path / "mnv2", result)


def mobilenet_v2() -> Graph:
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2().eval()
    return import_torch(model, torch.zeros(1, 3, 64, 64), name="mobilenet_v2")


def check_lcz(graph: Graph, plan: Plan, folder: Path, objects_from: Path,
              options: lcz.LczOptions | None = None) -> EmitResult:
    """Emits ``graph`` with lcz weights, and with raw weights those that the lcz file decodes
    to; builds both. The lcz program's packed weights are the raw program's bytes, its outputs
    the raw program's floats, and within 1e-5 of the runtime's on the decoded weights."""
    result = emit(graph, folder / "lcz", plan=plan, weights="lcz", lcz_options=options)
    assert result.weights == "lcz" and set(result.codecs) <= set(lcz.C_CODECS)
    # static RAM: the plan's buffers, and init scratch only where decoding needs more
    assert result.ram_bytes == plan.memory_bytes + result.init_scratch_bytes
    assert sum(result.codecs.values()) == sum(isinstance(s, LayerStep) and s.packed_bytes > 0 for s in plan.steps)
    decoded = lcz.decoded_graph(graph, folder / "lcz" / result.weights_file)
    quantized = [k for s in plan.steps if isinstance(s, LayerStep) and s.packed_bytes
                 for k in ["weight"] if not np.array_equal(decoded.layer(s.layer).weights[k],
                                                           graph.layer(s.layer).weights[k])]
    assert quantized  # the decoded weights are the quantized ones, not the originals
    raw = emit(decoded, folder / "raw", plan=plan)
    assert result.weights_bytes < raw.weights_bytes
    build_native(folder / "lcz", objects_from=objects_from)
    build_native(folder / "raw", objects_from=objects_from)
    rng = np.random.default_rng(2)
    inputs = [rng.standard_normal(s, dtype=np.float32) for s in graph.inputs.values()]
    got = outputs_of(folder / "lcz", result, inputs, len(graph.outputs))
    want = outputs_of(folder / "raw", raw, inputs, len(graph.outputs))
    assert (folder / "lcz" / "packed.bin").read_bytes() == (folder / "raw" / "packed.bin").read_bytes()
    for y, r in zip(got, want):
        assert y.dtype == r.dtype and y.shape == r.shape and np.array_equal(y, r)
    check_against_runtime(decoded, plan, folder / "lcz", result)
    return result


def test_lcz_weights_decode_to_the_raw_programs(default_model: tuple[Graph, Plan, Path, EmitResult],
                                                tmp_path: Path) -> None:
    graph, plan, project, _ = default_model
    result = check_lcz(graph, plan, tmp_path, project)
    # auto took codecs whose decode fits the plan's buffers: the static RAM is the plan's memory
    assert result.init_scratch_bytes == 0 and result.ram_bytes == plan.memory_bytes
    assert static_buffer_bytes(tmp_path / "lcz", result.name) == result.ram_bytes + np.dtype(np.uintp).itemsize
    size = subprocess.run(["make", "-s", "-C", str(tmp_path / "lcz"), "size"], capture_output=True, text=True,
                          check=True)
    assert f"weights {result.weights_bytes} bytes" in size.stdout and f"static RAM {result.ram_bytes} bytes" in size.stdout
    # the file is an ordinary .lcz container
    rows = {r["name"]: r for r in leanconv.compress.describe_container(tmp_path / "lcz" / "weights.lcz")}
    assert {r["codec"] for r in rows.values() if r["kind"] == "quantized"} == set(result.codecs)
    assert {r["codec"] for r in rows.values() if r["kind"] == "lossless"} <= {"raw"}


@pytest.mark.parametrize("codec", lcz.C_CODECS)
def test_lcz_every_c_codec(default_model: tuple[Graph, Plan, Path, EmitResult], tmp_path: Path, codec: str) -> None:
    graph, plan, project, _ = default_model
    result = check_lcz(graph, plan, tmp_path, project, lcz.LczOptions(sparsity=0.6, bits=4, codec=codec))
    assert set(result.codecs) == {codec}
    # two Huffman tables (256 KiB) or srans' tables (about 279 KiB) exceed the default model's
    # arena, workspace and free slots; the other decoders' workspace fits
    assert (result.init_scratch_bytes > 0) == (codec in ("huffman", "csr", "pattern", "srans"))


def test_lcz_mobilenet_v2(default_model: tuple[Graph, Plan, Path, EmitResult], tmp_path: Path) -> None:
    graph = mobilenet_v2()
    plan = default_plan(graph)
    result = check_lcz(graph, plan, tmp_path, default_model[2], lcz.LczOptions(sparsity=0.5, bits=4))
    assert result.init_scratch_bytes == 0 and result.ram_bytes == plan.memory_bytes


def test_c_codecs_are_the_decoders_of_kernels_c() -> None:
    """lcz.C_CODECS lists exactly the codecs lc_decode.h has decoders for."""
    header = (ROOT / "kernels_c" / "include" / "lc_decode.h").read_text()
    in_c = {m.lower() for m in re.findall(r"LC_CODEC_([A-Z0-9_]+)\s*=", header)}
    assert in_c == set(lcz.C_CODECS)
    lcz.check_codecs()
    assert all(_native.c_decoder_workspace_bytes(c, [4, 4, 3, 3]) is not None for c in lcz.C_CODECS)
    assert _native.c_decoder_workspace_bytes("crans", [4]) is None


class EveryOp(torch.nn.Module):
    """Every op kernel the emitter calls besides those of the two models: concat as channel
    copies and as views, standalone batch-norm, constant operands, activations, pooling in
    ceil mode, nearest and bilinear resize, softmax, slice, a transposed convolution with a fused
    relu; two images per batch."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 8, 1)
        self.bn = nn.BatchNorm2d(16)
        self.c3 = nn.Conv2d(16, 12, 3, stride=2, padding=1)
        self.c4, self.c5 = nn.Conv2d(12, 6, 1), nn.Conv2d(12, 6, 3, padding=1)
        self.up = nn.ConvTranspose2d(12, 12, 3, stride=2, padding=1, output_padding=1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        F = torch.nn.functional
        y = torch.cat([torch.sigmoid(self.c1(x)), F.hardswish(self.c2(x))], 1)
        y = self.bn(y + 0.5) * 2.0
        y = F.max_pool2d(y, 3, 2, ceil_mode=True)
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = torch.tanh(self.c3(y))
        y = F.avg_pool2d(torch.cat([self.c4(y), self.c5(y)], 1), 2)
        y = y + F.avg_pool2d(torch.relu(self.up(y)), 2)
        z = torch.softmax(F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False), 1)
        y = torch.cat([F.adaptive_avg_pool2d(z, 1), torch.mean(y, (2, 3), keepdim=True)], 1)[:, 3:15]
        return torch.softmax(self.fc(torch.flatten(y, 1)), 1)


def test_every_op_kernel_equals_the_runtime(default_model: tuple[Graph, Plan, Path, EmitResult],
                                            tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = EveryOp().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    graph = import_torch(model, torch.zeros(2, 3, 15, 17), name="every-op")
    plan = default_plan(graph)
    kernels = {s.kernel for s in plan.steps if isinstance(s, LayerStep)}
    assert {"concat_view", "reshape_view", "linear", "activation"} <= kernels
    assert {k.rsplit("_", 1)[0] for k in kernels} >= {"copy_channels", "affine", "binary", "maxpool", "avgpool",
                                                      "resize", "softmax", "global_avgpool", "deconv"}
    result = emit(graph, tmp_path / "ops", plan=plan)
    assert result.name == "every_op"
    build_native(tmp_path / "ops", objects_from=default_model[2])
    check_against_runtime(graph, plan, tmp_path / "ops", result)
    # the transposed convolution's weights decoded and packed at init too
    check_lcz(graph, plan, tmp_path / "ops-lcz", default_model[2], lcz.LczOptions(sparsity=0.3, bits=6))


class MoreOps(torch.nn.Module):
    """The op kernels of ConvNeXt, GoogLeNet's ONNX graph and ShuffleNet: GELU, layer-norm over
    the channels (with and without its affine part), reflect and constant pads, LRN and a
    channel shuffle; two images per batch."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.c1 = nn.Conv2d(3, 32, 3, padding=1)
        self.ln1 = nn.LayerNorm(32, elementwise_affine=False)
        self.ln2 = nn.LayerNorm(32)
        self.lrn = nn.LocalResponseNorm(3, alpha=1e-2, beta=0.75, k=2.0)
        self.c2 = nn.Conv2d(32, 16, 3)  # weights enough for the lcz file to be the smaller

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        F = torch.nn.functional
        y = F.gelu(self.c1(x))
        y = self.ln1(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        y = self.lrn(F.pad(y, (1, 2, 0, 1), mode="reflect"))
        n, c, h, w = y.shape
        y = y.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        y = self.ln2(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.c2(torch.sigmoid(F.pad(y, (1, 1, 1, 1), value=-1.5)))


def test_more_op_kernels_equal_the_runtime(default_model: tuple[Graph, Plan, Path, EmitResult],
                                           tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MoreOps().eval()
    with torch.no_grad():
        model.ln2.weight.uniform_(0.5, 1.5)
        model.ln2.bias.uniform_(-0.5, 0.5)
    graph = import_torch(model, torch.zeros(2, 3, 9, 11), name="more-ops")
    plan = default_plan(graph)
    kernels = {s.kernel.rsplit("_", 1)[0] for s in plan.steps if isinstance(s, LayerStep)}
    assert {"layernorm", "pad", "lrn", "channel_shuffle"} <= kernels
    assert "gelu" in {s.op for s in plan.steps if isinstance(s, LayerStep)}
    result = emit(graph, tmp_path / "more", plan=plan)
    build_native(tmp_path / "more", objects_from=default_model[2])
    check_against_runtime(graph, plan, tmp_path / "more", result)
    check_lcz(graph, plan, tmp_path / "more-lcz", default_model[2], lcz.LczOptions(sparsity=0.3, bits=6))


def test_lcz_without_packed_weights(default_model: tuple[Graph, Plan, Path, EmitResult], tmp_path: Path) -> None:
    """A network that packs nothing: the .lcz file holds raw tensors only and init decodes nothing."""
    torch.manual_seed(0)  # outputs well away from 0: a ReLU of three random features can be nearly all 0
    graph = import_torch(torch.nn.Sequential(torch.nn.Linear(12, 3), torch.nn.ReLU()).eval(), torch.zeros(2, 12),
                         name="linear")
    plan = default_plan(graph)
    result = emit(graph, tmp_path / "lin", plan=plan, weights="lcz")
    assert result.codecs == {} and result.ram_bytes == plan.memory_bytes
    build_native(tmp_path / "lin", objects_from=default_model[2])
    check_against_runtime(graph, plan, tmp_path / "lin", result)


def test_default_model_cross_built_for_aarch64_runs_under_qemu(tmp_path: Path) -> None:
    # the toolchain the kernels' cross tests use, installed when missing
    tools = subprocess.run(["make", "-s", "-C", str(ROOT / "kernels_c"), "cross-tools"], capture_output=True,
                           text=True, timeout=900)
    assert tools.returncode == 0, tools.stderr
    graph = load_model(None)
    # scalar GEMM tiles: packed and workspace sizes that are the same on x86 and aarch64
    plan = default_plan(graph, isa="scalar")
    result = emit(graph, tmp_path / "arm", plan=plan)
    arm = ("CC=aarch64-linux-gnu-gcc", f"CFLAGS={WARNINGS} -O1 -march=armv8-a", "LDFLAGS=-static")
    make(tmp_path / "arm", *arm)
    check_against_runtime(graph, plan, tmp_path / "arm", result, prefix=("qemu-aarch64",))
    # lcz weights decoded on aarch64: the packed bytes of the raw program of the decoded weights
    lz = emit(graph, tmp_path / "arm-lcz", plan=plan, weights="lcz", lcz_options=lcz.LczOptions(sparsity=0.5, bits=4))
    decoded = lcz.decoded_graph(graph, tmp_path / "arm-lcz" / lz.weights_file)
    raw = emit(decoded, tmp_path / "arm-raw", plan=plan)
    for project in ("arm-lcz", "arm-raw"):
        for obj in (tmp_path / "arm" / "kernels" / "src").glob("*.o"):
            shutil.copy(obj, tmp_path / project / "kernels" / "src" / obj.name)
        make(tmp_path / project, *arm)
    check_against_runtime(decoded, plan, tmp_path / "arm-lcz", lz, prefix=("qemu-aarch64",))
    check_against_runtime(decoded, plan, tmp_path / "arm-raw", raw, prefix=("qemu-aarch64",))
    assert (tmp_path / "arm-lcz" / "packed.bin").read_bytes() == (tmp_path / "arm-raw" / "packed.bin").read_bytes()
    assert np.array_equal(np.load(tmp_path / "arm-lcz" / "out0.npy"), np.load(tmp_path / "arm-raw" / "out0.npy"))


# -- bad input -------------------------------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_existing_output_needs_force(tmp_path: Path) -> None:
    graph = load_model(None)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(LeanconvError, match="exists"):
        emit(graph, out)
    assert leftovers(out) == ["mine.txt"]
    emit(graph, out, force=True)
    assert (out / "weights.bin").is_file() and not (out / "mine.txt").exists()
    assert leftovers(tmp_path) == ["out"]


def test_existing_output_needs_force_with_lcz_weights(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(LeanconvError, match="exists"):
        emit(load_model(None), out, weights="lcz")
    assert leftovers(out) == [] and leftovers(tmp_path) == ["out"]


@pytest.mark.parametrize("weights", ["raw", "lcz"])
def test_plan_of_another_model_is_refused(tmp_path: Path, weights: str) -> None:
    graph = load_model(None)
    other = import_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)).eval(), torch.zeros(1, 1, 8, 8))
    with pytest.raises(PlanError, match="digest"):
        emit(graph, tmp_path / "out", plan=default_plan(other), weights=weights)
    # a plan of this graph's structure whose steps pack more than its total says
    plan = default_plan(graph)
    plan.packed_bytes += 64
    with pytest.raises(PlanError, match="pack"):
        emit(graph, tmp_path / "out", plan=plan, weights=weights)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("weights, options, error, message", [
    ("zip", None, LeanconvError, "unknown weights mode"),
    ("lcz", lcz.LczOptions(codec="nope"), LeanconvError, "unknown codec 'nope'"),
    ("lcz", lcz.LczOptions(codec="crans"), LeanconvError, "no C decoder"),
    ("lcz", lcz.LczOptions(bits=9), LeanconvError, "bits"),
    ("lcz", lcz.LczOptions(sparsity=1.5), LeanconvError, "sparsity"),
    ("raw", lcz.LczOptions(), LeanconvError, "lcz only"),
])
def test_bad_weights_options_are_refused(tmp_path: Path, weights: str, options: lcz.LczOptions | None,
                                         error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        emit(load_model(None), tmp_path / "out", weights=weights, lcz_options=options)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("weights, where", [("raw", "leanconv.emit.blob.raw_blob"),
                                            ("lcz", "leanconv.emit.lcz.place_scratch")])
def test_an_error_half_way_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights: str,
                                          where: str) -> None:
    def broken(*_args: object) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(where, broken)
    with pytest.raises(OSError, match="disk full"):
        emit(load_model(None), tmp_path / "out", weights=weights)
    assert leftovers(tmp_path) == []


def test_program_refuses_other_weights(default_model: tuple[Graph, Plan, Path, EmitResult], tmp_path: Path) -> None:
    _, _, project, result = default_model
    good = (project / "weights.bin").read_bytes()
    try:
        for bad in (good[:-64], good[:24] + bytes(32) + good[56:]):  # truncated; another graph's digest
            (project / "weights.bin").write_bytes(bad)
            run = run_program(project, result, [np.zeros((1, 1, 28, 28), np.float32)], 1)
            assert run.returncode == 1 and "not this network's weights" in run.stderr
    finally:
        (project / "weights.bin").write_bytes(good)


def test_lcz_program_refuses_other_weights(default_model: tuple[Graph, Plan, Path, EmitResult],
                                           tmp_path: Path) -> None:
    graph, plan, project, _ = default_model
    result = emit(graph, tmp_path / "p", plan=plan, weights="lcz", lcz_options=lcz.LczOptions(bits=4))
    build_native(tmp_path / "p", objects_from=project)
    path = tmp_path / "p" / result.weights_file
    good = path.read_bytes()
    other = emit(graph, tmp_path / "q", plan=plan, weights="lcz", lcz_options=lcz.LczOptions(bits=5))
    # truncated; a header checksum of another file; the raw blob; the same size, another header
    for bad in (good[:-64], good[:20] + bytes(4) + good[24:], (project / "weights.bin").read_bytes(),
                (tmp_path / "q" / other.weights_file).read_bytes()):
        path.write_bytes(bad)
        run = run_program(tmp_path / "p", result, [np.zeros((1, 1, 28, 28), np.float32)], 1)
        assert run.returncode == 1 and "not this network's weights" in run.stderr


def test_program_refuses_a_plan_that_reserves_too_little(default_model: tuple[Graph, Plan, Path, EmitResult],
                                                         tmp_path: Path) -> None:
    """A plan whose packed sizes are not this build's kernels' (a plan made for another ISA):
    init refuses it instead of writing past the buffer."""
    graph, plan, project, _ = default_model
    small = Plan.from_json(plan.to_json())
    conv = next(s for s in small.steps if isinstance(s, LayerStep) and s.op == "conv" and s.packed_bytes >= 8)
    conv.packed_bytes -= 4
    small.packed_bytes -= 4
    result = emit(graph, tmp_path / "small", plan=small)
    build_native(tmp_path / "small", objects_from=project)
    run = run_program(tmp_path / "small", result, [np.zeros((1, 1, 28, 28), np.float32)], 1)
    assert run.returncode == 1 and "more memory than the plan reserved" in run.stderr


def test_cli_emit(tmp_path: Path) -> None:
    out = tmp_path / "proj"
    assert main(["emit", "-o", str(out), "--json"]) == 0
    assert (out / "default.c").is_file() and (out / "kernels" / "include" / "lc_conv.h").is_file()
    plan = out / "plan.json"
    assert main(["emit", "-o", str(out)]) == 1  # exists
    assert main(["emit", "--plan", str(plan), "--force", "-o", str(out)]) == 0
    assert main(["emit", "--weights", "lcz", "-b", "4", "-s", "0.5", "-o", str(tmp_path / "lcz"), "--json"]) == 0
    assert (tmp_path / "lcz" / "weights.lcz").is_file() and not (tmp_path / "lcz" / "weights.bin").exists()
    for bad in (["--codec", "nope"], ["--codec", "crans"], ["--bits", "1"]):
        assert main(["emit", "--weights", "lcz", *bad, "-o", str(tmp_path / "bad")]) == 1
    assert main(["emit", "--bits", "4", "-o", str(tmp_path / "bad")]) == 1  # raw weights take no bits
    assert not (tmp_path / "bad").exists()

