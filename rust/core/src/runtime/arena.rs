//! Activation arena offsets from tensor lifetimes, as TFLite's `arena_planner` places them:
//! tensors largest first, each at the lowest 64-byte aligned offset where it overlaps no
//! already placed tensor whose lifetime intersects its own.
//!
//! A lifetime is the inclusive range of step indices from the step that writes the tensor to
//! the last step that reads it. A tensor may be placed in place of another (`alias_of`: an
//! element-wise step overwriting its input, whose last reader it is): it takes that tensor's
//! offset, and the pair is placed as one allocation over the union of their lifetimes.
use crate::{CoreError, Result};

/// Every offset and every allocation size is a multiple of this (cache lines, SIMD loads).
pub const ALIGN: usize = 64;

/// One tensor to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArenaTensor {
    pub bytes: usize,
    /// First step that writes the tensor.
    pub first: usize,
    /// Last step that reads it (at least `first`).
    pub last: usize,
    /// Index of the tensor whose memory this one reuses in place, if any.
    pub alias_of: Option<usize>,
}

/// The placement: one offset per tensor and the arena's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arena {
    pub offsets: Vec<usize>,
    pub total: usize,
}

fn aligned(bytes: usize) -> Result<usize> {
    bytes
        .checked_next_multiple_of(ALIGN)
        .ok_or_else(|| CoreError::InvalidArgument(format!("tensor of {bytes} bytes overflows")))
}

fn intersect(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The root of each tensor's alias chain, checking that chains end and that an alias fits in
/// its root.
fn roots(tensors: &[ArenaTensor]) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        if t.first > t.last {
            return Err(CoreError::InvalidArgument(format!(
                "tensor {i}: lifetime [{}, {}] is empty",
                t.first, t.last
            )));
        }
        let mut r = i;
        for _ in 0..=tensors.len() {
            match tensors[r].alias_of {
                Some(a) if a >= tensors.len() => {
                    return Err(CoreError::InvalidArgument(format!(
                        "tensor {r}: alias_of {a} is not a tensor"
                    )))
                }
                Some(a) => r = a,
                None => break,
            }
        }
        if tensors[r].alias_of.is_some() {
            return Err(CoreError::InvalidArgument(format!(
                "tensor {i}: alias_of chain is a cycle"
            )));
        }
        out.push(r);
    }
    Ok(out)
}

/// An allocation: aligned size and (first, last) step of its lifetime.
type Allocation = (usize, (usize, usize));

/// Allocations (one per alias root): aligned size and union lifetime, by root index.
fn allocations(tensors: &[ArenaTensor]) -> Result<(Vec<usize>, Vec<Allocation>)> {
    let roots = roots(tensors)?;
    let mut alloc: Vec<Allocation> = tensors.iter().map(|_| (0, (usize::MAX, 0))).collect();
    for (t, &r) in tensors.iter().zip(&roots) {
        let a = &mut alloc[r];
        a.0 = a.0.max(aligned(t.bytes)?);
        a.1 = (a.1 .0.min(t.first), a.1 .1.max(t.last));
    }
    Ok((roots, alloc))
}

/// Places `tensors` greedily by size (ties by index, so the result is deterministic).
pub fn plan(tensors: &[ArenaTensor]) -> Result<Arena> {
    let (roots, alloc) = allocations(tensors)?;
    let mut order: Vec<usize> = (0..tensors.len()).filter(|&i| roots[i] == i).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(alloc[i].0), i));
    let mut placed: Vec<(usize, usize, (usize, usize))> = Vec::new(); // offset, size, lifetime
    let mut offsets = vec![0; tensors.len()];
    let mut total = 0usize;
    for i in order {
        let (size, life) = alloc[i];
        let mut live: Vec<(usize, usize)> = placed
            .iter()
            .filter(|p| intersect(p.2, life))
            .map(|p| (p.0, p.0 + p.1))
            .collect();
        live.sort_unstable();
        // The lowest gap between live placed tensors that holds `size`.
        let mut offset = 0usize;
        for (start, end) in live {
            if start >= offset.saturating_add(size) {
                break;
            }
            offset = offset.max(end);
        }
        offsets[i] = offset;
        let end = offset
            .checked_add(size)
            .ok_or_else(|| CoreError::InvalidArgument("arena size overflows".into()))?;
        total = total.max(end);
        placed.push((offset, size, life));
    }
    for (i, &r) in roots.iter().enumerate() {
        offsets[i] = offsets[r];
    }
    Ok(Arena { offsets, total })
}

/// The largest total of aligned allocation sizes live at one step: no placement is smaller.
pub fn lower_bound(tensors: &[ArenaTensor]) -> Result<usize> {
    let (roots, alloc) = allocations(tensors)?;
    let live: Vec<Allocation> = (0..tensors.len())
        .filter(|&i| roots[i] == i)
        .map(|i| alloc[i])
        .collect();
    let steps = live.iter().map(|a| a.1 .1 + 1).max().unwrap_or(0);
    Ok((0..steps)
        .map(|s| {
            live.iter()
                .filter(|a| intersect(a.1, (s, s)))
                .map(|a| a.0)
                .sum()
        })
        .max()
        .unwrap_or(0))
}

/// What is wrong with a placement, by tensor index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Unaligned, or extending past the arena's end.
    Outside(usize),
    /// Reusing a tensor in place but not at its offset.
    AliasMoved(usize),
    /// Two allocations live at the same time that share bytes.
    Overlap(usize, usize),
}

/// The first conflict of a placement (offsets aligned, every tensor inside `total`, aliases
/// at their root's offset, no two allocations with intersecting lifetimes overlapping), or
/// none; an error for malformed tensors (alias cycles, empty lifetimes).
pub fn find_conflict(
    tensors: &[ArenaTensor],
    offsets: &[usize],
    total: usize,
) -> Result<Option<Conflict>> {
    let (roots, alloc) = allocations(tensors)?;
    if offsets.len() != tensors.len() {
        return Err(CoreError::InvalidArgument(format!(
            "{} offsets for {} tensors",
            offsets.len(),
            tensors.len()
        )));
    }
    for (i, t) in tensors.iter().enumerate() {
        if offsets[i] % ALIGN != 0 || offsets[i].saturating_add(aligned(t.bytes)?) > total {
            return Ok(Some(Conflict::Outside(i)));
        }
        if offsets[i] != offsets[roots[i]] {
            return Ok(Some(Conflict::AliasMoved(i)));
        }
    }
    let rooted: Vec<usize> = (0..tensors.len()).filter(|&i| roots[i] == i).collect();
    for (n, &a) in rooted.iter().enumerate() {
        for &b in &rooted[n + 1..] {
            let (ra, rb) = (
                (offsets[a], offsets[a] + alloc[a].0),
                (offsets[b], offsets[b] + alloc[b].0),
            );
            if intersect(alloc[a].1, alloc[b].1) && ra.0 < rb.1 && rb.0 < ra.1 {
                return Ok(Some(Conflict::Overlap(a, b)));
            }
        }
    }
    Ok(None)
}
