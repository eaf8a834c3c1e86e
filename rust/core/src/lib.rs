//! leanconv-core: the pure-Rust core of leanconv (no Python). `cargo test -p leanconv-core`
//! runs without an interpreter.
//!
//! - [`codec`]: weight codecs and the checksummed container;
//! - [`conv`]: safe drivers over the C primitives in `kernels_c/`;
//! - [`error`]: the crate's one error enum.
pub mod codec;
pub mod conv;
pub mod error;

pub use error::{CoreError, Result};

/// Version of the core crate, reported by the Python package and written into cost records.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
