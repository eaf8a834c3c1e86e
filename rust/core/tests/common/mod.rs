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

/// Kinds of code tensors `codes_for` makes.
pub const KINDS: u8 = 9;

/// Codes like pruned and quantized weights, by kind: 0 all zero, 1 one value, 2 the full int8
/// range (-128 included), 3 mostly zeros with 4-bit values, 4 half zeros with wide values,
/// 5 all -128, 6 two thirds zeros with values in -2..=2, 7 dense 4-bit values, 8 only the
/// extremes -128 and 127.
pub fn codes_for(n: usize, kind: u8, seed: u64) -> Vec<i8> {
    let mut next = xorshift(seed);
    (0..n)
        .map(|_| {
            let r = next();
            match kind {
                0 => 0,
                1 => 5,
                2 => (r as u8) as i8,
                3 if r % 4 != 0 => 0,
                3 | 7 => ((r >> 8) % 15) as i8 - 7,
                4 if r % 2 == 0 => 0,
                4 => (((r >> 8) % 255) as i32 - 127) as i8,
                6 if r % 3 != 0 => 0,
                6 => ((r >> 8) % 5) as i8 - 2,
                8 if r % 2 == 0 => -128,
                8 => 127,
                _ => -128,
            }
        })
        .collect()
}
