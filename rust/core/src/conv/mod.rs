//! Convolution: the one layer description ([`ConvSpec`]), safe drivers over the C primitives in
//! `kernels_c/` (shape checks, then the call), packing, the thread pool, layout transforms.
mod aligned;
mod ffi;
pub mod layout;
pub mod primitive;
pub mod spec;

pub use aligned::AlignedBuf;
pub use primitive::{
    find, primitives, resolve_isa, split_channels, split_work, useful_threads, Gemm, Isa, Layout,
    PackedConv, Primitive, WorkPiece, ISA_ENV,
};
pub use spec::{window_output_size, Activation, ConvSpec, Pads};
