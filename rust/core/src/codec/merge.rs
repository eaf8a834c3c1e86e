//! Lossy merging of rare weight patterns (Wen & Gregg, arXiv 2006.11967): before coding, each
//! rare pattern is replaced by a frequent pattern that differs from it by at most a tolerance
//! in every element, so the pattern codec stores fewer dictionary entries and escapes.
//!
//! Patterns are the pattern codec's vectors (the k×k slices of a 4-D conv weight, otherwise
//! runs of 4 codes; `simple::pattern_vectors`). "Frequent" is the pattern codec's
//! dictionary: the patterns seen at least twice, in dictionary order, at most
//! `max_patterns` of them (default: the codec's own cap). Every other pattern is rare, and
//! the codec pays for it with an escape plus all its values, or with its own dictionary
//! entry; mapping it onto a dictionary pattern removes that cost. Among the dictionary
//! patterns within the tolerance, a rare pattern takes the most frequent one (the shortest id
//! code: the largest saving), ties by the smaller sum of absolute differences, then by
//! dictionary order. Targets are never themselves merged, so every element moves by at most
//! the tolerance from the input (no chains), and the number of distinct patterns can only
//! fall.
//!
//! By default a pattern merges only into one with the same zero/non-zero structure: pruned
//! weights stay exactly zero (the sparsity, and every zero-aware codec's gain, is kept) and
//! surviving weights never vanish. The result is deterministic: it depends only on the codes,
//! the shape and the options.
use std::collections::HashMap;

use super::numel;
use super::simple::{dictionary_order, pattern_vectors, unique_patterns, MAX_DICT};
use crate::error::{CoreError, Result};

/// Largest tolerance in code units (the full span of int8 codes needs 255).
pub const MAX_TOLERANCE: u8 = u8::MAX;

/// What [`merge_patterns`] may change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeOptions {
    /// Largest change of any element, in code units (L-inf). 0 changes nothing.
    pub tolerance: u8,
    /// At most this many (most frequent) dictionary patterns are merge targets, and every
    /// pattern outside them is a merge candidate: a cap on the dictionary. `None`: the
    /// pattern codec's cap.
    pub max_patterns: Option<usize>,
    /// Merge only into patterns with the same zero/non-zero structure.
    pub keep_zeros: bool,
}

impl MergeOptions {
    /// Checks arguments as they come from a caller (e.g. Python integers), with one clear
    /// message for each way they can be wrong.
    pub fn new(tolerance: i64, max_patterns: Option<i64>, keep_zeros: bool) -> Result<Self> {
        let tolerance = u8::try_from(tolerance).map_err(|_| {
            CoreError::InvalidArgument(format!(
                "merge tolerance must be an integer in 0..={MAX_TOLERANCE} code units, got {tolerance}"
            ))
        })?;
        let max_patterns = match max_patterns {
            None => None,
            Some(k) => Some(usize::try_from(k).map_err(|_| {
                CoreError::InvalidArgument(format!("max_patterns must be >= 0 (or None), got {k}"))
            })?),
        };
        Ok(Self {
            tolerance,
            max_patterns,
            keep_zeros,
        })
    }
}

/// The merged codes and what the merge did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    pub codes: Vec<i8>,
    /// Distinct patterns (as the pattern codec slices them) before and after.
    pub patterns_before: usize,
    pub patterns_after: usize,
    /// Elements whose code changed.
    pub changed: usize,
}

/// Bit i set where element i of the pattern is non-zero (patterns have at most 64 elements).
fn zero_mask(p: &[i8]) -> u64 {
    p.iter()
        .enumerate()
        .fold(0u64, |m, (i, &q)| m | (((q != 0) as u64) << i))
}

/// Sum of |a - b| when every |a - b| <= tol, else None (stops at the first element over).
fn within(a: &[i8], b: &[i8], tol: i32) -> Option<u32> {
    let mut l1 = 0u32;
    for (&x, &y) in a.iter().zip(b) {
        let d = (x as i32 - y as i32).abs();
        if d > tol {
            return None;
        }
        l1 += d as u32;
    }
    Some(l1)
}

/// Replaces rare patterns of `codes` (a tensor of `shape`) by frequent ones within
/// `opt.tolerance`; see the module documentation. Tolerance 0 returns the input unchanged.
///
/// Cost: one hash pass, then for each rare pattern a scan of the targets with its zero mask
/// (all targets without `keep_zeros`), stopping at the first (most frequent) match.
pub fn merge_patterns(codes: &[i8], shape: &[usize], opt: &MergeOptions) -> Result<Merged> {
    let n = numel(shape)?;
    if n != codes.len() {
        return Err(CoreError::Shape(format!(
            "shape {shape:?} holds {n} elements but {} codes were given",
            codes.len()
        )));
    }
    if codes.is_empty() {
        return Ok(Merged {
            codes: Vec::new(),
            patterns_before: 0,
            patterns_after: 0,
            changed: 0,
        });
    }
    let (v, padded) = pattern_vectors(codes, shape);
    let vecs: Vec<&[i8]> = padded.chunks_exact(v).collect();
    let (vid, first) = unique_patterns(&vecs);
    let u = first.len();
    let unchanged = |codes: &[i8]| Merged {
        codes: codes.to_vec(),
        patterns_before: u,
        patterns_after: u,
        changed: 0,
    };
    if opt.tolerance == 0 {
        return Ok(unchanged(codes));
    }
    let mut counts = vec![0u32; u];
    for &p in &vid {
        counts[p as usize] += 1;
    }
    let pat = |p: u32| vecs[first[p as usize]];

    // Targets: the pattern codec's dictionary (seen at least twice), capped.
    let mut targets: Vec<u32> = (0..u as u32).filter(|&p| counts[p as usize] >= 2).collect();
    dictionary_order(&mut targets, &counts, &vecs, &first);
    targets.truncate(opt.max_patterns.unwrap_or(MAX_DICT).min(MAX_DICT));
    if targets.is_empty() {
        return Ok(unchanged(codes));
    }
    let mut is_target = vec![false; u];
    let mut buckets: HashMap<u64, Vec<u32>> = HashMap::new();
    for &t in &targets {
        is_target[t as usize] = true;
        let key = if opt.keep_zeros { zero_mask(pat(t)) } else { 0 };
        buckets.entry(key).or_default().push(t); // stays in dictionary order
    }

    // The last vector may be partial (zero-padded); only the first `tail_len` elements are
    // written back, so its pattern may move only onto a target that is zero in the padding,
    // else the written tail would be a new pattern.
    let tail_len = codes.len() % v;
    let tail_pat = (tail_len != 0).then(|| vid[vid.len() - 1]);

    let tol = opt.tolerance as i32;
    let mut map_to: Vec<Option<u32>> = vec![None; u];
    let mut merged = 0usize;
    for p in 0..u as u32 {
        if is_target[p as usize] {
            continue;
        }
        let src = pat(p);
        let key = if opt.keep_zeros { zero_mask(src) } else { 0 };
        let Some(cands) = buckets.get(&key) else {
            continue;
        };
        let pads_ok = |t: u32| tail_pat != Some(p) || pat(t)[tail_len..].iter().all(|&q| q == 0);
        let mut best: Option<(u32, u32)> = None; // (target, L1 distance)
        for &t in cands {
            if let Some((b, _)) = best {
                if counts[t as usize] < counts[b as usize] {
                    break; // dictionary order: no later target is as frequent
                }
            }
            if let Some(l1) = within(src, pat(t), tol) {
                if pads_ok(t) && best.is_none_or(|(_, bl)| l1 < bl) {
                    best = Some((t, l1));
                }
            }
        }
        if let Some((t, _)) = best {
            map_to[p as usize] = Some(t);
            merged += 1;
        }
    }

    let mut out = codes.to_vec();
    let mut changed = 0usize;
    for (chunk, &p) in out.chunks_mut(v).zip(&vid) {
        if let Some(t) = map_to[p as usize] {
            let tp = &pat(t)[..chunk.len()];
            changed += chunk.iter().zip(tp).filter(|(a, b)| a != b).count();
            chunk.copy_from_slice(tp);
        }
    }
    Ok(Merged {
        codes: out,
        patterns_before: u,
        patterns_after: u - merged,
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(tolerance: u8) -> MergeOptions {
        MergeOptions {
            tolerance,
            max_patterns: None,
            keep_zeros: true,
        }
    }

    #[test]
    fn a_singleton_moves_onto_the_most_frequent_pattern_within_tolerance() {
        // 2x2 kernels: [1,0,0,2] x3, [2,0,0,2] x2, [2,0,0,3] once (within 1 of both).
        let mut codes = Vec::new();
        for _ in 0..3 {
            codes.extend_from_slice(&[1, 0, 0, 2]);
        }
        for _ in 0..2 {
            codes.extend_from_slice(&[2, 0, 0, 2]);
        }
        codes.extend_from_slice(&[2, 0, 0, 3]);
        let shape = [6, 1, 2, 2];
        let m = merge_patterns(&codes, &shape, &opts(1)).unwrap();
        // [1,0,0,2] is 1 away in two places: within L-inf 1, and the most frequent.
        assert_eq!(&m.codes[20..], &[1, 0, 0, 2]);
        assert_eq!(&m.codes[..20], &codes[..20]);
        assert_eq!((m.patterns_before, m.patterns_after, m.changed), (3, 2, 2));
    }

    #[test]
    fn zero_structure_is_kept_unless_allowed() {
        // [0,0,0,0] x4 and a singleton [1,0,0,0]: merging would prune a surviving weight.
        let mut codes = vec![0i8; 16];
        codes.extend_from_slice(&[1, 0, 0, 0]);
        let shape = [5, 1, 2, 2];
        let kept = merge_patterns(&codes, &shape, &opts(1)).unwrap();
        assert_eq!(kept.codes, codes);
        let free = MergeOptions {
            keep_zeros: false,
            ..opts(1)
        };
        let m = merge_patterns(&codes, &shape, &free).unwrap();
        assert_eq!(m.codes, vec![0i8; 20]);
        assert_eq!(m.patterns_after, 1);
    }

    #[test]
    fn a_cap_makes_frequent_patterns_candidates() {
        // [3,0,0,0] x3, [2,0,0,0] x2: both in the dictionary, unless it holds one pattern.
        let codes: Vec<i8> = [[3, 0, 0, 0]; 3]
            .iter()
            .chain(&[[2, 0, 0, 0]; 2])
            .flatten()
            .copied()
            .collect();
        let shape = [5, 1, 2, 2];
        assert_eq!(
            merge_patterns(&codes, &shape, &opts(1)).unwrap().codes,
            codes
        );
        let capped = MergeOptions {
            max_patterns: Some(1),
            ..opts(1)
        };
        let m = merge_patterns(&codes, &shape, &capped).unwrap();
        assert_eq!(m.codes, [[3i8, 0, 0, 0]; 5].concat());
        assert_eq!((m.patterns_after, m.changed), (1, 2));
    }

    #[test]
    fn a_partial_tail_moves_only_onto_a_target_zero_in_the_padding() {
        // 4-vectors over 11 codes: [1,2,3,1] x2 then the tail [1,2,3] (padded [1,2,3,0]).
        // Moving the tail onto [1,2,3,1] would write [1,2,3]: the same pattern again.
        let codes = [1, 2, 3, 1, 1, 2, 3, 1, 1, 2, 3];
        let free = MergeOptions {
            keep_zeros: false,
            ..opts(1)
        };
        let m = merge_patterns(&codes, &[11], &free).unwrap();
        assert_eq!(m.codes, codes);
        assert_eq!(m.patterns_after, 2);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(MergeOptions::new(-1, None, true).is_err());
        assert!(MergeOptions::new(256, None, true).is_err());
        assert!(MergeOptions::new(2, Some(-3), true).is_err());
        assert_eq!(
            MergeOptions::new(255, Some(0), false).unwrap().tolerance,
            255
        );
        assert!(matches!(
            merge_patterns(&[1, 2, 3], &[2, 2], &opts(1)),
            Err(CoreError::Shape(_))
        ));
    }
}
