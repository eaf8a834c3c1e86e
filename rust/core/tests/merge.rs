//! Properties of lossy pattern merging: every element within the tolerance, never more
//! distinct patterns, tolerance 0 is the identity, zeros stay zeros unless allowed, the result
//! is deterministic and every codec round-trips it.
use std::collections::HashSet;

use leanconv_core::codec::merge::{merge_patterns, MergeOptions};
use leanconv_core::codec::{self, simple::vector_len};
use proptest::prelude::*;

mod common;
use common::{codes_for, shape_strategy, KINDS};

/// Distinct zero-padded vectors, counted independently of the crate's hashing.
fn distinct_patterns(codes: &[i8], shape: &[usize]) -> usize {
    let v = vector_len(shape);
    codes
        .chunks(v)
        .map(|c| {
            let mut p = c.to_vec();
            p.resize(v, 0);
            p
        })
        .collect::<HashSet<_>>()
        .len()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn merging_stays_within_tolerance_and_never_adds_patterns(
        shape in shape_strategy(),
        kind in 0u8..KINDS,
        seed in any::<u64>(),
        tol in prop_oneof![Just(0u8), Just(1u8), Just(2u8), 0u8..=255],
        cap in prop_oneof![Just(None), (0usize..6).prop_map(Some)],
        keep_zeros in any::<bool>(),
    ) {
        let n: usize = shape.iter().product();
        let codes = codes_for(n, kind, seed);
        let opt = MergeOptions { tolerance: tol, max_patterns: cap, keep_zeros };
        let m = merge_patterns(&codes, &shape, &opt).unwrap();
        prop_assert_eq!(m.codes.len(), codes.len());
        for (&a, &b) in codes.iter().zip(&m.codes) {
            prop_assert!((a as i32 - b as i32).abs() <= tol as i32, "{} -> {} with tolerance {}", a, b, tol);
            if keep_zeros {
                prop_assert_eq!(a == 0, b == 0, "zero structure changed: {} -> {}", a, b);
            }
        }
        let before = distinct_patterns(&codes, &shape);
        let after = distinct_patterns(&m.codes, &shape);
        prop_assert_eq!(m.patterns_before, before);
        prop_assert_eq!(m.patterns_after, after);
        prop_assert!(after <= before);
        prop_assert_eq!(m.changed, codes.iter().zip(&m.codes).filter(|(a, b)| a != b).count());
        if tol == 0 {
            prop_assert_eq!(&m.codes, &codes);
        }
        // Deterministic, and the merged codes are ordinary codes for every codec.
        prop_assert_eq!(&merge_patterns(&codes, &shape, &opt).unwrap(), &m);
        let (used, blob) = codec::encode("auto", &m.codes, &shape).unwrap();
        let mut back = vec![0i8; n];
        codec::decode(used.name, &blob, &shape, &mut back).unwrap();
        prop_assert_eq!(back, m.codes);
    }
}

#[test]
fn merging_shrinks_the_pattern_codec_on_near_duplicate_kernels() {
    // 3x3 kernels: 40 copies of one frequent kernel and 40 distinct singletons within 1 of
    // it (each non-zero tap moved by -1, 0 or +1: the base-3 digits of i; i < 40 never gives
    // all zeros, so no singleton is the base kernel).
    let base: [i8; 9] = [0, 3, 0, -2, 5, 0, 0, 2, 0];
    let mut codes = Vec::new();
    for _ in 0..40 {
        codes.extend_from_slice(&base);
    }
    for i in 0..40u32 {
        let mut k = base;
        let mut digits = i;
        for q in k.iter_mut().filter(|q| **q != 0) {
            *q += (digits % 3) as i8 - 1;
            digits /= 3;
        }
        codes.extend_from_slice(&k);
    }
    let shape = [80, 1, 3, 3];
    let opt = MergeOptions {
        tolerance: 1,
        max_patterns: None,
        keep_zeros: true,
    };
    let m = merge_patterns(&codes, &shape, &opt).unwrap();
    assert_eq!(m.patterns_after, 1);
    assert_eq!(m.patterns_before, 41);
    let pattern = codec::codec_by_name("pattern").unwrap();
    assert!(pattern.size_of(&m.codes, &shape) < pattern.size_of(&codes, &shape) / 2);
}

#[test]
fn empty_and_single_element_tensors() {
    let opt = MergeOptions {
        tolerance: 255,
        max_patterns: None,
        keep_zeros: false,
    };
    let m = merge_patterns(&[], &[0, 3, 3, 3], &opt).unwrap();
    assert!(m.codes.is_empty());
    assert_eq!((m.patterns_before, m.patterns_after), (0, 0));
    let m = merge_patterns(&[-128], &[1], &opt).unwrap();
    assert_eq!(m.codes, vec![-128]);
    assert_eq!((m.patterns_before, m.patterns_after), (1, 1));
}
