//! leanconv._native: a thin pyo3 layer over leanconv-core. Every call that touches array data
//! releases the GIL (`py.detach`); arrays come in as C-contiguous numpy arrays without copies.
//! Each area registers its own functions: `codec.rs`, `conv.rs` and `runtime.rs`.
mod codec;
mod conv;
mod errors;
mod runtime;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", leanconv_core::VERSION)?;
    codec::register(m)?;
    conv::register(m)?;
    runtime::register(m)?;
    Ok(())
}
