//! The Plan as the executor reads it: parsed from JSON with serde and checked before anything
//! runs. The schema is defined once, in python/leanconv/runtime/plan.py (its docstring); the
//! Python side also checks the plan against its Graph (digest, layer names and ops), while
//! this side checks everything the executor's memory safety rests on: every tensor inside the
//! arena, views inside their parents, no step writing memory it reads, no two allocations
//! live at the same time overlapping, and no byte written by two steps.
use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::arena::{self, ArenaTensor, Conflict};
use crate::{CoreError, Result};

pub const FORMAT: &str = "leanconv-plan";
pub const VERSION: u32 = 1;

/// Kernels that run no code: their output is already in place when their inputs are.
pub const CONCAT_VIEW: &str = "concat_view";
pub const RESHAPE_VIEW: &str = "reshape_view";

fn plan_err(msg: impl Into<String>) -> CoreError {
    CoreError::Plan(msg.into())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphRef {
    pub name: String,
    pub digest: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewOf {
    pub tensor: String,
    pub channel_offset: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorPlan {
    pub shape: Vec<usize>,
    pub layout: String,
    pub offset: Option<usize>,
    pub bytes: usize,
    pub view_of: Option<ViewOf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerStep {
    pub layer: String,
    pub op: String,
    pub kernel: String,
    pub layout: String,
    pub isa: String,
    pub inputs: Vec<String>,
    pub output: String,
    pub fused: Vec<String>,
    pub activation: String,
    pub attrs: serde_json::Map<String, serde_json::Value>,
    pub weights: BTreeMap<String, Vec<usize>>,
    pub workspace_bytes: usize,
    pub packed_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformStep {
    pub transform: String,
    pub inputs: Vec<String>,
    pub output: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Step {
    Layer(Box<LayerStep>),
    Transform(TransformStep),
}

impl Step {
    pub fn inputs(&self) -> &[String] {
        match self {
            Step::Layer(s) => &s.inputs,
            Step::Transform(s) => &s.inputs,
        }
    }
    pub fn output(&self) -> &str {
        match self {
            Step::Layer(s) => &s.output,
            Step::Transform(s) => &s.output,
        }
    }
    /// Whether the step runs code (and so writes its output's memory).
    pub fn writes(&self) -> bool {
        !matches!(self, Step::Layer(s) if s.kernel == CONCAT_VIEW || s.kernel == RESHAPE_VIEW)
    }
    fn describe(&self, i: usize) -> String {
        match self {
            Step::Layer(s) => format!("step {i} (layer {:?}, kernel {:?})", s.layer, s.kernel),
            Step::Transform(s) => format!("step {i} ({} of {:?})", s.transform, s.inputs),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format: String,
    pub version: u32,
    pub graph: GraphRef,
    pub threads: usize,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub tensors: BTreeMap<String, TensorPlan>,
    pub steps: Vec<Step>,
    pub arena_bytes: usize,
    pub workspace_bytes: usize,
    pub packed_bytes: usize,
}

/// Where a tensor's data lives, in f32 elements: image `n` is
/// `[start + n*stride, start + n*stride + image)` of the arena, or of graph input `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub input: Option<usize>,
    pub start: usize,
    pub stride: usize,
    pub image: usize,
    pub batch: usize,
}

impl Loc {
    /// Whether the images follow each other without gaps (one slice holds the whole batch).
    pub fn contiguous(&self) -> bool {
        self.stride == self.image || self.batch <= 1
    }
    fn intervals(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.batch).map(|n| {
            let s = self.start + n * self.stride;
            (s, s + self.image)
        })
    }
    fn overlaps(&self, other: &Loc) -> bool {
        self.input.is_none()
            && other.input.is_none()
            && self
                .intervals()
                .any(|a| other.intervals().any(|b| a.0 < b.1 && b.0 < a.1))
    }
}

/// The step writing each tensor, and the steps reading it.
type Dataflow<'a> = (HashMap<&'a str, usize>, HashMap<&'a str, Vec<usize>>);

fn elems(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

impl Plan {
    pub fn from_json(text: &str) -> Result<Plan> {
        let plan: Plan =
            serde_json::from_str(text).map_err(|e| plan_err(format!("plan JSON: {e}")))?;
        if plan.format != FORMAT || plan.version != VERSION {
            return Err(plan_err(format!(
                "plan format {:?} version {} is not {FORMAT:?} version {VERSION}",
                plan.format, plan.version
            )));
        }
        Ok(plan)
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorPlan> {
        self.tensors
            .get(name)
            .ok_or_else(|| plan_err(format!("tensor {name:?} is not in the plan's tensors")))
    }

    /// Checks the plan (see the module comment) and returns every tensor's location.
    pub fn check(&self) -> Result<HashMap<String, Loc>> {
        if self.threads == 0 || self.threads > 1024 {
            return Err(plan_err(format!(
                "threads must be 1..=1024, got {}",
                self.threads
            )));
        }
        let locs = self.locations()?;
        let (writer, readers) = self.dataflow()?;
        self.check_steps(&locs)?;
        self.check_arena(&locs, &writer, &readers)?;
        for name in &self.outputs {
            if !locs[name].contiguous() {
                return Err(plan_err(format!(
                    "graph output {name:?} must not be a strided view"
                )));
            }
        }
        Ok(locs)
    }

    fn locations(&self) -> Result<HashMap<String, Loc>> {
        let mut locs = HashMap::new();
        for (name, t) in &self.tensors {
            let n = elems(&t.shape)
                .filter(|n| n.checked_mul(4) == Some(t.bytes))
                .ok_or_else(|| {
                    plan_err(format!(
                        "tensor {name:?}: {} bytes do not hold shape {:?} of float32",
                        t.bytes, t.shape
                    ))
                })?;
            let layout_ok = match t.layout.as_str() {
                "chw" | "hwc" => t.shape.len() == 4,
                "flat" => t.shape.len() != 4,
                _ => false,
            };
            if !layout_ok || t.shape.is_empty() {
                return Err(plan_err(format!(
                    "tensor {name:?}: layout {:?} does not fit shape {:?} (chw or hwc for 4-D, flat otherwise)",
                    t.layout, t.shape
                )));
            }
            let batch = t.shape[0];
            let image = n.checked_div(batch).unwrap_or(0);
            let input = self.inputs.iter().position(|i| i == name);
            let loc = match (input, t.offset, &t.view_of) {
                (Some(i), None, None) => Loc {
                    input: Some(i),
                    start: 0,
                    stride: image,
                    image,
                    batch,
                },
                (Some(_), _, _) => {
                    return Err(plan_err(format!(
                        "graph input {name:?} is read in place: its offset and view_of must be null"
                    )))
                }
                (None, Some(off), None) => {
                    if off % arena::ALIGN != 0
                        || off
                            .checked_add(t.bytes)
                            .is_none_or(|e| e > self.arena_bytes)
                    {
                        return Err(plan_err(format!(
                            "tensor {name:?} at offset {off} ({} bytes) is unaligned or outside the {}-byte arena",
                            t.bytes, self.arena_bytes
                        )));
                    }
                    Loc {
                        input: None,
                        start: off / 4,
                        stride: image,
                        image,
                        batch,
                    }
                }
                (None, Some(off), Some(v)) => self.view_loc(name, t, v, off, image, batch)?,
                (None, None, _) => {
                    return Err(plan_err(format!(
                        "tensor {name:?} has no arena offset and is not a graph input"
                    )))
                }
            };
            locs.insert(name.clone(), loc);
        }
        for name in self.inputs.iter().chain(&self.outputs) {
            self.tensor(name)?;
        }
        for name in &self.outputs {
            if !matches!(self.tensors[name].layout.as_str(), "chw" | "flat") {
                return Err(plan_err(format!(
                    "graph output {name:?} must be in logical (chw or flat) layout"
                )));
            }
        }
        Ok(locs)
    }

    /// A view's location: per image, `channel_offset` channels into its parent's image.
    fn view_loc(
        &self,
        name: &str,
        t: &TensorPlan,
        v: &ViewOf,
        offset: usize,
        image: usize,
        batch: usize,
    ) -> Result<Loc> {
        let p = self.tensor(&v.tensor)?;
        let bad = |why: &str| {
            plan_err(format!(
                "tensor {name:?} as a view of {:?}: {why}",
                v.tensor
            ))
        };
        if p.view_of.is_some() || self.inputs.contains(&v.tensor) {
            return Err(bad(
                "the parent must be an arena tensor that is not itself a view",
            ));
        }
        if p.shape[0] != batch || p.layout == "hwc" && (v.channel_offset != 0 || t.bytes != p.bytes)
        {
            return Err(bad(
                "batch sizes differ, or a part of an hwc tensor is not contiguous",
            ));
        }
        let p_image = elems(&p.shape).unwrap_or(0).checked_div(batch).unwrap_or(0);
        let inner = elems(p.shape.get(2..).unwrap_or(&[])).unwrap_or(0);
        let begin = v.channel_offset.saturating_mul(inner);
        let p_off = p.offset.unwrap_or(0);
        if begin.saturating_add(image) > p_image || p_off.checked_add(begin * 4) != Some(offset) {
            return Err(bad(&format!(
                "channels from {} do not fit the parent, or offset {offset} is not the parent's \
                 offset plus the channel offset",
                v.channel_offset
            )));
        }
        Ok(Loc {
            input: None,
            start: p_off / 4 + begin,
            stride: p_image,
            image,
            batch,
        })
    }

    /// The step that writes each tensor and the steps that read it; every tensor written
    /// once, before it is read.
    fn dataflow(&self) -> Result<Dataflow<'_>> {
        let mut writer: HashMap<&str, usize> = HashMap::new();
        let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, step) in self.steps.iter().enumerate() {
            for t in step.inputs() {
                self.tensor(t)?;
                if !writer.contains_key(t.as_str()) && !self.inputs.contains(t) {
                    return Err(plan_err(format!(
                        "{} reads tensor {t:?} before any step writes it",
                        step.describe(i)
                    )));
                }
                readers.entry(t).or_default().push(i);
            }
            let out = step.output();
            self.tensor(out)?;
            if self.inputs.iter().any(|t| t == out) || writer.insert(out, i).is_some() {
                return Err(plan_err(format!(
                    "{} writes tensor {out:?}, which is a graph input or written twice",
                    step.describe(i)
                )));
            }
        }
        for name in self.tensors.keys().chain(&self.outputs) {
            if !writer.contains_key(name.as_str()) && !self.inputs.contains(name) {
                return Err(plan_err(format!("tensor {name:?} is never written")));
            }
        }
        Ok((writer, readers))
    }

    /// Per step: what its kernel needs of its tensors' placement.
    fn check_steps(&self, locs: &HashMap<String, Loc>) -> Result<()> {
        for (i, step) in self.steps.iter().enumerate() {
            let out = step.output();
            let view_of = |t: &str| self.tensors[t].view_of.as_ref().map(|v| v.tensor.as_str());
            match step {
                Step::Layer(s) if s.kernel == CONCAT_VIEW => {
                    let mut channel = 0;
                    for t in &s.inputs {
                        let v = self.tensors[t].view_of.as_ref();
                        if v.map(|v| (v.tensor.as_str(), v.channel_offset)) != Some((out, channel))
                        {
                            return Err(plan_err(format!(
                                "{}: input {t:?} must be a view of {out:?} at channel {channel}",
                                step.describe(i)
                            )));
                        }
                        channel += self.tensors[t].shape.get(1).copied().unwrap_or(0);
                    }
                    if self.tensors[out].shape.get(1) != Some(&channel) {
                        return Err(plan_err(format!(
                            "{}: its views hold {channel} channels, not all of {out:?}",
                            step.describe(i)
                        )));
                    }
                }
                Step::Layer(s) if s.kernel == RESHAPE_VIEW => {
                    let x = s.inputs.first().map(String::as_str);
                    // a view of its input, or, when the input is itself a view, of the
                    // same tensor (views are recorded against the tensor that owns the bytes)
                    let same_bytes = view_of(out).is_some()
                        && (view_of(out) == x || view_of(out) == x.and_then(view_of));
                    if s.inputs.len() != 1
                        || !same_bytes
                        || locs[out].start != locs[x.unwrap_or_default()].start
                        || locs[out].image != locs[x.unwrap_or_default()].image
                    {
                        return Err(plan_err(format!(
                            "{}: output must be a whole view of its one input",
                            step.describe(i)
                        )));
                    }
                }
                _ => {
                    let o = &locs[out];
                    if o.input.is_some() {
                        return Err(plan_err(format!(
                            "{} writes a graph input",
                            step.describe(i)
                        )));
                    }
                    if let Some(t) = step.inputs().iter().find(|t| locs[t.as_str()].overlaps(o)) {
                        return Err(plan_err(format!(
                            "{} writes {out:?} over its input {t:?} in the arena",
                            step.describe(i)
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Allocations (arena tensors with their views) placed without live overlap, and no
    /// byte of one allocation written by two steps.
    fn check_arena(
        &self,
        locs: &HashMap<String, Loc>,
        writer: &HashMap<&str, usize>,
        readers: &HashMap<&str, Vec<usize>>,
    ) -> Result<()> {
        let end = self.steps.len();
        let roots: Vec<&str> = self
            .tensors
            .iter()
            .filter(|(n, t)| t.view_of.is_none() && !self.inputs.contains(n))
            .map(|(n, _)| n.as_str())
            .collect();
        let index: HashMap<&str, usize> = roots.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let mut alloc: Vec<ArenaTensor> = roots
            .iter()
            .map(|n| ArenaTensor {
                bytes: self.tensors[*n].bytes,
                first: usize::MAX,
                last: 0,
                alias_of: None,
            })
            .collect();
        let mut written: Vec<Vec<(&str, Loc)>> = vec![Vec::new(); roots.len()];
        for (name, t) in &self.tensors {
            let root = t
                .view_of
                .as_ref()
                .map_or(name.as_str(), |v| v.tensor.as_str());
            let Some(&r) = index.get(root) else { continue };
            let first = writer[name.as_str()];
            let last = if self.outputs.contains(name) {
                end
            } else {
                readers
                    .get(name.as_str())
                    .and_then(|r| r.last().copied())
                    .unwrap_or(first)
            };
            let a = &mut alloc[r];
            (a.first, a.last) = (a.first.min(first), a.last.max(last));
            if self.steps[first].writes() {
                let loc = locs[name];
                if let Some((other, _)) = written[r].iter().find(|(_, l)| l.overlaps(&loc)) {
                    return Err(plan_err(format!(
                        "tensors {other:?} and {name:?} are written by two steps into the same arena bytes"
                    )));
                }
                written[r].push((name, loc));
            }
        }
        let offsets: Vec<usize> = roots
            .iter()
            .map(|n| self.tensors[*n].offset.unwrap_or(0))
            .collect();
        let total = self.arena_bytes.next_multiple_of(arena::ALIGN);
        let conflict = arena::find_conflict(&alloc, &offsets, total)?;
        let name = |i: usize| roots[i];
        match conflict {
            None => Ok(()),
            Some(Conflict::Outside(i) | Conflict::AliasMoved(i)) => Err(plan_err(format!(
                "arena: tensor {:?} does not fit the {total}-byte arena",
                name(i)
            ))),
            Some(Conflict::Overlap(a, b)) => Err(plan_err(format!(
                "arena: tensors {:?} and {:?} are live at the same time and overlap",
                name(a),
                name(b)
            ))),
        }
    }
}
