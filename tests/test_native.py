"""The Rust/C extension: layout transforms against numpy, checksums, error mapping."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import leanconv
from leanconv import _native

shapes = hnp.array_shapes(min_dims=3, max_dims=3, min_side=0, max_side=19)


@given(hnp.arrays(np.float32, shapes, elements=st.floats(-1e6, 1e6, width=32)))
def test_layout_transforms_match_numpy(x: np.ndarray) -> None:
    hwc = _native.chw_to_hwc(x)
    np.testing.assert_array_equal(hwc, x.transpose(1, 2, 0))
    np.testing.assert_array_equal(_native.hwc_to_chw(hwc), x)


@given(st.binary(max_size=4096))
def test_crc32_matches_zlib(data: bytes) -> None:
    assert _native.crc32(data) == zlib.crc32(data)


def test_non_contiguous_input_is_a_clear_leanconv_error() -> None:
    x = np.zeros((4, 5, 6), np.float32)[:, :, ::2]
    with pytest.raises(leanconv.LeanconvError, match="C-contiguous"):
        _native.chw_to_hwc(x)


def test_wrong_dtype_is_rejected() -> None:
    with pytest.raises(TypeError):
        _native.chw_to_hwc(np.zeros((2, 2, 2), np.float64))  # type: ignore[arg-type]
