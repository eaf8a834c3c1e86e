//! [`Linear`]: a fully connected layer, `y = act(x W^T + b)` per row, weights in PyTorch's
//! (out_features, in_features) layout. The C kernel is a matrix-vector product per row, which
//! reads each weight once per row: the whole cost at batch 1, a CNN classifier's case.
use super::ffi::{self, LcLinearParams};
use super::{check_inputs, check_len, isa_code, per_image, Act, Dims, Isa, Op};
use crate::{CoreError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// Rows (the batch).
    pub rows: usize,
    pub in_features: usize,
    pub out_features: usize,
    /// (out_features, in_features), row-major.
    pub weight: Vec<f32>,
    /// out_features values, or empty for none.
    pub bias: Vec<f32>,
    pub act: Act,
    pub isa: Isa,
}

impl Op for Linear {
    fn validate(&self) -> Result<()> {
        Dims::new(self.rows, self.in_features, 1, 1).validate("linear input")?;
        let w = Dims::new(1, self.out_features, self.in_features, 1);
        w.validate("linear weight")?;
        check_len("linear", "weight", self.weight.len(), w.len()?)?;
        if !self.bias.is_empty() {
            check_len("linear", "bias", self.bias.len(), self.out_features)?;
        }
        self.act
            .validate()
            .map_err(|e| CoreError::InvalidArgument(format!("linear: {e}")))
    }

    fn output(&self) -> Result<Dims> {
        self.validate()?;
        Ok(Dims::new(self.rows, self.out_features, 1, 1))
    }

    /// Inputs: `x` (rows x in_features).
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        let out = self.output()?;
        check_inputs("linear", inputs, &[self.rows * self.in_features])?;
        check_len("linear", "output", output.len(), out.len()?)?;
        let p = LcLinearParams {
            in_f: self.in_features,
            out_f: self.out_features,
            act: self.act.to_c(),
            isa: isa_code(self.isa)?,
        };
        let bias = if self.bias.is_empty() {
            std::ptr::null()
        } else {
            self.bias.as_ptr()
        };
        let ptrs = [inputs[0].as_ptr(), self.weight.as_ptr(), bias];
        let o = output.as_mut_ptr();
        // SAFETY: lengths checked (weight and bias by validate); a null bias is allowed.
        unsafe {
            per_image(
                ffi::lc_op_linear,
                &p,
                self.rows,
                &ptrs,
                &[self.in_features, 0, 0],
                o,
                self.out_features,
                self.out_features,
            )
        };
        Ok(())
    }
}
