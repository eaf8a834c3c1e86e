//! The activation set (lc_ops.h's LC_ACT_*), run alone by [`super::Unary`] and fused after
//! binary, affine and later kernels.
use super::ffi::LcActivation;
use crate::{CoreError, Result};

/// An activation with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Act {
    #[default]
    None,
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `min(max(x, min), max)`.
    Clip {
        min: f32,
        max: f32,
    },
    Sigmoid,
    /// `min(max(alpha * x + beta, 0), 1)` (ONNX's defaults 0.2, 0.5; PyTorch's 1/6, 0.5).
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    /// `x * min(max(x + 3, 0), 6) / 6`.
    HardSwish,
    /// `x * sigmoid(x)`.
    Silu,
    /// `x * (1 + erf(x / sqrt 2)) / 2` (the exact form, not the tanh approximation).
    Gelu,
    Tanh,
    /// `x >= 0 ? x : alpha * x`.
    LeakyRelu {
        alpha: f32,
    },
}

impl Act {
    /// Every activation's name, as [`Act::name`] gives and [`Act::parse`] reads.
    pub const NAMES: [&'static str; 11] = [
        "none",
        "relu",
        "relu6",
        "clip",
        "sigmoid",
        "hard_sigmoid",
        "hard_swish",
        "silu",
        "gelu",
        "tanh",
        "leaky_relu",
    ];

    pub fn name(&self) -> &'static str {
        Self::NAMES[self.code() as usize]
    }

    /// The activation named `name`; `alpha` and `beta` are clip's min and max, hard-sigmoid's
    /// alpha and beta and leaky ReLU's alpha, ignored by the others.
    pub fn parse(name: &str, alpha: f32, beta: f32) -> Result<Self> {
        let a = match name {
            "none" => Self::None,
            "relu" => Self::Relu,
            "relu6" => Self::Relu6,
            "clip" => Self::Clip {
                min: alpha,
                max: beta,
            },
            "sigmoid" => Self::Sigmoid,
            "hard_sigmoid" => Self::HardSigmoid { alpha, beta },
            "hard_swish" => Self::HardSwish,
            "silu" => Self::Silu,
            "gelu" => Self::Gelu,
            "tanh" => Self::Tanh,
            "leaky_relu" => Self::LeakyRelu { alpha },
            _ => {
                return Err(CoreError::InvalidArgument(format!(
                    "unknown activation {name:?}; expected one of {}",
                    Self::NAMES.join(", ")
                )))
            }
        };
        a.validate()?;
        Ok(a)
    }

    /// Parameters must be finite, and clip's `min <= max`.
    pub fn validate(&self) -> Result<()> {
        let params: &[f32] = match self {
            Self::Clip { min, max } => &[*min, *max],
            Self::HardSigmoid { alpha, beta } => &[*alpha, *beta],
            Self::LeakyRelu { alpha } => &[*alpha],
            _ => &[],
        };
        if params.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::InvalidArgument(format!(
                "{} parameters must be finite, got {params:?}",
                self.name()
            )));
        }
        if let Self::Clip { min, max } = self {
            if min > max {
                return Err(CoreError::InvalidArgument(format!(
                    "clip needs min <= max, got min {min} and max {max}"
                )));
            }
        }
        Ok(())
    }

    fn code(&self) -> i32 {
        match self {
            Self::None => 0,
            Self::Relu => 1,
            Self::Relu6 => 2,
            Self::Clip { .. } => 3,
            Self::Sigmoid => 4,
            Self::HardSigmoid { .. } => 5,
            Self::HardSwish => 6,
            Self::Silu => 7,
            Self::Gelu => 8,
            Self::Tanh => 9,
            Self::LeakyRelu { .. } => 10,
        }
    }

    pub(super) fn to_c(self) -> LcActivation {
        let (alpha, beta) = match self {
            Self::Clip { min, max } => (min, max),
            Self::HardSigmoid { alpha, beta } => (alpha, beta),
            Self::LeakyRelu { alpha } => (alpha, 0.0),
            _ => (0.0, 0.0),
        };
        LcActivation {
            kind: self.code(),
            alpha,
            beta,
        }
    }
}
