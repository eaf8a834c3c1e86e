//! The non-conv steps of a plan: a graph op and its attrs and weights as one of the op
//! drivers of [`crate::ops`], checked against the step's tensors.
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::plan::{LayerStep, Plan};
use crate::ops::{
    kernels, Act, Affine, Binary, BinaryOp, Broadcast, Dims, GlobalPool, Layout, Op, Pool2d, PoolKind, Unary,
};
use crate::conv::Isa;
use crate::{CoreError, Result};

fn plan_err(msg: impl Into<String>) -> CoreError {
    CoreError::Plan(msg.into())
}

/// An op driver with the weights it reads as extra inputs (a binary op's constant).
pub struct OpStep {
    pub op: Box<dyn Op + Send + Sync>,
    pub consts: Vec<Vec<f32>>,
}

/// The C op-table op that computes graph op `op`.
pub fn table_op(op: &str) -> Option<&'static str> {
    Some(match op {
        "relu" | "clip" | "sigmoid" | "hardsigmoid" | "hardswish" | "silu" | "tanh" => "activation",
        "add" | "sub" | "mul" | "div" => "binary",
        "batchnorm" => "affine",
        "maxpool" => "maxpool",
        "avgpool" => "avgpool",
        "global_avgpool" => "global_avgpool",
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
    v.and_then(|v| v.try_into().ok())
        .ok_or_else(|| plan_err(format!("layer {layer:?}: attr {key:?} must be {N} non-negative ints")))
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
        "clip" => Act::Clip { min: num(a, "min", l)?, max: num(a, "max", l)? },
        "sigmoid" => Act::Sigmoid,
        "hardsigmoid" => Act::HardSigmoid { alpha: num(a, "alpha", l)?, beta: num(a, "beta", l)? },
        "hardswish" => Act::HardSwish,
        "silu" => Act::Silu,
        "tanh" => Act::Tanh,
        other => return Err(plan_err(format!("layer {l:?}: {other:?} is not an activation"))),
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

fn weight(weights: &HashMap<String, &[f32]>, layer: &str, key: &str, len: usize) -> Result<Vec<f32>> {
    let w = weights
        .get(&format!("{layer}.{key}"))
        .ok_or_else(|| plan_err(format!("layer {layer:?}: weight {layer}.{key} is missing")))?;
    if w.len() != len {
        return Err(plan_err(format!("layer {layer:?}: weight {key} has {} elements, expected {len}", w.len())));
    }
    Ok(w.to_vec())
}

/// The op driver of layer step `s`, checked: its kernel in the op table for its op and
/// layout, its output dims those of the step's output tensor. `swap` is set when the step's
/// inputs run in the other order (the broadcast operand first).
pub fn op_step(plan: &Plan, s: &LayerStep, weights: &HashMap<String, &[f32]>) -> Result<(OpStep, bool)> {
    let l = &s.layer;
    let table = table_op(&s.op)
        .ok_or_else(|| CoreError::Unsupported(format!("layer {l:?}: op {:?} has no kernel in the runtime", s.op)))?;
    let entry = kernels().iter().find(|k| k.name == s.kernel && k.op == table).ok_or_else(|| {
        plan_err(format!("layer {l:?}: unknown kernel {:?} for op {:?}", s.kernel, s.op))
    })?;
    let layout = match s.layout.as_str() {
        "hwc" => Layout::Hwc,
        _ => Layout::Chw,
    };
    if entry.layout.is_some_and(|k| k != layout) {
        return Err(plan_err(format!("layer {l:?}: kernel {} does not run in layout {}", s.kernel, s.layout)));
    }
    let out = plan.tensor(&s.output)?;
    let shapes: Vec<&[usize]> = s.inputs.iter().map(|t| plan.tensor(t).map(|t| t.shape.as_slice())).collect::<Result<_>>()?;
    for t in s.inputs.iter().chain([&s.output]) {
        let t_layout = &plan.tensor(t)?.layout;
        if t_layout != &s.layout && !(t_layout == "flat" && s.layout == "chw") {
            // a (n, c, 1, 1) operand reads the same in either layout
            let shape = &plan.tensor(t)?.shape;
            if !(shape.len() == 4 && shape[2] == 1 && shape[3] == 1) {
                return Err(plan_err(format!("layer {l:?}: tensor {t:?} is {t_layout}, the step runs {}", s.layout)));
            }
        }
    }
    let isa = Isa::parse(&s.isa).map_err(|e| plan_err(format!("layer {l:?}: {e}")))?;
    let d = dims(&out.shape);
    let mut consts = Vec::new();
    let mut swap = false;
    let op: Box<dyn Op + Send + Sync> = match table {
        "activation" => Box::new(Unary { len: d.len()?, act: activation(s)?, isa }),
        "binary" => {
            let op = match s.op.as_str() {
                "add" => BinaryOp::Add,
                "sub" => BinaryOp::Sub,
                "mul" => BinaryOp::Mul,
                _ => BinaryOp::Div,
            };
            let (y_shape, reversed) = match shapes[..] {
                [x] => {
                    let c = s.weights.get("const").ok_or_else(|| plan_err(format!("layer {l:?}: needs a const")))?;
                    consts.push(weight(weights, l, "const", c.iter().product())?);
                    if x != out.shape.as_slice() {
                        return Err(plan_err(format!("layer {l:?}: input {x:?} is not the output's shape")));
                    }
                    (c.clone(), flag(&s.attrs, "const_first"))
                }
                [a, b] if a == out.shape.as_slice() => (b.to_vec(), false),
                [a, b] if b == out.shape.as_slice() => {
                    swap = true;
                    (a.to_vec(), true)
                }
                _ => return Err(CoreError::Unsupported(format!("layer {l:?}: {} of shapes {shapes:?} broadcasts both inputs", s.op))),
            };
            let bc = broadcast(&out.shape, &y_shape).ok_or_else(|| {
                CoreError::Unsupported(format!("layer {l:?}: {} broadcast of {y_shape:?} to {:?}", s.op, out.shape))
            })?;
            Box::new(Binary { dims: d, layout, op, broadcast: bc, reversed, act: Act::None, isa })
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
                dilation: if max { ints::<2>(&s.attrs, "dilation", l).map(|k| (k[0], k[1]))? } else { (1, 1) },
                pads: ints::<4>(&s.attrs, "padding", l)?,
                ceil_mode: flag(&s.attrs, "ceil_mode"),
                count_include_pad: flag(&s.attrs, "count_include_pad"),
                isa,
            })
        }
        _ => {
            let x = shapes.first().copied().unwrap_or(&[]);
            Box::new(GlobalPool { kind: PoolKind::Avg, dims: dims(x), layout, isa })
        }
    };
    op.validate().map_err(|e| plan_err(format!("layer {l:?}: {e}")))?;
    let got = op.output().map_err(|e| plan_err(format!("layer {l:?}: {e}")))?;
    if got.len()? != d.len()? {
        return Err(plan_err(format!("layer {l:?}: the op gives {got}, the plan's output is {:?}", out.shape)));
    }
    Ok((OpStep { op, consts }, swap))
}
