//! Raw declarations of the C op kernels (kernels_c/include/lc_ops.h, lc_ops.inc). Only the safe
//! drivers in this module's siblings call them, after checking every size.
use std::ffi::{c_char, c_int, c_void};

/// Mirror of `lc_activation`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LcActivation {
    pub kind: c_int,
    pub alpha: f32,
    pub beta: f32,
}

/// Mirror of `lc_unary_params`.
#[repr(C)]
pub struct LcUnaryParams {
    pub n: usize,
    pub act: LcActivation,
    pub isa: c_int,
}

/// Mirror of `lc_binary_params`.
#[repr(C)]
pub struct LcBinaryParams {
    pub c: usize,
    pub hw: usize,
    pub op: c_int,
    pub bcast: c_int,
    pub reversed: c_int,
    pub act: LcActivation,
    pub isa: c_int,
}

/// Mirror of `lc_affine_params`.
#[repr(C)]
pub struct LcAffineParams {
    pub c: usize,
    pub hw: usize,
    pub act: LcActivation,
    pub isa: c_int,
}

/// Mirror of `lc_pool_params`.
#[repr(C)]
pub struct LcPoolParams {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub pt: usize,
    pub pl: usize,
    pub pb: usize,
    pub pr: usize,
    pub count_include_pad: c_int,
    pub isa: c_int,
}

/// Mirror of `lc_global_pool_params`.
#[repr(C)]
pub struct LcGlobalPoolParams {
    pub c: usize,
    pub hw: usize,
    pub isa: c_int,
}

/// Mirror of `lc_op`: one entry of the C op kernel table.
#[repr(C)]
pub struct LcOp {
    pub name: *const c_char,
    pub op: *const c_char,
    pub layout: c_int,
    pub unit: *const c_char,
    pub units: unsafe extern "C" fn(*const c_void) -> usize,
    pub run: unsafe extern "C" fn(*const c_void, *const *const f32, *mut f32, usize, usize),
}

/// The typed entry point of one table entry: (params, inputs, output, begin unit, end unit).
pub type KernelFn<P> = unsafe extern "C" fn(*const P, *const *const f32, *mut f32, usize, usize);

extern "C" {
    pub fn lc_op_count() -> usize;
    pub fn lc_op_get(index: usize) -> *const LcOp;

    pub fn lc_op_activation(
        p: *const LcUnaryParams,
        inputs: *const *const f32,
        output: *mut f32,
        begin: usize,
        end: usize,
    );
}

/// Declares typed kernels `lc_op_<id>` of one parameter struct.
macro_rules! kernels {
    ($params:ty: $($name:ident),* $(,)?) => {
        extern "C" {
            $(pub fn $name(
                p: *const $params,
                inputs: *const *const f32,
                output: *mut f32,
                begin: usize,
                end: usize,
            );)*
        }
    };
}

kernels!(LcBinaryParams: lc_op_binary_chw, lc_op_binary_hwc);
kernels!(LcAffineParams: lc_op_affine_chw, lc_op_affine_hwc);
kernels!(LcPoolParams: lc_op_maxpool_chw, lc_op_maxpool_hwc, lc_op_avgpool_chw, lc_op_avgpool_hwc);
kernels!(
    LcGlobalPoolParams: lc_op_global_avgpool_chw,
    lc_op_global_avgpool_hwc,
    lc_op_global_maxpool_chw,
    lc_op_global_maxpool_hwc,
);

/// Mirror of `lc_copy_params`.
#[repr(C)]
pub struct LcCopyParams {
    pub hw: usize,
    pub n: usize,
    pub src_c: usize,
    pub src_off: usize,
    pub dst_c: usize,
    pub dst_off: usize,
}

/// Mirror of `lc_shuffle_params`.
#[repr(C)]
pub struct LcShuffleParams {
    pub c: usize,
    pub hw: usize,
    pub groups: usize,
}

/// Mirror of `lc_pad_params`.
#[repr(C)]
pub struct LcPadParams {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub pt: usize,
    pub pl: usize,
    pub pb: usize,
    pub pr: usize,
    pub mode: c_int,
    pub value: f32,
}

/// Mirror of `lc_softmax_params`.
#[repr(C)]
pub struct LcSoftmaxParams {
    pub c: usize,
    pub hw: usize,
    pub isa: c_int,
}

/// Mirror of `lc_layernorm_params`.
#[repr(C)]
pub struct LcLayernormParams {
    pub c: usize,
    pub hw: usize,
    pub eps: f32,
    pub isa: c_int,
}

/// Mirror of `lc_lrn_params`.
#[repr(C)]
pub struct LcLrnParams {
    pub c: usize,
    pub hw: usize,
    pub before: usize,
    pub after: usize,
    pub scale: f32,
    pub beta: f32,
    pub bias: f32,
    pub isa: c_int,
}

/// Mirror of `lc_resize_params`.
#[repr(C)]
pub struct LcResizeParams {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub rh: f32,
    pub rw: f32,
    pub mode: c_int,
    pub coord: c_int,
    pub nearest: c_int,
    pub isa: c_int,
}

/// Mirror of `lc_linear_params`.
#[repr(C)]
pub struct LcLinearParams {
    pub in_f: usize,
    pub out_f: usize,
    pub act: LcActivation,
    pub isa: c_int,
}

kernels!(LcCopyParams: lc_op_copy_channels_chw, lc_op_copy_channels_hwc);
kernels!(LcShuffleParams: lc_op_channel_shuffle_chw, lc_op_channel_shuffle_hwc);
kernels!(LcPadParams: lc_op_pad_chw, lc_op_pad_hwc);
kernels!(LcSoftmaxParams: lc_op_softmax_chw, lc_op_softmax_hwc);
kernels!(LcLayernormParams: lc_op_layernorm_chw, lc_op_layernorm_hwc);
kernels!(LcLrnParams: lc_op_lrn_chw, lc_op_lrn_hwc);
kernels!(LcResizeParams: lc_op_resize_chw, lc_op_resize_hwc);
kernels!(LcLinearParams: lc_op_linear);

/// Mirror of `lc_deconv_params`.
#[repr(C)]
pub struct LcDeconvParams {
    pub c: usize,
    pub k: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub pt: usize,
    pub pl: usize,
    pub groups: usize,
    pub act: LcActivation,
    pub isa: c_int,
}

kernels!(LcDeconvParams: lc_op_deconv_chw, lc_op_deconv_hwc);

extern "C" {
    pub fn lc_deconv_packed_bytes(p: *const LcDeconvParams, layout: c_int) -> usize;
    pub fn lc_deconv_pack(
        p: *const LcDeconvParams,
        layout: c_int,
        weight: *const f32,
        packed: *mut f32,
    );
    pub fn lc_deconv_workspace_bytes(p: *const LcDeconvParams, layout: c_int) -> usize;
}
