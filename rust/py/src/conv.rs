//! Python bindings of the convolution side of the core: layout transforms (and, as they come,
//! the primitives). Every call releases the GIL around the kernel.
use leanconv_core::conv::layout::{transform, Transform};
use leanconv_core::CoreError;
use numpy::{PyArray3, PyArrayMethods, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors::PyCoreError;

fn contiguous<'a>(a: &'a PyReadonlyArray3<'_, f32>, what: &str) -> Result<&'a [f32], PyCoreError> {
    a.as_slice()
        .map_err(|_| CoreError::InvalidArgument(format!("{what} must be C-contiguous")).into())
}

fn run_transform<'py>(
    py: Python<'py>,
    x: PyReadonlyArray3<'py, f32>,
    kind: Transform,
) -> Result<Bound<'py, PyArray3<f32>>, PyCoreError> {
    let [a, b, c] = <[usize; 3]>::try_from(x.shape()).expect("PyReadonlyArray3 has 3 dims");
    let (ch, h, w, out_shape) = match kind {
        Transform::ChwToHwc => (a, b, c, [b, c, a]),
        Transform::HwcToChw => (c, a, b, [c, a, b]),
    };
    let src = contiguous(&x, "input")?;
    let out = py.detach(|| {
        let mut dst = vec![0.0f32; src.len()];
        transform(kind, src, &mut dst, ch, h, w).map(|_| dst)
    })?;
    let flat = numpy::PyArray1::from_vec(py, out);
    Ok(flat
        .reshape(out_shape)
        .expect("element count is unchanged by a transpose"))
}

/// chw_to_hwc(x) -> HWC copy of a C-contiguous float32 (C, H, W) array.
#[pyfunction]
fn chw_to_hwc<'py>(py: Python<'py>, x: PyReadonlyArray3<'py, f32>) -> PyResult<Bound<'py, PyArray3<f32>>> {
    Ok(run_transform(py, x, Transform::ChwToHwc)?)
}

/// hwc_to_chw(x) -> CHW copy of a C-contiguous float32 (H, W, C) array.
#[pyfunction]
fn hwc_to_chw<'py>(py: Python<'py>, x: PyReadonlyArray3<'py, f32>) -> PyResult<Bound<'py, PyArray3<f32>>> {
    Ok(run_transform(py, x, Transform::HwcToChw)?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(chw_to_hwc, m)?)?;
    m.add_function(wrap_pyfunction!(hwc_to_chw, m)?)?;
    Ok(())
}
