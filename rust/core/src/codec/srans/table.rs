//! Static frequency tables: a table is sent as log-scale values (counts relative to the
//! largest, s steps per octave), from which encoder and decoder rebuild the same integer
//! frequencies; the decoder steps through them as lookup tables; pair tables are derived from
//! them.
use super::corrupt;
use crate::error::Result;

/// Largest log-scale exponent, in octaves below the most frequent symbol.
pub(super) const MAX_OCTAVES: u32 = 32;

/// Log-scale values of `counts` (relative to the largest) at s steps per octave.
pub(super) fn log_values(counts: &[u64], s: u32) -> Vec<Option<u32>> {
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    counts
        .iter()
        .map(|&c| {
            (c > 0).then(|| {
                ((s as f64 * (max / c as f64).log2()).round() as u32).min(MAX_OCTAVES * s - 1)
            })
        })
        .collect()
}

/// 2^(k/8) in 16-bit fixed point: the mantissas of the log-scale counts (integers, so encoder
/// and decoder rebuild identical frequencies on every platform).
const MANT: [u64; 8] = [65536, 71468, 77936, 84990, 92682, 101070, 110218, 120194];

/// Weight of log-scale value u (u = 0 is the most frequent symbol) at s steps per octave:
/// 2^(-u/s), scaled to integers.
fn weight(u: u32, s: u32) -> u64 {
    let u = u.min(MAX_OCTAVES * s - 1);
    let (octave, step) = (u / s, u % s);
    if step == 0 {
        MANT[0] << (MAX_OCTAVES - octave)
    } else {
        // 2^(-octave - step/s) = 2^((s - step)/s) / 2^(octave + 1)
        MANT[((s - step) * (8 / s)) as usize] << (MAX_OCTAVES - octave - 1)
    }
}

/// Frequencies summing to 2^p from log-scale values (None = absent symbol). Every present
/// symbol gets at least 1. Shared by encoder and decoder: the single source of the table.
pub(super) fn normalize(us: &[Option<u32>], s: u32, p: u32) -> Result<Vec<u32>> {
    let total = 1u64 << p;
    let present = us.iter().filter(|u| u.is_some()).count() as u64;
    if present == 0 || present > total {
        return Err(corrupt(&format!(
            "a table has {present} symbols for 2^{p} slots"
        )));
    }
    let ws: Vec<u64> = us.iter().map(|u| u.map_or(0, |u| weight(u, s))).collect();
    // Weights are below 2^49 (MANT < 2^17, shifted by at most 32), at most 257 of them, and
    // the budget is below 2^12: sums and products fit in 64 bits.
    let sum: u64 = ws.iter().sum();
    let budget = total - present;
    let mut freq: Vec<u32> = ws
        .iter()
        .zip(us)
        .map(|(&w, u)| {
            if u.is_some() {
                1 + (w * budget / sum) as u32
            } else {
                0
            }
        })
        .collect();
    let got: u64 = freq.iter().map(|&f| f as u64).sum();
    // 0 <= total - got < present: the rounding remainder goes to the most frequent symbol.
    let best = (0..freq.len())
        .max_by_key(|&i| (freq[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    freq[best] += (total - got) as u32;
    Ok(freq)
}

/// A static frequency table over symbols `0..freq.len()` summing to 2^p.
pub(super) struct Table {
    pub(super) freq: Vec<u32>,
    pub(super) start: Vec<u32>,
}

impl Table {
    pub(super) fn new(freq: Vec<u32>) -> Self {
        let mut start = Vec::with_capacity(freq.len());
        let mut c = 0;
        for &f in &freq {
            start.push(c);
            c += f;
        }
        Self { freq, start }
    }

    /// Writes the lookup table, (freq - 1) << 20 | (slot - start) << 8 | output byte for each
    /// of the 2^p slots, to `lut[..2^p]`, eight entries at a time: a symbol's last eight run
    /// into the next symbol's slots, which that symbol then overwrites, and at most
    /// `LUT_SLACK` entries past the table (tables are rebuilt on every decode, so filling them
    /// is part of its time).
    pub(super) fn fill_lut(&self, p: u32, byte_of: impl Fn(usize) -> u8, lut: &mut [u32]) {
        assert!(lut.len() >= (1 << p) + LUT_SLACK);
        let mut at = 0;
        for (sym, &f) in self.freq.iter().enumerate() {
            let e = (f.max(1) - 1) << 20 | byte_of(sym) as u32;
            let mut group: [u32; LUT_SLACK] = std::array::from_fn(|j| e | (j as u32) << 8);
            let end = at + f as usize;
            while at < end {
                lut[at..at + LUT_SLACK].copy_from_slice(&group);
                // Wrapping: after the last group of a symbol that fills all 2^12 slots, the
                // slot field carries into the top bit; that group is never written.
                group
                    .iter_mut()
                    .for_each(|g| *g = g.wrapping_add((LUT_SLACK as u32) << 8));
                at += LUT_SLACK;
            }
            at = end;
        }
        debug_assert_eq!(at, 1 << p);
    }

    /// Modelled cost in bits of coding `counts` with this table.
    pub(super) fn cost(&self, counts: &[u64], p: u32) -> f64 {
        counts
            .iter()
            .zip(&self.freq)
            .filter(|(&c, _)| c > 0)
            .map(|(&c, &f)| c as f64 * (p as f64 - log2_of(f)))
            .sum()
    }
}

/// Entries a lookup table is written with past its end (`Table::fill_lut`).
pub(super) const LUT_SLACK: usize = 8;

/// log2(f) for a frequency f <= 2^12, from a table (the model search sizes tables by the
/// thousand).
pub(super) fn log2_of(f: u32) -> f64 {
    static LOG2: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let t = LOG2.get_or_init(|| (0..=1u32 << 12).map(|f| (f as f64).log2()).collect());
    t.get(f as usize)
        .copied()
        .unwrap_or_else(|| (f as f64).log2())
}

/// Pairs: with at most 16 symbols, two neighbouring codes (a, b) of a row may be coded as
/// one symbol a + 16 b, so that one rANS step (one table lookup) yields two codes. The pair
/// table is derived from the class table, so nothing more is sent: its frequencies are the
/// products f(a) f(b), quantised to 2^p. Pairs that would round to nothing keep one slot each
/// and the others share what is left in proportion; the rounding remainder comes off (or
/// goes to) the largest entries. Shared by encoder and decoder.
pub(super) const PAIR_SYMBOLS: usize = 256;

pub(super) fn pair_table(t: &Table, p: u32) -> Table {
    let f = |k: usize| t.freq.get(k).copied().unwrap_or(0) as u64;
    let ws: Vec<u64> = (0..PAIR_SYMBOLS).map(|i| f(i % 16) * f(i / 16)).collect();
    let total = 1u64 << p;
    // w <= 2^2p and budget <= 2^p: the product fits in 64 bits for p <= 12.
    let share = |w: u64, budget: u64| ((w * budget + (1 << (2 * p - 1))) >> (2 * p)).max(1);
    let tiny = ws
        .iter()
        .filter(|&&w| w > 0 && share(w, total) == 1)
        .count() as u64;
    let mut freq: Vec<u32> = ws
        .iter()
        .map(|&w| {
            if w > 0 {
                share(w, total - tiny) as u32
            } else {
                0
            }
        })
        .collect();
    let mut got: u64 = freq.iter().map(|&f| f as u64).sum();
    let best = (0..PAIR_SYMBOLS)
        .max_by_key(|&i| (freq[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if got <= total || freq[best] as u64 > got - total {
        freq[best] = (freq[best] as u64 + total - got) as u32;
    } else {
        // The largest cannot give it all (tables close to uniform): every entry above one
        // gives one in turn. At most 256 pairs sit in 2^p >= 1024 slots, so this ends.
        while got > total {
            for f in freq.iter_mut() {
                if got > total && *f > 1 {
                    *f -= 1;
                    got -= 1;
                }
            }
        }
    }
    Table::new(freq)
}
