//! Python bindings of the convolution side of the core: layout transforms, the primitive table,
//! packed convolutions and the GEMM. Every call that touches array data releases the GIL.
use leanconv_core::conv::layout::{transform, Transform};
use leanconv_core::conv::{
    find, primitives, resolve_isa, Activation, ConvParams, Gemm, Isa, PackedConv as CorePacked,
};
use leanconv_core::CoreError;
use numpy::{
    PyArray2, PyArray3, PyArrayDyn, PyArrayMethods, PyReadonlyArray3, PyReadonlyArrayDyn,
    PyUntypedArrayMethods,
};
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
fn chw_to_hwc<'py>(
    py: Python<'py>,
    x: PyReadonlyArray3<'py, f32>,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    Ok(run_transform(py, x, Transform::ChwToHwc)?)
}

/// hwc_to_chw(x) -> CHW copy of a C-contiguous float32 (H, W, C) array.
#[pyfunction]
fn hwc_to_chw<'py>(
    py: Python<'py>,
    x: PyReadonlyArray3<'py, f32>,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    Ok(run_transform(py, x, Transform::HwcToChw)?)
}

/// A float32 numpy array, C-contiguous, as a slice; anything else is a clear LeanconvError.
fn f32_array<'py>(
    x: &Bound<'py, PyAny>,
    what: &str,
) -> Result<PyReadonlyArrayDyn<'py, f32>, PyCoreError> {
    let arr = x.extract::<PyReadonlyArrayDyn<'py, f32>>().map_err(|_| {
        let dtype = x
            .getattr("dtype")
            .map(|d| d.to_string())
            .unwrap_or_else(|_| x.get_type().to_string());
        CoreError::InvalidArgument(format!("{what} must be a float32 numpy array, got {dtype}"))
    })?;
    if !arr.is_c_contiguous() {
        return Err(CoreError::InvalidArgument(format!("{what} must be C-contiguous")).into());
    }
    Ok(arr)
}

#[allow(clippy::too_many_arguments)]
fn params(
    in_channels: usize,
    height: usize,
    width: usize,
    out_channels: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
    activation: &str,
    isa: &str,
) -> Result<ConvParams, PyCoreError> {
    Ok(ConvParams {
        in_channels,
        height,
        width,
        out_channels,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        activation: Activation::parse(activation)?,
        isa: Isa::parse(isa)?,
    })
}

/// conv_primitives() -> [(name, family, layout)] of the C primitive table, in table order.
#[pyfunction]
fn conv_primitives() -> Vec<(String, String, String)> {
    primitives()
        .iter()
        .map(|p| {
            (
                p.name.to_string(),
                p.family.to_string(),
                p.layout.as_str().to_string(),
            )
        })
        .collect()
}

/// conv_info(name, ...) -> (applicable, workspace_bytes, packed_bytes); sizes are 0 when the
/// primitive does not apply. Invalid layer parameters raise ShapeError.
#[pyfunction]
#[pyo3(signature = (name, in_channels, height, width, out_channels, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, isa="auto"))]
#[allow(clippy::too_many_arguments)]
fn conv_info(
    name: &str,
    in_channels: usize,
    height: usize,
    width: usize,
    out_channels: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
    isa: &str,
) -> PyResult<(bool, usize, usize)> {
    let prim = find(name).map_err(PyCoreError)?;
    let p = params(
        in_channels,
        height,
        width,
        out_channels,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        "none",
        isa,
    )?;
    if !prim.applicable(&p).map_err(PyCoreError)? {
        return Ok((false, 0, 0));
    }
    Ok((
        true,
        prim.workspace_bytes(&p).map_err(PyCoreError)?,
        prim.packed_bytes(&p).map_err(PyCoreError)?,
    ))
}

/// isa_resolve(isa) -> the instruction set the kernels use for `isa` on this CPU ("auto" follows
/// the LEANCONV_ISA environment variable when it is set).
#[pyfunction]
fn isa_resolve(isa: &str) -> PyResult<&'static str> {
    Ok(resolve_isa(Isa::parse(isa).map_err(PyCoreError)?)
        .map_err(PyCoreError)?
        .as_str())
}

/// Weights packed once for one primitive and one layer; `run` convolves batches.
#[pyclass(frozen, module = "leanconv._native")]
struct PackedConv {
    inner: CorePacked,
}

#[pymethods]
impl PackedConv {
    #[new]
    #[pyo3(signature = (name, weight, bias, height, width, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, activation="none", isa="auto"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: &str,
        weight: &Bound<'_, PyAny>,
        bias: Option<&Bound<'_, PyAny>>,
        height: usize,
        width: usize,
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
        groups: usize,
        activation: &str,
        isa: &str,
    ) -> PyResult<Self> {
        let prim = find(name).map_err(PyCoreError)?;
        let w = f32_array(weight, "weight")?;
        let shape = w.shape().to_vec();
        if shape.len() != 4 {
            return Err(PyCoreError(CoreError::Shape(format!(
                "weight must have 4 dimensions (K, C/groups, KH, KW), got shape {shape:?}"
            )))
            .into());
        }
        let p = params(
            shape[1] * groups,
            height,
            width,
            shape[0],
            (shape[2], shape[3]),
            stride,
            padding,
            dilation,
            groups,
            activation,
            isa,
        )?;
        let b = match bias {
            Some(b) => Some(f32_array(b, "bias")?),
            None => None,
        };
        if let Some(b) = &b {
            if b.shape() != [shape[0]] {
                return Err(PyCoreError(CoreError::Shape(format!(
                    "bias must have shape ({},), got {:?}",
                    shape[0],
                    b.shape()
                )))
                .into());
            }
        }
        let ws = w.as_slice().map_err(|_| {
            PyCoreError(CoreError::InvalidArgument(
                "weight must be C-contiguous".into(),
            ))
        })?;
        let bs = match &b {
            Some(b) => Some(b.as_slice().map_err(|_| {
                PyCoreError(CoreError::InvalidArgument(
                    "bias must be C-contiguous".into(),
                ))
            })?),
            None => None,
        };
        let inner = py.detach(|| prim.pack(&p, ws, bs)).map_err(PyCoreError)?;
        Ok(Self { inner })
    }

    /// run(x, threads=1) -> output batch (N, K, OH, OW) for CHW primitives, (N, OH, OW, K) for HWC.
    #[pyo3(signature = (x, threads=1))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let arr = f32_array(x, "input")?;
        let p = self.inner.params();
        let hwc = self.inner.primitive().layout == leanconv_core::conv::Layout::Hwc;
        let expect: [usize; 3] = if hwc {
            [p.height, p.width, p.in_channels]
        } else {
            [p.in_channels, p.height, p.width]
        };
        let shape = arr.shape();
        if shape.len() != 4 || shape[1..] != expect {
            return Err(PyCoreError(CoreError::Shape(format!(
                "input must have shape (N, {}, {}, {}) for {} ({}), got {shape:?}",
                expect[0],
                expect[1],
                expect[2],
                self.inner.primitive().name,
                if hwc { "NHWC" } else { "NCHW" }
            )))
            .into());
        }
        let n = shape[0];
        let (oh, ow) = self.inner.output_hw();
        let k = p.out_channels;
        let out_shape = if hwc { [n, oh, ow, k] } else { [n, k, oh, ow] };
        let xs = arr.as_slice().map_err(|_| {
            PyCoreError(CoreError::InvalidArgument(
                "input must be C-contiguous".into(),
            ))
        })?;
        let inner = &self.inner;
        let out = py
            .detach(|| {
                let mut y = vec![0.0f32; n * k * oh * ow];
                inner.run(xs, &mut y, n, threads).map(|_| y)
            })
            .map_err(PyCoreError)?;
        Ok(numpy::PyArray1::from_vec(py, out)
            .reshape(out_shape.to_vec())
            .expect("output size matches its shape"))
    }

    #[getter]
    fn name(&self) -> &'static str {
        self.inner.primitive().name
    }
    #[getter]
    fn layout(&self) -> &'static str {
        self.inner.primitive().layout.as_str()
    }
    #[getter]
    fn workspace_bytes(&self) -> usize {
        self.inner.workspace_bytes()
    }
    #[getter]
    fn packed_bytes(&self) -> usize {
        self.inner.packed_bytes()
    }
    #[getter]
    fn output_hw(&self) -> (usize, usize) {
        self.inner.output_hw()
    }
}

/// sgemm(a, b, isa="auto") -> a @ b with the packed GEMM (float32, C-contiguous 2-D arrays).
#[pyfunction]
#[pyo3(signature = (a, b, isa="auto"))]
fn sgemm<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    isa: &str,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let isa = Isa::parse(isa).map_err(PyCoreError)?;
    let (a, b) = (f32_array(a, "a")?, f32_array(b, "b")?);
    let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
    if sa.len() != 2 || sb.len() != 2 || sa[1] != sb[0] {
        return Err(PyCoreError(CoreError::Shape(format!(
            "sgemm needs (m, k) @ (k, n), got {sa:?} @ {sb:?}"
        )))
        .into());
    }
    let (m, k, n) = (sa[0], sa[1], sb[1]);
    let (asl, bsl) = (
        a.as_slice().map_err(|_| {
            PyCoreError(CoreError::InvalidArgument("a must be C-contiguous".into()))
        })?,
        b.as_slice().map_err(|_| {
            PyCoreError(CoreError::InvalidArgument("b must be C-contiguous".into()))
        })?,
    );
    // The result is allocated by numpy, as `a @ b`'s is: numpy asks for transparent huge
    // pages on large arrays, which spares the GEMM thousands of page faults and TLB misses on
    // C (on this VM a Rust-allocated 2048x2048 result cost 15-25% of the GEMM's speed).
    let c = PyArray2::<f32>::zeros(py, [m, n], false);
    {
        let mut rw = c.readwrite();
        let cs = rw.as_slice_mut().expect("a fresh C-contiguous array");
        py.detach(|| Gemm::new(m, n, k, isa)?.run(asl, bsl, cs, false))
            .map_err(PyCoreError)?;
    }
    Ok(c)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(chw_to_hwc, m)?)?;
    m.add_function(wrap_pyfunction!(hwc_to_chw, m)?)?;
    m.add_function(wrap_pyfunction!(conv_primitives, m)?)?;
    m.add_function(wrap_pyfunction!(conv_info, m)?)?;
    m.add_function(wrap_pyfunction!(isa_resolve, m)?)?;
    m.add_function(wrap_pyfunction!(sgemm, m)?)?;
    m.add_class::<PackedConv>()?;
    Ok(())
}
