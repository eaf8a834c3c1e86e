//! Python bindings of the codec side of the core: checksums (and, as they come, the codecs
//! and the container). Every call releases the GIL around the work.
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// crc32(data) -> CRC-32 (IEEE) of a bytes object.
#[pyfunction]
fn crc32(py: Python<'_>, data: &Bound<'_, PyBytes>) -> u32 {
    let bytes = data.as_bytes();
    py.detach(|| leanconv_core::codec::crc32(bytes))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(crc32, m)?)?;
    Ok(())
}
