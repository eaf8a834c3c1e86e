"""The Rust/C extension: layout transforms against numpy, checksums, and the array checks of
every conv entry point (dtype, C order, alignment) mapped to LeanconvError."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

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


def fortran(shape: tuple[int, ...]) -> np.ndarray:
    """A Fortran-ordered float32 array: contiguous, but not in C order."""
    return np.asfortranarray(np.arange(np.prod(shape), dtype=np.float32).reshape(shape))


def strided(shape: tuple[int, ...]) -> np.ndarray:
    """A float32 view that skips every other element of its last axis."""
    return np.zeros((*shape[:-1], 2 * shape[-1]), np.float32)[..., ::2]


SPEC = _native.ConvSpec(4, 5, 6, 6, 3)
W = np.ones((5, 4, 3, 3), np.float32)
PACKED = _native.PackedConv("direct_chw", SPEC, W)

# Every conv entry point that reads an array, as (name, call with the array in its place,
# shape the array must have).
ENTRY_POINTS: list[tuple[str, Callable[[Any], object], tuple[int, ...]]] = [
    ("chw_to_hwc", _native.chw_to_hwc, (4, 5, 6)),
    ("hwc_to_chw", _native.hwc_to_chw, (4, 5, 6)),
    ("PackedConv weight", lambda a: _native.PackedConv("direct_chw", SPEC, a), (5, 4, 3, 3)),
    ("PackedConv bias", lambda a: _native.PackedConv("direct_chw", SPEC, W, a), (5,)),
    ("PackedConv.run", PACKED.run, (2, 4, 6, 6)),
    ("sgemm a", lambda a: _native.sgemm(a, np.ones((7, 3), np.float32)), (5, 7)),
    ("sgemm b", lambda b: _native.sgemm(np.ones((3, 5), np.float32), b), (5, 7)),
]


@pytest.mark.parametrize("make", [fortran, strided], ids=["fortran", "strided"])
@pytest.mark.parametrize("call,shape", [e[1:] for e in ENTRY_POINTS], ids=[e[0] for e in ENTRY_POINTS])
def test_arrays_not_in_c_order_are_refused(
    call: Callable[[Any], object], shape: tuple[int, ...], make: Callable[[tuple[int, ...]], np.ndarray]
) -> None:
    """Fortran order or a strided view would be read in the wrong order; each entry point
    refuses it (a 1-D Fortran array is in C order too, and is accepted)."""
    a = make(shape)
    call(np.ascontiguousarray(a))  # the same values in C order are fine
    if a.flags.c_contiguous:
        assert len(shape) == 1
        call(a)
        return
    with pytest.raises(leanconv.LeanconvError, match="C-contiguous"):
        call(a)


@pytest.mark.parametrize("call,shape", [e[1:] for e in ENTRY_POINTS], ids=[e[0] for e in ENTRY_POINTS])
def test_wrong_dtype_misaligned_or_non_array_is_a_leanconv_error(call: Callable[[Any], object], shape: tuple[int, ...]) -> None:
    with pytest.raises(leanconv.LeanconvError, match="float32 numpy array, got dtype float64"):
        call(np.zeros(shape, np.float64))
    with pytest.raises(leanconv.LeanconvError, match="float32 numpy array, got <class 'list'>"):
        call(np.zeros(shape, np.float32).tolist())
    n = int(np.prod(shape))
    misaligned = np.frombuffer(bytearray(4 * n + 1), np.float32, n, offset=1).reshape(shape)
    with pytest.raises(leanconv.LeanconvError, match="aligned"):
        call(misaligned)


def test_layout_transforms_check_dimensions() -> None:
    with pytest.raises(leanconv.ShapeError, match="3 dimensions"):
        _native.chw_to_hwc(np.zeros((2, 2), np.float32))
