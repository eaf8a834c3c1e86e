//! Pooling: max and average over windows with four pads, stride, dilation (max), ceil mode and
//! count_include_pad ([`Pool2d`]), and global average and max ([`GlobalPool`]).
use std::ffi::c_int;

use super::ffi::{self, LcGlobalPoolParams, LcPoolParams};
use super::{isa_code, run_single, Dims, Isa, Layout, Op};
use crate::{CoreError, Result};

/// What a window reduces to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

impl PoolKind {
    fn name(self) -> &'static str {
        match self {
            Self::Max => "maxpool",
            Self::Avg => "avgpool",
        }
    }
}

/// Largest kernel, stride, dilation or pad accepted (keeps every index computation small).
const MAX_DIM: usize = 1 << 24;

/// Max or average pooling of `dims` in `layout`. Output size as PyTorch computes it: floor
/// mode, or ceil mode where the last window must start inside the input or the leading pad; a
/// window running past the padded input is cut at it. The average divides by the window within
/// the padded input with `count_include_pad`, else by the input pixels it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2d {
    pub kind: PoolKind,
    pub dims: Dims,
    pub layout: Layout,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    /// Dilation; average pooling takes (1, 1) only.
    pub dilation: (usize, usize),
    /// Pads (top, left, bottom, right).
    pub pads: [usize; 4],
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub isa: Isa,
}

/// Output length of one axis of `n` with kernel `k`, stride `s`, dilation `d`, pads `pa`, `pb`.
fn axis_out(
    n: usize,
    k: usize,
    s: usize,
    d: usize,
    pa: usize,
    pb: usize,
    ceil: bool,
) -> Option<usize> {
    let ek = (k - 1) * d + 1;
    let span = n + pa + pb;
    if span < ek {
        return None;
    }
    let mut o = (span - ek + if ceil { s - 1 } else { 0 }) / s + 1;
    if ceil && (o - 1) * s >= n + pa {
        o -= 1;
    }
    Some(o)
}

/// The first output position along an axis whose window reaches no input pixel.
fn empty_window(n: usize, o: usize, k: usize, s: usize, d: usize, pa: usize) -> Option<usize> {
    (0..o).find(|&i| !(0..k).any(|r| (i * s + r * d).checked_sub(pa).is_some_and(|v| v < n)))
}

impl Pool2d {
    /// A pooling with stride = kernel, no pads, dilation 1, floor mode, the best ISA.
    pub fn new(kind: PoolKind, dims: Dims, layout: Layout, kernel: (usize, usize)) -> Self {
        Self {
            kind,
            dims,
            layout,
            kernel,
            stride: kernel,
            dilation: (1, 1),
            pads: [0; 4],
            ceil_mode: false,
            count_include_pad: false,
            isa: Isa::Auto,
        }
    }

    fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// Output height and width (after the checks of [`Op::validate`]).
    pub fn output_hw(&self) -> Result<(usize, usize)> {
        let name = self.name();
        self.dims.validate(name)?;
        let [pt, pl, pb, pr] = self.pads;
        let vals = [
            self.kernel.0,
            self.kernel.1,
            self.stride.0,
            self.stride.1,
            self.dilation.0,
            self.dilation.1,
        ];
        if vals.iter().any(|&v| v == 0 || v > MAX_DIM) || self.pads.iter().any(|&v| v > MAX_DIM) {
            return Err(CoreError::InvalidArgument(format!(
                "{name}: kernel {:?}, stride {:?} and dilation {:?} must be in 1..=2^24, pads \
                 {:?} in 0..=2^24",
                self.kernel, self.stride, self.dilation, self.pads
            )));
        }
        if self.kind == PoolKind::Avg && self.dilation != (1, 1) {
            return Err(CoreError::InvalidArgument(format!(
                "avgpool: dilation must be (1, 1), got {:?}",
                self.dilation
            )));
        }
        let (d, k, s, dl) = (&self.dims, self.kernel, self.stride, self.dilation);
        let (Some(oh), Some(ow)) = (
            axis_out(d.h, k.0, s.0, dl.0, pt, pb, self.ceil_mode),
            axis_out(d.w, k.1, s.1, dl.1, pl, pr, self.ceil_mode),
        ) else {
            return Err(CoreError::Shape(format!(
                "{name}: kernel {k:?} with dilation {dl:?} does not fit the {}x{} input padded \
                 by {:?}",
                d.h, d.w, self.pads
            )));
        };
        if !(self.kind == PoolKind::Avg && self.count_include_pad) {
            let empty = empty_window(d.h, oh, k.0, s.0, dl.0, pt)
                .map(|i| format!("output row {i}"))
                .or_else(|| {
                    empty_window(d.w, ow, k.1, s.1, dl.1, pl).map(|i| format!("output column {i}"))
                });
            if let Some(at) = empty {
                return Err(CoreError::Shape(format!(
                    "{name}: the window of {at} covers only padding (pads {:?}, kernel {k:?}, \
                     stride {s:?}, dilation {dl:?} on {}x{})",
                    self.pads, d.h, d.w
                )));
            }
        }
        Ok((oh, ow))
    }
}

impl Op for Pool2d {
    fn validate(&self) -> Result<()> {
        self.output_hw().map(|_| ())
    }

    fn output(&self) -> Result<Dims> {
        let (oh, ow) = self.output_hw()?;
        Ok(Dims::new(self.dims.n, self.dims.c, oh, ow))
    }

    /// Inputs: `x`.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        let out = self.output()?;
        let name = self.name();
        let d = &self.dims;
        let [pt, pl, pb, pr] = self.pads;
        let p = LcPoolParams {
            c: d.c,
            h: d.h,
            w: d.w,
            oh: out.h,
            ow: out.w,
            kh: self.kernel.0,
            kw: self.kernel.1,
            sh: self.stride.0,
            sw: self.stride.1,
            dh: self.dilation.0,
            dw: self.dilation.1,
            pt,
            pl,
            pb,
            pr,
            count_include_pad: c_int::from(self.count_include_pad),
            isa: isa_code(self.isa)?,
        };
        let (kernel, units): (ffi::KernelFn<LcPoolParams>, usize) = match (self.kind, self.layout) {
            (PoolKind::Max, Layout::Chw) => (ffi::lc_op_maxpool_chw, d.c),
            (PoolKind::Max, Layout::Hwc) => (ffi::lc_op_maxpool_hwc, out.h),
            (PoolKind::Avg, Layout::Chw) => (ffi::lc_op_avgpool_chw, d.c),
            (PoolKind::Avg, Layout::Hwc) => (ffi::lc_op_avgpool_hwc, out.h),
        };
        // SAFETY: lengths checked against dims and the output size output_hw computed, whose
        // windows each reach an input pixel where the kernel needs one.
        unsafe { run_single(name, kernel, &p, self.dims, out, units, inputs, output) }
    }
}

/// Global average or max over each channel's pixels: output (n, c, 1, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalPool {
    pub kind: PoolKind,
    pub dims: Dims,
    pub layout: Layout,
    pub isa: Isa,
}

impl GlobalPool {
    pub fn new(kind: PoolKind, dims: Dims, layout: Layout) -> Self {
        Self {
            kind,
            dims,
            layout,
            isa: Isa::Auto,
        }
    }
}

impl Op for GlobalPool {
    fn validate(&self) -> Result<()> {
        self.dims.validate("global pool")
    }

    fn output(&self) -> Result<Dims> {
        self.validate()?;
        Ok(Dims::new(self.dims.n, self.dims.c, 1, 1))
    }

    /// Inputs: `x`.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        let out = self.output()?;
        let name = match self.kind {
            PoolKind::Max => "global_maxpool",
            PoolKind::Avg => "global_avgpool",
        };
        let d = &self.dims;
        let p = LcGlobalPoolParams {
            c: d.c,
            hw: d.hw(),
            isa: isa_code(self.isa)?,
        };
        let kernel: ffi::KernelFn<LcGlobalPoolParams> = match (self.kind, self.layout) {
            (PoolKind::Max, Layout::Chw) => ffi::lc_op_global_maxpool_chw,
            (PoolKind::Max, Layout::Hwc) => ffi::lc_op_global_maxpool_hwc,
            (PoolKind::Avg, Layout::Chw) => ffi::lc_op_global_avgpool_chw,
            (PoolKind::Avg, Layout::Hwc) => ffi::lc_op_global_avgpool_hwc,
        };
        // SAFETY: x holds n images of c*h*w, the output n of c.
        unsafe { run_single(name, kernel, &p, *d, out, d.c, inputs, output) }
    }
}
