//! Python bindings of the codec side of the core: the codec table, encode/decode of int8 code
//! tensors, lossless byte-grouped coding of other tensors, checksums. Arrays come in without
//! copies (C-contiguous numpy arrays, torch CPU tensors through `numpy()`), and every call
//! releases the GIL around the work.
use leanconv_core::codec;
use leanconv_core::CoreError;
use numpy::{
    PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn,
    PyReadwriteArrayDyn, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::PyCoreError;

fn contiguous<'a, T: numpy::Element, D: numpy::ndarray::Dimension>(
    a: &'a numpy::PyReadonlyArray<'_, T, D>,
    what: &str,
) -> Result<&'a [T], PyCoreError> {
    // as_slice also accepts Fortran order, whose memory order is not the C order the codecs
    // read: such an array would be coded transposed.
    let err = || CoreError::InvalidArgument(format!("{what} must be C-contiguous")).into();
    if !a.is_c_contiguous() {
        return Err(err());
    }
    a.as_slice().map_err(|_| err())
}

/// crc32(data) -> CRC-32 (IEEE) of a bytes object.
#[pyfunction]
fn crc32(py: Python<'_>, data: &Bound<'_, PyBytes>) -> u32 {
    let bytes = data.as_bytes();
    py.detach(|| leanconv_core::codec::crc32(bytes))
}

/// crc32_array(data) -> CRC-32 of a uint8 array (e.g. np.frombuffer over a memory map).
#[pyfunction]
fn crc32_array(py: Python<'_>, data: PyReadonlyArray1<'_, u8>) -> PyResult<u32> {
    let s = contiguous(&data, "data")?;
    Ok(py.detach(|| codec::crc32(s)))
}

/// codec_table() -> [(name, id, summary)] of every codec (auto picks among them).
#[pyfunction]
fn codec_table() -> Vec<(&'static str, u8, &'static str)> {
    codec::CODECS
        .iter()
        .map(|c| (c.name, c.id, c.summary))
        .collect()
}

/// auto_candidates(n) -> names of the codecs `auto` tries on a tensor of n codes.
#[pyfunction]
fn auto_candidates(n: usize) -> Vec<&'static str> {
    codec::auto_candidates(n).map(|c| c.name).collect()
}

/// encode_codes(codes, codec="auto", among=None) -> (codec used, encoded bytes) for an int8
/// array; `among` restricts "auto" to the codecs it names.
#[pyfunction]
#[pyo3(signature = (codes, codec="auto", among=None))]
fn encode_codes<'py>(
    py: Python<'py>,
    codes: PyReadonlyArrayDyn<'py, i8>,
    codec: &str,
    among: Option<Vec<String>>,
) -> PyResult<(&'static str, Bound<'py, PyBytes>)> {
    let shape = codes.shape().to_vec();
    let s = contiguous(&codes, "codes")?;
    let (c, blob) = match among {
        None => py.detach(|| codec::encode(codec, s, &shape)),
        Some(_) if codec != "auto" => Err(CoreError::InvalidArgument(format!(
            "among restricts auto; it does not apply to codec {codec:?}"
        ))),
        Some(names) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            py.detach(|| codec::encode_auto_among(s, &shape, &names))
        }
    }
    .map_err(PyCoreError)?;
    Ok((c.name, PyBytes::new(py, &blob)))
}

/// c_decoder_workspace_bytes(codec, shape) -> bytes of workspace the C decoder of `codec`
/// (kernels_c) needs for a tensor of `shape`, or None when kernels_c has no decoder of it.
#[pyfunction]
fn c_decoder_workspace_bytes(codec: &str, shape: Vec<usize>) -> Option<usize> {
    codec::c_decoders::workspace_bytes(codec, &shape)
}

/// codec_sizes(codes) -> [(codec, exact encoded size in bytes)] for every codec in the table.
#[pyfunction]
fn codec_sizes(
    py: Python<'_>,
    codes: PyReadonlyArrayDyn<'_, i8>,
) -> PyResult<Vec<(&'static str, usize)>> {
    let shape = codes.shape().to_vec();
    let s = contiguous(&codes, "codes")?;
    Ok(py.detach(|| codec::sizes(s, &shape)).map_err(PyCoreError)?)
}

/// decode_codes(data, shape, codec, out=None) -> int8 array of `shape` decoded from a uint8
/// array; into `out` (a C-contiguous int8 array of that shape, returned) when given, so a
/// caller can decode into memory it already holds.
#[pyfunction]
#[pyo3(signature = (data, shape, codec, out=None))]
fn decode_codes<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, u8>,
    shape: Vec<usize>,
    codec: &str,
    out: Option<Bound<'py, PyArrayDyn<i8>>>,
) -> PyResult<Bound<'py, PyArrayDyn<i8>>> {
    let src = contiguous(&data, "data")?;
    codec::numel(&shape).map_err(PyCoreError)?;
    let arr = match out {
        Some(arr) => arr,
        // SAFETY: the array is written before anyone reads it: every decoder writes every
        // code or fails (the round-trip tests decode into buffers of 0x55), and on failure
        // the array is dropped here. Not clearing it saves ~5% of a whole-model decode.
        None => unsafe { PyArrayDyn::<i8>::new(py, shape.as_slice(), false) },
    };
    {
        let mut rw: PyReadwriteArrayDyn<'py, i8> = arr.try_readwrite().map_err(|e| {
            PyCoreError(CoreError::InvalidArgument(format!(
                "out is not writable: {e}"
            )))
        })?;
        if rw.shape() != shape.as_slice() || !rw.is_c_contiguous() {
            return Err(PyCoreError(CoreError::Shape(format!(
                "out must be a C-contiguous int8 array of shape {shape:?}, got {:?}",
                rw.shape()
            )))
            .into());
        }
        let dst = rw
            .as_slice_mut()
            .map_err(|e| PyCoreError(CoreError::InvalidArgument(e.to_string())))?;
        py.detach(|| codec::decode(codec, src, &shape, dst))
            .map_err(PyCoreError)?;
    }
    Ok(arr)
}

/// merge_patterns(codes, tolerance, max_patterns=None, keep_zeros=True) -> (merged codes,
/// distinct patterns before, after): rare patterns replaced by frequent ones within
/// `tolerance` code units (see leanconv_core::codec::merge).
#[pyfunction]
#[pyo3(signature = (codes, tolerance, max_patterns=None, keep_zeros=true))]
fn merge_patterns<'py>(
    py: Python<'py>,
    codes: PyReadonlyArrayDyn<'py, i8>,
    tolerance: i64,
    max_patterns: Option<i64>,
    keep_zeros: bool,
) -> PyResult<(Bound<'py, PyArrayDyn<i8>>, usize, usize)> {
    let opt = codec::merge::MergeOptions::new(tolerance, max_patterns, keep_zeros)
        .map_err(PyCoreError)?;
    let shape = codes.shape().to_vec();
    let s = contiguous(&codes, "codes")?;
    let m = py
        .detach(|| codec::merge::merge_patterns(s, &shape, &opt))
        .map_err(PyCoreError)?;
    let out = PyArray1::from_vec(py, m.codes).reshape(shape)?;
    Ok((out, m.patterns_before, m.patterns_after))
}

/// encode_bytes(data, itemsize) -> bytes: lossless byte-grouped coding of a uint8 view of
/// fixed-size items (e.g. float32 weights that are not quantized).
#[pyfunction]
fn encode_bytes<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, u8>,
    itemsize: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let src = contiguous(&data, "data")?;
    let blob = py
        .detach(|| codec::encode_bytes(src, itemsize))
        .map_err(PyCoreError)?;
    Ok(PyBytes::new(py, &blob))
}

/// decode_bytes(blob, nbytes) -> uint8 array of `nbytes` bytes.
#[pyfunction]
fn decode_bytes<'py>(
    py: Python<'py>,
    blob: PyReadonlyArray1<'py, u8>,
    nbytes: usize,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let src = contiguous(&blob, "blob")?;
    let out = py
        .detach(|| {
            let mut out = vec![0u8; nbytes];
            codec::decode_bytes(src, &mut out).map(|_| out)
        })
        .map_err(PyCoreError)?;
    Ok(PyArray1::from_vec(py, out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(auto_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(c_decoder_workspace_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(crc32, m)?)?;
    m.add_function(wrap_pyfunction!(crc32_array, m)?)?;
    m.add_function(wrap_pyfunction!(codec_table, m)?)?;
    m.add_function(wrap_pyfunction!(encode_codes, m)?)?;
    m.add_function(wrap_pyfunction!(codec_sizes, m)?)?;
    m.add_function(wrap_pyfunction!(decode_codes, m)?)?;
    m.add_function(wrap_pyfunction!(merge_patterns, m)?)?;
    m.add_function(wrap_pyfunction!(encode_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(decode_bytes, m)?)?;
    Ok(())
}
