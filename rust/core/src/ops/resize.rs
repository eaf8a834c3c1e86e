//! [`Resize`]: nearest and bilinear, with ONNX's coordinate transforms and nearest modes
//! (PyTorch's `nearest` is asymmetric + floor, `nearest-exact` half-pixel + round-prefer-ceil,
//! `bilinear` half-pixel (pytorch_half_pixel) or align-corners).
use super::ffi::{self, LcResizeParams};
use super::{isa_code, run_single, Dims, Isa, Layout, Op};
use crate::{CoreError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeMode {
    Nearest(NearestMode),
    Linear,
}

/// Rounding of the input coordinate for nearest resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// Output coordinate x to input coordinate, r = the input length per output pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordMode {
    /// `(x + 0.5) * r - 0.5`.
    HalfPixel,
    /// The same, or 0 for an output of length 1.
    PytorchHalfPixel,
    /// `x * r`.
    Asymmetric,
    /// `x * (in - 1) / (out - 1)`.
    AlignCorners,
}

/// Resizes every image of `dims` to `out_hw`. `ratio` is the input length per output pixel
/// (h, w): `None` for in / out; a graph's scale factor s gives `Some(1 / s)`, as PyTorch and
/// ONNX use the given scale rather than the rounded sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resize {
    pub dims: Dims,
    pub layout: Layout,
    pub out_hw: (usize, usize),
    pub mode: ResizeMode,
    pub coord: CoordMode,
    pub ratio: Option<(f32, f32)>,
    pub isa: Isa,
}

impl Resize {
    fn ratios(&self) -> (f32, f32) {
        self.ratio.unwrap_or((
            self.dims.h as f32 / self.out_hw.0 as f32,
            self.dims.w as f32 / self.out_hw.1 as f32,
        ))
    }
}

impl Op for Resize {
    fn validate(&self) -> Result<()> {
        self.dims.validate("resize")?;
        self.output()?.validate("resize output")?;
        let (rh, rw) = self.ratios();
        if !(rh.is_finite() && rw.is_finite()) || rh <= 0.0 || rw <= 0.0 {
            return Err(CoreError::InvalidArgument(format!(
                "resize: input per output ratios ({rh}, {rw}) must be finite and > 0"
            )));
        }
        Ok(())
    }

    fn output(&self) -> Result<Dims> {
        let d = Dims::new(self.dims.n, self.dims.c, self.out_hw.0, self.out_hw.1);
        d.validate("resize output")?;
        Ok(d)
    }

    /// Inputs: `x`.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        self.validate()?;
        let (d, out) = (&self.dims, self.output()?);
        let (rh, rw) = self.ratios();
        let (mode, nearest) = match self.mode {
            ResizeMode::Linear => (1, 0),
            ResizeMode::Nearest(m) => (0, m as i32),
        };
        let p = LcResizeParams {
            c: d.c,
            h: d.h,
            w: d.w,
            oh: out.h,
            ow: out.w,
            rh,
            rw,
            mode,
            coord: self.coord as i32,
            nearest,
            isa: isa_code(self.isa)?,
        };
        let (kernel, units): (ffi::KernelFn<LcResizeParams>, usize) = match self.layout {
            Layout::Chw => (ffi::lc_op_resize_chw, d.c),
            Layout::Hwc => (ffi::lc_op_resize_hwc, out.h),
        };
        // SAFETY: lengths checked; the kernel clamps every source index into the image.
        unsafe { run_single("resize", kernel, &p, *d, out, units, inputs, output) }
    }
}
