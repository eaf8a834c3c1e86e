//! Safe drivers over the C convolution primitives (kernels_c/include/lc_primitives.inc).
//!
//! [`primitives`] lists the C table; a [`Primitive`] answers applicability, workspace and
//! packed-weight sizes for a [`ConvSpec`] and an [`Isa`], and packs weights into a
//! [`PackedConv`], which runs
//! batches split into pieces ([`split_work`]: images, output rows or output channels) on a
//! persistent pool of a caller-set number of threads. Every size is checked here before any C
//! function sees it; the C side trusts its arguments.
use std::ffi::{c_int, c_void, CStr};
use std::sync::{Arc, Mutex, OnceLock};

use super::aligned::AlignedBuf;
use super::ffi::{self, LcConvParams, LcPrimitive};
use super::spec::{checked_elems, Activation, ConvSpec};
use crate::{CoreError, Result};

/// Data layout of a primitive's input and output (one image; the batch is outermost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Channel-major: PyTorch's NCHW.
    Chw,
    /// Channel-minor: NHWC (PyTorch's channels_last memory order).
    Hwc,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Chw => "chw",
            Layout::Hwc => "hwc",
        }
    }
}

fn activation_code(a: Activation) -> c_int {
    match a {
        Activation::None => 0,
        Activation::Relu => 1,
        Activation::Relu6 => 2,
    }
}

/// Instruction set for the kernels. `Auto` picks the best this CPU supports; a forced one the
/// CPU lacks falls back to the best it has (see [`resolve_isa`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isa {
    #[default]
    Auto,
    Scalar,
    Avx2,
    Avx512,
    Neon,
}

impl Isa {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "scalar" => Ok(Self::Scalar),
            "avx2" => Ok(Self::Avx2),
            "avx512" => Ok(Self::Avx512),
            "neon" => Ok(Self::Neon),
            _ => Err(CoreError::InvalidArgument(format!(
                "unknown isa {s:?}; expected auto, scalar, avx2, avx512 or neon"
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Scalar => "scalar",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
            Self::Neon => "neon",
        }
    }
    fn code(self) -> c_int {
        match self {
            Self::Auto => 0,
            Self::Scalar => 1,
            Self::Avx2 => 2,
            Self::Avx512 => 3,
            Self::Neon => 4,
        }
    }
    fn from_code(c: c_int) -> Self {
        match c {
            1 => Self::Scalar,
            2 => Self::Avx2,
            3 => Self::Avx512,
            4 => Self::Neon,
            _ => Self::Auto,
        }
    }
}

/// Environment variable that forces the instruction set wherever [`Isa::Auto`] is asked for,
/// e.g. `LEANCONV_ISA=scalar` to compare with the portable kernels or `avx2` on an AVX-512
/// machine; one of auto, scalar, avx2, avx512, neon. Read once per process; an explicit
/// non-auto `isa` argument wins over it.
pub const ISA_ENV: &str = "LEANCONV_ISA";

impl Isa {
    /// `self`, or for `Auto` the instruction set [`ISA_ENV`] names when it is set. An invalid
    /// value is an error at every use, not a silent fallback.
    pub fn effective(self) -> Result<Self> {
        if self != Isa::Auto {
            return Ok(self);
        }
        static FROM_ENV: OnceLock<std::result::Result<Isa, String>> = OnceLock::new();
        FROM_ENV
            .get_or_init(|| match std::env::var(ISA_ENV) {
                Err(_) => Ok(Isa::Auto),
                Ok(v) => Isa::parse(v.trim()).map_err(|e| format!("{ISA_ENV}: {e}")),
            })
            .clone()
            .map_err(CoreError::InvalidArgument)
    }
}

/// The instruction set the kernels actually use for `isa` (after [`ISA_ENV`]) on this CPU.
pub fn resolve_isa(isa: Isa) -> Result<Isa> {
    let isa = isa.effective()?;
    // SAFETY: pure query of CPU features.
    Ok(Isa::from_code(unsafe { ffi::lc_isa_resolve(isa.code()) }))
}

/// The C parameter block of `spec` with instruction-set code `isa`: every size is checked by
/// [`ConvSpec::output_hw`] first, and the C side's own setup must agree with it.
fn c_params(spec: &ConvSpec, isa: c_int) -> Result<LcConvParams> {
    let (oh, ow) = spec.output_hw()?;
    let mut p = LcConvParams {
        c: spec.in_channels,
        k: spec.out_channels,
        h: spec.height,
        w: spec.width,
        kh: spec.kernel.0,
        kw: spec.kernel.1,
        sh: spec.stride.0,
        sw: spec.stride.1,
        dh: spec.dilation.0,
        dw: spec.dilation.1,
        pt: spec.pads.top,
        pl: spec.pads.left,
        pb: spec.pads.bottom,
        pr: spec.pads.right,
        groups: spec.groups,
        act: activation_code(spec.activation),
        oh: 0,
        ow: 0,
        isa,
    };
    // SAFETY: p is a valid, exclusively borrowed parameter block.
    if unsafe { ffi::lc_conv_params_setup(&mut p) } != 0 || (p.oh, p.ow) != (oh, ow) {
        return Err(CoreError::Shape(format!(
            "invalid convolution parameters {spec}"
        )));
    }
    Ok(p)
}

/// One entry of the C primitive table.
#[derive(Clone, Copy)]
pub struct Primitive {
    pub name: &'static str,
    pub family: &'static str,
    pub layout: Layout,
    raw: &'static LcPrimitive,
}

impl std::fmt::Debug for Primitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Primitive")
            .field("name", &self.name)
            .field("family", &self.family)
            .field("layout", &self.layout)
            .finish()
    }
}

fn c_str(p: *const std::ffi::c_char) -> &'static str {
    // SAFETY: the table's strings are NUL-terminated literals with static lifetime.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("?")
}

/// Every primitive of the C table, in table order.
pub fn primitives() -> &'static [Primitive] {
    static TABLE: OnceLock<Vec<Primitive>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // SAFETY: lc_primitive_get returns pointers into a static const table for i < count.
        let n = unsafe { ffi::lc_primitive_count() };
        (0..n)
            .filter_map(|i| unsafe { ffi::lc_primitive_get(i).as_ref() })
            .map(|raw| Primitive {
                name: c_str(raw.name),
                family: c_str(raw.family),
                layout: if raw.layout == 0 {
                    Layout::Chw
                } else {
                    Layout::Hwc
                },
                raw,
            })
            .collect()
    })
}

/// The primitive called `name`.
pub fn find(name: &str) -> Result<Primitive> {
    primitives()
        .iter()
        .copied()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = primitives().iter().map(|p| p.name).collect();
            CoreError::InvalidArgument(format!(
                "unknown primitive {name:?}; known: {}",
                names.join(", ")
            ))
        })
}

impl Primitive {
    /// Whether this primitive computes `spec` (errors only on an invalid spec). Applicability
    /// does not depend on the instruction set.
    pub fn applicable(&self, spec: &ConvSpec) -> Result<bool> {
        let p = c_params(spec, Isa::Auto.code())?;
        // SAFETY: p was validated by c_params.
        Ok(unsafe { (self.raw.applicable)(&p) } != 0)
    }

    fn checked(&self, spec: &ConvSpec, isa: Isa) -> Result<LcConvParams> {
        let p = c_params(spec, isa.effective()?.code())?;
        // SAFETY: p was validated by c_params.
        if unsafe { (self.raw.applicable)(&p) } == 0 {
            return Err(CoreError::Unsupported(format!(
                "primitive {} does not apply to {spec}",
                self.name
            )));
        }
        Ok(p)
    }

    /// Scratch bytes one thread needs for one image.
    pub fn workspace_bytes(&self, spec: &ConvSpec, isa: Isa) -> Result<usize> {
        let p = self.checked(spec, isa)?;
        // SAFETY: p is valid and the primitive applies to it.
        Ok(unsafe { (self.raw.workspace_bytes)(&p) })
    }

    /// Bytes of the packed weights.
    pub fn packed_bytes(&self, spec: &ConvSpec, isa: Isa) -> Result<usize> {
        let p = self.checked(spec, isa)?;
        // SAFETY: as above.
        Ok(unsafe { (self.raw.packed_bytes)(&p) })
    }

    /// Packs `weight` (PyTorch layout [K][C/groups][KH][KW]) and `bias` ([K] or none) once,
    /// for the kernels of `isa`.
    pub fn pack(
        &self,
        spec: &ConvSpec,
        isa: Isa,
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<PackedConv> {
        let p = self.checked(spec, isa)?;
        let wlen = p.k * (p.c / p.groups) * p.kh * p.kw;
        if weight.len() != wlen {
            return Err(CoreError::Shape(format!(
                "weight has {} elements, expected {} ({}x{}x{}x{})",
                weight.len(),
                wlen,
                p.k,
                p.c / p.groups,
                p.kh,
                p.kw
            )));
        }
        if let Some(b) = bias {
            if b.len() != p.k {
                return Err(CoreError::Shape(format!(
                    "bias has {} elements, expected {}",
                    b.len(),
                    p.k
                )));
            }
        }
        // SAFETY: p is valid and applicable.
        let pb = unsafe { (self.raw.packed_bytes)(&p) };
        let ws = unsafe { (self.raw.workspace_bytes)(&p) };
        let mut packed = AlignedBuf::new(pb)?;
        // SAFETY: weight holds wlen floats (checked), packed holds packed_bytes (64-aligned).
        unsafe { (self.raw.pack)(&p, weight.as_ptr(), packed.as_mut_ptr().cast()) };
        Ok(PackedConv {
            prim: *self,
            spec: *spec,
            isa: Isa::from_code(p.isa),
            c: p,
            packed,
            bias: bias.map(<[f32]>::to_vec),
            workspace_bytes: ws,
            scratch: Mutex::new(AlignedBuf::new(0)?),
        })
    }
}

/// Weights packed for one primitive and layer, ready to run any batch.
pub struct PackedConv {
    prim: Primitive,
    spec: ConvSpec,
    /// The instruction set asked for (after [`ISA_ENV`]); the kernels resolve it per CPU.
    isa: Isa,
    c: LcConvParams,
    packed: AlignedBuf,
    bias: Option<Vec<f32>>,
    workspace_bytes: usize,
    /// The pieces' workspaces kept between runs (first-touch page faults cost more than small
    /// convolutions).
    scratch: Mutex<AlignedBuf>,
}

struct SendPtr<T>(*mut T);
// SAFETY: each thread writes only its own piece of the output (disjoint images, output rows or
// output channels: the C primitives' contract), so the shared pointer never sees overlapping
// writes.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Splits [0, n) into at most `parts` contiguous ranges whose inner bounds are multiples of
/// `unit` (the ranges differ by at most one unit).
fn split_range(n: usize, parts: usize, unit: usize) -> Vec<(usize, usize)> {
    let t = parts.clamp(1, n.max(1));
    let unit = unit.max(1);
    let units = n.div_ceil(unit);
    let mut out = Vec::with_capacity(t);
    let mut begin = 0;
    for i in 0..t {
        let end = ((units * (i + 1)) / t * unit).min(n);
        if end > begin {
            out.push((begin, end));
            begin = end;
        }
    }
    out
}

/// Splits [0, k) into at most `threads` ranges, on multiples of 16 channels where possible.
pub fn split_channels(k: usize, threads: usize) -> Vec<(usize, usize)> {
    let t = threads.clamp(1, k.max(1));
    split_range(k, t, if k >= 16 * t { 16 } else { 1 })
}

/// One piece of a batch: images, output channels and output rows, each a half-open range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkPiece {
    pub images: (usize, usize),
    pub channels: (usize, usize),
    pub rows: (usize, usize),
}

/// Splits a batch of `batch` images with `k` output channels and `oh` output rows into at most
/// `threads` pieces. Whole images when the batch divides evenly; otherwise output rows, since a
/// row range lowers (im2col, im2row, Winograd's input transform) only the input its rows read,
/// while a channel range would repeat the whole lowering in every thread; output channels only
/// when there are fewer rows than threads. Row bounds fall on multiples of 4 (or 2) rows where
/// the rows allow, so Winograd's 4x4 (2x2) output tiles are not computed twice.
pub fn split_work(batch: usize, k: usize, oh: usize, threads: usize) -> Vec<WorkPiece> {
    let all = WorkPiece {
        images: (0, batch),
        channels: (0, k),
        rows: (0, oh),
    };
    if threads <= 1 || batch == 0 {
        return vec![all];
    }
    if batch >= threads && batch % threads == 0 {
        return split_range(batch, threads, 1)
            .into_iter()
            .map(|images| WorkPiece { images, ..all })
            .collect();
    }
    if oh >= threads {
        let unit = if oh >= 4 * threads {
            4
        } else if oh >= 2 * threads {
            2
        } else {
            1
        };
        return split_range(oh, threads, unit)
            .into_iter()
            .map(|rows| WorkPiece { rows, ..all })
            .collect();
    }
    split_channels(k, threads)
        .into_iter()
        .map(|channels| WorkPiece { channels, ..all })
        .collect()
}

/// Multiply-accumulates below which one more thread does not pay: waking a pool worker and
/// joining it costs about as much as a million MACs take on one core (tens of microseconds),
/// so a layer gets one thread per `MIN_MACS_PER_THREAD` of its work, up to `threads`.
pub const MIN_MACS_PER_THREAD: u64 = 1 << 20;

/// The threads worth using for `macs` multiply-accumulates when `threads` are available.
pub fn useful_threads(macs: u64, threads: usize) -> usize {
    let by_work = usize::try_from(macs / MIN_MACS_PER_THREAD).unwrap_or(usize::MAX);
    threads.min(by_work).max(1)
}

/// The persistent pool that runs the pieces of `threads`-thread runs: `threads - 1` workers
/// (the calling thread runs one piece itself), created on first use and kept, so a run costs
/// a wake-up instead of spawning threads.
fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = pools.iter().find(|(t, _)| *t == threads) {
        return Ok(Arc::clone(p));
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads - 1)
        .thread_name(move |i| format!("leanconv-{threads}-{i}"))
        .build()
        .map_err(|e| CoreError::InvalidArgument(format!("cannot start {threads} threads: {e}")))?;
    let p = Arc::new(p);
    pools.push((threads, Arc::clone(&p)));
    Ok(p)
}

impl PackedConv {
    pub fn primitive(&self) -> Primitive {
        self.prim
    }
    pub fn spec(&self) -> &ConvSpec {
        &self.spec
    }
    pub fn isa(&self) -> Isa {
        self.isa
    }
    /// Scratch bytes per thread.
    pub fn workspace_bytes(&self) -> usize {
        self.workspace_bytes
    }
    pub fn packed_bytes(&self) -> usize {
        self.packed.len()
    }
    pub fn output_hw(&self) -> (usize, usize) {
        (self.c.oh, self.c.ow)
    }
    /// Elements of one input image and one output image.
    pub fn image_lens(&self) -> (usize, usize) {
        (
            self.c.c * self.c.h * self.c.w,
            self.c.k * self.c.oh * self.c.ow,
        )
    }

    /// Convolves `batch` images: `input` is batch x (C,H,W) or (H,W,C) per the primitive's
    /// layout, `output` batch x (K,OH,OW) or (OH,OW,K). The batch is split into `threads`
    /// pieces ([`split_work`]); 1 runs on the calling thread. The result does not depend on
    /// `threads`.
    pub fn run(
        &self,
        input: &[f32],
        output: &mut [f32],
        batch: usize,
        threads: usize,
    ) -> Result<()> {
        let (il, ol) = self.image_lens();
        if input.len() != batch.saturating_mul(il) {
            return Err(CoreError::Shape(format!(
                "input has {} elements, expected {batch} images of {il}",
                input.len()
            )));
        }
        if output.len() != batch.saturating_mul(ol) {
            return Err(CoreError::Shape(format!(
                "output has {} elements, expected {batch} images of {ol}",
                output.len()
            )));
        }
        if threads == 0 || threads > 1024 {
            return Err(CoreError::InvalidArgument(format!(
                "threads must be 1..=1024, got {threads}"
            )));
        }
        if batch == 0 {
            return Ok(());
        }
        let macs = self.spec.macs()?.saturating_mul(batch as u64);
        let pieces = split_work(batch, self.c.k, self.c.oh, useful_threads(macs, threads));
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let need = self.workspace_stride() * pieces.len();
        if scratch.len() < need {
            *scratch = AlignedBuf::new(need)?;
        }
        self.run_pieces(input, output, batch, &pieces, &mut scratch)
    }

    /// Bytes between the workspaces of two pieces in one shared buffer: the per-thread
    /// workspace rounded up to 64 so each piece's workspace stays 64-byte aligned.
    pub fn workspace_stride(&self) -> usize {
        self.workspace_bytes.div_ceil(64) * 64
    }

    /// Convolves `batch` images split into `pieces` (from [`split_work`] for this layer's
    /// output channels and rows), each piece with its own part of `workspace`
    /// ([`workspace_stride`](Self::workspace_stride) bytes per piece): a runtime that runs many
    /// layers shares one workspace between them and computes the pieces once.
    pub fn run_pieces(
        &self,
        input: &[f32],
        output: &mut [f32],
        batch: usize,
        pieces: &[WorkPiece],
        workspace: &mut AlignedBuf,
    ) -> Result<()> {
        let (il, ol) = self.image_lens();
        if input.len() != batch.saturating_mul(il) || output.len() != batch.saturating_mul(ol) {
            return Err(CoreError::Shape(format!(
                "input/output have {}/{} elements, expected {batch} images of {il}/{ol}",
                input.len(),
                output.len()
            )));
        }
        let stride = self.workspace_stride();
        let fits = |p: &WorkPiece| {
            p.images.0 < p.images.1
                && p.images.1 <= batch
                && p.channels.0 < p.channels.1
                && p.channels.1 <= self.c.k
                && p.rows.0 < p.rows.1
                && p.rows.1 <= self.c.oh
        };
        if pieces.is_empty() || !pieces.iter().all(fits) || workspace.len() < stride * pieces.len()
        {
            return Err(CoreError::InvalidArgument(format!(
                "{} work pieces with a {}-byte workspace do not fit {batch} images of {}",
                pieces.len(),
                workspace.len(),
                self.spec
            )));
        }
        if batch == 0 {
            return Ok(());
        }
        let out = SendPtr(output.as_mut_ptr());
        let ws_base = SendPtr(workspace.as_mut_ptr());
        let work = |i: usize| {
            let (out, ws_base) = (&out, &ws_base);
            let piece = &pieces[i];
            let bias = self.bias.as_ref().map_or(std::ptr::null(), |b| b.as_ptr());
            let packed: *const f32 = self.packed.as_ptr().cast();
            let (run, c) = (self.prim.raw.run, &self.c);
            let ((k0, k1), (y0, y1)) = (piece.channels, piece.rows);
            for n in piece.images.0..piece.images.1 {
                // SAFETY: sizes and piece ranges checked above; piece i owns workspace bytes
                // [i*stride, (i+1)*stride), 64-aligned and at least workspace_bytes long;
                // pieces write disjoint parts of the output (the primitives' contract for
                // disjoint images, channel or row ranges).
                unsafe {
                    run(
                        c,
                        input.as_ptr().add(n * il),
                        packed,
                        bias,
                        out.0.add(n * ol),
                        ws_base.0.add(i * stride).cast::<c_void>(),
                        k0,
                        k1,
                        y0,
                        y1,
                    )
                };
            }
        };
        if pieces.len() == 1 {
            work(0);
            return Ok(());
        }
        let pool = pool(pieces.len())?;
        let work = &work;
        pool.in_place_scope(|s| {
            for i in 1..pieces.len() {
                s.spawn(move |_| work(i));
            }
            work(0);
        });
        Ok(())
    }
}

/// Packed, cache-blocked SGEMM over the C kernels: `c = a*b` (or `c += a*b`), row-major
/// `a` (m x k), `b` (k x n), `c` (m x n).
pub struct Gemm {
    isa: Isa,
    ws: AlignedBuf,
    dims: (usize, usize, usize),
}

impl Gemm {
    pub fn new(m: usize, n: usize, k: usize, isa: Isa) -> Result<Self> {
        let isa = isa.effective()?;
        checked_elems(&[m, k], "a")?;
        checked_elems(&[k, n], "b")?;
        checked_elems(&[m, n], "c")?;
        // SAFETY: pure size computation.
        let bytes = unsafe { ffi::lc_sgemm_workspace_bytes(isa.code(), m, n, k) };
        Ok(Self {
            isa,
            ws: AlignedBuf::new(bytes)?,
            dims: (m, n, k),
        })
    }

    pub fn workspace_bytes(&self) -> usize {
        self.ws.len()
    }

    pub fn run(&mut self, a: &[f32], b: &[f32], c: &mut [f32], accumulate: bool) -> Result<()> {
        let (m, n, k) = self.dims;
        if a.len() != m * k || b.len() != k * n || c.len() != m * n {
            return Err(CoreError::Shape(format!(
                "gemm {m}x{n}x{k} needs a {} b {} c {} elements, got {} {} {}",
                m * k,
                k * n,
                m * n,
                a.len(),
                b.len(),
                c.len()
            )));
        }
        // SAFETY: sizes checked; the workspace was sized for (m, n, k, isa).
        unsafe {
            ffi::lc_sgemm(
                self.isa.code(),
                m,
                n,
                k,
                a.as_ptr(),
                k.max(1),
                b.as_ptr(),
                n.max(1),
                c.as_mut_ptr(),
                n.max(1),
                c_int::from(accumulate),
                self.ws.as_mut_ptr().cast(),
            )
        };
        Ok(())
    }
}
