//! Raw declarations of the C kernels (kernels_c/include/leanconv_kernels.h and lc_conv.h). Only
//! the safe wrappers in this module's siblings call them, after checking every size.
use std::ffi::{c_char, c_int, c_void};

extern "C" {
    pub fn lc_chw_to_hwc_f32(src: *const f32, dst: *mut f32, c: usize, h: usize, w: usize);
    pub fn lc_hwc_to_chw_f32(src: *const f32, dst: *mut f32, c: usize, h: usize, w: usize);
}

/// Mirror of `lc_conv_params` (lc_conv.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LcConvParams {
    pub c: usize,
    pub k: usize,
    pub h: usize,
    pub w: usize,
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
    pub groups: usize,
    pub act: c_int,
    pub oh: usize,
    pub ow: usize,
    pub isa: c_int,
}

pub type ApplicableFn = unsafe extern "C" fn(*const LcConvParams) -> c_int;
pub type BytesFn = unsafe extern "C" fn(*const LcConvParams) -> usize;
pub type PackFn = unsafe extern "C" fn(*const LcConvParams, *const f32, *mut f32);
pub type RunFn = unsafe extern "C" fn(
    *const LcConvParams,
    *const f32,
    *const f32,
    *const f32,
    *mut f32,
    *mut c_void,
    usize,
    usize,
    usize,
    usize,
);

/// Mirror of `lc_primitive` (lc_conv.h): one entry of the C primitive table.
#[repr(C)]
pub struct LcPrimitive {
    pub name: *const c_char,
    pub family: *const c_char,
    pub layout: c_int,
    pub applicable: ApplicableFn,
    pub workspace_bytes: BytesFn,
    pub packed_bytes: BytesFn,
    pub pack: PackFn,
    pub run: RunFn,
}

// SAFETY: the table is a `static const` array in C: never written, its strings are literals and
// its functions keep no state, so sharing references across threads is sound.
unsafe impl Sync for LcPrimitive {}

extern "C" {
    pub fn lc_conv_params_setup(p: *mut LcConvParams) -> c_int;
    pub fn lc_primitive_count() -> usize;
    pub fn lc_primitive_get(index: usize) -> *const LcPrimitive;
    pub fn lc_isa_resolve(isa: c_int) -> c_int;
    pub fn lc_sgemm_workspace_bytes(isa: c_int, m: usize, n: usize, k: usize) -> usize;
    #[allow(clippy::too_many_arguments)]
    pub fn lc_sgemm(
        isa: c_int,
        m: usize,
        n: usize,
        k: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        accumulate: c_int,
        workspace: *mut c_void,
    );
}
