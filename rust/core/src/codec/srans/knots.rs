//! Knot tables: a table sent as its log-scale values at a few fixed positions, read linearly
//! in between, so a table of a hundred symbols costs a dozen values.
//!
//! In small tensors of 8-bit codes the tables are the largest overhead: a class of a few
//! thousand codes spreads over a hundred magnitudes whose counts fall smoothly, but each count
//! is noisy and costs bits to send. A piecewise log-linear curve follows the smooth fall, and
//! the noise it ignores costs the data less than sending it would.
//!
//! Signed tables (class tables, over symbols 0, +1, -1, +2, -2, ...) have one curve over the
//! magnitudes 0..=last; each negative value sits a fixed number of steps (`offset`) from the
//! positive one, since signs are not a fair coin within a class. Plain tables (the row
//! minimums) have one curve over their symbols. Every symbol from `first` to `last` is present,
//! except those that a signed table masks at its far end (`absent`).
use super::format::{read_table, unzigzag, value_code, write_table, zigzag};
use super::table::MAX_OCTAVES;
use crate::codec::bits::{BitReader, BitWriter};
use crate::codec::huffman::{gamma_bits, get_gamma, put_gamma};
use crate::error::{CoreError, Result};

/// Knot positions past `first`: dense near it, where counts change fastest (the zero symbol
/// and the smallest magnitudes), then two per octave.
const GRID: [usize; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192];

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Knots {
    first: usize,
    last: usize,
    /// Log-scale value at each knot position ([`positions`]).
    values: Vec<u32>,
    /// Signed tables: steps from a positive value to the negative one of the same magnitude.
    offset: Option<i32>,
    /// The grid is stretched 2^spread times (plain tables): few counts over many symbols (the
    /// row minimums) want fewer knots.
    spread: u32,
    /// Signed tables: which of +r, -r for the last `absent.len() / 2` magnitudes r never occur
    /// (in the sparse far end of an 8-bit class, a slot for each such symbol costs the data
    /// more than a bit a symbol: 2^p slots hold a few hundred symbols).
    absent: Vec<bool>,
}

/// Largest `spread`.
const MAX_SPREAD: u32 = 3;

/// The knot positions from `first` to `last`: `first` + (GRID << spread) below `last`, then
/// `last`.
fn positions(first: usize, last: usize, spread: u32) -> Vec<usize> {
    let mut at: Vec<usize> = GRID
        .iter()
        .map(|g| first + (g << spread))
        .take_while(|&x| x < last)
        .collect();
    at.push(last);
    at
}

/// Bits `write_table` spends on a knot value `d` steps from the one before.
fn delta_bits(d: i64) -> f64 {
    gamma_bits(value_code(d)) as f64
}

/// The curve through `values` at `at` over indices `at[0]..=at[last]` into `out` (indexed
/// from 0): linear between knots, rounded to the nearest step. Between two non-negative values,
/// so never negative.
fn curve(at: &[usize], values: &[u32], out: &mut [u32]) {
    out[at[0]] = values[0];
    for k in 1..at.len() {
        segment(at, values, k, out);
    }
}

/// The curve from knot k - 1 (exclusive) to knot k (inclusive).
fn segment(at: &[usize], values: &[u32], k: usize, out: &mut [u32]) {
    let (a, b) = (at[k - 1], at[k]);
    let (ua, ub) = (values[k - 1] as i64, values[k] as i64);
    let den = (b - a) as i64;
    for (i, o) in out[a + 1..=b].iter_mut().enumerate() {
        let num = (ub - ua) * (i as i64 + 1);
        *o = (ua + (2 * num + den).div_euclid(2 * den)) as u32;
    }
}

/// 2^(-u/8) for every log-scale value at the finest resolution (s = 8); 2^(-u/s) is entry
/// u * 8 / s.
fn weights() -> &'static [f64] {
    static W: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        (0..MAX_OCTAVES * 8)
            .map(|u| (-(u as f64) / 8.0).exp2())
            .collect()
    })
}

/// Clamps a log-scale value to those a table may hold.
fn clamp_value(u: i64, s: u32) -> u32 {
    u.clamp(0, (MAX_OCTAVES * s - 1) as i64) as u32
}

impl Knots {
    /// The log-scale values of a table over `nsym` symbols (signed: 2 maxrel + 1).
    pub(super) fn expand(&self, nsym: usize, s: u32) -> Vec<Option<u32>> {
        let at = positions(self.first, self.last, self.spread);
        let mut c = vec![0u32; self.last + 1];
        curve(&at, &self.values, &mut c);
        let mut us = vec![None; nsym];
        for (i, &u) in c.iter().enumerate().skip(self.first) {
            match self.offset {
                None => us[i] = Some(u),
                Some(_) if i == 0 => us[0] = Some(u),
                Some(off) => {
                    us[2 * i - 1] = Some(u);
                    us[2 * i] = Some(clamp_value(u as i64 + off as i64, s));
                }
            }
        }
        if !self.absent.is_empty() {
            let from = 2 * (self.last + 1 - self.absent.len() / 2) - 1;
            for (u, &absent) in us[from..].iter_mut().zip(&self.absent) {
                if absent {
                    *u = None;
                }
            }
        }
        us
    }

    pub(super) fn write(&self, w: &mut BitWriter) {
        put_gamma(w, self.first as u32);
        put_gamma(w, (self.last - self.first) as u32);
        if self.offset.is_none() {
            w.put(self.spread, 2);
        }
        let values: Vec<Option<u32>> = self.values.iter().map(|&u| Some(u)).collect();
        write_table(w, &values);
        if let Some(off) = self.offset {
            put_gamma(w, zigzag(off as i64));
            put_gamma(w, self.absent.len() as u32 / 2);
            for &a in &self.absent {
                w.put(a as u32, 1);
            }
        }
    }

    pub(super) fn bits(&self) -> u64 {
        let mut w = BitWriter::counting();
        self.write(&mut w);
        w.bit_len()
    }

    /// Reads the knots of a table over `nsym` symbols (`signed`: 2 maxrel + 1 of them).
    pub(super) fn read(r: &mut BitReader, nsym: usize, s: u32, signed: bool) -> Result<Self> {
        let bad = |what: &str| CoreError::Corrupt(format!("srans: knot table {what}"));
        let first = get_gamma(r)? as usize;
        let last = first
            .checked_add(get_gamma(r)? as usize)
            .ok_or_else(|| bad("range overflows"))?;
        let end = if signed {
            nsym / 2
        } else {
            nsym.saturating_sub(1)
        };
        if last > end {
            return Err(bad("runs past its symbols"));
        }
        let spread = if signed { 0 } else { r.get(2) };
        let n = positions(first, last, spread).len();
        let values = read_table(r, n, s)?
            .into_iter()
            .map(|u| u.ok_or_else(|| bad("has an absent knot")))
            .collect::<Result<Vec<u32>>>()?;
        let (mut offset, mut absent) = (None, Vec::new());
        if signed {
            let off = unzigzag(get_gamma(r)?);
            if off.unsigned_abs() >= (MAX_OCTAVES * s) as u64 {
                return Err(bad("sign offset out of range"));
            }
            offset = Some(off as i32);
            // Never the zero symbol: magnitudes past the first (and past 0).
            let masked = get_gamma(r)? as usize;
            if masked > (last + 1).saturating_sub(first.max(1)) {
                return Err(bad("masks too many magnitudes"));
            }
            absent = (0..2 * masked).map(|_| r.get(1) == 1).collect();
        }
        Ok(Self {
            first,
            last,
            values,
            offset,
            spread,
            absent,
        })
    }

    /// Knots fitted to `counts` (over signed symbols 0, +1, -1, ... with `signed`), by the
    /// bits an ideal coder would spend with the curve's weights 2^(-u/s) (rounding to 2^p
    /// slots aside) plus the knots' own bits, at the spread that needs fewest: values from the
    /// mean counts around each knot, then moved a step at a time while that codes smaller.
    /// None where the counts are empty (or, signed, one sign never occurs: the explicit table
    /// codes that better).
    pub(super) fn fit(counts: &[u64], s: u32, p: u32, signed: bool) -> Option<Self> {
        // Counts by curve index: positive (or plain) and negative side.
        let len = if signed {
            counts.len() / 2 + 1
        } else {
            counts.len()
        };
        let mut cp = vec![0u64; len];
        let mut cn = vec![0u64; len];
        for (i, (p, n)) in cp.iter_mut().zip(cn.iter_mut()).enumerate() {
            if signed && i > 0 {
                *p = counts[2 * i - 1];
                *n = counts[2 * i];
            } else {
                *p = counts[i];
            }
        }
        let present = |i: usize| cp[i] + cn[i] > 0;
        let first = (0..len).find(|&i| present(i))?;
        let last = (0..len).rev().find(|&i| present(i))?;
        let offset = if signed {
            let (pos, neg) = (cp[1..].iter().sum::<u64>(), cn[1..].iter().sum::<u64>());
            if pos == 0 || neg == 0 {
                return None;
            }
            Some((s as f64 * (pos as f64 / neg as f64).log2()).round() as i32)
        } else {
            None
        };
        let side = Sides {
            cp,
            cn,
            signed,
            s,
            offset: offset.unwrap_or(0) as i64,
        };
        // Class tables hold thousands of counts over at most a few hundred symbols: the finest
        // spread suits them, and trying wider ones would gain next to nothing.
        let spreads = if signed { 0..=0 } else { 0..=MAX_SPREAD };
        let absent = if signed {
            side.absent(first, last, p)
        } else {
            Vec::new()
        };
        spreads
            .map(|spread| side.fit(first, last, spread))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, values, spread)| Self {
                first,
                last,
                values,
                offset,
                spread,
                absent,
            })
    }
}

/// The counts a table is fitted to, by curve index: positive (or plain) side and negative.
struct Sides {
    cp: Vec<u64>,
    cn: Vec<u64>,
    signed: bool,
    s: u32,
    offset: i64,
}

impl Sides {
    /// The absent flags of +r, -r for the last magnitudes r that mask most bits: each absent
    /// symbol frees a slot of 2^p, worth about N / (2^p ln 2) bits of the N counts, and each
    /// magnitude masked costs two bits.
    fn absent(&self, first: usize, last: usize, p: u32) -> Vec<bool> {
        let total: u64 = self.cp.iter().chain(&self.cn).sum();
        let per_slot = total as f64 / ((1u64 << p) as f64 * std::f64::consts::LN_2);
        let (mut gain, mut best, mut masked) = (0.0, 0.0, 0);
        for (n, r) in (first.max(1)..=last).rev().enumerate() {
            let freed = (self.cp[r] == 0) as u32 + (self.cn[r] == 0) as u32;
            gain += freed as f64 * per_slot - 2.0;
            if gain > best {
                (best, masked) = (gain, n + 1);
            }
        }
        (last + 1 - masked..=last)
            .flat_map(|r| [self.cp[r] == 0, self.cn[r] == 0])
            .collect()
    }

    /// Knot values over first..=last at `spread`, and their modelled bits (data and knots).
    fn fit(&self, first: usize, last: usize, spread: u32) -> (f64, Vec<u32>, u32) {
        let Self {
            cp,
            cn,
            signed,
            s,
            offset: off,
        } = self;
        let (signed, s, off) = (*signed, *s, *off);
        let at = positions(first, last, spread);
        // Weight of value u (and the negative side's weight with it): 2^(-u/s).
        let top = (MAX_OCTAVES * s) as usize;
        let (wt, per) = (weights(), (8 / s) as usize);
        let weight = |i: usize, u: u32| {
            let w = wt[u as usize * per];
            if signed && i > 0 {
                w + wt[clamp_value(u as i64 + off, s) as usize * per]
            } else {
                w
            }
        };
        // Bits of index i's counts at value u, less the normalisation (times s).
        let data = |i: usize, u: u32| {
            let neg = if cn[i] > 0 {
                cn[i] as f64 * clamp_value(u as i64 + off, s) as f64
            } else {
                0.0
            };
            cp[i] as f64 * u as f64 + neg
        };
        // First values: the mean count (positive side's share) over the indices closest to
        // each knot.
        let share = 1.0 / (1.0 + (-(off as f64) / s as f64).exp2());
        let means: Vec<f64> = (0..at.len())
            .map(|k| {
                let lo = if k == 0 {
                    at[0]
                } else {
                    (at[k - 1] + at[k]).div_ceil(2)
                };
                let hi = if k + 1 == at.len() {
                    at[k]
                } else {
                    (at[k] + at[k + 1]) / 2
                };
                let sum: f64 = (lo..=hi)
                    .map(|i| {
                        let both = (cp[i] + cn[i]) as f64;
                        if signed && i > 0 {
                            both * share
                        } else {
                            both
                        }
                    })
                    .sum();
                (sum / (hi - lo + 1) as f64).max(0.25)
            })
            .collect();
        let max = means.iter().copied().fold(0.0, f64::max);
        let mut values: Vec<u32> = means
            .iter()
            .map(|&m| clamp_value((s as f64 * (max / m).log2()).round() as i64, s))
            .collect();
        // The curve and its totals: weights W and data D; bits = N log2 W + D / s.
        let total: f64 = (cp.iter().sum::<u64>() + cn.iter().sum::<u64>()) as f64;
        let mut u = vec![0u32; last + 1];
        curve(&at, &values, &mut u);
        let mut w_sum: f64 = (first..=last).map(|i| weight(i, u[i])).sum();
        let mut d_sum: f64 = (first..=last).map(|i| data(i, u[i])).sum();
        let bits = |w: f64, d: f64| total * w.log2() + d / s as f64;
        // The knots' bits around knot k: its delta from the one before, and the next one's.
        let knot_bits = |values: &[u32], k: usize| {
            let before = if k == 0 { 0 } else { values[k - 1] as i64 };
            let next = values
                .get(k + 1)
                .map_or(0.0, |&n| delta_bits(n as i64 - values[k] as i64));
            delta_bits(values[k] as i64 - before) + next
        };
        // One pass over the knots, each moved a step at a time while that codes smaller (further
        // passes gain next to nothing).
        let mut trial = vec![0u32; last + 1];
        for k in 0..at.len() {
            // The indices that knot k moves.
            let lo = if k == 0 { at[0] } else { at[k - 1] + 1 };
            let hi = if k + 1 == at.len() {
                at[k]
            } else {
                at[k + 1] - 1
            };
            for step in [-1i64, 1] {
                loop {
                    let v = values[k] as i64 + step;
                    if v < 0 || v >= top as i64 {
                        break;
                    }
                    let old = values[k];
                    let old_bits = knot_bits(&values, k);
                    values[k] = v as u32;
                    let dt = knot_bits(&values, k) - old_bits;
                    trial[at[k]] = values[k];
                    if k > 0 {
                        segment(&at, &values, k, &mut trial);
                    }
                    if k + 1 < at.len() {
                        segment(&at, &values, k + 1, &mut trial);
                    }
                    let (mut dw, mut dd) = (0.0, 0.0);
                    for i in lo..=hi {
                        dw += weight(i, trial[i]) - weight(i, u[i]);
                        dd += data(i, trial[i]) - data(i, u[i]);
                    }
                    if bits(w_sum + dw, d_sum + dd) + dt < bits(w_sum, d_sum) - 1e-9 {
                        w_sum += dw;
                        d_sum += dd;
                        u[lo..=hi].copy_from_slice(&trial[lo..=hi]);
                    } else {
                        values[k] = old;
                        break;
                    }
                }
            }
        }
        let table: f64 = (0..at.len())
            .map(|k| delta_bits(values[k] as i64 - if k == 0 { 0 } else { values[k - 1] as i64 }))
            .sum();
        (bits(w_sum, d_sum) + table, values, spread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_is_linear_between_knots_and_rounds_to_nearest() {
        let at = [0, 1, 5];
        let mut out = [0u32; 6];
        curve(&at, &[3, 0, 8], &mut out);
        assert_eq!(out, [3, 0, 2, 4, 6, 8]);
        curve(&at, &[0, 9, 6], &mut out);
        // 9 + (6 - 9) * t for t = 1/4, 2/4, 3/4, 1: 8.25, 7.5, 6.75, 6.
        assert_eq!(out, [0, 9, 8, 8, 7, 6]);
    }

    #[test]
    fn knots_round_trip_and_expand_over_their_range() {
        for (counts, signed) in [
            (vec![50u64, 30, 28, 20, 22, 9, 11, 4, 5, 0, 1], true),
            (vec![0u64, 0, 3, 9, 4, 1, 0], false),
        ] {
            let k = Knots::fit(&counts, 4, 10, signed).expect("fits");
            let mut w = BitWriter::new();
            k.write(&mut w);
            assert_eq!(w.bit_len(), k.bits());
            let bytes = w.finish();
            let back = Knots::read(&mut BitReader::new(&bytes), counts.len(), 4, signed).unwrap();
            assert_eq!(back, k);
            let us = k.expand(counts.len(), 4);
            // Every symbol from the first to the last present one has a value, no other.
            let first = counts.iter().position(|&c| c > 0).unwrap();
            let last = counts.iter().rposition(|&c| c > 0).unwrap();
            for (i, u) in us.iter().enumerate() {
                assert_eq!(
                    u.is_some(),
                    (first..=last).contains(&i),
                    "{counts:?} at {i}"
                );
            }
        }
    }

    #[test]
    fn absent_symbols_of_the_far_end_are_masked_where_that_pays() {
        // Thousands of codes, and magnitudes 30..=40 on one sign or the other only: at p = 10
        // each absent symbol would take a slot worth several bits.
        let mut counts = vec![3000u64];
        for r in 1..=40u64 {
            let c = 2000 / r;
            let (plus, minus) = match r {
                30..=40 if r % 2 == 0 => (c, 0),
                30..=40 => (0, c),
                _ => (c, c),
            };
            counts.extend([plus, minus]);
        }
        let k = Knots::fit(&counts, 4, 10, true).unwrap();
        let mut w = BitWriter::new();
        k.write(&mut w);
        let bytes = w.finish();
        assert_eq!(
            Knots::read(&mut BitReader::new(&bytes), counts.len(), 4, true).unwrap(),
            k
        );
        let us = k.expand(counts.len(), 4);
        for (sym, (u, &c)) in us.iter().zip(&counts).enumerate() {
            assert_eq!(u.is_some(), c > 0, "symbol {sym}");
        }
        // With a few codes the slots are worth little: nothing is masked.
        let few: Vec<u64> = counts.iter().map(|&c| c.min(1)).collect();
        assert!(Knots::fit(&few, 4, 10, true).unwrap().absent.is_empty());
    }

    #[test]
    fn fitted_knots_follow_a_falling_curve() {
        // Counts 2^(-r/2) * 4096 on both signs: the fitted curve falls two steps per magnitude
        // at s = 4 (up to rounding at the knots).
        let mut counts = vec![1000u64];
        for r in 1..=20 {
            let c = (4096.0 * (-(r as f64) / 2.0).exp2()).round() as u64;
            counts.extend([c, c]);
        }
        let k = Knots::fit(&counts, 4, 10, true).unwrap();
        assert_eq!(k.offset, Some(0));
        let us = k.expand(counts.len(), 4);
        for r in 2..=20usize {
            let (a, b) = (us[2 * r - 3].unwrap() as i64, us[2 * r - 1].unwrap() as i64);
            assert!((b - a - 2).abs() <= 1, "magnitude {r}: {a} then {b}");
        }
    }

    #[test]
    fn corrupt_knots_are_errors() {
        let mut w = BitWriter::new();
        put_gamma(&mut w, 3);
        put_gamma(&mut w, 9); // last = 12 > 5 magnitudes
        let bytes = w.finish();
        assert!(Knots::read(&mut BitReader::new(&bytes), 11, 4, true).is_err());
    }
}
