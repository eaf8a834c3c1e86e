//! Safe drivers over the C primitives in `kernels_c/`: shape checks, then the call.
mod ffi;
pub mod layout;
