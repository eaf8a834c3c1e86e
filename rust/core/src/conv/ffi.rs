//! Raw declarations of the C kernels (kernels_c/include/leanconv_kernels.h). Only the safe
//! wrappers in this module's siblings call them, after checking every size.
extern "C" {
    pub fn lc_chw_to_hwc_f32(src: *const f32, dst: *mut f32, c: usize, h: usize, w: usize);
    pub fn lc_hwc_to_chw_f32(src: *const f32, dst: *mut f32, c: usize, h: usize, w: usize);
}
