//! Transposed convolution ([`ConvTranspose2d`], PyTorch's ConvTranspose2d; ONNX ConvTranspose
//! maps onto it): groups, stride, dilation, four pads cropping the output, output padding,
//! bias and a fused activation, in CHW or HWC. [`ConvTranspose2d::pack`] relays the weights
//! out once for the C kernel ([`PackedConvTranspose2d`]), which runs over a caller-given
//! workspace.
use std::ffi::c_int;

use super::ffi::{self, LcDeconvParams};
use super::{check_inputs, check_len, isa_code, per_image, Act, Dims, Isa, Layout, Op};
use crate::conv::AlignedBuf;
use crate::{CoreError, Result};

/// Largest kernel, stride, dilation, pad, output padding, channel or group count accepted
/// (keeps every index computation small).
const MAX_DIM: usize = 1 << 24;

/// The parameters of a transposed convolution of `dims` (the input) into `out_channels`
/// channels; weights in PyTorch's (in_channels, out_channels / groups, kh, kw) layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvTranspose2d {
    pub dims: Dims,
    pub layout: Layout,
    pub out_channels: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub dilation: (usize, usize),
    /// Pads (top, left, bottom, right): rows and columns cropped off each side of the output.
    pub pads: [usize; 4],
    /// Rows and columns added at the bottom and right (each below the stride or the dilation).
    pub output_padding: (usize, usize),
    pub groups: usize,
    pub act: Act,
    pub isa: Isa,
}

/// Output length of one axis: (n - 1)*s - pa - pb + d*(k - 1) + op + 1, or `None` when the
/// pads crop everything (or it overflows).
fn axis_out(
    n: usize,
    k: usize,
    s: usize,
    d: usize,
    pa: usize,
    pb: usize,
    op: usize,
) -> Option<usize> {
    let full = (n - 1)
        .checked_mul(s)?
        .checked_add(d.checked_mul(k - 1)?)?
        .checked_add(op + 1)?;
    full.checked_sub(pa + pb).filter(|&o| o > 0)
}

impl ConvTranspose2d {
    /// A transposed convolution with stride 1, dilation 1, no pads, one group, no activation,
    /// the best ISA.
    pub fn new(dims: Dims, layout: Layout, out_channels: usize, kernel: (usize, usize)) -> Self {
        Self {
            dims,
            layout,
            out_channels,
            kernel,
            stride: (1, 1),
            dilation: (1, 1),
            pads: [0; 4],
            output_padding: (0, 0),
            groups: 1,
            act: Act::None,
            isa: Isa::Auto,
        }
    }

    /// Output height and width: the one place the output size is computed (after every check
    /// of the parameters).
    pub fn output_hw(&self) -> Result<(usize, usize)> {
        let d = &self.dims;
        d.validate("conv_transpose input")?;
        let (k, s, dl, op) = (self.kernel, self.stride, self.dilation, self.output_padding);
        let positive = [
            k.0,
            k.1,
            s.0,
            s.1,
            dl.0,
            dl.1,
            self.groups,
            self.out_channels,
        ];
        let others = [
            op.0,
            op.1,
            self.pads[0],
            self.pads[1],
            self.pads[2],
            self.pads[3],
        ];
        if positive.iter().any(|&v| v == 0 || v > MAX_DIM) || others.iter().any(|&v| v > MAX_DIM) {
            return Err(CoreError::InvalidArgument(format!(
                "conv_transpose: kernel {k:?}, stride {s:?}, dilation {dl:?}, groups {} and \
                 out_channels {} must be in 1..=2^24, pads {:?} and output_padding {op:?} in \
                 0..=2^24",
                self.groups, self.out_channels, self.pads
            )));
        }
        if d.c % self.groups != 0 || self.out_channels % self.groups != 0 {
            return Err(CoreError::InvalidArgument(format!(
                "conv_transpose: groups {} must divide the input channels {} and the output \
                 channels {}",
                self.groups, d.c, self.out_channels
            )));
        }
        if (op.0 >= s.0 && op.0 >= dl.0) || (op.1 >= s.1 && op.1 >= dl.1) {
            return Err(CoreError::InvalidArgument(format!(
                "conv_transpose: output_padding {op:?} must be smaller than the stride {s:?} or \
                 the dilation {dl:?} on each axis"
            )));
        }
        self.act
            .validate()
            .map_err(|e| CoreError::InvalidArgument(format!("conv_transpose: {e}")))?;
        let [pt, pl, pb, pr] = self.pads;
        let (Some(oh), Some(ow)) = (
            axis_out(d.h, k.0, s.0, dl.0, pt, pb, op.0),
            axis_out(d.w, k.1, s.1, dl.1, pl, pr, op.1),
        ) else {
            return Err(CoreError::Shape(format!(
                "conv_transpose: pads {:?} crop the whole {}x{} output of kernel {k:?}, stride \
                 {s:?}, dilation {dl:?} and output_padding {op:?} on {}x{}",
                self.pads,
                (d.h - 1) * s.0 + dl.0 * (k.0 - 1) + op.0 + 1,
                (d.w - 1) * s.1 + dl.1 * (k.1 - 1) + op.1 + 1,
                d.h,
                d.w
            )));
        };
        Dims::new(d.n, self.out_channels, oh, ow).validate("conv_transpose output")?;
        self.weight_dims().validate("conv_transpose weight")?;
        Ok((oh, ow))
    }

    /// The weight's dimensions, (in_channels, out_channels / groups, kh, kw).
    pub fn weight_dims(&self) -> Dims {
        Dims::new(
            self.dims.c,
            self.out_channels / self.groups.max(1),
            self.kernel.0,
            self.kernel.1,
        )
    }

    /// The C parameters (after [`Self::output_hw`]).
    fn c_params(&self, oh: usize, ow: usize, isa: c_int) -> LcDeconvParams {
        let d = &self.dims;
        LcDeconvParams {
            c: d.c,
            k: self.out_channels,
            h: d.h,
            w: d.w,
            oh,
            ow,
            kh: self.kernel.0,
            kw: self.kernel.1,
            sh: self.stride.0,
            sw: self.stride.1,
            dh: self.dilation.0,
            dw: self.dilation.1,
            pt: self.pads[0],
            pl: self.pads[1],
            groups: self.groups,
            act: self.act.to_c(),
            isa,
        }
    }

    fn layout_code(&self) -> c_int {
        match self.layout {
            Layout::Chw => 0,
            Layout::Hwc => 1,
        }
    }

    /// Checks the parameters, `weight` (PyTorch's layout, [`Self::weight_dims`]) and `bias`
    /// (out_channels values, or empty for none), and packs the weights for the kernel.
    pub fn pack(&self, weight: &[f32], bias: &[f32]) -> Result<PackedConvTranspose2d> {
        let (oh, ow) = self.output_hw()?;
        check_len(
            "conv_transpose",
            "weight",
            weight.len(),
            self.weight_dims().len()?,
        )?;
        if !bias.is_empty() {
            check_len("conv_transpose", "bias", bias.len(), self.out_channels)?;
        }
        let p = self.c_params(oh, ow, isa_code(self.isa)?);
        let layout = self.layout_code();
        // SAFETY: p's sizes are checked (output_hw); the functions only compute sizes.
        let (packed_bytes, workspace_bytes) = unsafe {
            (
                ffi::lc_deconv_packed_bytes(&p, layout),
                ffi::lc_deconv_workspace_bytes(&p, layout),
            )
        };
        let mut packed = AlignedBuf::new(packed_bytes)?;
        // SAFETY: weight holds the whole (c, k / groups, kh, kw) tensor and packed the
        // packed_bytes the C side asked for.
        unsafe { ffi::lc_deconv_pack(&p, layout, weight.as_ptr(), packed.as_mut_ptr().cast()) };
        Ok(PackedConvTranspose2d {
            spec: *self,
            params: p,
            packed,
            bias: bias.to_vec(),
            workspace_bytes,
        })
    }
}

/// A [`ConvTranspose2d`] with its weights packed: runs through [`Op`] (allocating a
/// workspace per call) or [`Self::run_with_workspace`].
pub struct PackedConvTranspose2d {
    spec: ConvTranspose2d,
    /// The C parameters, the ISA resolved at packing (running must use the same).
    params: LcDeconvParams,
    packed: AlignedBuf,
    bias: Vec<f32>,
    workspace_bytes: usize,
}

impl PackedConvTranspose2d {
    pub fn spec(&self) -> &ConvTranspose2d {
        &self.spec
    }

    /// Bytes of workspace one call needs.
    pub fn workspace_bytes(&self) -> usize {
        self.workspace_bytes
    }

    /// Bytes of packed weights held.
    pub fn packed_bytes(&self) -> usize {
        self.packed.len()
    }

    /// [`Op::run`] over a caller-given workspace of at least [`Self::workspace_bytes`].
    pub fn run_with_workspace(
        &self,
        inputs: &[&[f32]],
        output: &mut [f32],
        workspace: &mut AlignedBuf,
    ) -> Result<()> {
        let out = self.output()?;
        let x = self.spec.dims;
        check_inputs("conv_transpose", inputs, &[x.len()?])?;
        check_len("conv_transpose", "output", output.len(), out.len()?)?;
        if workspace.len() < self.workspace_bytes {
            return Err(CoreError::Shape(format!(
                "conv_transpose: workspace has {} bytes, expected at least {}",
                workspace.len(),
                self.workspace_bytes
            )));
        }
        let kernel: ffi::KernelFn<LcDeconvParams> = match self.spec.layout {
            Layout::Chw => ffi::lc_op_deconv_chw,
            Layout::Hwc => ffi::lc_op_deconv_hwc,
        };
        let bias = if self.bias.is_empty() {
            std::ptr::null()
        } else {
            self.bias.as_ptr()
        };
        let ptrs = [
            inputs[0].as_ptr(),
            self.packed.as_ptr().cast::<f32>(),
            bias,
            workspace.as_mut_ptr().cast::<f32>().cast_const(),
        ];
        // SAFETY: x and output lengths checked against the packed parameters' sizes; the
        // weights were packed for these parameters; the workspace is large enough, 64-byte
        // aligned and exclusively borrowed (the kernel writes it).
        unsafe {
            per_image(
                kernel,
                &self.params,
                x.n,
                &ptrs,
                &[x.image_len(), 0, 0, 0],
                output.as_mut_ptr(),
                out.image_len(),
                out.h,
            )
        };
        Ok(())
    }
}

impl Op for PackedConvTranspose2d {
    fn validate(&self) -> Result<()> {
        self.spec.output_hw().map(|_| ())
    }

    fn output(&self) -> Result<Dims> {
        let (oh, ow) = self.spec.output_hw()?;
        Ok(Dims::new(self.spec.dims.n, self.spec.out_channels, oh, ow))
    }

    /// Inputs: `x`.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        let mut workspace = AlignedBuf::new(self.workspace_bytes)?;
        self.run_with_workspace(inputs, output, &mut workspace)
    }
}
