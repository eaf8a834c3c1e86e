//! Python bindings of the convolution side of the core: the conv spec, the one window-size
//! formula, layout transforms, the primitive table, packed convolutions and the GEMM.
//!
//! Every array argument goes through [`f32_array`]: a float32 numpy array, C-contiguous and
//! aligned, read in place; anything else (another dtype, Fortran order, a strided view, a
//! list) is a LeanconvError naming the argument, never a copy and never data read in the
//! wrong order. Every call that touches array data releases the GIL.
use leanconv_core::conv::layout::{transform, Transform};
use leanconv_core::conv::{
    find, primitives, resolve_isa, window_output_size as core_window_output_size, Activation,
    ConvSpec as CoreSpec, Gemm, Isa, Layout, PackedConv as CorePacked, Pads,
};
use leanconv_core::CoreError;
use numpy::{PyArray2, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PyTuple};

use crate::errors::PyCoreError;

type Res<T> = Result<T, PyCoreError>;

fn invalid(msg: String) -> PyCoreError {
    CoreError::InvalidArgument(msg).into()
}

fn shape_error(msg: String) -> PyCoreError {
    CoreError::Shape(msg).into()
}

/// A float32 numpy array whose memory is read in place: C-contiguous (Fortran order or a
/// strided view would be read in the wrong order) and aligned to its element size.
pub(crate) fn f32_array<'py>(
    x: &Bound<'py, PyAny>,
    what: &str,
) -> Res<PyReadonlyArrayDyn<'py, f32>> {
    let arr = x.extract::<PyReadonlyArrayDyn<'py, f32>>().map_err(|_| {
        let got = x
            .getattr("dtype")
            .map(|d| format!("dtype {d}"))
            .unwrap_or_else(|_| format!("{}", x.get_type()));
        invalid(format!("{what} must be a float32 numpy array, got {got}"))
    })?;
    if !arr.is_c_contiguous() {
        return Err(invalid(format!(
            "{what} must be C-contiguous (a Fortran-ordered array or a strided view is not; \
             use np.ascontiguousarray)"
        )));
    }
    if arr.data() as usize % std::mem::align_of::<f32>() != 0 {
        return Err(invalid(format!("{what} must be aligned to 4 bytes")));
    }
    Ok(arr)
}

/// The elements of an array [`f32_array`] accepted, in C order.
pub(crate) fn elements<'a>(arr: &'a PyReadonlyArrayDyn<'_, f32>, what: &str) -> Res<&'a [f32]> {
    arr.as_slice()
        .map_err(|_| invalid(format!("{what} must be C-contiguous")))
}

/// An int argument of at least `minimum` (bools and floats are refused).
fn int_arg(x: &Bound<'_, PyAny>, what: &str, minimum: usize) -> Res<usize> {
    let v = if x.is_instance_of::<PyBool>() {
        None
    } else {
        x.extract::<i64>().ok()
    };
    let v = v.ok_or_else(|| invalid(format!("{what} must be an int, got {x}")))?;
    usize::try_from(v)
        .ok()
        .filter(|&u| u >= minimum)
        .ok_or_else(|| invalid(format!("{what} must be >= {minimum}, got {v}")))
}

/// An int (every element equal) or a tuple or list of one of the lengths `lens`, each element
/// an int of at least `minimum`; the first length is the one an int expands to. `forms` names
/// the accepted forms in the error message.
fn ints_arg(
    x: &Bound<'_, PyAny>,
    what: &str,
    minimum: usize,
    lens: &[usize],
    forms: &str,
) -> Res<Vec<usize>> {
    let is_seq = x.is_instance_of::<PyTuple>() || x.is_instance_of::<PyList>();
    if !is_seq {
        return Ok(vec![int_arg(x, what, minimum)?; lens[0]]);
    }
    let bad = || invalid(format!("{what} must be {forms}, got {x}"));
    let items = x
        .try_iter()
        .and_then(|it| it.collect::<PyResult<Vec<_>>>())
        .map_err(|_| bad())?;
    if !lens.contains(&items.len()) {
        return Err(bad());
    }
    items.iter().map(|e| int_arg(e, what, minimum)).collect()
}

fn pair_arg(x: &Bound<'_, PyAny>, what: &str, minimum: usize) -> Res<(usize, usize)> {
    let v = ints_arg(x, what, minimum, &[2], "an int or a pair of ints")?;
    Ok((v[0], v[1]))
}

/// `padding`: an int (every side), (h, w) (top and bottom h, left and right w) or
/// (top, left, bottom, right).
fn pads_arg(x: &Bound<'_, PyAny>) -> Res<Pads> {
    let v = ints_arg(
        x,
        "padding",
        0,
        &[4, 2],
        "an int, (h, w) or (top, left, bottom, right)",
    )?;
    Ok(match v[..] {
        [h, w] => Pads::symmetric(h, w),
        [top, left, bottom, right] => Pads::from([top, left, bottom, right]),
        _ => unreachable!("ints_arg returns 2 or 4 values"),
    })
}

/// One convolution layer applied to one image (the batch is the caller's): the one conv
/// description of leanconv, from the Graph down to the C kernels.
///
/// ConvSpec(in_channels, out_channels, height, width, kernel=3, stride=1, padding=0,
///          dilation=1, groups=1, activation="none")
///
/// kernel, stride and dilation: an int or (h, w); padding: an int, (h, w) or
/// (top, left, bottom, right). Weights are (out_channels, in_channels/groups, *kernel).
#[pyclass(name = "ConvSpec", frozen, eq, hash, module = "leanconv._native")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyConvSpec {
    inner: CoreSpec,
}

#[pymethods]
impl PyConvSpec {
    #[new]
    #[pyo3(
        text_signature = "(in_channels, out_channels, height, width, kernel=3, stride=1, padding=0, dilation=1, groups=1, activation='none')"
    )]
    #[pyo3(signature = (in_channels, out_channels, height, width, kernel=None, stride=None, padding=None, dilation=None, groups=None, activation="none"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        in_channels: &Bound<'_, PyAny>,
        out_channels: &Bound<'_, PyAny>,
        height: &Bound<'_, PyAny>,
        width: &Bound<'_, PyAny>,
        kernel: Option<&Bound<'_, PyAny>>,
        stride: Option<&Bound<'_, PyAny>>,
        padding: Option<&Bound<'_, PyAny>>,
        dilation: Option<&Bound<'_, PyAny>>,
        groups: Option<&Bound<'_, PyAny>>,
        activation: &str,
    ) -> PyResult<Self> {
        let or_pair = |x: Option<&Bound<'_, PyAny>>, what: &str, default: usize| match x {
            Some(x) => pair_arg(x, what, 1),
            None => Ok((default, default)),
        };
        let inner = CoreSpec {
            in_channels: int_arg(in_channels, "in_channels", 1)?,
            out_channels: int_arg(out_channels, "out_channels", 1)?,
            height: int_arg(height, "height", 1)?,
            width: int_arg(width, "width", 1)?,
            kernel: or_pair(kernel, "kernel", 3)?,
            stride: or_pair(stride, "stride", 1)?,
            dilation: or_pair(dilation, "dilation", 1)?,
            pads: padding.map_or(Ok(Pads::default()), pads_arg)?,
            groups: groups.map_or(Ok(1), |g| int_arg(g, "groups", 1))?,
            activation: Activation::parse(activation).map_err(PyCoreError)?,
        };
        inner.validate().map_err(PyCoreError)?;
        Ok(Self { inner })
    }

    #[getter]
    fn in_channels(&self) -> usize {
        self.inner.in_channels
    }
    #[getter]
    fn out_channels(&self) -> usize {
        self.inner.out_channels
    }
    #[getter]
    fn height(&self) -> usize {
        self.inner.height
    }
    #[getter]
    fn width(&self) -> usize {
        self.inner.width
    }
    #[getter]
    fn kernel(&self) -> (usize, usize) {
        self.inner.kernel
    }
    #[getter]
    fn stride(&self) -> (usize, usize) {
        self.inner.stride
    }
    #[getter]
    fn dilation(&self) -> (usize, usize) {
        self.inner.dilation
    }
    /// (top, left, bottom, right)
    #[getter]
    fn padding(&self) -> (usize, usize, usize, usize) {
        let p = self.inner.pads;
        (p.top, p.left, p.bottom, p.right)
    }
    #[getter]
    fn groups(&self) -> usize {
        self.inner.groups
    }
    #[getter]
    fn activation(&self) -> &'static str {
        self.inner.activation.as_str()
    }
    #[getter]
    fn output_hw(&self) -> PyResult<(usize, usize)> {
        Ok(self.inner.output_hw().map_err(PyCoreError)?)
    }
    #[getter]
    fn out_height(&self) -> PyResult<usize> {
        Ok(self.output_hw()?.0)
    }
    #[getter]
    fn out_width(&self) -> PyResult<usize> {
        Ok(self.output_hw()?.1)
    }
    /// Multiply-accumulates of one image, as direct convolution counts them.
    #[getter]
    fn macs(&self) -> PyResult<u64> {
        Ok(self.inner.macs().map_err(PyCoreError)?)
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "ConvSpec(in_channels={}, out_channels={}, height={}, width={}, kernel={:?}, \
             stride={:?}, padding={:?}, dilation={:?}, groups={}, activation='{}')",
            s.in_channels,
            s.out_channels,
            s.height,
            s.width,
            s.kernel,
            s.stride,
            self.padding(),
            s.dilation,
            s.groups,
            s.activation.as_str()
        )
    }
}

/// window_output_size(size, kernel, stride, dilation, pad_begin, pad_end, ceil_mode=False) ->
/// positions of a sliding window along one axis (convolution, pooling; PyTorch's ceil-mode
/// rule). ShapeError when the window does not fit.
#[pyfunction]
#[pyo3(signature = (size, kernel, stride, dilation, pad_begin, pad_end, ceil_mode=false))]
fn window_output_size(
    size: &Bound<'_, PyAny>,
    kernel: &Bound<'_, PyAny>,
    stride: &Bound<'_, PyAny>,
    dilation: &Bound<'_, PyAny>,
    pad_begin: &Bound<'_, PyAny>,
    pad_end: &Bound<'_, PyAny>,
    ceil_mode: bool,
) -> PyResult<usize> {
    Ok(core_window_output_size(
        int_arg(size, "size", 0)?,
        int_arg(kernel, "kernel", 1)?,
        int_arg(stride, "stride", 1)?,
        int_arg(dilation, "dilation", 1)?,
        int_arg(pad_begin, "pad_begin", 0)?,
        int_arg(pad_end, "pad_end", 0)?,
        ceil_mode,
    )
    .map_err(PyCoreError)?)
}

fn run_transform<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    kind: Transform,
) -> Res<Bound<'py, PyArrayDyn<f32>>> {
    let arr = f32_array(x, "input")?;
    let Ok([a, b, c]) = <[usize; 3]>::try_from(arr.shape()) else {
        return Err(shape_error(format!(
            "input must have 3 dimensions, got shape {:?}",
            arr.shape()
        )));
    };
    let (ch, h, w, out_shape) = match kind {
        Transform::ChwToHwc => (a, b, c, [b, c, a]),
        Transform::HwcToChw => (c, a, b, [c, a, b]),
    };
    let src = elements(&arr, "input")?;
    let out = py.detach(|| {
        let mut dst = vec![0.0f32; src.len()];
        transform(kind, src, &mut dst, ch, h, w).map(|_| dst)
    })?;
    Ok(numpy::PyArray1::from_vec(py, out)
        .reshape(out_shape.to_vec())
        .expect("element count is unchanged by a transpose"))
}

/// chw_to_hwc(x) -> HWC copy of a C-contiguous float32 (C, H, W) array.
#[pyfunction]
fn chw_to_hwc<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    Ok(run_transform(py, x, Transform::ChwToHwc)?)
}

/// hwc_to_chw(x) -> CHW copy of a C-contiguous float32 (H, W, C) array.
#[pyfunction]
fn hwc_to_chw<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    Ok(run_transform(py, x, Transform::HwcToChw)?)
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

/// conv_info(name, spec, isa="auto") -> (applicable, workspace_bytes, packed_bytes); sizes are
/// 0 when the primitive does not apply.
#[pyfunction]
#[pyo3(signature = (name, spec, isa="auto"))]
fn conv_info(name: &str, spec: &PyConvSpec, isa: &str) -> PyResult<(bool, usize, usize)> {
    let prim = find(name).map_err(PyCoreError)?;
    let isa = Isa::parse(isa).map_err(PyCoreError)?;
    let s = &spec.inner;
    if !prim.applicable(s).map_err(PyCoreError)? {
        return Ok((false, 0, 0));
    }
    Ok((
        true,
        prim.workspace_bytes(s, isa).map_err(PyCoreError)?,
        prim.packed_bytes(s, isa).map_err(PyCoreError)?,
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
///
/// PackedConv(name, spec, weight, bias=None, isa="auto"): weight (K, C/groups, KH, KW) as
/// `spec` says, bias (K,) or None.
#[pyclass(frozen, module = "leanconv._native")]
struct PackedConv {
    inner: CorePacked,
}

#[pymethods]
impl PackedConv {
    #[new]
    #[pyo3(signature = (name, spec, weight, bias=None, isa="auto"))]
    fn new(
        py: Python<'_>,
        name: &str,
        spec: &PyConvSpec,
        weight: &Bound<'_, PyAny>,
        bias: Option<&Bound<'_, PyAny>>,
        isa: &str,
    ) -> PyResult<Self> {
        let prim = find(name).map_err(PyCoreError)?;
        let isa = Isa::parse(isa).map_err(PyCoreError)?;
        let s = spec.inner;
        let w = f32_array(weight, "weight")?;
        let want = [
            s.out_channels,
            s.in_channels / s.groups,
            s.kernel.0,
            s.kernel.1,
        ];
        if w.shape() != want {
            return Err(shape_error(format!(
                "weight must have shape {want:?} (K, C/groups, KH, KW) for {}, got {:?}",
                spec.__repr__(),
                w.shape()
            ))
            .into());
        }
        let b = bias.map(|b| f32_array(b, "bias")).transpose()?;
        if let Some(b) = &b {
            if b.shape() != [s.out_channels] {
                return Err(shape_error(format!(
                    "bias must have shape ({},), got {:?}",
                    s.out_channels,
                    b.shape()
                ))
                .into());
            }
        }
        let ws = elements(&w, "weight")?;
        let bs = b.as_ref().map(|b| elements(b, "bias")).transpose()?;
        let inner = py
            .detach(|| prim.pack(&s, isa, ws, bs))
            .map_err(PyCoreError)?;
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
        let s = self.inner.spec();
        let hwc = self.inner.primitive().layout == Layout::Hwc;
        let expect: [usize; 3] = if hwc {
            [s.height, s.width, s.in_channels]
        } else {
            [s.in_channels, s.height, s.width]
        };
        let shape = arr.shape();
        if shape.len() != 4 || shape[1..] != expect {
            return Err(shape_error(format!(
                "input must have shape (N, {}, {}, {}) for {} ({}), got {shape:?}",
                expect[0],
                expect[1],
                expect[2],
                self.inner.primitive().name,
                if hwc { "NHWC" } else { "NCHW" }
            ))
            .into());
        }
        let n = shape[0];
        let (oh, ow) = self.inner.output_hw();
        let k = s.out_channels;
        let out_shape = if hwc { [n, oh, ow, k] } else { [n, k, oh, ow] };
        let xs = elements(&arr, "input")?;
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
    fn spec(&self) -> PyConvSpec {
        PyConvSpec {
            inner: *self.inner.spec(),
        }
    }
    /// The instruction set asked for ("auto" resolves per CPU; see isa_resolve).
    #[getter]
    fn isa(&self) -> &'static str {
        self.inner.isa().as_str()
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
        return Err(
            shape_error(format!("sgemm needs (m, k) @ (k, n), got {sa:?} @ {sb:?}")).into(),
        );
    }
    let (m, k, n) = (sa[0], sa[1], sb[1]);
    let (asl, bsl) = (elements(&a, "a")?, elements(&b, "b")?);
    // The result is allocated by numpy, as `a @ b`'s is: numpy asks for transparent huge
    // pages on large arrays, which spares the GEMM page faults and TLB misses on C.
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
    m.add_class::<PyConvSpec>()?;
    m.add_function(wrap_pyfunction!(window_output_size, m)?)?;
    m.add_function(wrap_pyfunction!(chw_to_hwc, m)?)?;
    m.add_function(wrap_pyfunction!(hwc_to_chw, m)?)?;
    m.add_function(wrap_pyfunction!(conv_primitives, m)?)?;
    m.add_function(wrap_pyfunction!(conv_info, m)?)?;
    m.add_function(wrap_pyfunction!(isa_resolve, m)?)?;
    m.add_function(wrap_pyfunction!(sgemm, m)?)?;
    m.add_class::<PackedConv>()?;
    Ok(())
}
