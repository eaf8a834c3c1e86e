//! Safe layout transforms between CHW and HWC over the C kernels.
use super::ffi;
use crate::{CoreError, Result};

/// Which way a layout transform goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    ChwToHwc,
    HwcToChw,
}

fn checked_len(c: usize, h: usize, w: usize) -> Result<usize> {
    c.checked_mul(h)
        .and_then(|x| x.checked_mul(w))
        .ok_or_else(|| CoreError::Shape(format!("shape ({c}, {h}, {w}) overflows")))
}

/// Transforms one image of `c*h*w` floats from `src` into `dst`.
pub fn transform(
    kind: Transform,
    src: &[f32],
    dst: &mut [f32],
    c: usize,
    h: usize,
    w: usize,
) -> Result<()> {
    let n = checked_len(c, h, w)?;
    if src.len() != n || dst.len() != n {
        return Err(CoreError::Shape(format!(
            "layout transform of ({c}, {h}, {w}) needs {n} elements, got src {} and dst {}",
            src.len(),
            dst.len()
        )));
    }
    // SAFETY: both slices hold exactly c*h*w elements and cannot overlap (&/&mut).
    unsafe {
        match kind {
            Transform::ChwToHwc => ffi::lc_chw_to_hwc_f32(src.as_ptr(), dst.as_mut_ptr(), c, h, w),
            Transform::HwcToChw => ffi::lc_hwc_to_chw_f32(src.as_ptr(), dst.as_mut_ptr(), c, h, w),
        }
    }
    Ok(())
}
