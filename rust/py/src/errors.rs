//! The one place core errors become Python exceptions. The exception classes are defined
//! once, in python/leanconv/errors.py; this maps each CoreError variant to one of them.
use leanconv_core::CoreError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyModule;

/// Wrapper so `?` converts core errors (orphan rule: we cannot impl From<CoreError> for PyErr).
pub struct PyCoreError(pub CoreError);

impl From<CoreError> for PyCoreError {
    fn from(e: CoreError) -> Self {
        Self(e)
    }
}

fn class_name(e: &CoreError) -> &'static str {
    match e {
        CoreError::Shape(_) => "ShapeError",
        CoreError::Corrupt(_) => "CorruptFileError",
        CoreError::Unsupported(_) => "UnsupportedOpError",
        CoreError::Plan(_) => "PlanError",
        CoreError::InvalidArgument(_) => "LeanconvError",
    }
}

impl From<PyCoreError> for PyErr {
    fn from(PyCoreError(e): PyCoreError) -> PyErr {
        Python::attach(|py| {
            let message = e.to_string();
            let class =
                PyModule::import(py, "leanconv.errors").and_then(|m| m.getattr(class_name(&e)));
            match class {
                Ok(cls) => match cls.call1((message.clone(),)) {
                    Ok(instance) => PyErr::from_value(instance),
                    Err(err) => err,
                },
                // leanconv.errors is part of the same package; if it cannot be imported the
                // message must still reach the user.
                Err(_) => PyValueError::new_err(message),
            }
        })
    }
}
