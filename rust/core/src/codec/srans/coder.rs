//! The rANS arithmetic of one symbol on one state: encoding by a multiplication with the
//! frequency's reciprocal ([`put`]), decoding by one lookup in a 2^p-entry table ([`take`]).
//! The AVX2 loops (`simd`) do the same on eight states at a time.
use super::format::word;
use super::table::Table;

/// rANS lower bound; states live in [L, 2^32) and renormalise by 16-bit words.
pub(super) const RANS_L: u32 = 1 << 16;

/// A symbol ready for encoding: division by its frequency as a multiplication by its
/// reciprocal 2^63 / f, rounded up (one 64x64-bit multiply). For a state x < 2^32 and
/// f <= 2^12 the product's top bits are exactly x / f: they are never below the true quotient
/// (the reciprocal is rounded up), and exceed it by less than x·2^-63 < 2^-31, less than the
/// 1/f that separates a non-integer quotient from the next integer.
#[derive(Clone, Copy)]
pub(super) struct EncSym {
    /// States at or above this renormalise first (u64: a certain symbol never does).
    x_max: u64,
    rcp: u64,
    pub(super) start: u32,
    /// 2^p - freq: x' = x + start + q (2^p - freq) with q = x / freq.
    pub(super) cmpl: u32,
}

impl Table {
    pub(super) fn enc_syms(&self, p: u32) -> Vec<EncSym> {
        self.freq
            .iter()
            .zip(&self.start)
            .map(|(&f, &start)| {
                let f = f.max(1); // absent symbols are never encoded
                EncSym {
                    x_max: (((RANS_L >> p) as u64) << 16) * f as u64,
                    rcp: (1u64 << 63).div_ceil(f as u64),
                    start,
                    cmpl: (1 << p) - f,
                }
            })
            .collect()
    }
}

impl EncSym {
    /// x / freq.
    #[inline(always)]
    fn quotient(&self, x: u32) -> u32 {
        ((x as u128 * self.rcp as u128) >> 63) as u32
    }
}

/// Encodes one symbol into state `x`, writing a renormalisation word at `words[*len]` when
/// needed (`words` is sized for one word per symbol, so the write never needs a branch: the
/// renormalisation is as unpredictable as the data).
#[inline(always)]
pub(super) fn put(x: &mut u32, s: &EncSym, words: &mut [u16], len: &mut usize) {
    let emit = (*x as u64 >= s.x_max) as usize;
    words[*len] = *x as u16;
    *len += emit;
    let x0 = *x >> (16 * emit as u32);
    let q = s.quotient(x0);
    *x = x0
        .wrapping_add(s.start)
        .wrapping_add(q.wrapping_mul(s.cmpl));
}

/// One decoding step of state `x` with lookup table entry source `lut` and the word `w` that
/// renormalisation would read: the output byte, the new state, and whether `w` was used.
#[inline(always)]
fn step(x: u32, lut: &[u32], p: u32, w: u16) -> (u8, u32, bool) {
    // lut has 2^p entries, so the masked slot is in bounds.
    let e = lut[(x as usize) & (lut.len() - 1)];
    let y = ((e >> 20) + 1) * (x >> p) + ((e >> 8) & 0xFFF);
    let need = y < RANS_L;
    // Without a branch: it would be mispredicted about as often as a word is read, which
    // costs more than the whole step.
    let m = (need as u32).wrapping_neg();
    let x = (y & !m) | (((y << 16) | w as u32) & m);
    (e as u8, x, need)
}

/// Decodes one symbol from state `x`, reading at `pos` (clamped: a corrupt stream may run
/// past its end; the final state check reports it).
#[inline(always)]
pub(super) fn take(x: &mut u32, lut: &[u32], p: u32, words: &[u8], pos: &mut usize) -> u8 {
    let (b, nx, need) = step(*x, lut, p, word(words, *pos));
    *x = nx;
    *pos += need as usize;
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoder's division by multiplication is exact for every frequency at the states
    /// where it could slip: just below and at each multiple of f near 2^32, 2^31, 2^24 and
    /// small states, and at the largest state.
    #[test]
    fn reciprocal_division_is_exact() {
        for f in 1u32..=4096 {
            let t = Table::new(vec![f, (1 << 12) - f]);
            let e = t.enc_syms(12)[0];
            let check = |x: u32| assert_eq!(e.quotient(x), x / f, "x {x} f {f}");
            for base in [u32::MAX, 1 << 31, 1 << 24, 1 << 17, 3 * f] {
                let k = base / f;
                for m in [k.saturating_sub(2), k.saturating_sub(1), k] {
                    let x = m.saturating_mul(f);
                    for d in [0u32, 1, 2] {
                        check(x.saturating_sub(d));
                        check(x.saturating_add(d));
                    }
                }
            }
            check(u32::MAX);
        }
    }
}
