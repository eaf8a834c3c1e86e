//! Normalisations over the channels of each pixel: [`Softmax`] (max-subtracted),
//! [`LayerNorm`] (ConvNeXt's channel layer-norm) and [`Lrn`] (AlexNet's and GoogLeNet's local
//! response normalisation). A flat (n, f) tensor is c = f, h = w = 1.
use super::ffi::{self, LcLayernormParams, LcLrnParams, LcSoftmaxParams};
use super::{check_inputs, check_len, isa_code, per_image, run_single, Dims, Isa, Layout, Op};
use crate::{CoreError, Result};

/// Softmax over the channels of each pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Softmax {
    pub dims: Dims,
    pub layout: Layout,
    pub isa: Isa,
}

impl Op for Softmax {
    fn validate(&self) -> Result<()> {
        self.dims.validate("softmax")
    }

    fn output(&self) -> Result<Dims> {
        self.validate()?;
        Ok(self.dims)
    }

    /// Inputs: `x`.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        let d = self.output()?;
        let p = LcSoftmaxParams {
            c: d.c,
            hw: d.hw(),
            isa: isa_code(self.isa)?,
        };
        let kernel: ffi::KernelFn<LcSoftmaxParams> = match self.layout {
            Layout::Chw => ffi::lc_op_softmax_chw,
            Layout::Hwc => ffi::lc_op_softmax_hwc,
        };
        // SAFETY: lengths checked.
        unsafe { run_single("softmax", kernel, &p, d, d, d.hw(), inputs, output) }
    }
}

/// Layer-norm over the channels of each pixel: `(x - mean) / sqrt(var + eps) * gamma + beta`.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    pub dims: Dims,
    pub layout: Layout,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub eps: f32,
    pub isa: Isa,
}

impl Op for LayerNorm {
    fn validate(&self) -> Result<()> {
        self.dims.validate("layernorm")?;
        check_len("layernorm", "gamma", self.gamma.len(), self.dims.c)?;
        check_len("layernorm", "beta", self.beta.len(), self.dims.c)?;
        if !self.eps.is_finite() || self.eps <= 0.0 {
            return Err(CoreError::InvalidArgument(format!(
                "layernorm: eps must be finite and > 0, got {}",
                self.eps
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
        check_inputs("layernorm", inputs, &[d.len()?])?;
        check_len("layernorm", "output", output.len(), d.len()?)?;
        let p = LcLayernormParams {
            c: d.c,
            hw: d.hw(),
            eps: self.eps,
            isa: isa_code(self.isa)?,
        };
        let kernel: ffi::KernelFn<LcLayernormParams> = match self.layout {
            Layout::Chw => ffi::lc_op_layernorm_chw,
            Layout::Hwc => ffi::lc_op_layernorm_hwc,
        };
        let ptrs = [inputs[0].as_ptr(), self.gamma.as_ptr(), self.beta.as_ptr()];
        let o = output.as_mut_ptr();
        // SAFETY: lengths checked (gamma and beta by validate).
        unsafe {
            per_image(
                kernel,
                &p,
                d.n,
                &ptrs,
                &[d.image_len(), 0, 0],
                o,
                d.image_len(),
                d.hw(),
            )
        };
        Ok(())
    }
}

/// Local response normalisation across channels, as ONNX's LRN and PyTorch's
/// `local_response_norm` define it: `x[k] / (bias + alpha / size * sum x[j]^2) ^ beta`, the sum
/// over the `size` channels `j` of the window around `k` that exist. The window holds
/// `size / 2` channels before `k` and `(size - 1) / 2` after (PyTorch's placement; ONNX's
/// mirrors it, the same for the odd sizes networks use).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lrn {
    pub dims: Dims,
    pub layout: Layout,
    pub size: usize,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
    pub isa: Isa,
}

impl Op for Lrn {
    fn validate(&self) -> Result<()> {
        self.dims.validate("lrn")?;
        if self.size == 0 {
            return Err(CoreError::InvalidArgument(
                "lrn: size must be at least 1".into(),
            ));
        }
        if ![self.alpha, self.beta, self.bias]
            .iter()
            .all(|v| v.is_finite())
        {
            return Err(CoreError::InvalidArgument(format!(
                "lrn: alpha {}, beta {} and bias {} must be finite",
                self.alpha, self.beta, self.bias
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
        let p = LcLrnParams {
            c: d.c,
            hw: d.hw(),
            // a window reaching past every channel sums the same as one reaching to the last
            before: (self.size / 2).min(d.c),
            after: ((self.size - 1) / 2).min(d.c),
            scale: self.alpha / self.size as f32,
            beta: self.beta,
            bias: self.bias,
            isa: isa_code(self.isa)?,
        };
        let (kernel, units): (ffi::KernelFn<LcLrnParams>, usize) = match self.layout {
            Layout::Chw => (ffi::lc_op_lrn_chw, d.c),
            Layout::Hwc => (ffi::lc_op_lrn_hwc, d.hw()),
        };
        // SAFETY: lengths checked.
        unsafe { run_single("lrn", kernel, &p, d, d, units, inputs, output) }
    }
}
