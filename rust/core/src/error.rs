//! The one error type of the core crate. The Python binding maps each variant to one
//! `leanconv.LeanconvError` subclass (see rust/py/src/errors.rs).
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// Array shapes or sizes that do not fit the operation.
    #[error("{0}")]
    Shape(String),
    /// Encoded data that is malformed: truncated, with trailing bytes, of an unknown format, or
    /// claiming impossible sizes or values.
    #[error("{0}")]
    Corrupt(String),
    /// An operation, primitive or codec that does not apply to the given input.
    #[error("{0}")]
    Unsupported(String),
    /// A runtime plan that does not fit its graph or its weights, or whose arena placement
    /// is unsafe (tensors live at the same time that overlap).
    #[error("{0}")]
    Plan(String),
    /// Any other argument out of its valid range.
    #[error("{0}")]
    InvalidArgument(String),
}

pub type Result<T> = std::result::Result<T, CoreError>;
