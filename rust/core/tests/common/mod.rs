//! Generators shared by the codec test files.
use proptest::prelude::*;

/// Tensor shapes: empty, one element, odd 4-D conv shapes (3x3 and 5-wide kernels, zero
/// input channels), 2-D and 1-D.
pub fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![0]),
        Just(vec![1]),
        Just(vec![1, 1, 1, 1]),
        Just(vec![3, 0, 3, 3]),
        (1usize..6, 1usize..5, 1usize..4, 1usize..4).prop_map(|(a, b, c, d)| vec![a, b, c, d]),
        (1usize..9, 1usize..7, Just(3usize), Just(3usize))
            .prop_map(|(a, b, c, d)| vec![a, b, c, d]),
        (1usize..40, 1usize..40).prop_map(|(a, b)| vec![a, b]),
        (0usize..300).prop_map(|a| vec![a]),
        (1usize..4, 0usize..3, 1usize..4, 5usize..7).prop_map(|(a, b, c, d)| vec![a, b, c, d]),
    ]
}

/// A xorshift64 stream from `seed` (deterministic test data without a dependency).
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}
