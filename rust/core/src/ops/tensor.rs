//! Data movement: channel copies ([`CopyChannels`]: concat into a slice of the output, slice
//! out of the input), [`ChannelShuffle`] and [`Pad`].
use std::ffi::c_int;

use super::ffi::{self, LcCopyParams, LcPadParams, LcShuffleParams};
use super::{run_single, Dims, Layout, Op};
use crate::{CoreError, Result};

/// Copies channels `[src_offset, src_offset + channels)` of `src` (n, src_c, h, w) into
/// channels `[dst_offset, dst_offset + channels)` of the output (n, dst_c, h, w), leaving the
/// output's other channels as they are: concat runs one per input, slice one per output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyChannels {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub layout: Layout,
    pub channels: usize,
    pub src_c: usize,
    pub src_offset: usize,
    pub dst_c: usize,
    pub dst_offset: usize,
}

impl Op for CopyChannels {
    fn validate(&self) -> Result<()> {
        Dims::new(self.n, self.src_c, self.h, self.w).validate("copy_channels source")?;
        Dims::new(self.n, self.dst_c, self.h, self.w).validate("copy_channels destination")?;
        let fits = |off: usize, total: usize| {
            self.channels > 0 && off.checked_add(self.channels).is_some_and(|e| e <= total)
        };
        if !fits(self.src_offset, self.src_c) || !fits(self.dst_offset, self.dst_c) {
            return Err(CoreError::Shape(format!(
                "copy_channels: {} channel(s) at source offset {} of {} and destination offset \
                 {} of {} do not fit",
                self.channels, self.src_offset, self.src_c, self.dst_offset, self.dst_c
            )));
        }
        Ok(())
    }

    fn output(&self) -> Result<Dims> {
        self.validate()?;
        Ok(Dims::new(self.n, self.dst_c, self.h, self.w))
    }

    /// Inputs: `src`. `output` is the whole destination tensor.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        let out = self.output()?;
        let src = Dims::new(self.n, self.src_c, self.h, self.w);
        let hw = src.hw();
        let p = LcCopyParams {
            hw,
            n: self.channels,
            src_c: self.src_c,
            src_off: self.src_offset,
            dst_c: self.dst_c,
            dst_off: self.dst_offset,
        };
        let (kernel, units): (ffi::KernelFn<LcCopyParams>, usize) = match self.layout {
            Layout::Chw => (ffi::lc_op_copy_channels_chw, self.channels),
            Layout::Hwc => (ffi::lc_op_copy_channels_hwc, hw),
        };
        // SAFETY: both tensors' lengths checked; the channel ranges fit (validate).
        unsafe { run_single("copy_channels", kernel, &p, src, out, units, inputs, output) }
    }
}

/// Channel shuffle (ShuffleNet): output channel `k * groups + g` is input channel
/// `g * (c / groups) + k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelShuffle {
    pub dims: Dims,
    pub layout: Layout,
    pub groups: usize,
}

impl Op for ChannelShuffle {
    fn validate(&self) -> Result<()> {
        self.dims.validate("channel_shuffle")?;
        if self.groups == 0 || self.dims.c % self.groups != 0 {
            return Err(CoreError::InvalidArgument(format!(
                "channel_shuffle: groups {} must divide the {} channels",
                self.groups, self.dims.c
            )));
        }
        Ok(())
    }

    fn output(&self) -> Result<Dims> {
        self.validate()?;
        Ok(self.dims)
    }

    /// Inputs: `x`.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        let d = self.output()?;
        let p = LcShuffleParams {
            c: d.c,
            hw: d.hw(),
            groups: self.groups,
        };
        let (kernel, units): (ffi::KernelFn<LcShuffleParams>, usize) = match self.layout {
            Layout::Chw => (ffi::lc_op_channel_shuffle_chw, d.c),
            Layout::Hwc => (ffi::lc_op_channel_shuffle_hwc, d.hw()),
        };
        // SAFETY: lengths checked; groups divide c.
        unsafe { run_single("channel_shuffle", kernel, &p, d, d, units, inputs, output) }
    }
}

/// How [`Pad`] fills the border.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadMode {
    Constant(f32),
    /// Mirror without repeating the edge pixel; pads must be smaller than the dimension.
    Reflect,
    /// Repeat the edge pixel.
    Edge,
}

/// Pads every image by `pads` (top, left, bottom, right).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pad {
    pub dims: Dims,
    pub layout: Layout,
    pub pads: [usize; 4],
    pub mode: PadMode,
}

impl Op for Pad {
    fn validate(&self) -> Result<()> {
        self.dims.validate("pad")?;
        let [pt, pl, pb, pr] = self.pads;
        if self.pads.iter().any(|&p| p > 1 << 24) {
            return Err(CoreError::InvalidArgument(format!(
                "pad: pads {:?} must be at most 2^24",
                self.pads
            )));
        }
        if self.mode == PadMode::Reflect && (pt.max(pb) >= self.dims.h || pl.max(pr) >= self.dims.w)
        {
            return Err(CoreError::InvalidArgument(format!(
                "pad: reflect pads {:?} must be smaller than the {}x{} image",
                self.pads, self.dims.h, self.dims.w
            )));
        }
        Ok(())
    }

    fn output(&self) -> Result<Dims> {
        self.validate()?;
        let [pt, pl, pb, pr] = self.pads;
        let d = Dims::new(
            self.dims.n,
            self.dims.c,
            self.dims.h + pt + pb,
            self.dims.w + pl + pr,
        );
        d.len()?;
        Ok(d)
    }

    /// Inputs: `x`.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        let out = self.output()?;
        let d = &self.dims;
        let [pt, pl, pb, pr] = self.pads;
        let (mode, value): (c_int, f32) = match self.mode {
            PadMode::Constant(v) => (0, v),
            PadMode::Reflect => (1, 0.0),
            PadMode::Edge => (2, 0.0),
        };
        let p = LcPadParams {
            c: d.c,
            h: d.h,
            w: d.w,
            pt,
            pl,
            pb,
            pr,
            mode,
            value,
        };
        let (kernel, units): (ffi::KernelFn<LcPadParams>, usize) = match self.layout {
            Layout::Chw => (ffi::lc_op_pad_chw, d.c),
            Layout::Hwc => (ffi::lc_op_pad_hwc, out.h),
        };
        // SAFETY: lengths checked; reflect pads are smaller than the image (validate).
        unsafe { run_single("pad", kernel, &p, *d, out, units, inputs, output) }
    }
}
