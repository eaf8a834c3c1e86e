//! The executor: built once from a checked [`Plan`] and the weights, then run any number of
//! times. Building packs every conv's weights once ([`PackedConv`], and
//! [`PackedConvTranspose2d`] for transposed convolutions), allocates the one
//! activation arena and the one workspace shared by all steps (sized for the largest), and
//! splits each conv's work over the primitives' persistent thread pool once; a run then
//! allocates nothing on the heap.
//!
//! Steps read and write slices of the arena. The plan's check ([`Plan::check`]) proves what
//! makes that sound: every tensor lies inside the arena, no step writes bytes it reads, and
//! bytes shared by two tensors are never live for both; so the slices one step holds at a
//! time never alias mutably.
use std::collections::HashMap;

use serde_json::Value;

use super::ops::{conv_transpose_step, op_step, OpStep};
use super::plan::{LayerStep, Loc, Plan, Step};
use crate::conv::layout::{transform, Transform};
use crate::conv::{
    find, split_work, useful_threads, Activation, AlignedBuf, ConvSpec, Isa, Layout, PackedConv,
    Pads, WorkPiece,
};
use crate::ops::PackedConvTranspose2d;
use crate::{CoreError, Result};

mod profile;
pub use profile::Clock;

fn plan_err(msg: impl Into<String>) -> CoreError {
    CoreError::Plan(msg.into())
}

enum Kernel {
    Conv {
        packed: Box<PackedConv>,
        /// Work pieces for the whole batch at once and for one image (strided views).
        batch_pieces: Vec<WorkPiece>,
        image_pieces: Vec<WorkPiece>,
    },
    Transform {
        kind: Transform,
        chw: (usize, usize, usize),
    },
    Op(OpStep),
    /// A transposed convolution, its weights packed once, over the shared workspace.
    ConvTranspose(Box<PackedConvTranspose2d>),
}

struct ExecStep {
    kernel: Kernel,
    /// The first input (the only one of a conv or a transform), then the others.
    inputs: Vec<Loc>,
    output: Loc,
}

/// A network ready to run: packed weights, arena, workspace.
pub struct Executor {
    steps: Vec<ExecStep>,
    arena: AlignedBuf,
    workspace: AlignedBuf,
    inputs: Vec<Loc>,
    outputs: Vec<Loc>,
    packed_bytes: usize,
    /// Each step's output tensor (the labels of [`Executor::profile_steps`]).
    names: Vec<String>,
}

fn attr_ints(
    attrs: &serde_json::Map<String, Value>,
    key: &str,
    n: usize,
    layer: &str,
) -> Result<Vec<usize>> {
    let v = attrs
        .get(key)
        .and_then(|v| match v {
            Value::Array(a) => a
                .iter()
                .map(|e| e.as_u64().map(|u| u as usize))
                .collect::<Option<Vec<_>>>(),
            Value::Number(x) => x.as_u64().map(|u| vec![u as usize; n]),
            _ => None,
        })
        .filter(|v| v.len() == n);
    v.ok_or_else(|| {
        plan_err(format!(
            "layer {layer:?}: attr {key:?} must be {n} non-negative ints"
        ))
    })
}

fn shape_chw(shape: &[usize], layout: &str) -> (usize, usize, usize) {
    match (shape, layout) {
        ([_, c, h, w], _) => (*c, *h, *w),
        _ => (0, 0, 0),
    }
}

impl Executor {
    /// Builds the executor of `plan` (JSON) with `weights` by name (`"<layer>.<key>"`, e.g.
    /// `"conv1.weight"`). A plan that does not fit is a [`CoreError::Plan`]; an op kernel the
    /// runtime lacks, [`CoreError::Unsupported`].
    pub fn new(plan_json: &str, weights: &HashMap<String, &[f32]>) -> Result<Executor> {
        let plan = Plan::from_json(plan_json)?;
        let locs = plan.check()?;
        let mut steps = Vec::new();
        let mut workspace = 0usize;
        let mut packed_bytes = 0usize;
        let mut names = Vec::new();
        for step in &plan.steps {
            if !step.writes() {
                continue; // views: their data is in place already
            }
            let inputs: Vec<Loc> = step.inputs().iter().map(|t| locs[t.as_str()]).collect();
            let output = locs[step.output()];
            if inputs.is_empty() || inputs.iter().any(|x| x.batch != output.batch) {
                return Err(plan_err(format!(
                    "{}: no input, or batch sizes differ",
                    step.output()
                )));
            }
            let kernel = match step {
                Step::Transform(t) => {
                    let kind = match t.transform.as_str() {
                        "chw_to_hwc" => Transform::ChwToHwc,
                        "hwc_to_chw" => Transform::HwcToChw,
                        other => return Err(plan_err(format!("unknown transform {other:?}"))),
                    };
                    let src = plan.tensor(&t.inputs[0])?;
                    let dst = plan.tensor(&t.output)?;
                    let from = if kind == Transform::ChwToHwc {
                        "chw"
                    } else {
                        "hwc"
                    };
                    if src.shape != dst.shape || src.layout != from || dst.layout == from {
                        return Err(plan_err(format!(
                            "{} from {:?} ({}) to {:?} ({}): shapes or layouts do not fit",
                            t.transform, t.inputs[0], src.layout, t.output, dst.layout
                        )));
                    }
                    Kernel::Transform {
                        kind,
                        chw: shape_chw(&src.shape, &src.layout),
                    }
                }
                Step::Layer(s) if s.op == "conv" => {
                    let (kernel, ws) = conv_kernel(&plan, s, weights)?;
                    if let Kernel::Conv { packed, .. } = &kernel {
                        packed_bytes += packed.packed_bytes();
                    }
                    workspace = workspace.max(ws);
                    kernel
                }
                Step::Layer(s)
                    if !output.contiguous() || inputs.iter().any(|x| !x.contiguous()) =>
                {
                    return Err(plan_err(format!(
                        "layer {:?}: op kernels read and write whole batches, not strided views",
                        s.layer
                    )));
                }
                Step::Layer(s) if s.op == "conv_transpose" => {
                    let packed = conv_transpose_step(&plan, s, weights)?;
                    packed_bytes += packed.packed_bytes();
                    workspace = workspace.max(packed.workspace_bytes());
                    Kernel::ConvTranspose(Box::new(packed))
                }
                Step::Layer(s) => {
                    let op = op_step(&plan, s, weights)?;
                    if op.parts.iter().any(|p| p.inputs.len() + p.consts.len() > 2) {
                        return Err(plan_err(format!(
                            "layer {:?}: an op reads at most two operands",
                            s.layer
                        )));
                    }
                    Kernel::Op(op)
                }
            };
            let one_input = matches!(
                kernel,
                Kernel::Conv { .. } | Kernel::Transform { .. } | Kernel::ConvTranspose(_)
            );
            if one_input && inputs.len() != 1 {
                return Err(plan_err(format!(
                    "{}: a conv or transform takes one input",
                    step.output()
                )));
            }
            steps.push(ExecStep {
                kernel,
                inputs,
                output,
            });
            names.push(step.output().to_string());
        }
        let inputs = plan.inputs.iter().map(|t| locs[t]).collect();
        let outputs = plan.outputs.iter().map(|t| locs[t]).collect();
        Ok(Executor {
            steps,
            arena: AlignedBuf::new(plan.arena_bytes)?,
            workspace: AlignedBuf::new(workspace)?,
            inputs,
            outputs,
            packed_bytes,
            names,
        })
    }

    pub fn arena_bytes(&self) -> usize {
        self.arena.len()
    }
    pub fn workspace_bytes(&self) -> usize {
        self.workspace.len()
    }
    pub fn packed_bytes(&self) -> usize {
        self.packed_bytes
    }
    /// Elements of each graph input and output, in order.
    pub fn input_lens(&self) -> Vec<usize> {
        self.inputs.iter().map(|l| l.batch * l.image).collect()
    }
    pub fn output_lens(&self) -> Vec<usize> {
        self.outputs.iter().map(|l| l.batch * l.image).collect()
    }

    /// Runs the network on `inputs` (one slice per graph input, logical NCHW order) into
    /// `outputs` (one per graph output).
    pub fn run(&mut self, inputs: &[&[f32]], outputs: &mut [&mut [f32]]) -> Result<()> {
        if inputs.len() != self.inputs.len() || outputs.len() != self.outputs.len() {
            return Err(CoreError::Shape(format!(
                "the network takes {} inputs and {} outputs, got {} and {}",
                self.inputs.len(),
                self.outputs.len(),
                inputs.len(),
                outputs.len()
            )));
        }
        let lens = |given: &mut dyn Iterator<Item = usize>, locs: &[Loc], what: &str| {
            for (i, (n, l)) in given.zip(locs).enumerate() {
                if n != l.batch * l.image {
                    return Err(CoreError::Shape(format!(
                        "{what} {i} has {n} elements, the plan's has {}",
                        l.batch * l.image
                    )));
                }
            }
            Ok(())
        };
        lens(&mut inputs.iter().map(|x| x.len()), &self.inputs, "input")?;
        lens(
            &mut outputs.iter().map(|y| y.len()),
            &self.outputs,
            "output",
        )?;
        let arena = self.arena.as_mut_ptr().cast::<f32>();
        for step in &self.steps {
            run_step(step, arena, inputs, &mut self.workspace)?;
        }
        for (y, l) in outputs.iter_mut().zip(&self.outputs) {
            // SAFETY: outputs are contiguous (Plan::check) and inside the arena or an input.
            let src = unsafe { slice(arena, inputs, l, 0, l.batch) };
            y.copy_from_slice(src);
        }
        Ok(())
    }
}

/// The conv step's packed weights and work split, and the shared workspace it needs.
fn conv_kernel(
    plan: &Plan,
    s: &LayerStep,
    weights: &HashMap<String, &[f32]>,
) -> Result<(Kernel, usize)> {
    let name = &s.layer;
    let prim = find(&s.kernel)
        .map_err(|_| plan_err(format!("layer {name:?}: unknown kernel {:?}", s.kernel)))?;
    let x = plan.tensor(&s.inputs[0])?;
    let y = plan.tensor(&s.output)?;
    if prim.layout.as_str() != s.layout || x.layout != s.layout || y.layout != s.layout {
        return Err(plan_err(format!(
            "layer {name:?}: kernel {} runs in {} layout, its step says {} and its tensors {} -> {}",
            prim.name,
            prim.layout.as_str(),
            s.layout,
            x.layout,
            y.layout
        )));
    }
    let w_shape = s
        .weights
        .get("weight")
        .filter(|w| w.len() == 4)
        .ok_or_else(|| {
            plan_err(format!(
                "layer {name:?}: a conv step needs a 4-D \"weight\" shape"
            ))
        })?;
    let (c, h, w) = shape_chw(&x.shape, "chw");
    let pads = attr_ints(&s.attrs, "padding", 4, name)?;
    let pair = |key| attr_ints(&s.attrs, key, 2, name).map(|v| (v[0], v[1]));
    let groups = attr_ints(&s.attrs, "groups", 1, name)?[0];
    let spec = ConvSpec {
        in_channels: c,
        out_channels: w_shape[0],
        height: h,
        width: w,
        kernel: (w_shape[2], w_shape[3]),
        stride: pair("stride")?,
        dilation: pair("dilation")?,
        pads: Pads::from([pads[0], pads[1], pads[2], pads[3]]),
        groups,
        activation: Activation::parse(&s.activation)
            .map_err(|e| plan_err(format!("layer {name:?}: {e}")))?,
    };
    spec.validate()
        .map_err(|e| plan_err(format!("layer {name:?}: {e}")))?;
    let (oh, ow) = spec.output_hw()?;
    if w_shape[1] * groups != c || y.shape != [x.shape[0], spec.out_channels, oh, ow] {
        return Err(plan_err(format!(
            "layer {name:?}: weight {w_shape:?} and input {:?} do not give output {:?}",
            x.shape, y.shape
        )));
    }
    let isa = Isa::parse(&s.isa).map_err(|e| plan_err(format!("layer {name:?}: {e}")))?;
    let weight = weights
        .get(&format!("{name}.weight"))
        .ok_or_else(|| plan_err(format!("layer {name:?}: weight {name}.weight is missing")))?;
    let bias =
        match s.weights.get("bias") {
            Some(shape) if shape != &[spec.out_channels] => {
                return Err(plan_err(format!("layer {name:?}: bias shape {shape:?}")))
            }
            Some(_) => Some(*weights.get(&format!("{name}.bias")).ok_or_else(|| {
                plan_err(format!("layer {name:?}: weight {name}.bias is missing"))
            })?),
            None => None,
        };
    if !prim.applicable(&spec)? {
        return Err(plan_err(format!(
            "layer {name:?}: kernel {} does not apply to {spec}",
            prim.name
        )));
    }
    let packed = prim.pack(&spec, isa, weight, bias)?;
    let batch = x.shape[0];
    let macs = spec.macs()?;
    let threads = |images: usize| useful_threads(macs.saturating_mul(images as u64), plan.threads);
    let batch_pieces = split_work(batch, spec.out_channels, oh, threads(batch));
    let image_pieces = split_work(1, spec.out_channels, oh, threads(1));
    let ws = packed.workspace_stride() * batch_pieces.len().max(image_pieces.len());
    debug_assert_eq!(prim.layout == Layout::Chw, s.layout == "chw");
    Ok((
        Kernel::Conv {
            packed: Box::new(packed),
            batch_pieces,
            image_pieces,
        },
        ws,
    ))
}

/// Images `[n0, n1)` of tensor `l` (contiguous images only when `n1 - n0 > 1`).
///
/// # Safety
/// `l` must lie inside the arena (or its input); the caller must not hold a mutable slice
/// overlapping it.
unsafe fn slice<'a>(
    arena: *mut f32,
    inputs: &[&'a [f32]],
    l: &Loc,
    n0: usize,
    n1: usize,
) -> &'a [f32] {
    let len = (n1 - n0) * l.image;
    match l.input {
        Some(i) => &inputs[i][n0 * l.stride..n0 * l.stride + len],
        None => std::slice::from_raw_parts(arena.add(l.start + n0 * l.stride), len),
    }
}

/// # Safety
/// As [`slice`], and `l` is in the arena (never an input: Plan::check) and no other slice
/// overlapping it is alive.
unsafe fn slice_mut<'a>(arena: *mut f32, l: &Loc, n0: usize, n1: usize) -> &'a mut [f32] {
    std::slice::from_raw_parts_mut(arena.add(l.start + n0 * l.stride), (n1 - n0) * l.image)
}

fn run_step(
    step: &ExecStep,
    arena: *mut f32,
    inputs: &[&[f32]],
    workspace: &mut AlignedBuf,
) -> Result<()> {
    let (x, y) = (&step.inputs[0], &step.output);
    let whole = x.contiguous() && y.contiguous();
    // SAFETY (all slices below): Plan::check proved x and y inside the arena (or x a graph
    // input) and y's bytes disjoint from x's; this step's slices are the only ones alive.
    match &step.kernel {
        Kernel::Conv {
            packed,
            batch_pieces,
            image_pieces,
        } => {
            if whole {
                let (xs, ys) = unsafe {
                    (
                        slice(arena, inputs, x, 0, x.batch),
                        slice_mut(arena, y, 0, y.batch),
                    )
                };
                packed.run_pieces(xs, ys, x.batch, batch_pieces, workspace)?;
            } else {
                for n in 0..x.batch {
                    let (xs, ys) = unsafe {
                        (
                            slice(arena, inputs, x, n, n + 1),
                            slice_mut(arena, y, n, n + 1),
                        )
                    };
                    packed.run_pieces(xs, ys, 1, image_pieces, workspace)?;
                }
            }
        }
        Kernel::Transform {
            kind,
            chw: (c, h, w),
        } => {
            for n in 0..x.batch {
                let (xs, ys) = unsafe {
                    (
                        slice(arena, inputs, x, n, n + 1),
                        slice_mut(arena, y, n, n + 1),
                    )
                };
                transform(*kind, xs, ys, *c, *h, *w)?;
            }
        }
        Kernel::ConvTranspose(packed) => {
            let (xs, ys) = unsafe {
                (
                    slice(arena, inputs, x, 0, x.batch),
                    slice_mut(arena, y, 0, y.batch),
                )
            };
            packed.run_with_workspace(&[xs], ys, workspace)?;
        }
        Kernel::Op(OpStep { parts }) => {
            for part in parts {
                // Binary ops read two tensors, or one and a constant; the rest one.
                let mut xs: [&[f32]; 2] = [&[], &[]];
                let mut k = 0;
                for &i in &part.inputs {
                    let l = &step.inputs[i];
                    xs[k] = unsafe { slice(arena, inputs, l, 0, l.batch) };
                    k += 1;
                }
                for c in &part.consts {
                    xs[k] = c;
                    k += 1;
                }
                let ys = unsafe { slice_mut(arena, y, 0, y.batch) };
                part.op.run(&xs[..k], ys)?;
            }
        }
    }
    Ok(())
}
