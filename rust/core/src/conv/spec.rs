//! The one description of a 2-D convolution layer, from the Graph down to the C kernels, and
//! the one output-size formula of every sliding-window op.
//!
//! A [`ConvSpec`] is one image of one layer (the batch is the caller's): channels, spatial
//! size, kernel, stride, dilation, four zero pads and groups, plus the activation fused after
//! the bias. Output size and multiply-accumulate count are computed here and nowhere else;
//! the Python `ConvSpec`, the drivers and the C parameter block all take them from here.
use crate::{CoreError, Result};

/// Activation fused after the bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    Relu6,
}

impl Activation {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Self::None),
            "relu" => Ok(Self::Relu),
            "relu6" => Ok(Self::Relu6),
            _ => Err(CoreError::InvalidArgument(format!(
                "unknown activation {s:?}; expected 'none', 'relu' or 'relu6'"
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Relu => "relu",
            Self::Relu6 => "relu6",
        }
    }
}

/// Zero padding on each side of the input. Asymmetric pads are what ONNX `SAME_UPPER` and
/// TF-style padding produce (the odd pixel at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pads {
    pub top: usize,
    pub left: usize,
    pub bottom: usize,
    pub right: usize,
}

impl Pads {
    /// `h` rows on top and bottom, `w` columns left and right (PyTorch's `padding=(h, w)`).
    pub fn symmetric(h: usize, w: usize) -> Self {
        Self {
            top: h,
            left: w,
            bottom: h,
            right: w,
        }
    }
    /// Top, left, bottom, right: the order of the Graph's `padding` attribute.
    pub fn as_array(&self) -> [usize; 4] {
        [self.top, self.left, self.bottom, self.right]
    }
}

/// `[top, left, bottom, right]`: the order of the Graph's `padding` attribute.
impl From<[usize; 4]> for Pads {
    fn from([top, left, bottom, right]: [usize; 4]) -> Self {
        Self {
            top,
            left,
            bottom,
            right,
        }
    }
}

/// `(top, left, bottom, right)`, as the Graph and the Python `ConvSpec` write padding.
impl std::fmt::Display for Pads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "({}, {}, {}, {})",
            self.top, self.left, self.bottom, self.right
        )
    }
}

/// Largest spatial size, channel count, kernel, stride, dilation or pad a spec may have.
pub(crate) const MAX_DIM: usize = 1 << 24;
/// Largest number of elements any one tensor or lowered matrix may have (2^40): keeps every
/// size computation in the C kernels far from overflow.
pub(crate) const MAX_ELEMS: usize = 1 << 40;

/// Product of `dims`, a ShapeError naming `what` when it exceeds [`MAX_ELEMS`].
pub(crate) fn checked_elems(dims: &[usize], what: &str) -> Result<usize> {
    dims.iter().try_fold(1usize, |n, &d| {
        n.checked_mul(d).filter(|&x| x <= MAX_ELEMS).ok_or_else(|| {
            CoreError::Shape(format!(
                "{what} of {dims:?} is too large (over 2^40 elements)"
            ))
        })
    })
}

/// The output size along one axis of a sliding window (convolution, pooling): the number of
/// window positions, `floor` (or `ceil` when `ceil_mode`) of
/// `(size + pad_begin + pad_end - dilation*(kernel-1) - 1) / stride`, plus one. Floor mode
/// counts the windows that lie inside the padded input. Ceil mode (PyTorch's rule) adds one
/// window that overhangs the end by less than a stride, and the last window counts only when
/// it starts inside the input or the begin padding. ShapeError when a zero kernel, stride or
/// dilation is given or no window is counted.
pub fn window_output_size(
    size: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    pad_end: usize,
    ceil_mode: bool,
) -> Result<usize> {
    for (name, v) in [
        ("kernel", kernel),
        ("stride", stride),
        ("dilation", dilation),
    ] {
        if v == 0 {
            return Err(CoreError::Shape(format!("{name} must be positive, got 0")));
        }
        if v > MAX_DIM {
            return Err(CoreError::Shape(format!("{name} {v} is too large")));
        }
    }
    if size > MAX_DIM || pad_begin > MAX_DIM || pad_end > MAX_DIM {
        return Err(CoreError::Shape(format!(
            "size {size} or pads ({pad_begin}, {pad_end}) too large"
        )));
    }
    // Bounded by 2^24 each: no overflow below.
    let padded = size + pad_begin + pad_end;
    let extent = (kernel - 1) * dilation + 1;
    let slack = if ceil_mode { stride - 1 } else { 0 };
    let mut out = (padded + slack)
        .checked_sub(extent)
        .map(|span| span / stride + 1);
    if ceil_mode {
        out = out
            .map(|n| n - usize::from((n - 1) * stride >= size + pad_begin))
            .filter(|&n| n > 0);
    }
    out.ok_or_else(|| {
        CoreError::Shape(format!(
            "a window of {extent} (kernel {kernel}, dilation {dilation}) does not fit the \
             padded size {padded} ({pad_begin} + {size} + {pad_end})"
        ))
    })
}

/// One convolution layer applied to one image of `in_channels x height x width`. Weights are
/// PyTorch's `(out_channels, in_channels / groups, kernel.0, kernel.1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub dilation: (usize, usize),
    pub pads: Pads,
    pub groups: usize,
    pub activation: Activation,
}

impl ConvSpec {
    /// A plain convolution: stride 1, no padding, dilation 1, one group, no activation.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        height: usize,
        width: usize,
        kernel: (usize, usize),
    ) -> Self {
        Self {
            in_channels,
            out_channels,
            height,
            width,
            kernel,
            stride: (1, 1),
            dilation: (1, 1),
            pads: Pads::default(),
            groups: 1,
            activation: Activation::None,
        }
    }

    /// Checks that every size is non-zero and bounded, that groups divide both channel counts,
    /// that the kernel fits the padded input and that no tensor the primitives touch (input,
    /// output, weight, lowered matrix) is too large to index.
    pub fn validate(&self) -> Result<()> {
        self.output_hw().map(|_| ())
    }

    /// Output height and width (floor mode), after [`ConvSpec::validate`]'s checks.
    pub fn output_hw(&self) -> Result<(usize, usize)> {
        let sizes = [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("height", self.height),
            ("width", self.width),
            ("kernel height", self.kernel.0),
            ("kernel width", self.kernel.1),
            ("stride height", self.stride.0),
            ("stride width", self.stride.1),
            ("dilation height", self.dilation.0),
            ("dilation width", self.dilation.1),
            ("groups", self.groups),
        ];
        for (name, v) in sizes {
            if v == 0 {
                return Err(CoreError::Shape(format!("{name} must be positive, got 0")));
            }
            if v > MAX_DIM {
                return Err(CoreError::Shape(format!("{name} {v} is too large")));
            }
        }
        if self.pads.as_array().iter().any(|&p| p > MAX_DIM) {
            return Err(CoreError::Shape(format!(
                "padding {} is too large",
                self.pads
            )));
        }
        if self.in_channels % self.groups != 0 || self.out_channels % self.groups != 0 {
            return Err(CoreError::Shape(format!(
                "groups {} must divide in_channels {} and out_channels {}",
                self.groups, self.in_channels, self.out_channels
            )));
        }
        let fit = |e: CoreError| {
            CoreError::Shape(format!(
                "kernel {:?} with dilation {:?} does not fit the {}x{} input padded by \
                 (top, left, bottom, right) {}: {e}",
                self.kernel, self.dilation, self.height, self.width, self.pads
            ))
        };
        let oh = window_output_size(
            self.height,
            self.kernel.0,
            self.stride.0,
            self.dilation.0,
            self.pads.top,
            self.pads.bottom,
            false,
        )
        .map_err(fit)?;
        let ow = window_output_size(
            self.width,
            self.kernel.1,
            self.stride.1,
            self.dilation.1,
            self.pads.left,
            self.pads.right,
            false,
        )
        .map_err(fit)?;
        let cg = self.in_channels / self.groups;
        let (kh, kw) = self.kernel;
        checked_elems(&[self.in_channels, self.height, self.width], "input")?;
        checked_elems(&[self.out_channels, oh, ow], "output")?;
        checked_elems(&[self.out_channels, cg, kh, kw], "weight")?;
        checked_elems(&[cg, kh, kw, oh, ow], "lowered matrix")?;
        checked_elems(&[self.out_channels, self.in_channels], "channel product")?;
        Ok((oh, ow))
    }

    /// Multiply-accumulates of one image, as direct convolution counts them.
    pub fn macs(&self) -> Result<u64> {
        let (oh, ow) = self.output_hw()?;
        let cg = self.in_channels / self.groups;
        Ok(
            [self.out_channels, oh, ow, cg, self.kernel.0, self.kernel.1]
                .iter()
                .map(|&d| d as u64)
                .product(),
        )
    }
}

impl std::fmt::Display for ConvSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{}x{} -> {} kernel {:?} stride {:?} dilation {:?} padding {} groups {}",
            self.in_channels,
            self.height,
            self.width,
            self.out_channels,
            self.kernel,
            self.stride,
            self.dilation,
            self.pads,
            self.groups
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Window positions counted one by one: starts 0, s, 2s, ... whose whole window lies in
    /// the padded input; in ceil mode one more when those leave the end of the padded input
    /// uncovered and the next window overhangs it by less than a stride, then the last one
    /// dropped when it starts past the input and the begin pad.
    fn brute_force(
        size: usize,
        k: usize,
        s: usize,
        d: usize,
        pb: usize,
        pe: usize,
        ceil: bool,
    ) -> Option<usize> {
        let padded = size + pb + pe;
        let extent = d * (k - 1) + 1;
        let mut starts = Vec::new();
        while starts.len() * s + extent <= padded {
            starts.push(starts.len() * s);
        }
        if ceil {
            let covered = starts.last().map_or(0, |&p| p + extent);
            let next = starts.len() * s;
            if covered < padded && next + extent < padded + s {
                starts.push(next);
            }
            if starts.last().is_some_and(|&p| p >= size + pb) {
                starts.pop();
            }
        }
        (!starts.is_empty()).then_some(starts.len())
    }

    proptest! {
        #[test]
        fn window_output_size_counts_window_positions(
            size in 0usize..40, k in 1usize..8, s in 1usize..6, d in 1usize..4,
            pb in 0usize..5, pe in 0usize..5, ceil in any::<bool>(),
        ) {
            let got = window_output_size(size, k, s, d, pb, pe, ceil).ok();
            prop_assert_eq!(got, brute_force(size, k, s, d, pb, pe, ceil));
        }

        #[test]
        fn spec_output_is_the_window_count_per_axis(
            h in 1usize..30, w in 1usize..30, kh in 1usize..6, kw in 1usize..6,
            sh in 1usize..4, sw in 1usize..4, dh in 1usize..3, dw in 1usize..3,
            pads in proptest::array::uniform4(0usize..4), g in 1usize..4,
            cg in 1usize..4, kg in 1usize..4,
        ) {
            let spec = ConvSpec {
                in_channels: g * cg, out_channels: g * kg, height: h, width: w,
                kernel: (kh, kw), stride: (sh, sw), dilation: (dh, dw),
                pads: Pads::from(pads),
                groups: g, activation: Activation::None,
            };
            let want = brute_force(h, kh, sh, dh, pads[0], pads[2], false)
                .zip(brute_force(w, kw, sw, dw, pads[1], pads[3], false));
            prop_assert_eq!(spec.output_hw().ok(), want);
            if let Some((oh, ow)) = want {
                prop_assert_eq!(spec.macs().unwrap(), (g * kg * oh * ow * cg * kh * kw) as u64);
            }
        }
    }

    #[test]
    fn ceil_mode_follows_pytorch() {
        // max_pool2d(kernel 3, stride 2) on 6: floor 2, ceil 3 (last window starts at 4 < 6)
        assert_eq!(window_output_size(6, 3, 2, 1, 0, 0, false), Ok(2));
        assert_eq!(window_output_size(6, 3, 2, 1, 0, 0, true), Ok(3));
        // kernel 2 stride 2 pad 1 on 5: the ceil window would start at 6 >= 5 + 1: dropped
        assert_eq!(window_output_size(5, 2, 2, 1, 1, 1, false), Ok(3));
        assert_eq!(window_output_size(5, 2, 2, 1, 1, 1, true), Ok(3));
        // ... while with both pads at the begin it starts at 6 < 5 + 2 and counts
        assert_eq!(window_output_size(5, 2, 2, 1, 2, 0, true), Ok(4));
        // a kernel of 2 on 1 element, stride 2: no whole window, but ceil mode counts the one
        // overhanging by 1 < stride
        assert!(window_output_size(1, 2, 2, 1, 0, 0, false).is_err());
        assert_eq!(window_output_size(1, 2, 2, 1, 0, 0, true), Ok(1));
        assert!(window_output_size(1, 3, 2, 1, 0, 0, true).is_err());
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let ok = ConvSpec::new(4, 8, 5, 5, (3, 3));
        assert_eq!(ok.output_hw(), Ok((3, 3)));
        assert_eq!(ok.macs(), Ok(8 * 9 * 4 * 9));
        let msg = |s: ConvSpec| match s.validate() {
            Err(CoreError::Shape(m)) => m,
            other => panic!("expected a ShapeError, got {other:?}"),
        };
        assert!(msg(ConvSpec { groups: 3, ..ok }).contains("groups"));
        assert!(msg(ConvSpec {
            stride: (1, 0),
            ..ok
        })
        .contains("stride width"));
        assert!(msg(ConvSpec { height: 2, ..ok }).contains("does not fit"));
        assert!(msg(ConvSpec {
            kernel: (0, 3),
            ..ok
        })
        .contains("kernel height"));
        let padded = ConvSpec {
            height: 2,
            pads: Pads::from([0, 0, 1, 0]),
            ..ok
        };
        assert_eq!(padded.output_hw(), Ok((1, 3)));
        let huge = ConvSpec::new(1 << 20, 1, 1 << 20, 1 << 20, (1, 1));
        assert!(msg(huge).contains("too large"));
        assert!(msg(ConvSpec {
            pads: Pads::symmetric(1 << 25, 0),
            ..ok
        })
        .contains("padding"));
    }
}
