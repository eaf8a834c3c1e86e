"""Encode and decode speed of every codec on real quantized tensors (see workloads.py)."""

from __future__ import annotations

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from workloads import CODEC_CASES, codec_inputs

from leanconv.compress import codec_names, decode_codes, encode_codes


@pytest.mark.parametrize("codec", codec_names())
@pytest.mark.parametrize("case", CODEC_CASES)
def test_encode(benchmark: BenchmarkFixture, case: str, codec: str) -> None:
    codes = codec_inputs(case)
    benchmark.group = f"encode {case}"
    benchmark.extra_info["weights"] = sum(q.size for q in codes)
    blobs = benchmark(lambda: [encode_codes(q, codec) for q in codes])
    for q, (used, blob) in zip(codes, blobs):
        assert used == codec
        np.testing.assert_array_equal(decode_codes(blob, q.shape, used), q)


@pytest.mark.parametrize("codec", codec_names())
@pytest.mark.parametrize("case", CODEC_CASES)
def test_decode(benchmark: BenchmarkFixture, case: str, codec: str) -> None:
    codes = codec_inputs(case)
    blobs = [np.frombuffer(encode_codes(q, codec)[1], np.uint8) for q in codes]
    outs = [np.empty_like(q) for q in codes]
    benchmark.group = f"decode {case}"
    benchmark.extra_info["weights"] = sum(q.size for q in codes)
    benchmark(lambda: [decode_codes(b, q.shape, codec, out=o) for b, q, o in zip(blobs, codes, outs)])
    for q, o in zip(codes, outs):
        np.testing.assert_array_equal(o, q)
