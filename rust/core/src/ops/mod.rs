//! Safe drivers over the C op kernels (kernels_c/include/lc_ops.inc): every op a CNN uses
//! besides convolution.
//!
//! Each op is a parameter struct implementing [`Op`]: `validate` checks the parameters,
//! `output` gives the output's [`Dims`], and `run(inputs, output)` checks every slice's length
//! and calls the C kernel once per image. Element-wise ops also implement [`InPlace`]. Tensors
//! are batches of `n` images of `c` channels of `h x w` pixels in the op's [`Layout`] (a flat
//! `(n, f)` tensor is `c = f, h = w = 1` in either layout). The C side trusts its arguments:
//! every size is checked here first.
mod act;
pub mod deconv;
pub mod elementwise;
mod ffi;
pub mod linear;
pub mod norm;
pub mod pool;
pub mod resize;
pub mod tensor;

use std::ffi::{c_int, CStr};
use std::sync::OnceLock;

pub use crate::conv::{Isa, Layout};
use crate::{CoreError, Result};
pub use act::Act;
pub use deconv::{ConvTranspose2d, PackedConvTranspose2d};
pub use elementwise::{Affine, Binary, BinaryOp, Broadcast, Unary};
pub use linear::Linear;
pub use norm::{LayerNorm, Lrn, Softmax};
pub use pool::{GlobalPool, Pool2d, PoolKind};
pub use resize::{CoordMode, NearestMode, Resize, ResizeMode};
pub use tensor::{ChannelShuffle, CopyChannels, Pad, PadMode};

/// An op's parameters: what it checks, what it produces and how it runs.
pub trait Op {
    /// Checks the parameters: sizes non-zero and within limits, values in range.
    fn validate(&self) -> Result<()>;
    /// The output's dimensions (after [`Op::validate`]).
    fn output(&self) -> Result<Dims>;
    /// Runs the op: `inputs` in the op's documented order, each of its exact length.
    fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()>;
}

/// Element-wise ops that can overwrite their first input with the result.
pub trait InPlace: Op {
    /// Runs the op with `data` as the first input and the output; `inputs` are the others.
    fn run_in_place(&self, inputs: &[&[f32]], data: &mut [f32]) -> Result<()>;
}

/// A batch of `n` images of `c` channels and `h x w` pixels (logical NCHW order; the memory
/// order is the op's layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dims {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

/// Largest number of elements a tensor may have (2^40), as for the conv drivers: keeps every
/// size computation in the C kernels far from overflow.
const MAX_ELEMS: usize = 1 << 40;

impl Dims {
    pub const fn new(n: usize, c: usize, h: usize, w: usize) -> Self {
        Self { n, c, h, w }
    }

    /// Checks that no dimension is zero and the element count stays within 2^40.
    pub fn validate(&self, what: &str) -> Result<()> {
        if self.n == 0 || self.c == 0 || self.h == 0 || self.w == 0 {
            return Err(CoreError::Shape(format!(
                "{what}: every dimension of {self} must be non-zero"
            )));
        }
        self.len().map(|_| ())
    }

    /// Elements of the whole batch.
    pub fn len(&self) -> Result<usize> {
        checked_prod(&[self.n, self.c, self.h, self.w])
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0 || self.c == 0 || self.h == 0 || self.w == 0
    }

    /// Elements of one image.
    pub fn image_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Pixels of one image.
    pub fn hw(&self) -> usize {
        self.h * self.w
    }
}

impl std::fmt::Display for Dims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {}, {}, {})", self.n, self.c, self.h, self.w)
    }
}

fn checked_prod(dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| {
            acc.checked_mul(d).filter(|&x| x <= MAX_ELEMS)
        })
        .ok_or_else(|| CoreError::Shape(format!("{dims:?} is too large (over 2^40 elements)")))
}

/// The C code of an instruction set (after `LEANCONV_ISA` for `Auto`).
fn isa_code(isa: Isa) -> Result<c_int> {
    Ok(match isa.effective()? {
        Isa::Auto => 0,
        Isa::Scalar => 1,
        Isa::Avx2 => 2,
        Isa::Avx512 => 3,
        Isa::Neon => 4,
    })
}

/// Checks the number of inputs and each one's length.
fn check_inputs(op: &str, inputs: &[&[f32]], lens: &[usize]) -> Result<()> {
    if inputs.len() != lens.len() {
        return Err(CoreError::InvalidArgument(format!(
            "{op} takes {} input(s), got {}",
            lens.len(),
            inputs.len()
        )));
    }
    for (i, (x, &n)) in inputs.iter().zip(lens).enumerate() {
        if x.len() != n {
            // the message is formatted only on error: a runtime checks every inference
            return check_len(op, &format!("input {i}"), x.len(), n);
        }
    }
    Ok(())
}

fn check_len(op: &str, what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(CoreError::Shape(format!(
            "{op}: {what} has {got} elements, expected {want}"
        )));
    }
    Ok(())
}

/// Most operands a kernel reads (linear: input, weight, bias).
const MAX_OPERANDS: usize = 4;

/// Calls a kernel on images `0..n`: image `i` reads `inputs[j] + i * in_steps[j]` (a step of 0
/// for operands shared by every image) and writes `output + i * out_step`, all `units` units.
///
/// # Safety
/// Every pointer plus `(n - 1) * step` must start a buffer the kernel may read (write, for the
/// output) in full for `p`'s sizes; the caller has checked the lengths. At most
/// [`MAX_OPERANDS`] inputs.
#[allow(clippy::too_many_arguments)]
unsafe fn per_image<P>(
    kernel: ffi::KernelFn<P>,
    p: &P,
    n: usize,
    inputs: &[*const f32],
    in_steps: &[usize],
    output: *mut f32,
    out_step: usize,
    units: usize,
) {
    // On the stack: a runtime calls this every inference and must not allocate.
    let mut ptrs = [std::ptr::null::<f32>(); MAX_OPERANDS];
    let ptrs = &mut ptrs[..inputs.len()];
    for i in 0..n {
        for (ptr, (&base, &step)) in ptrs.iter_mut().zip(inputs.iter().zip(in_steps)) {
            *ptr = base.add(i * step);
        }
        kernel(p, ptrs.as_ptr(), output.add(i * out_step), 0, units);
    }
}

/// The tail of every single-input op: checks `inputs` (one tensor of dims `x`) and `output`
/// (dims `out`), then runs `kernel` on each image, all `units` units.
///
/// # Safety
/// `p` must describe images of `x` and `out` (the kernel reads and writes by its sizes).
#[allow(clippy::too_many_arguments)]
unsafe fn run_single<P>(
    op: &str,
    kernel: ffi::KernelFn<P>,
    p: &P,
    x: Dims,
    out: Dims,
    units: usize,
    inputs: &[&[f32]],
    output: &mut [f32],
) -> Result<()> {
    check_inputs(op, inputs, &[x.len()?])?;
    check_len(op, "output", output.len(), out.len()?)?;
    let (src, dst) = (inputs[0].as_ptr(), output.as_mut_ptr());
    per_image(
        kernel,
        p,
        x.n,
        &[src],
        &[x.image_len()],
        dst,
        out.image_len(),
        units,
    );
    Ok(())
}

/// One entry of the C op kernel table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel {
    /// Unique name, e.g. `maxpool_hwc` (what a Plan's step names).
    pub name: &'static str,
    /// The graph op it computes, e.g. `maxpool`.
    pub op: &'static str,
    /// Its layout, or `None` for kernels that do not depend on it.
    pub layout: Option<Layout>,
    /// What one work unit is: `element`, `row`, `channel` or `output_row`.
    pub unit: &'static str,
}

fn c_str(p: *const std::ffi::c_char) -> &'static str {
    // SAFETY: the table's strings are C string literals with static lifetime.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("?")
}

/// The C op kernel table, in table order.
pub fn kernels() -> &'static [Kernel] {
    static TABLE: OnceLock<Vec<Kernel>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // SAFETY: lc_op_get returns pointers into a static const table for every index below
        // lc_op_count.
        (0..unsafe { ffi::lc_op_count() })
            .map(|i| {
                let e = unsafe { &*ffi::lc_op_get(i) };
                Kernel {
                    name: c_str(e.name),
                    op: c_str(e.op),
                    layout: match e.layout {
                        0 => Some(Layout::Chw),
                        1 => Some(Layout::Hwc),
                        _ => None,
                    },
                    unit: c_str(e.unit),
                }
            })
            .collect()
    })
}
