"""What a board checks with the wheel and numpy alone (no torch, onnx or hypothesis): codec round
trips, every primitive against a float64 numpy reference, and the runtime on the default model
against the reference executor's output. `make test` also runs this file under qemu-aarch64 on
the cross-built wheel (Makefile: test-wheel-aarch64), where the kernels take their NEON paths; the
property-based versions of these checks (test_codec_roundtrip.py, test_primitives.py) need torch
and hypothesis and run natively."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leanconv import primitives as P
from leanconv.compress import codec_names, decode_codes, encode_codes
from leanconv.errors import LeanconvError
from leanconv.io import load_model
from leanconv.profile.profiler import conv_float64
from leanconv.runtime import compile

#: The default model's logits on DEFAULT_INPUT, in float64, from the torch reference executor
#: (test_default_reference_is_the_reference_executors keeps it true).
DEFAULT_REFERENCE = Path(__file__).parent / "data" / "default_reference.npz"
EPS = float(np.finfo(np.float32).eps)


def default_input() -> np.ndarray:
    return np.random.default_rng(0).random((1, 1, 28, 28)).astype(np.float32)


def random_codes(rng: np.random.Generator, shape: tuple[int, ...], bits: int, sparsity: float) -> np.ndarray:
    half = 1 << (bits - 1)
    codes = rng.integers(-half, half, size=shape).astype(np.int8)
    codes[rng.random(shape) < sparsity] = 0
    return codes


@pytest.mark.parametrize("codec", [c for c in codec_names() if c != "auto"] + ["auto"])
def test_every_codec_round_trips(codec: str) -> None:
    rng = np.random.default_rng(1)
    shapes = [(1,), (7,), (3, 5, 3, 3), (16, 8, 3, 3), (33, 17, 1, 1), (5, 1, 5, 5)]
    ran = 0
    for shape in shapes:
        for bits, sparsity in ((2, 0.0), (4, 0.5), (8, 0.9)):
            codes = random_codes(rng, shape, bits, sparsity)
            try:
                used, data = encode_codes(codes, codec)
            except LeanconvError:  # a codec that does not apply to this shape (bsr, pattern: k x k)
                continue
            assert used == codec or codec == "auto"
            out = np.empty(shape, np.int8)
            decoded = decode_codes(data, shape, used, out=out)
            assert decoded is out
            np.testing.assert_array_equal(out, codes, err_msg=f"{used} {shape} bits={bits} sparsity={sparsity}")
            ran += 1
    assert ran >= 3 * 3, f"{codec} encoded only {ran} of the cases"


SPECS = [
    P.ConvSpec(3, 5, 9, 7, kernel=3, padding=1),
    P.ConvSpec(8, 12, 11, 10, kernel=3, stride=2, padding=(1, 0, 1, 1)),
    P.ConvSpec(16, 16, 9, 9, kernel=3, padding=1, groups=16),
    P.ConvSpec(13, 19, 6, 5, kernel=1),
    P.ConvSpec(6, 10, 10, 9, kernel=5, padding=2, dilation=1),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_every_primitive_matches_a_float64_numpy_reference(spec: P.ConvSpec) -> None:
    rng = np.random.default_rng(2)
    cg = spec.in_channels // spec.groups
    x = rng.standard_normal((2, spec.in_channels, spec.height, spec.width)).astype(np.float32)
    w = (rng.standard_normal((spec.out_channels, cg, *spec.kernel)) / np.sqrt(cg * spec.kernel[0] * spec.kernel[1]))
    w = w.astype(np.float32)
    attrs = {"stride": spec.stride, "padding": spec.padding, "dilation": spec.dilation, "groups": spec.groups}
    ref = conv_float64(x, w, attrs)
    mag = conv_float64(np.abs(x), np.abs(w), attrs)
    prims = P.list_primitives(spec)
    assert prims, spec
    for prim in prims:
        xi = x if prim.layout == "chw" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        y = prim.run(xi, w, stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups)
        y = y if prim.layout == "chw" else y.transpose(0, 3, 1, 2)
        assert y.shape == ref.shape, prim.name
        # Winograd's error grows with its tile's magnitudes: a loose bound for all, per element.
        bound = 400 * EPS * mag.max() + 1e-30
        worst = float(np.abs(y - ref).max())
        assert worst <= bound, f"{prim.name} ({P.resolved_isa()}) on {spec}: error {worst:.3g} > {bound:.3g}"


def test_the_runtime_runs_the_default_model_as_the_reference_executor_does() -> None:
    graph = load_model(None)
    exe = compile(graph)
    y = exe.run(default_input())
    with np.load(DEFAULT_REFERENCE) as ref:
        logits = ref["logits"]
    assert y.shape == logits.shape == (1, 10)
    err = float(np.abs(y - logits).max() / np.abs(logits).max())
    assert err < 1e-5, f"relative error {err:.3g} on {P.resolved_isa()}"
