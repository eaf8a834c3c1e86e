"""The shared argument helpers: torch tensors and numpy arrays alike, pairs checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leanconv import LeanconvError
from leanconv.arrays import as_c_float32, as_pair, to_numpy


def test_cpu_tensor_becomes_a_view_without_copy() -> None:
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    a = to_numpy(t)
    t[0, 0] = 42.0
    assert a[0, 0] == 42.0


def test_bfloat16_is_widened() -> None:
    a = to_numpy(torch.ones(3, dtype=torch.bfloat16))
    assert a.dtype == np.float32


def test_tensor_requiring_grad_is_accepted() -> None:
    a = to_numpy(torch.ones(2, requires_grad=True))
    assert a.tolist() == [1.0, 1.0]


def test_as_c_float32_refuses_fortran_order_strides_and_dtype() -> None:
    x = np.zeros((3, 4), np.float32)
    assert as_c_float32(x, "x") is x
    with pytest.raises(LeanconvError, match="C-contiguous"):
        as_c_float32(np.asfortranarray(x), "x")
    with pytest.raises(LeanconvError, match="C-contiguous"):
        as_c_float32(x[:, ::2], "x")
    with pytest.raises(LeanconvError, match="float32"):
        as_c_float32(x.astype(np.float64), "x")
    with pytest.raises(LeanconvError, match="numpy array"):
        as_c_float32([1.0, 2.0], "x")


def test_as_pair() -> None:
    assert as_pair(3, "k") == (3, 3)
    assert as_pair((2, np.int64(5)), "k") == (2, 5)
    for bad in (True, 1.5, (1, 2, 3), "3", (1, True)):
        with pytest.raises(LeanconvError, match="k must be"):
            as_pair(bad, "k")
    with pytest.raises(LeanconvError, match=">= 1"):
        as_pair(0, "k", minimum=1)
