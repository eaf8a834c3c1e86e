//! The non-conv steps of a plan: a graph op and its attrs and weights as one of the op
//! drivers of [`crate::ops`], checked against the step's tensors.
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::plan::{LayerStep, Plan, Step};
use crate::conv::Isa;
use crate::ops::{
    kernels, Act, Affine, Binary, BinaryOp, Broadcast, ChannelShuffle, ConvTranspose2d, CoordMode,
    CopyChannels, Dims, GlobalPool, LayerNorm, Layout, Linear, Lrn, NearestMode, Op,
    PackedConvTranspose2d, Pad, PadMode, Pool2d, PoolKind, Resize, ResizeMode, Softmax, Unary,
};
use crate::{CoreError, Result};

fn plan_err(msg: impl Into<String>) -> CoreError {
    CoreError::Plan(msg.into())
}

/// One op driver call of a step: the step inputs it reads (by index, in the driver's order)
/// and the weights it reads as further inputs (a binary op's constant).
pub struct Part {
    pub op: Box<dyn Op + Send + Sync>,
    pub inputs: Vec<usize>,
    pub consts: Vec<Vec<f32>>,
}

/// The driver calls of one step, in order: one for most ops, one per input for a concat
/// (each copies its channels into the output).
pub struct OpStep {
    pub parts: Vec<Part>,
}

/// The C op-table op that computes graph op `op`.
pub fn table_op(op: &str) -> Option<&'static str> {
    Some(match op {
        "relu" | "clip" | "sigmoid" | "hardsigmoid" | "hardswish" | "silu" | "tanh" | "gelu" => {
            "activation"
        }
        "add" | "sub" | "mul" | "div" => "binary",
        "batchnorm" => "affine",
        "linear" => "linear",
        "softmax" => "softmax",
        "lrn" => "lrn",
        "layernorm" => "layernorm",
        "pad" => "pad",
        // a reshape step that runs code is the first of a channel shuffle's three layers (the
        // planner's and plan check's pattern), the others fused into it
        "reshape" => "channel_shuffle",
        "resize" => "resize",
        "concat" | "slice" => "copy_channels",
        "maxpool" => "maxpool",
        "avgpool" => "avgpool",
        "global_avgpool" | "mean" => "global_avgpool",
        "conv_transpose" => "deconv",
        _ => return None,
    })
}

/// A tensor's shape as op dims: (n, c, h, w), or (n, elements per image, 1, 1) otherwise.
fn dims(shape: &[usize]) -> Dims {
    match shape {
        [n, c, h, w] => Dims::new(*n, *c, *h, *w),
        [n, rest @ ..] => Dims::new(*n, rest.iter().product(), 1, 1),
        [] => Dims::new(1, 1, 1, 1),
    }
}

fn num(attrs: &Map<String, Value>, key: &str, layer: &str) -> Result<f32> {
    attrs
        .get(key)
        .and_then(Value::as_f64)
        .map(|v| v as f32)
        .ok_or_else(|| plan_err(format!("layer {layer:?}: attr {key:?} must be a number")))
}

fn ints<const N: usize>(attrs: &Map<String, Value>, key: &str, layer: &str) -> Result<[usize; N]> {
    let v: Option<Vec<usize>> = attrs
        .get(key)
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|e| e.as_u64().map(|u| u as usize)).collect());
    v.and_then(|v| v.try_into().ok()).ok_or_else(|| {
        plan_err(format!(
            "layer {layer:?}: attr {key:?} must be {N} non-negative ints"
        ))
    })
}

/// Whether a mean's `axes` are exactly H and W of a 4-D tensor (2 and 3, or -2 and -1).
fn spatial_axes(attrs: &Map<String, Value>) -> bool {
    let axes: Option<Vec<i64>> = attrs
        .get("axes")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_i64).collect());
    let Some(mut axes) = axes else { return false };
    for a in &mut axes {
        *a += if *a < 0 { 4 } else { 0 };
    }
    axes.sort_unstable();
    axes == [2, 3]
}

fn flag(attrs: &Map<String, Value>, key: &str) -> bool {
    attrs.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The activation that graph op `op` computes.
fn activation(s: &LayerStep) -> Result<Act> {
    let a = &s.attrs;
    let l = &s.layer;
    Ok(match s.op.as_str() {
        "relu" => Act::Relu,
        "clip" => Act::Clip {
            min: num(a, "min", l)?,
            max: num(a, "max", l)?,
        },
        "sigmoid" => Act::Sigmoid,
        "hardsigmoid" => Act::HardSigmoid {
            alpha: num(a, "alpha", l)?,
            beta: num(a, "beta", l)?,
        },
        "hardswish" => Act::HardSwish,
        "silu" => Act::Silu,
        "tanh" => Act::Tanh,
        "gelu" => match a
            .get("approximate")
            .and_then(Value::as_str)
            .unwrap_or("none")
        {
            "none" => Act::Gelu,
            other => {
                return Err(CoreError::Unsupported(format!(
                    "layer {l:?}: gelu with approximate {other:?} has no kernel (the erf form only)"
                )))
            }
        },
        other => {
            return Err(plan_err(format!(
                "layer {l:?}: {other:?} is not an activation"
            )))
        }
    })
}

/// How `y` broadcasts against `x` (the output's shape), if the binary kernels take it.
fn broadcast(x: &[usize], y: &[usize]) -> Option<Broadcast> {
    if x == y {
        return Some(Broadcast::Same);
    }
    if y.iter().product::<usize>() == 1 {
        return Some(Broadcast::Scalar);
    }
    let c = x.get(1).copied()?;
    let mut padded = vec![1; x.len().saturating_sub(y.len())];
    padded.extend_from_slice(y);
    if padded.len() != x.len() || padded[2..].iter().any(|&d| d != 1) || padded[1] != c {
        return None;
    }
    match padded[0] {
        1 => Some(Broadcast::Channel),
        n if n == x[0] => Some(Broadcast::ImageChannel),
        _ => None,
    }
}

fn weight(
    weights: &HashMap<String, &[f32]>,
    layer: &str,
    key: &str,
    len: usize,
) -> Result<Vec<f32>> {
    let w = weights
        .get(&format!("{layer}.{key}"))
        .ok_or_else(|| plan_err(format!("layer {layer:?}: weight {layer}.{key} is missing")))?;
    if w.len() != len {
        return Err(plan_err(format!(
            "layer {layer:?}: weight {key} has {} elements, expected {len}",
            w.len()
        )));
    }
    Ok(w.to_vec())
}

/// The op-table kernel of layer step `s`, checked: its kernel in the table for its op and
/// layout, every tensor of the step in that layout's order. Returns the table op, the
/// layout and the ISA.
fn checked_kernel(plan: &Plan, s: &LayerStep) -> Result<(&'static str, Layout, Isa)> {
    let l = &s.layer;
    let table = table_op(&s.op).ok_or_else(|| {
        CoreError::Unsupported(format!(
            "layer {l:?}: op {:?} has no kernel in the runtime",
            s.op
        ))
    })?;
    let entry = kernels()
        .iter()
        .find(|k| k.name == s.kernel && k.op == table)
        .ok_or_else(|| {
            plan_err(format!(
                "layer {l:?}: unknown kernel {:?} for op {:?}",
                s.kernel, s.op
            ))
        })?;
    let layout = match s.layout.as_str() {
        "hwc" => Layout::Hwc,
        _ => Layout::Chw,
    };
    if entry.layout.is_some_and(|k| k != layout) {
        return Err(plan_err(format!(
            "layer {l:?}: kernel {} does not run in layout {}",
            s.kernel, s.layout
        )));
    }
    // chw and flat tensors are both in logical order; a (n, c, 1, 1) tensor reads the same
    // in either layout
    let order = |layout: &str| if layout == "hwc" { "hwc" } else { "chw" };
    for t in s.inputs.iter().chain([&s.output]) {
        let tp = plan.tensor(t)?;
        let either = tp.shape.len() == 4 && tp.shape[2] == 1 && tp.shape[3] == 1;
        if order(&tp.layout) != order(&s.layout) && !either {
            return Err(plan_err(format!(
                "layer {l:?}: tensor {t:?} is {}, the step runs {}",
                tp.layout, s.layout
            )));
        }
    }
    let isa = Isa::parse(&s.isa).map_err(|e| plan_err(format!("layer {l:?}: {e}")))?;
    Ok((table, layout, isa))
}

/// The epilogue activation a conv-like step computes (its fused layers).
fn fused_act(s: &LayerStep) -> Result<Act> {
    match s.activation.as_str() {
        "none" => Ok(Act::None),
        "relu" => Ok(Act::Relu),
        "relu6" => Ok(Act::Relu6),
        other => Err(plan_err(format!(
            "layer {:?}: unknown fused activation {other:?}",
            s.layer
        ))),
    }
}

/// The transposed convolution of step `s` over an input of `x_shape` (N, C, H, W): the
/// graph's attrs (stride, padding (h, w) cropped off both ends, output_padding, dilation,
/// groups), its weight shape, the step's layout, ISA and fused activation.
pub fn conv_transpose_spec(s: &LayerStep, x_shape: &[usize]) -> Result<ConvTranspose2d> {
    let l = &s.layer;
    let [n, c, h, w] = x_shape else {
        return Err(plan_err(format!(
            "layer {l:?}: conv_transpose reads a 4-D tensor, got {x_shape:?}"
        )));
    };
    let w_shape = s
        .weights
        .get("weight")
        .filter(|w| w.len() == 4)
        .ok_or_else(|| plan_err(format!("layer {l:?}: needs a 4-D \"weight\" shape")))?;
    let groups = s
        .attrs
        .get("groups")
        .and_then(Value::as_u64)
        .ok_or_else(|| plan_err(format!("layer {l:?}: attr \"groups\" must be an int")))?
        as usize;
    let pair = |key| ints::<2>(&s.attrs, key, l).map(|v| (v[0], v[1]));
    let (ph, pw) = pair("padding")?;
    let isa = Isa::parse(&s.isa).map_err(|e| plan_err(format!("layer {l:?}: {e}")))?;
    let spec = ConvTranspose2d {
        dims: Dims::new(*n, *c, *h, *w),
        layout: if s.layout == "hwc" {
            Layout::Hwc
        } else {
            Layout::Chw
        },
        out_channels: w_shape[1] * groups,
        kernel: (w_shape[2], w_shape[3]),
        stride: pair("stride")?,
        dilation: pair("dilation")?,
        pads: [ph, pw, ph, pw],
        output_padding: pair("output_padding")?,
        groups,
        act: fused_act(s)?,
        isa,
    };
    if w_shape[0] != *c {
        return Err(plan_err(format!(
            "layer {l:?}: weight {w_shape:?} does not read the input's {c} channels"
        )));
    }
    spec.output_hw()
        .map_err(|e| plan_err(format!("layer {l:?}: {e}")))?;
    Ok(spec)
}

/// Packed-weight and workspace bytes (one call's) of the transposed convolution of plan
/// step `step_json` (a layer step, JSON) over an input of `x_shape`: what the planner
/// records in the step.
pub fn conv_transpose_sizes(step_json: &str, x_shape: &[usize]) -> Result<(usize, usize)> {
    let step: Step = serde_json::from_str(step_json)
        .map_err(|e| plan_err(format!("plan step is not a valid step: {e}")))?;
    let Step::Layer(s) = step else {
        return Err(plan_err("a transform step is not a transposed convolution"));
    };
    let spec = conv_transpose_spec(&s, x_shape)?;
    let packed = spec.pack(&vec![0.0; spec.weight_dims().len()?], &[])?;
    Ok((packed.packed_bytes(), packed.workspace_bytes()))
}

/// The transposed convolution of layer step `s`, checked against its tensors, with its
/// weights packed once.
pub fn conv_transpose_step(
    plan: &Plan,
    s: &LayerStep,
    weights: &HashMap<String, &[f32]>,
) -> Result<PackedConvTranspose2d> {
    let l = &s.layer;
    checked_kernel(plan, s)?;
    let [x] = s.inputs.as_slice() else {
        return Err(plan_err(format!(
            "layer {l:?}: conv_transpose takes one input"
        )));
    };
    let spec = conv_transpose_spec(s, &plan.tensor(x)?.shape)?;
    let out = plan.tensor(&s.output)?;
    let (oh, ow) = spec.output_hw()?;
    if out.shape != [spec.dims.n, spec.out_channels, oh, ow] {
        return Err(plan_err(format!(
            "layer {l:?}: the transposed convolution gives {:?}, the plan's output is {:?}",
            [spec.dims.n, spec.out_channels, oh, ow],
            out.shape
        )));
    }
    let w = weight(weights, l, "weight", spec.weight_dims().len()?)?;
    let bias = if s.weights.contains_key("bias") {
        weight(weights, l, "bias", spec.out_channels)?
    } else {
        Vec::new()
    };
    spec.pack(&w, &bias)
        .map_err(|e| plan_err(format!("layer {l:?}: {e}")))
}

/// The op driver calls of layer step `s`, checked: its kernel in the op table for its op
/// and layout, its output dims those of the step's output tensor.
pub fn op_step(plan: &Plan, s: &LayerStep, weights: &HashMap<String, &[f32]>) -> Result<OpStep> {
    let l = &s.layer;
    let (table, layout, isa) = checked_kernel(plan, s)?;
    let out = plan.tensor(&s.output)?;
    let shapes: Vec<&[usize]> = s
        .inputs
        .iter()
        .map(|t| plan.tensor(t).map(|t| t.shape.as_slice()))
        .collect::<Result<_>>()?;
    let d = dims(&out.shape);
    let mut consts = Vec::new();
    let mut order: Vec<usize> = (0..s.inputs.len()).collect();
    let unsupported = |why: &str| CoreError::Unsupported(format!("layer {l:?}: {} {why}", s.op));
    let op: Box<dyn Op + Send + Sync> = match table {
        "activation" => Box::new(Unary {
            len: d.len()?,
            act: activation(s)?,
            isa,
        }),
        "binary" => {
            let op = match s.op.as_str() {
                "add" => BinaryOp::Add,
                "sub" => BinaryOp::Sub,
                "mul" => BinaryOp::Mul,
                _ => BinaryOp::Div,
            };
            let (y_shape, reversed) = match shapes[..] {
                [x] => {
                    let c = s
                        .weights
                        .get("const")
                        .ok_or_else(|| plan_err(format!("layer {l:?}: needs a const")))?;
                    consts.push(weight(weights, l, "const", c.iter().product())?);
                    if x != out.shape.as_slice() {
                        return Err(plan_err(format!(
                            "layer {l:?}: input {x:?} is not the output's shape"
                        )));
                    }
                    (c.clone(), flag(&s.attrs, "const_first"))
                }
                [a, b] if a == out.shape.as_slice() => (b.to_vec(), false),
                [a, b] if b == out.shape.as_slice() => {
                    order.reverse();
                    (a.to_vec(), true)
                }
                _ => {
                    return Err(CoreError::Unsupported(format!(
                        "layer {l:?}: {} of shapes {shapes:?} broadcasts both inputs",
                        s.op
                    )))
                }
            };
            let bc = broadcast(&out.shape, &y_shape).ok_or_else(|| {
                CoreError::Unsupported(format!(
                    "layer {l:?}: {} broadcast of {y_shape:?} to {:?}",
                    s.op, out.shape
                ))
            })?;
            Box::new(Binary {
                dims: d,
                layout,
                op,
                broadcast: bc,
                reversed,
                act: Act::None,
                isa,
            })
        }
        "affine" => Box::new(Affine {
            dims: d,
            layout,
            scale: weight(weights, l, "scale", d.c)?,
            shift: weight(weights, l, "shift", d.c)?,
            act: Act::None,
            isa,
        }),
        "maxpool" | "avgpool" => {
            let max = table == "maxpool";
            let x = shapes.first().copied().unwrap_or(&[]);
            Box::new(Pool2d {
                kind: if max { PoolKind::Max } else { PoolKind::Avg },
                dims: dims(x),
                layout,
                kernel: ints::<2>(&s.attrs, "kernel", l).map(|k| (k[0], k[1]))?,
                stride: ints::<2>(&s.attrs, "stride", l).map(|k| (k[0], k[1]))?,
                dilation: if max {
                    ints::<2>(&s.attrs, "dilation", l).map(|k| (k[0], k[1]))?
                } else {
                    (1, 1)
                },
                pads: ints::<4>(&s.attrs, "padding", l)?,
                ceil_mode: flag(&s.attrs, "ceil_mode"),
                count_include_pad: flag(&s.attrs, "count_include_pad"),
                isa,
            })
        }
        "global_avgpool" => {
            let x = shapes.first().copied().unwrap_or(&[]);
            if s.op == "mean" && !(x.len() == 4 && spatial_axes(&s.attrs)) {
                return Err(unsupported(&format!(
                    "over axes {:?} of a {}-D tensor has no kernel (the spatial axes of a 4-D \
                     tensor only)",
                    s.attrs.get("axes"),
                    x.len()
                )));
            }
            Box::new(GlobalPool {
                kind: PoolKind::Avg,
                dims: dims(x),
                layout,
                isa,
            })
        }
        "linear" => {
            let w = s
                .weights
                .get("weight")
                .filter(|w| w.len() == 2)
                .ok_or_else(|| unsupported("needs a 2-D weight"))?;
            let (out_f, in_f) = (w[0], w[1]);
            let x = shapes.first().copied().unwrap_or(&[]);
            if x.last() != Some(&in_f) {
                return Err(plan_err(format!(
                    "layer {l:?}: input {x:?} does not end in {in_f} features"
                )));
            }
            let bias = if s.weights.contains_key("bias") {
                weight(weights, l, "bias", out_f)?
            } else {
                Vec::new()
            };
            Box::new(Linear {
                rows: x.iter().product::<usize>() / in_f,
                in_features: in_f,
                out_features: out_f,
                weight: weight(weights, l, "weight", out_f * in_f)?,
                bias,
                act: Act::None,
                isa,
            })
        }
        "softmax" => {
            let x = shapes.first().copied().unwrap_or(&[]);
            let axis = s.attrs.get("axis").and_then(Value::as_i64).unwrap_or(-1);
            let axis = if axis < 0 {
                axis + x.len() as i64
            } else {
                axis
            };
            // over the channels of each pixel: axis 1 of NCHW, or the features of (n, f)
            if axis != 1 || !(x.len() == 4 || x.len() == 2) {
                return Err(unsupported(&format!(
                    "over axis {axis} of a {}-D tensor has no kernel",
                    x.len()
                )));
            }
            Box::new(Softmax {
                dims: d,
                layout,
                isa,
            })
        }
        "channel_shuffle" => {
            let x = shapes.first().copied().unwrap_or(&[]);
            let split: Vec<usize> = s
                .attrs
                .get("shape")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(|e| e.as_u64().map(|u| u as usize)).collect())
                .unwrap_or_default();
            let groups = split.get(1).copied().unwrap_or(0);
            let fits = groups > 0
                && x == out.shape.as_slice()
                && d.c % groups == 0
                && split == [d.n, groups, d.c / groups, d.h, d.w];
            if !fits || x.len() != 4 {
                return Err(plan_err(format!(
                    "layer {l:?}: a channel shuffle reads and writes one (n, c, h, w) shape and \
                     splits its channels by attr \"shape\" (n, groups, c / groups, h, w); got \
                     {x:?} to {:?} by {split:?}",
                    out.shape
                )));
            }
            Box::new(ChannelShuffle {
                dims: d,
                layout,
                groups,
            })
        }
        "lrn" => {
            if out.shape.len() != 4 {
                return Err(unsupported(&format!(
                    "of a {}-D tensor has no kernel (4-D only)",
                    out.shape.len()
                )));
            }
            let size =
                s.attrs.get("size").and_then(Value::as_u64).ok_or_else(|| {
                    plan_err(format!("layer {l:?}: attr \"size\" must be an int"))
                })?;
            Box::new(Lrn {
                dims: d,
                layout,
                size: size as usize,
                alpha: num(&s.attrs, "alpha", l)?,
                beta: num(&s.attrs, "beta", l)?,
                bias: num(&s.attrs, "bias", l)?,
                isa,
            })
        }
        "resize" => {
            let x = shapes.first().copied().unwrap_or(&[]);
            let size = ints::<2>(&s.attrs, "size", l)?;
            let text = |key: &str| s.attrs.get(key).and_then(Value::as_str).unwrap_or("");
            let mode = match (text("mode"), text("nearest")) {
                ("nearest", "floor") => ResizeMode::Nearest(NearestMode::Floor),
                ("nearest", "ceil") => ResizeMode::Nearest(NearestMode::Ceil),
                ("nearest", "round_prefer_floor") => {
                    ResizeMode::Nearest(NearestMode::RoundPreferFloor)
                }
                ("nearest", "round_prefer_ceil") => {
                    ResizeMode::Nearest(NearestMode::RoundPreferCeil)
                }
                ("bilinear", _) => ResizeMode::Linear,
                (mode, nearest) => {
                    return Err(unsupported(&format!("mode {mode:?} (nearest {nearest:?})")))
                }
            };
            let coord = match text("coord") {
                "half_pixel" => CoordMode::HalfPixel,
                "pytorch_half_pixel" => CoordMode::PytorchHalfPixel,
                "asymmetric" => CoordMode::Asymmetric,
                "align_corners" => CoordMode::AlignCorners,
                other => return Err(unsupported(&format!("coordinate mode {other:?}"))),
            };
            // The graph's scale is output per input, the coordinates' ratio its inverse.
            let scale = s
                .attrs
                .get("scale")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                .filter(|v| v.len() == 2)
                .ok_or_else(|| {
                    plan_err(format!("layer {l:?}: attr \"scale\" must be 2 numbers"))
                })?;
            Box::new(Resize {
                dims: dims(x),
                layout,
                out_hw: (size[0], size[1]),
                mode,
                coord,
                ratio: Some(((1.0 / scale[0]) as f32, (1.0 / scale[1]) as f32)),
                isa,
            })
        }
        "layernorm" => {
            // over the channels of a 4-D tensor (ConvNeXt's, folded from channels-last)
            let axes: Option<Vec<i64>> = s
                .attrs
                .get("axes")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(Value::as_i64).collect());
            if out.shape.len() != 4 || axes.as_deref() != Some(&[1]) {
                return Err(unsupported(&format!(
                    "over axes {axes:?} of a {}-D tensor has no kernel (the channels of a 4-D \
                     tensor only)",
                    out.shape.len()
                )));
            }
            let affine = |key: &str, fill: f32| -> Result<Vec<f32>> {
                if s.weights.contains_key(key) {
                    weight(weights, l, key, d.c)
                } else {
                    Ok(vec![fill; d.c])
                }
            };
            Box::new(LayerNorm {
                dims: d,
                layout,
                gamma: affine("scale", 1.0)?,
                beta: affine("shift", 0.0)?,
                eps: num(&s.attrs, "eps", l)?,
                isa,
            })
        }
        "pad" => {
            let x = shapes.first().copied().unwrap_or(&[]);
            if x.len() != 4 {
                return Err(unsupported(&format!(
                    "of a {}-D tensor has no kernel (4-D only)",
                    x.len()
                )));
            }
            let mode = match s.attrs.get("mode").and_then(Value::as_str).unwrap_or("") {
                "constant" => PadMode::Constant(num(&s.attrs, "value", l)?),
                "reflect" => PadMode::Reflect,
                "edge" => PadMode::Edge,
                other => return Err(unsupported(&format!("mode {other:?}"))),
            };
            Box::new(Pad {
                dims: dims(x),
                layout,
                pads: ints::<4>(&s.attrs, "padding", l)?,
                mode,
            })
        }
        "copy_channels" => return copy_parts(s, &shapes, &out.shape, layout),
        other => {
            return Err(plan_err(format!(
                "layer {l:?}: table op {other:?} is not an op step"
            )))
        }
    };
    op.validate()
        .map_err(|e| plan_err(format!("layer {l:?}: {e}")))?;
    let got = op
        .output()
        .map_err(|e| plan_err(format!("layer {l:?}: {e}")))?;
    if got.len()? != d.len()? {
        return Err(plan_err(format!(
            "layer {l:?}: the op gives {got}, the plan's output is {:?}",
            out.shape
        )));
    }
    Ok(OpStep {
        parts: vec![Part {
            op,
            inputs: order,
            consts,
        }],
    })
}

/// Concat and slice along the channels (axis 1 of a 4-D tensor, the features of a 2-D one):
/// one channel copy per input.
fn copy_parts(s: &LayerStep, shapes: &[&[usize]], out: &[usize], layout: Layout) -> Result<OpStep> {
    let l = &s.layer;
    let axis = s.attrs.get("axis").and_then(Value::as_i64).unwrap_or(0);
    let axis = if axis < 0 {
        axis + out.len() as i64
    } else {
        axis
    };
    if axis != 1 || !(out.len() == 4 || out.len() == 2) {
        return Err(CoreError::Unsupported(format!(
            "layer {l:?}: {} along axis {axis} of a {}-D tensor has no kernel (channels only)",
            s.op,
            out.len()
        )));
    }
    let o = dims(out);
    let copy =
        |x: &[usize], src_offset: usize, dst_offset: usize, channels: usize| -> Result<Part> {
            let xd = dims(x);
            let op = CopyChannels {
                n: o.n,
                h: o.h,
                w: o.w,
                layout,
                channels,
                src_c: xd.c,
                src_offset,
                dst_c: o.c,
                dst_offset,
            };
            op.validate()
                .map_err(|e| plan_err(format!("layer {l:?}: {e}")))?;
            Ok(Part {
                op: Box::new(op),
                inputs: Vec::new(),
                consts: Vec::new(),
            })
        };
    let mut parts = Vec::new();
    if s.op == "slice" {
        let start = s.attrs.get("start").and_then(Value::as_u64).unwrap_or(0) as usize;
        let mut part = copy(shapes[0], start, 0, o.c)?;
        part.inputs = vec![0];
        parts.push(part);
    } else {
        let mut offset = 0;
        for (i, x) in shapes.iter().enumerate() {
            let c = dims(x).c;
            let mut part = copy(x, 0, offset, c)?;
            part.inputs = vec![i];
            parts.push(part);
            offset += c;
        }
        if offset != o.c {
            return Err(plan_err(format!(
                "layer {l:?}: inputs hold {offset} channels, the output {}",
                o.c
            )));
        }
    }
    Ok(OpStep { parts })
}
