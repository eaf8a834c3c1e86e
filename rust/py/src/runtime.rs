//! Python bindings of the runtime: the arena planner, the plan check and the executor.
use std::collections::HashMap;
use std::sync::Mutex;

use leanconv_core::runtime::arena::{self, ArenaTensor};
use leanconv_core::runtime::{Clock, Executor as CoreExecutor, Plan};
use leanconv_core::CoreError;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::conv::{elements, f32_array};
use crate::errors::PyCoreError;

/// arena_plan(bytes, first, last, alias_of) -> (offsets, total, lower_bound)
///
/// Arena offsets (64-byte aligned, greedy by size) for tensors of `bytes` live from step
/// `first` to step `last` (inclusive); `alias_of[i]` is the index of the tensor tensor i
/// overwrites in place, or None. `lower_bound` is the most bytes live at one step.
#[pyfunction]
fn arena_plan(
    bytes: Vec<usize>,
    first: Vec<usize>,
    last: Vec<usize>,
    alias_of: Vec<Option<usize>>,
) -> PyResult<(Vec<usize>, usize, usize)> {
    let n = bytes.len();
    if first.len() != n || last.len() != n || alias_of.len() != n {
        return Err(PyCoreError(CoreError::InvalidArgument(
            "bytes, first, last and alias_of must have the same length".into(),
        ))
        .into());
    }
    let tensors: Vec<ArenaTensor> = (0..n)
        .map(|i| ArenaTensor {
            bytes: bytes[i],
            first: first[i],
            last: last[i],
            alias_of: alias_of[i],
        })
        .collect();
    let placed = arena::plan(&tensors).map_err(PyCoreError)?;
    let lower = arena::lower_bound(&tensors).map_err(PyCoreError)?;
    Ok((placed.offsets, placed.total, lower))
}

/// check_plan(plan_json) -> None: PlanError naming what does not fit (format, tensors,
/// views, steps, arena placement).
#[pyfunction]
fn check_plan(py: Python<'_>, plan_json: &str) -> PyResult<()> {
    py.detach(|| Plan::from_json(plan_json).and_then(|p| p.check().map(|_| ())))
        .map_err(|e| PyCoreError(e).into())
}

/// Executor(plan_json, weights): packs the weights (a dict "<layer>.<key>" -> float32 array)
/// once; run(inputs) runs the network with the GIL released.
#[pyclass(frozen, module = "leanconv._native")]
struct Executor {
    /// Locked only with the GIL released (a thread waiting for it holds no GIL).
    inner: Mutex<CoreExecutor>,
    output_lens: Vec<usize>,
    #[pyo3(get)]
    arena_bytes: usize,
    #[pyo3(get)]
    workspace_bytes: usize,
    #[pyo3(get)]
    packed_bytes: usize,
}

#[pymethods]
impl Executor {
    #[new]
    fn new(py: Python<'_>, plan_json: &str, weights: &Bound<'_, PyDict>) -> PyResult<Self> {
        let mut arrays: Vec<(String, PyReadonlyArrayDyn<'_, f32>)> = Vec::new();
        for (k, v) in weights.iter() {
            let name: String = k.extract()?;
            let arr = f32_array(&v, &format!("weight {name:?}"))?;
            arrays.push((name, arr));
        }
        let mut slices: HashMap<String, &[f32]> = HashMap::new();
        for (name, arr) in &arrays {
            slices.insert(name.clone(), elements(arr, name)?);
        }
        let inner = py
            .detach(|| CoreExecutor::new(plan_json, &slices))
            .map_err(PyCoreError)?;
        Ok(Self {
            output_lens: inner.output_lens(),
            arena_bytes: inner.arena_bytes(),
            workspace_bytes: inner.workspace_bytes(),
            packed_bytes: inner.packed_bytes(),
            inner: Mutex::new(inner),
        })
    }

    /// run(inputs) -> outputs: one float32 array per graph input (logical NCHW order, any
    /// shape with the right element count: the caller checks shapes), one flat array per
    /// graph output.
    fn run<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<Vec<Bound<'py, PyArray1<f32>>>> {
        let arrays = input_arrays(&inputs)?;
        let xs = arrays
            .iter()
            .map(|a| elements(a, "input"))
            .collect::<Result<Vec<_>, _>>()?;
        let outs: Vec<Bound<'py, PyArray1<f32>>> = self
            .output_lens
            .iter()
            .map(|&n| PyArray1::zeros(py, n, false))
            .collect();
        let mut views: Vec<_> = outs.iter().map(|o| o.readwrite()).collect();
        let mut ys: Vec<&mut [f32]> = views
            .iter_mut()
            .map(|v| v.as_slice_mut().expect("a new array is contiguous"))
            .collect();
        let inner = &self.inner;
        py.detach(|| {
            inner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .run(&xs, &mut ys)
        })
        .map_err(PyCoreError)?;
        drop(ys);
        drop(views);
        Ok(outs)
    }

    /// profile(inputs, runs, cpu=False) -> [(step, seconds)]: the network run `runs` times
    /// with the GIL released, each step's median seconds (each writing step by its output
    /// tensor, then "<outputs>", the copy of the graph outputs): elapsed, or with `cpu` the
    /// calling thread's CPU time.
    #[pyo3(signature = (inputs, runs, cpu = false))]
    fn profile(
        &self,
        py: Python<'_>,
        inputs: Vec<Bound<'_, PyAny>>,
        runs: usize,
        cpu: bool,
    ) -> PyResult<Vec<(String, f64)>> {
        let arrays = input_arrays(&inputs)?;
        let xs = arrays
            .iter()
            .map(|a| elements(a, "input"))
            .collect::<Result<Vec<_>, _>>()?;
        let inner = &self.inner;
        py.detach(|| {
            let mut exe = inner.lock().unwrap_or_else(|e| e.into_inner());
            let clock = if cpu { Clock::Thread } else { Clock::Wall };
            let seconds = exe.profile_steps(&xs, runs, clock)?;
            Ok(exe.step_names().into_iter().zip(seconds).collect())
        })
        .map_err(|e| PyCoreError(e).into())
    }
}

/// op_kernels() -> [(name, op, layout or None)]: the C op kernel table (layout None: any).
#[pyfunction]
fn op_kernels() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    leanconv_core::ops::kernels()
        .iter()
        .map(|k| (k.name, k.op, k.layout.map(|l| l.as_str())))
        .collect()
}

/// conv_transpose_sizes(step_json, input_shape) -> (packed_bytes, workspace_bytes) of the
/// transposed convolution of a plan layer step (JSON) over an input of `input_shape`.
#[pyfunction]
fn conv_transpose_sizes(
    py: Python<'_>,
    step_json: &str,
    input_shape: Vec<usize>,
) -> PyResult<(usize, usize)> {
    py.detach(|| leanconv_core::runtime::conv_transpose_sizes(step_json, &input_shape))
        .map_err(|e| PyCoreError(e).into())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(arena_plan, m)?)?;
    m.add_function(wrap_pyfunction!(check_plan, m)?)?;
    m.add_function(wrap_pyfunction!(op_kernels, m)?)?;
    m.add_function(wrap_pyfunction!(conv_transpose_sizes, m)?)?;
    m.add_class::<Executor>()?;
    Ok(())
}

/// Each graph input as a float32 array, named by its position in errors.
fn input_arrays<'py>(
    inputs: &[Bound<'py, PyAny>],
) -> Result<Vec<PyReadonlyArrayDyn<'py, f32>>, PyCoreError> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, x)| f32_array(x, &format!("input {i}")))
        .collect()
}
