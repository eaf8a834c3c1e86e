//! leanconv-core: the pure-Rust core of leanconv (no Python). `cargo test -p leanconv-core`
//! runs without an interpreter.
//!
//! - [`codec`]: the weight codecs over int8 codes, lossless byte-grouped coding of floats,
//!   and the CRC-32 that Python's `.lcz` container (`leanconv.compress.container`) checks;
//! - [`conv`]: safe drivers over the C primitives in `kernels_c/`;
//! - [`ops`]: safe drivers over the C op kernels (pooling, element-wise, ...);
//! - [`runtime`]: runs a whole network from a Plan over one activation arena;
//! - [`error`]: the crate's one error enum.
pub mod codec;
pub mod conv;
pub mod error;
pub mod ops;
pub mod runtime;

pub use error::{CoreError, Result};

/// Version of the core crate, which the Python package reports as `leanconv.__version__`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
