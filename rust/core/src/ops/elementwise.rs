//! Element-wise ops: activations ([`Unary`]), binary arithmetic with the broadcasts CNNs use
//! ([`Binary`]: residual adds, per-channel vectors, scalars, squeeze-and-excitation gates) and
//! batch-norm as a per-channel affine map ([`Affine`]). Each runs in place too ([`InPlace`]).
use std::ffi::c_int;

use super::ffi::{self, LcAffineParams, LcBinaryParams, LcUnaryParams};
use super::{check_inputs, check_len, isa_code, per_image, Act, Dims, InPlace, Isa, Layout, Op};
use crate::{CoreError, Result};

/// `output = act(x)` over `len` elements (any layout).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unary {
    pub len: usize,
    pub act: Act,
    pub isa: Isa,
}

impl Unary {
    fn params(&self) -> Result<LcUnaryParams> {
        self.validate()?;
        Ok(LcUnaryParams {
            n: self.len,
            act: self.act.to_c(),
            isa: isa_code(self.isa)?,
        })
    }

    fn call(&self, x: *const f32, out: *mut f32) -> Result<()> {
        let p = self.params()?;
        let inputs = [x];
        // SAFETY: the callers checked that x and out hold `len` elements; the kernel allows
        // out == x.
        unsafe { ffi::lc_op_activation(&p, inputs.as_ptr(), out, 0, self.len) };
        Ok(())
    }
}

impl Op for Unary {
    fn validate(&self) -> Result<()> {
        if self.len == 0 || self.len > super::MAX_ELEMS {
            return Err(CoreError::Shape(format!(
                "activation: length {} must be in 1..=2^40",
                self.len
            )));
        }
        self.act.validate()
    }

    fn output(&self) -> Result<Dims> {
        self.validate()?;
        Ok(Dims::new(1, self.len, 1, 1))
    }

    /// Inputs: `x` (`len` elements).
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        check_inputs(self.act.name(), inputs, &[self.len])?;
        check_len(self.act.name(), "output", output.len(), self.len)?;
        self.call(inputs[0].as_ptr(), output.as_mut_ptr())
    }
}

impl InPlace for Unary {
    /// No other inputs.
    fn run_in_place(&self, inputs: &[&[f32]], data: &mut [f32]) -> Result<()> {
        check_inputs(self.act.name(), inputs, &[])?;
        check_len(self.act.name(), "data", data.len(), self.len)?;
        let p = data.as_mut_ptr();
        self.call(p, p)
    }
}

/// Binary arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub fn name(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Sub => "sub",
            Self::Mul => "mul",
            Self::Div => "div",
        }
    }
    fn code(self) -> c_int {
        self as c_int
    }
}

/// The shape of a binary op's second operand `y` against the first, `x` of dims (n, c, h, w).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    /// `y` has `x`'s shape and layout.
    Same,
    /// `y` is one value.
    Scalar,
    /// `y` is (1, c, 1, 1): one value per channel, shared by every image.
    Channel,
    /// `y` is (n, c, 1, 1): one value per image and channel (a squeeze-and-excitation gate).
    ImageChannel,
}

/// `output = act(x op y)`, or `act(y op x)` when `reversed` (the broadcast operand first, as
/// ONNX allows), `x` of `dims` in `layout`, `y` as `broadcast` says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Binary {
    pub dims: Dims,
    pub layout: Layout,
    pub op: BinaryOp,
    pub broadcast: Broadcast,
    pub reversed: bool,
    pub act: Act,
    pub isa: Isa,
}

impl Binary {
    /// A plain binary op: same shapes, not reversed, no activation, the best ISA.
    pub fn new(dims: Dims, layout: Layout, op: BinaryOp, broadcast: Broadcast) -> Self {
        Self {
            dims,
            layout,
            op,
            broadcast,
            reversed: false,
            act: Act::None,
            isa: Isa::Auto,
        }
    }

    /// Elements of `y`.
    pub fn y_len(&self) -> Result<usize> {
        let d = &self.dims;
        Ok(match self.broadcast {
            Broadcast::Same => d.len()?,
            Broadcast::Scalar => 1,
            Broadcast::Channel => d.c,
            Broadcast::ImageChannel => d.n * d.c,
        })
    }

    fn call(&self, x: *const f32, y: *const f32, out: *mut f32) -> Result<()> {
        let d = &self.dims;
        let p = LcBinaryParams {
            c: d.c,
            hw: d.hw(),
            op: self.op.code(),
            bcast: match self.broadcast {
                Broadcast::Same => 0,
                Broadcast::Scalar => 1,
                Broadcast::Channel | Broadcast::ImageChannel => 2,
            },
            reversed: c_int::from(self.reversed),
            act: self.act.to_c(),
            isa: isa_code(self.isa)?,
        };
        let y_step = match self.broadcast {
            Broadcast::Same => d.image_len(),
            Broadcast::Scalar | Broadcast::Channel => 0,
            Broadcast::ImageChannel => d.c,
        };
        let (kernel, units): (ffi::KernelFn<LcBinaryParams>, usize) = match self.layout {
            Layout::Chw => (ffi::lc_op_binary_chw, d.c),
            Layout::Hwc => (ffi::lc_op_binary_hwc, d.hw()),
        };
        let step = d.image_len();
        // SAFETY: the callers checked x and out (n images) and y (y_len) against dims; the
        // kernel allows out == x, and out == y for Same.
        unsafe { per_image(kernel, &p, d.n, &[x, y], &[step, y_step], out, step, units) };
        Ok(())
    }

    fn name(&self) -> &'static str {
        self.op.name()
    }
}

impl Op for Binary {
    fn validate(&self) -> Result<()> {
        self.dims.validate(self.name())?;
        self.act.validate()
    }

    fn output(&self) -> Result<Dims> {
        self.validate()?;
        Ok(self.dims)
    }

    /// Inputs: `x`, `y`.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        self.validate()?;
        let n = self.dims.len()?;
        check_inputs(self.name(), inputs, &[n, self.y_len()?])?;
        check_len(self.name(), "output", output.len(), n)?;
        self.call(inputs[0].as_ptr(), inputs[1].as_ptr(), output.as_mut_ptr())
    }
}

impl InPlace for Binary {
    /// `data` is `x`; inputs: `y`.
    fn run_in_place(&self, inputs: &[&[f32]], data: &mut [f32]) -> Result<()> {
        self.validate()?;
        check_inputs(self.name(), inputs, &[self.y_len()?])?;
        check_len(self.name(), "data", data.len(), self.dims.len()?)?;
        let p = data.as_mut_ptr();
        self.call(p, inputs[0].as_ptr(), p)
    }
}

/// `output = act(x * scale[ch] + shift[ch])`: batch-norm that could not be folded into a conv.
#[derive(Debug, Clone, PartialEq)]
pub struct Affine {
    pub dims: Dims,
    pub layout: Layout,
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
    pub act: Act,
    pub isa: Isa,
}

impl Affine {
    /// Inference batch-norm `gamma * (x - mean) / sqrt(var + eps) + beta` as scale and shift
    /// (computed in float64).
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        dims: Dims,
        layout: Layout,
        gamma: &[f32],
        beta: &[f32],
        mean: &[f32],
        var: &[f32],
        eps: f32,
        act: Act,
    ) -> Result<Self> {
        for (what, v) in [
            ("gamma", gamma),
            ("beta", beta),
            ("mean", mean),
            ("var", var),
        ] {
            check_len("batch_norm", what, v.len(), dims.c)?;
        }
        if !eps.is_finite() || eps < 0.0 {
            return Err(CoreError::InvalidArgument(format!(
                "batch_norm: eps must be finite and >= 0, got {eps}"
            )));
        }
        let (mut scale, mut shift) = (Vec::with_capacity(dims.c), Vec::with_capacity(dims.c));
        for i in 0..dims.c {
            let denom = (f64::from(var[i]) + f64::from(eps)).sqrt();
            if denom.is_nan() || denom <= 0.0 {
                return Err(CoreError::InvalidArgument(format!(
                    "batch_norm: var + eps of channel {i} must be > 0, got {}",
                    f64::from(var[i]) + f64::from(eps)
                )));
            }
            let s = f64::from(gamma[i]) / denom;
            scale.push(s as f32);
            shift.push((f64::from(beta[i]) - f64::from(mean[i]) * s) as f32);
        }
        let op = Self {
            dims,
            layout,
            scale,
            shift,
            act,
            isa: Isa::Auto,
        };
        op.validate()?;
        Ok(op)
    }

    fn call(&self, x: *const f32, out: *mut f32) -> Result<()> {
        let d = &self.dims;
        let p = LcAffineParams {
            c: d.c,
            hw: d.hw(),
            act: self.act.to_c(),
            isa: isa_code(self.isa)?,
        };
        let (kernel, units): (ffi::KernelFn<LcAffineParams>, usize) = match self.layout {
            Layout::Chw => (ffi::lc_op_affine_chw, d.c),
            Layout::Hwc => (ffi::lc_op_affine_hwc, d.hw()),
        };
        let step = d.image_len();
        let ptrs = [x, self.scale.as_ptr(), self.shift.as_ptr()];
        // SAFETY: validate checked scale and shift (c each); the callers checked x and out
        // (n images); the kernel allows out == x.
        unsafe { per_image(kernel, &p, d.n, &ptrs, &[step, 0, 0], out, step, units) };
        Ok(())
    }
}

impl Op for Affine {
    fn validate(&self) -> Result<()> {
        self.dims.validate("affine")?;
        check_len("affine", "scale", self.scale.len(), self.dims.c)?;
        check_len("affine", "shift", self.shift.len(), self.dims.c)?;
        self.act.validate()
    }

    fn output(&self) -> Result<Dims> {
        self.validate()?;
        Ok(self.dims)
    }

    /// Inputs: `x`.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        self.validate()?;
        let n = self.dims.len()?;
        check_inputs("affine", inputs, &[n])?;
        check_len("affine", "output", output.len(), n)?;
        self.call(inputs[0].as_ptr(), output.as_mut_ptr())
    }
}

impl InPlace for Affine {
    /// `data` is `x`; no other inputs.
    fn run_in_place(&self, inputs: &[&[f32]], data: &mut [f32]) -> Result<()> {
        self.validate()?;
        check_inputs("affine", inputs, &[])?;
        check_len("affine", "data", data.len(), self.dims.len()?)?;
        let p = data.as_mut_ptr();
        self.call(p, p)
    }
}
