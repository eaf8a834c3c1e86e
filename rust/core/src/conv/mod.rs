//! Safe drivers over the C primitives in `kernels_c/`: shape checks, then the call.
mod aligned;
mod ffi;
pub mod layout;
pub mod primitive;

pub use aligned::AlignedBuf;
pub use primitive::{
    find, primitives, resolve_isa, split_channels, split_work, Activation, ConvParams, Gemm, Isa,
    Layout, PackedConv, Primitive, WorkPiece, ISA_ENV,
};
