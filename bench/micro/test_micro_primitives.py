"""Every convolution primitive on a representative layer of its family (see workloads.py),
one thread, weights packed on every call as ``Primitive.run`` does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture
from workloads import LayerCase, primitive_cases

from leanconv import primitives

CASES = primitive_cases()

# The benchmarks time CPU time of the whole process: torch's reference convolution runs on this
# thread alone, so no idle worker of its pool spins while the next benchmark is timed.
torch.set_num_threads(1)


# A run takes milliseconds, so the default half second holds too few rounds for a median that
# a burst of other work on the machine does not move.
@pytest.mark.benchmark(max_time=2.0, min_rounds=20)
@pytest.mark.parametrize(("primitive", "layer"), CASES, ids=[f"{p.name}-{c.name}" for p, c in CASES])
def test_primitive(benchmark: BenchmarkFixture, primitive: primitives.Primitive, layer: LayerCase) -> None:
    x, w = layer.inputs(primitive.layout)
    benchmark.group = f"conv {layer.name}"
    benchmark.extra_info["macs"] = layer.spec().macs

    def run() -> np.ndarray:
        return primitive.run(x, w, padding=layer.padding, groups=layer.groups, threads=1)

    y = benchmark(run)
    nchw = x if primitive.layout == "chw" else x.transpose(0, 3, 1, 2)
    ref = torch.nn.functional.conv2d(torch.from_numpy(np.ascontiguousarray(nchw)), torch.from_numpy(w),
                                     padding=layer.padding, groups=layer.groups).numpy()
    got = y if primitive.layout == "chw" else y.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3 * float(np.abs(ref).max()))
