//! `srans`: static-context rANS with up to 32 interleaved states: the codec built to decode at
//! memory speed.
//!
//! The model is fitted to the tensor and sent with it, so decoding is table lookups only:
//!
//! - **Rows** are output channels (`shape[0]`). With row side information on, every row sends
//!   a kind (all-zero, or one of K classes) and its smallest non-zero magnitude m. Per-layer
//!   magnitude pruning plus per-channel scales make m channel-specific, so codes are sent as
//!   *relative* values r = q - sign(q)(m - 1). Rows are grouped into K classes by Lloyd
//!   iterations on their histograms (each row goes to the class whose table codes it cheapest):
//!   a class stands for how hard a channel was pruned and how its weights spread. Short rows
//!   (depthwise kernels) may instead take their table by position in the row, positions
//!   grouped the same way (the centre tap of a kernel is larger than its corners).
//! - **Tables** (one per class, over signed r) are sent as log-scale counts, s steps per octave,
//!   delta and Elias-gamma coded, or as a few knots of a piecewise log-linear curve
//!   ([`knots`]) where that codes smaller (small tensors of 8-bit codes); the decoder rebuilds
//!   the same integer frequencies ([`normalize`]). The encoder picks K, rows or positions, and p
//!   by the exact table cost plus the modelled data cost at s = 4, then s for the model it
//!   picked.
//! - **Coding**: the side symbols go through one rANS state; the codes through 1, 8 or 32
//!   states that take turns on one word stream, so independent dependency chains overlap in
//!   the CPU (with AVX2, as vectors of eight). A code costs one lookup in a 2^p-entry table
//!   that holds its frequency, its slot offset and the output byte. (A search of a 4-bit
//!   table's 16 starts held in registers, which needs no table built, decoded up to 1.1x slower
//!   on Zen 3 than these lookups, table building included, and is gone.) With 8 or 32 states
//!   the last symbols (the tail) go through a state of their own whose words are the main
//!   states' first values ([`tail_of`]), which would otherwise carry nothing.
//! - **Pairs**: in large tensors of 4-bit codes, two neighbouring codes of a row are coded as
//!   one symbol whose frequency is the product of theirs ([`pair_table`], derived, not sent):
//!   one lookup yields two codes, which decoded EfficientNet-Lite0's large tensors 1.7-1.9x
//!   faster for 0.3% more bits.
//!
//! Stream: `0` for an all-zero tensor; else the format byte ([`FORMAT`]), the table bits (the
//! [`Header`], the class tables, the position map, the side tables), the side words (the side
//! stream's final state, then its words in decoding order, up to where its decoding ends: its
//! first state is the main stream's first, which is not stored again), and the main words (the
//! final states, then the words in decoding order).
use super::bits::{BitReader, BitWriter, Cursor};
use super::huffman::{gamma_bits, get_gamma, put_gamma};
use crate::error::{CoreError, Result};
use std::cell::Cell;
mod knots;
mod model;
use knots::Knots;
use model::{
    candidate, class_bits, over_class_counts, position_infos, row_infos, Candidate, Classes, Fit,
    MAX_POSITIONAL,
};

/// The first byte of a stream that is not all zero (an all-zero tensor is the single byte 0).
/// It marks the format, so that a stream of another format is refused rather than misread;
/// the decoder accepts this value only.
const FORMAT: u8 = 5;
/// rANS lower bound; states live in [L, 2^32) and renormalise by 16-bit words.
const RANS_L: u32 = 1 << 16;
/// Interleaved states of the main stream, by tensor size: every state costs 4 bytes at the
/// end of the stream, so small tensors use fewer. 8 and 32 lanes decode with AVX2 where the
/// CPU has it (one or four vectors of eight: more vectors overlap more latency).
fn lanes_for(codes: usize) -> usize {
    match codes {
        0..2048 => 1,
        2048..16384 => 8,
        _ => 32,
    }
}
/// Probability resolutions: frequencies sum to 2^p and a class's lookup table has 2^p
/// entries. Rebuilding the tables is part of every decode, so the encoder keeps them to a
/// quarter of the codes or less (coarser p, fewer classes) for smaller tensors.
const PS: [u32; 3] = [12, 11, 10];
/// Entries a lookup table is written with past its end ([`Table::fill_lut`]).
const LUT_SLACK: usize = 8;
const MAX_CLASSES: usize = 16;
/// Largest log-scale exponent, in octaves below the most frequent symbol.
const MAX_OCTAVES: u32 = 32;
/// 2^(k/8) in 16-bit fixed point: the mantissas of the log-scale counts (integers, so encoder
/// and decoder rebuild identical frequencies on every platform).
const MANT: [u64; 8] = [65536, 71468, 77936, 84990, 92682, 101070, 110218, 120194];

// ---------------------------------------------------------------------------------------------
// Tables

/// A static frequency table over symbols `0..freq.len()` summing to 2^p.
struct Table {
    freq: Vec<u32>,
    start: Vec<u32>,
}

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
fn normalize(us: &[Option<u32>], s: u32, p: u32) -> Result<Vec<u32>> {
    let total = 1u64 << p;
    let present = us.iter().filter(|u| u.is_some()).count() as u64;
    if present == 0 || present > total {
        return Err(CoreError::Corrupt(format!(
            "srans: a table has {present} symbols for 2^{p} slots"
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

/// Pairs: with at most 16 symbols, two neighbouring codes (a, b) of a row may be coded as
/// one symbol a + 16 b, so that one rANS step (one table lookup) yields two codes. The pair
/// table is derived from the class table, so nothing more is sent: its frequencies are the
/// products f(a) f(b), quantised to 2^p. Pairs that would round to nothing keep one slot each
/// and the others share what is left in proportion; the rounding remainder comes off (or
/// goes to) the largest entries. Shared by encoder and decoder.
const PAIR_SYMBOLS: usize = 256;

fn pair_table(t: &Table, p: u32) -> Table {
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

impl Table {
    fn new(freq: Vec<u32>) -> Self {
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
    /// `LUT_SLACK` entries past the table (tables are rebuilt on every decode: one entry at a
    /// time, this took 5.4% of a whole-model decode; eight at a time, about 4%).
    fn fill_lut(&self, p: u32, byte_of: impl Fn(usize) -> u8, lut: &mut [u32]) {
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
    fn cost(&self, counts: &[u64], p: u32) -> f64 {
        counts
            .iter()
            .zip(&self.freq)
            .filter(|(&c, _)| c > 0)
            .map(|(&c, &f)| c as f64 * (p as f64 - log2_of(f)))
            .sum()
    }
}

/// log2(f) for a frequency f <= 2^12, from a table (the model search sizes tables by the
/// thousand).
fn log2_of(f: u32) -> f64 {
    static LOG2: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let t = LOG2.get_or_init(|| (0..=1u32 << 12).map(|f| (f as f64).log2()).collect());
    t.get(f as usize)
        .copied()
        .unwrap_or_else(|| (f as f64).log2())
}

/// Log-scale values of `counts` (relative to the largest) at s steps per octave.
fn log_values(counts: &[u64], s: u32) -> Vec<Option<u32>> {
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

fn zigzag(v: i64) -> u32 {
    ((v << 1) ^ (v >> 63)) as u32
}

fn unzigzag(z: u32) -> i64 {
    (z >> 1) as i64 ^ -((z & 1) as i64)
}

/// Writes log-scale values, each Elias-gamma coded relative to the previous present value:
/// 0 = the same value, 1 = absent, else zigzag(u - previous u) + 1. (Versions up to 3 wrote
/// 0 = absent, else zigzag(u - previous u) + 1, which spent 3 bits on a repeated value: most
/// of a table's bits in small tensors of 8-bit codes.)
fn write_table(w: &mut BitWriter, us: &[Option<u32>]) {
    let mut prev = 0i64;
    for u in us {
        match u {
            None => put_gamma(w, 1),
            Some(u) => {
                put_gamma(w, value_code(*u as i64 - prev));
                prev = *u as i64;
            }
        }
    }
}

/// The code `write_table` gives a present value `d` steps from the one before.
fn value_code(d: i64) -> u32 {
    match zigzag(d) {
        0 => 0,
        z => z + 1,
    }
}

fn read_table(r: &mut BitReader, n: usize, s: u32) -> Result<Vec<Option<u32>>> {
    let mut prev = 0i64;
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t = get_gamma(r)?;
        if t == 1 {
            us.push(None);
        } else {
            let z = t.saturating_sub(1);
            let u = prev + unzigzag(z);
            if !(0..(MAX_OCTAVES * s) as i64).contains(&u) {
                return Err(CoreError::Corrupt("srans: table value out of range".into()));
            }
            prev = u;
            us.push(Some(u as u32));
        }
    }
    Ok(us)
}

/// A table as sent: its log-scale values, and the knots they were read from where it is sent
/// as knots rather than value by value (a flag bit says which).
pub(super) struct Sent {
    us: Vec<Option<u32>>,
    knots: Option<Knots>,
}

impl Sent {
    fn values(us: Vec<Option<u32>>) -> Self {
        Self { us, knots: None }
    }

    fn knots(knots: Knots, nsym: usize, s: u32) -> Self {
        Self {
            us: knots.expand(nsym, s),
            knots: Some(knots),
        }
    }

    fn write(&self, w: &mut BitWriter) {
        w.put(self.knots.is_some() as u32, 1);
        match &self.knots {
            Some(k) => k.write(w),
            None => write_table(w, &self.us),
        }
    }

    fn bits(&self) -> u64 {
        1 + match &self.knots {
            Some(k) => k.bits(),
            None => table_bits(&self.us),
        }
    }
}

/// Reads a table over `nsym` symbols (`signed`: symbols 0, +1, -1, ...) as [`Sent::write`]
/// wrote it.
fn read_sent(r: &mut BitReader, nsym: usize, s: u32, signed: bool) -> Result<Vec<Option<u32>>> {
    if r.get(1) == 1 {
        Ok(Knots::read(r, nsym, s, signed)?.expand(nsym, s))
    } else {
        read_table(r, nsym, s)
    }
}

/// A stream's header: the fields open the table bits (29 bits, and the tail's length with 8
/// or 32 lanes), which end at the next byte, so small tensors spend no byte per field and no
/// length on the table bits.
#[doc(hidden)]
pub struct Header {
    pub lanes: usize,
    pub p: u32,
    pub s: u32,
    pub ntables: usize,
    /// 0: one pseudo-row; 1: rows, tables by row class; 2: rows, tables by position.
    pub rows_on: u8,
    pub maxrel: usize,
    pub maxmin: usize,
    pub pairs: bool,
    /// Symbols in the main stream's tail ([`tail_of`]; with 8 or 32 lanes).
    pub tail: usize,
}

const LANES: [usize; 3] = [1, 8, 32];
const STEPS: [u32; 3] = [2, 4, 8];

impl Header {
    fn write(&self, w: &mut BitWriter) {
        let index = |v, of: &[_]| of.iter().position(|&x| x == v).expect("a known value") as u32;
        w.put(index(self.lanes, &LANES[..]), 2);
        w.put(index(self.p as usize, &PS.map(|p| p as usize)[..]), 2);
        w.put(index(self.s as usize, &STEPS.map(|s| s as usize)[..]), 2);
        w.put(self.ntables as u32 - 1, 4);
        w.put(self.rows_on as u32, 2);
        w.put(self.maxrel as u32, 8);
        w.put(self.maxmin as u32, 8);
        w.put(self.pairs as u32, 1);
        if self.lanes > 1 {
            put_gamma(w, self.tail as u32);
        }
    }

    /// The header (codes out of range come out as values `check` refuses).
    fn read(r: &mut BitReader) -> Result<Self> {
        let pick = |c: u32, of: &[u32]| of.get(c as usize).copied().unwrap_or(0);
        let mut h = Self {
            lanes: pick(r.get(2), &LANES.map(|l| l as u32)) as usize,
            p: pick(r.get(2), &PS),
            s: pick(r.get(2), &STEPS),
            ntables: r.get(4) as usize + 1,
            rows_on: r.get(2) as u8,
            maxrel: r.get(8) as usize,
            maxmin: r.get(8) as usize,
            pairs: r.get(1) == 1,
            tail: 0,
        };
        if h.lanes > 1 {
            h.tail = get_gamma(r)? as usize;
        }
        Ok(h)
    }

    fn check(&self) -> Result<()> {
        if !PS.contains(&self.p)
            || !LANES.contains(&self.lanes)
            || !STEPS.contains(&self.s)
            || !(1..=MAX_CLASSES).contains(&self.ntables)
            || self.rows_on > 2
            || self.maxrel > 128
            || !(1..=128).contains(&self.maxmin)
        {
            return Err(corrupt("bad header"));
        }
        Ok(())
    }
}

/// Bits `write_table` spends on `us`.
fn table_bits(us: &[Option<u32>]) -> u64 {
    let mut w = BitWriter::counting();
    write_table(&mut w, us);
    w.bit_len()
}

// ---------------------------------------------------------------------------------------------
// Symbols

/// Signed relative value r (as its two's-complement byte) → symbol: 0, +1, -1, +2, -2, ...
#[inline]
const fn sym_of(r: i32) -> usize {
    // Without branches: the signs of weights are a coin flip to the predictor.
    (2 * r.abs() - (r > 0) as i32) as usize
}

fn value_of_sym(sym: usize) -> i32 {
    if sym % 2 == 1 {
        sym.div_ceil(2) as i32
    } else {
        -((sym / 2) as i32)
    }
}

/// Relative value of code q in a row whose smallest non-zero magnitude is m.
#[inline]
const fn rel(q: i8, m: i32) -> i32 {
    let q = q as i32;
    q - q.signum() * (m - 1)
}

// ---------------------------------------------------------------------------------------------
// rANS

/// A symbol ready for encoding: division by its frequency as a multiplication by its
/// reciprocal 2^63 / f, rounded up (one 64x64-bit multiply). For a state x < 2^32 and
/// f <= 2^12 the product's top bits are exactly x / f: they are never below the true quotient
/// (the reciprocal is rounded up), and exceed it by less than x·2^-63 < 2^-31, less than the
/// 1/f that separates a non-integer quotient from the next integer.
#[derive(Clone, Copy)]
struct EncSym {
    /// States at or above this renormalise first (u64: a certain symbol never does).
    x_max: u64,
    rcp: u64,
    start: u32,
    /// 2^p - freq: x' = x + start + q (2^p - freq) with q = x / freq.
    cmpl: u32,
}

impl Table {
    fn enc_syms(&self, p: u32) -> Vec<EncSym> {
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
fn put(x: &mut u32, s: &EncSym, words: &mut [u16], len: &mut usize) {
    let emit = (*x as u64 >= s.x_max) as usize;
    words[*len] = *x as u16;
    *len += emit;
    let x0 = *x >> (16 * emit as u32);
    let q = s.quotient(x0);
    *x = x0
        .wrapping_add(s.start)
        .wrapping_add(q.wrapping_mul(s.cmpl));
}

/// A word buffer for `symbols` symbols and `states` final states, kept between encodes:
/// only the words written are read ([`finish`]), so it is never cleared (clearing it cost 1.6%
/// of auto's encode).
fn word_buffer(symbols: usize, states: usize) -> Vec<u16> {
    let mut words = WORDS.take();
    let need = symbols + 2 * states + 1;
    grow(&mut words, need);
    words
}

thread_local! {
    /// Buffers kept between calls, as allocating and clearing them every time cost a few
    /// percent: the encoder's words, the decoder's lookup tables, and the pair symbols of a
    /// tensor before they expand into its codes. Taken out while in use (a nested call would
    /// get fresh ones) and put back by [`keep`].
    static WORDS: Cell<Vec<u16>> = const { Cell::new(Vec::new()) };
    static LUTS: Cell<Vec<u32>> = const { Cell::new(Vec::new()) };
    static SYMS: Cell<Vec<i8>> = const { Cell::new(Vec::new()) };
}

/// Puts a buffer back for the next call, unless it holds more than [`KEEP_BYTES`]: reuse pays
/// on the many small and mid-sized tensors of a model, and a thread should not hold on to the
/// memory of the largest tensor it ever coded.
fn keep<T>(slot: &'static std::thread::LocalKey<Cell<Vec<T>>>, buffer: Vec<T>) {
    if buffer.capacity() * std::mem::size_of::<T>() <= KEEP_BYTES {
        slot.set(buffer);
    }
}

const KEEP_BYTES: usize = 1 << 20;

/// Grows a kept buffer to at least `len` elements, exactly (so that [`keep`] sees the memory
/// in use), without clearing what it holds.
fn grow<T: Clone + Default>(buffer: &mut Vec<T>, len: usize) {
    if buffer.len() < len {
        buffer.reserve_exact(len - buffer.len());
        buffer.resize(len, T::default());
    }
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
fn take(x: &mut u32, lut: &[u32], p: u32, words: &[u8], pos: &mut usize) -> u8 {
    let (b, nx, need) = step(*x, lut, p, word(words, *pos));
    *x = nx;
    *pos += need as usize;
    b
}

/// Appends `words` last to first as little-endian bytes (into place, so the loop vectorises).
fn push_words(out: &mut Vec<u8>, words: &[u16]) {
    let at = out.len();
    out.resize(at + 2 * words.len(), 0);
    for (b, w) in out[at..].chunks_exact_mut(2).zip(words.iter().rev()) {
        b.copy_from_slice(&w.to_le_bytes());
    }
}

/// Ends a stream: the final states (read first by the decoder), then the words so far, as
/// bytes in decoding order.
fn finish(states: &[u32], mut words: Vec<u16>, len: usize, out: &mut Vec<u8>) {
    let mut end = len;
    for &x in states.iter().rev() {
        words[end] = x as u16;
        words[end + 1] = (x >> 16) as u16;
        end += 2;
    }
    push_words(out, &words[..end]);
    keep(&WORDS, words);
}

// ---------------------------------------------------------------------------------------------
// Encode

fn rows_of(n: usize, shape: &[usize]) -> (usize, usize) {
    if shape.len() >= 2 && shape[0] > 0 && n > 0 {
        (shape[0], n / shape[0])
    } else {
        (1, n)
    }
}

pub fn encode(codes: &[i8], shape: &[usize]) -> Vec<u8> {
    encode_with(codes, shape, PAIR_SLACK, true)
}

/// `encode`, and the histogram of the code values ([`super::simple::code_histogram`]'s),
/// which it counts on the way.
pub fn encode_counting(codes: &[i8], shape: &[usize]) -> (Vec<u8>, Vec<u64>) {
    encode_full(codes, shape, PAIR_SLACK, true)
}

/// `encode`, with pairs taken when they cost at most `pair_slack` more (the tests force them),
/// and the AVX2 encoder where the CPU has it unless `simd` is false (the tests compare them).
#[doc(hidden)]
pub fn encode_with(codes: &[i8], shape: &[usize], pair_slack: f64, simd: bool) -> Vec<u8> {
    encode_full(codes, shape, pair_slack, simd).0
}

fn encode_full(codes: &[i8], shape: &[usize], pair_slack: f64, simd: bool) -> (Vec<u8>, Vec<u64>) {
    let n = codes.len();
    let maxabs = super::max_magnitude(codes) as usize;
    if maxabs == 0 {
        return (vec![0], super::simple::histogram_of_counts(&[n as u64]));
    }
    let (rows, rowlen) = rows_of(n, shape);
    // Candidate models: one pseudo-row, or real rows with 1..16 classes.
    let (by_row, whole, counts) = row_infos(codes, rows, rowlen, maxabs);
    let mut by_row = Some(by_row).filter(|_| rows > 1);
    let mut best: Option<(Candidate, Fit)> = None;
    for (infos, rows_on) in [(Some(whole), false), (by_row.take(), true)] {
        let Some(infos) = infos else { continue };
        // Symbols actually used (relative values shrink the alphabet).
        let nsym = infos.symbols();
        let nsym = if nsym % 2 == 0 { nsym + 1 } else { nsym };
        let infos = &infos;
        let maxmin = infos
            .mmin
            .iter()
            .map(|&m| m as usize)
            .max()
            .unwrap_or(1)
            .max(1);
        let ks: &[usize] = if rows_on { &[1, 2, 4, 8, 16] } else { &[1] };
        let row_classes = Classes::new(infos, nsym);
        let mut last: Option<Vec<u8>> = None;
        // Lookup tables of at most a quarter of the codes, at the finest resolution that allows.
        let p_for = |k: usize| PS.iter().copied().find(|&p| (k << p) <= n / 4);
        // A candidate weighed at s = 4 steps per octave; its bits.
        let mut consider = |cand: Candidate| {
            let fit = cand.fit(4, false);
            let here = fit.bits;
            if best.as_ref().is_none_or(|(_, b)| here < b.bits) {
                best = Some((cand, fit));
            }
            here
        };
        over_class_counts(ks, |k| {
            let p = match p_for(k) {
                Some(p) => p,
                None if k == 1 => PS[PS.len() - 1],
                None => return None,
            };
            // At least four rows per class.
            if rows_on && k > 1 && rows < 4 * k {
                return None;
            }
            let (class, counts) = if k > 1 {
                row_classes.of(k, last.as_deref())
            } else {
                row_classes.one()
            };
            let cand = candidate(
                &infos.mmin,
                rows_on,
                (&class, counts),
                Vec::new(),
                p,
                nsym,
                maxmin,
            );
            last = Some(class);
            Some(consider(cand))
        });
        // Tables by position in short rows (depthwise kernels: the centre tap is larger).
        if rows_on && (2..=MAX_POSITIONAL).contains(&rowlen) {
            let pos_infos = position_infos(codes, &infos.mmin, rowlen, nsym, maxabs <= 7);
            let pos_classes = Classes::new(&pos_infos, nsym);
            let zeros = vec![0u8; row_classes.live.len()];
            over_class_counts(&[2, 4, 8], |k| {
                let p = p_for(k).filter(|_| k <= rowlen)?;
                let (posmap, counts) = pos_classes.of(k, None);
                Some(consider(candidate(
                    &infos.mmin,
                    true,
                    (&zeros, counts),
                    posmap,
                    p,
                    nsym,
                    maxmin,
                )))
            });
        }
    }
    let (cand, mut fit) = best.expect("at least one candidate model");
    // The table resolution, once the model is chosen: s = 2 and 8 save under 0.1% where they
    // win, too little to weigh every candidate at all three.
    for s in [2, 8] {
        let other = cand.fit(s, false);
        if other.bits < fit.bits {
            fit = other;
        }
    }
    // Knot tables at that resolution (the default model's 8-bit cells 1.1-1.9% smaller than
    // with session 7's falling tables), weighed only now: weighing smooth tables in every fit
    // ran the encoder at 0.75-0.90x.
    let fit = cand.fit(fit.s, true);
    // Codes within ±7 take the shuffle paths of `row_ids`.
    let simd_ids = simd && maxabs <= 7;
    let blob = write(codes, rowlen, &cand, &fit, pair_slack, simd, simd_ids);
    (blob, super::simple::histogram_of_counts(&counts))
}

/// Pairs may cost this much more than single codes (modelled bits, on every fourth pair):
/// they decode 1.7-1.9x as fast.
const PAIR_SLACK: f64 = 0.01;

/// Whether the live rows may code as pairs: small alphabets, tables by row, rows of whole
/// pairs, and tensors large enough for 32 states (smaller ones would spend more on building
/// pair tables than they save).
fn pairs_possible(plan: &Candidate, rowlen: usize, total: usize) -> bool {
    2 * plan.maxrel < 16 && plan.posmap.is_empty() && rowlen % 2 == 0 && lanes_for(total) == 32
}

/// The pair tables ([`pair_table`]) of the classes when they code within `slack` of the class
/// tables, given a histogram of the pair ids (class · 256 + pair).
fn pairs_pay(pair_hist: &[u64], tables: &[Table], p: u32, slack: f64) -> Option<Vec<Table>> {
    let pair_tables: Vec<Table> = tables.iter().map(|t| pair_table(t, p)).collect();
    let (mut single_bits, mut pair_bits) = (0.0, 0.0);
    for ((t, pt), pairs) in tables
        .iter()
        .zip(&pair_tables)
        .zip(pair_hist.chunks_exact(PAIR_SYMBOLS))
    {
        let mut single = [0u64; 16];
        for (i, &c) in pairs.iter().enumerate() {
            single[i % 16] += c;
            single[i / 16] += c;
        }
        single_bits += t.cost(&single, p);
        pair_bits += pt.cost(pairs, p);
    }
    (pair_bits <= single_bits * (1.0 + slack)).then_some(pair_tables)
}

/// Histogram of every fourth of `ids` (all below `bins`), a sample for [`pairs_pay`]: four
/// interleaved copies, as runs of one id (zeros, mostly) would otherwise wait on the
/// previous increment's store.
fn sampled_histogram(ids: &[u16], bins: usize) -> Vec<u64> {
    let mut h = vec![[0u32; 4]; bins];
    let mut blocks = ids.chunks_exact(16);
    for b in &mut blocks {
        for k in 0..4 {
            h[b[4 * k] as usize][k] += 1;
        }
    }
    for &id in blocks.remainder().iter().step_by(4) {
        h[id as usize][0] += 1;
    }
    h.iter()
        .map(|c| c.iter().map(|&x| x as u64).sum())
        .collect()
}

/// The symbols of a row's codes given its smallest magnitude m, into `out`: `sym_of(rel(q, m))`, in 16-bit
/// arithmetic so that the loop vectorises.
fn row_symbols(row: &[i8], m: i32, out: &mut [u16]) {
    // r = q - sign(q)(m - 1), symbol 2|r| - (r > 0): for q != 0, 2|q| - 2(m - 1) - (q > 0).
    let d2 = 2 * (m - 1) as i16;
    for (s, &q) in out.iter_mut().zip(row) {
        let q = q as i16;
        let sym = 2 * q.max(-q) - d2 - (q > 0) as i16;
        *s = if q == 0 { 0 } else { sym as u16 };
    }
}

/// The symbols of a row with smallest magnitude m (within ±7) for the codes -8..=7
/// (`lut[q + 8]`; 0 for codes that cannot occur in it). Built at compile time: building one
/// per row cost 2.5% of auto's encode.
fn symbol_lut(m: i32) -> [u8; 16] {
    static LUTS: [[u8; 16]; 8] = {
        let mut luts = [[0u8; 16]; 8];
        let mut m = 1;
        while m < 8 {
            let mut k = 0;
            while k < 16 {
                let q = k as i32 - 8;
                if q != 0 && q.abs() >= m {
                    luts[m as usize][k] = sym_of(rel(q as i8, m)) as u8;
                }
                k += 1;
            }
            m += 1;
        }
        luts
    };
    LUTS[m as usize]
}

/// The ids of a row of codes with smallest magnitude m into `out`: `base` + symbol (W = 1),
/// or `base` + a + 16 b for the symbols of each two neighbouring codes (W = 2). By AVX2
/// shuffles where the CPU has it and `small` says the codes are within ±7.
fn row_ids<const W: usize>(
    row: &[i8],
    m: i32,
    base: u16,
    small: bool,
    out: &mut [u16],
    symbols: &mut [u16],
) {
    // Symbols of W codes as one id: the first in the low 4 bits.
    let join = |syms: &[u16]| base + syms.iter().rev().fold(0, |a, &s| 16 * a + s);
    #[cfg(target_arch = "x86_64")]
    if small && std::arch::is_x86_feature_detected!("avx2") {
        let lut = symbol_lut(m);
        // SAFETY: the CPU has AVX2.
        let done = unsafe {
            if W == 2 {
                simd::pair_ids(row, &lut, base, out)
            } else {
                simd::single_ids(row, &lut, base, out)
            }
        };
        for (id, codes) in out[done..].iter_mut().zip(row[W * done..].chunks_exact(W)) {
            let syms: [u16; W] = std::array::from_fn(|k| lut[(codes[k] + 8) as usize] as u16);
            *id = join(&syms);
        }
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = small;
    row_symbols(row, m, symbols);
    for (id, syms) in out.iter_mut().zip(symbols.chunks_exact(W)) {
        *id = join(syms);
    }
}

/// The main stream's symbols in decoding order, as ids into the concatenated tables: pairs
/// (class · 256 + a + 16 b) in rows of class order, so that the decoder gathers from one
/// class's table for long runs, with the pair tables when pairs pay ([`pairs_pay`]); else
/// codes (table · nsym + symbol) in row order. `live` holds each live row's index, smallest
/// magnitude and class; `small` says every code is within ±7.
fn main_ids(
    codes: &[i8],
    rowlen: usize,
    plan: &Candidate,
    live: &[(usize, i32, usize)],
    class_tables: &[Table],
    pair_slack: f64,
    small: bool,
) -> (Vec<u16>, Option<Vec<Table>>) {
    let total = live.len() * rowlen;
    let mut symbols = vec![0u16; rowlen];
    let mut ids: Vec<u16> = Vec::with_capacity(total);
    if pairs_possible(plan, rowlen, total) {
        let mut by_class: Vec<usize> = (0..live.len()).collect();
        by_class.sort_by_key(|&i| live[i].2);
        for &i in &by_class {
            let (r, m, c) = live[i];
            let base = (c * PAIR_SYMBOLS) as u16;
            let row = &codes[r * rowlen..(r + 1) * rowlen];
            let at = ids.len();
            ids.resize(at + rowlen / 2, 0);
            row_ids::<2>(row, m, base, small, &mut ids[at..], &mut symbols);
        }
        let hist = sampled_histogram(&ids, class_tables.len() * PAIR_SYMBOLS);
        if let Some(pair_tables) = pairs_pay(&hist, class_tables, plan.p, pair_slack) {
            return (ids, Some(pair_tables));
        }
        ids.clear();
    }
    let nsym = 2 * plan.maxrel + 1;
    // With tables by position, each position's table base is added after the symbols.
    let pos_base: Vec<u16> = plan
        .posmap
        .iter()
        .map(|&t| t as u16 * nsym as u16)
        .collect();
    for &(r, m, c) in live {
        let base = if pos_base.is_empty() {
            (c * nsym) as u16
        } else {
            0
        };
        let at = ids.len();
        ids.resize(at + rowlen, 0);
        let row = &codes[r * rowlen..(r + 1) * rowlen];
        row_ids::<1>(row, m, base, small, &mut ids[at..], &mut symbols);
        for (id, &b) in ids[at..].iter_mut().zip(&pos_base) {
            *id += b;
        }
    }
    (ids, None)
}

fn write(
    codes: &[i8],
    rowlen: usize,
    plan: &Candidate,
    fit: &Fit,
    pair_slack: f64,
    simd: bool,
    simd_ids: bool,
) -> Vec<u8> {
    let p = plan.p;
    let class_tables: Vec<Table> = fit
        .tables
        .iter()
        .map(|t| Table::new(normalize(&t.us, fit.s, p).expect("encoder tables are valid")))
        .collect();
    let rowlen = if plan.rows_on { rowlen } else { codes.len() };
    let live: Vec<(usize, i32, usize)> = plan
        .rows
        .iter()
        .enumerate()
        .filter(|(_, &(kind, _))| kind > 0)
        .map(|(i, &(kind, m))| (i, m, kind - 1))
        .collect();
    let total: usize = live.len() * rowlen;
    let lanes = lanes_for(total);
    let (ids, pairs) = main_ids(
        codes,
        rowlen,
        plan,
        &live,
        &class_tables,
        pair_slack,
        simd_ids,
    );
    let mut out = vec![FORMAT];
    // Main stream: symbol j on lane j % lanes, its tail on a state of its own.
    let tables = pairs.as_ref().unwrap_or(&class_tables);
    let width = if pairs.is_some() {
        PAIR_SYMBOLS
    } else {
        2 * plan.maxrel + 1
    };
    let mut enc = Vec::with_capacity(tables.len() * width);
    for t in tables {
        enc.extend(t.enc_syms(p));
        enc.resize(enc.len().next_multiple_of(width), enc[enc.len() - 1]);
    }
    let (tail, payload) = tail_of(&ids, &enc, p, lanes);
    let mut tw = BitWriter::new();
    Header {
        lanes,
        p,
        s: fit.s,
        ntables: class_tables.len(),
        rows_on: plan.rows_on as u8 + !plan.posmap.is_empty() as u8,
        maxrel: plan.maxrel,
        maxmin: plan.maxmin,
        pairs: pairs.is_some(),
        tail,
    }
    .write(&mut tw);
    for t in &fit.tables {
        t.write(&mut tw);
    }
    for &c in &plan.posmap {
        tw.put(c as u32, class_bits(class_tables.len()));
    }
    let bulk = &ids[..ids.len() - tail];
    let mut main = Vec::new();
    match lanes {
        1 => put_main::<1>(bulk, &enc, p, simd, &payload, &mut main),
        8 => put_main::<8>(bulk, &enc, p, simd, &payload, &mut main),
        _ => put_main::<32>(bulk, &enc, p, simd, &payload, &mut main),
    }
    // Side symbols: kinds (0 = zero row, 1 + class), then each live row's minimum - 1.
    let mut side = Vec::new();
    if plan.rows_on {
        fit.kind_table.write(&mut tw);
        let kinds = Table::new(normalize(&fit.kind_table.us, fit.s, p).expect("valid")).enc_syms(p);
        let mins = (!fit.min_table.us.is_empty()).then(|| {
            Table::new(normalize(&fit.min_table.us, fit.s, p).expect("valid")).enc_syms(p)
        });
        if !fit.min_table.us.is_empty() {
            fit.min_table.write(&mut tw);
        }
        // The side stream starts from the main stream's first state (which would otherwise
        // take 4 bytes): its decoding ends there, just before the main stream's.
        let first = state(&main, 0);
        main.drain(..4);
        let mut words = word_buffer(2 * plan.rows.len(), 1);
        let (mut x, mut len) = (first, 0);
        for &(kind, m) in plan.rows.iter().rev() {
            if kind > 0 {
                let t = mins.as_ref().expect("live rows have a minimum table");
                put(&mut x, &t[m as usize - 1], &mut words, &mut len);
            }
            put(&mut x, &kinds[kind], &mut words, &mut len);
        }
        finish(&[x], words, len, &mut side);
    }
    out.extend_from_slice(&tw.finish());
    out.extend_from_slice(&side);
    out.extend_from_slice(&main);
    out
}

/// The tail of a stream on 8 or 32 states: its last symbols, coded on one state of their own
/// whose words (final state first) become the main states' first values, RANS_L + word. Every
/// rANS state starts at RANS_L, 16 bits that carry nothing; these carry the tail (0.16% of
/// EfficientNet-Lite0, 0.33% of the PP-OCRv4 detector at s=0.5, b=4; decoding it on one state
/// costs up to 1.6% of their decode). Returns the tail's length and words: as many symbols as
/// the modelled bits allow, a sixteenth fewer at a time while its words outnumber the states.
fn tail_of(ids: &[u16], enc: &[EncSym], p: u32, lanes: usize) -> (usize, Vec<u16>) {
    if lanes == 1 {
        return (0, Vec::new());
    }
    // A first length from the modelled bits: the tail's words and final state in all the
    // states, less the 16 bits that its own first state carries nothing in.
    let budget = 16.0 * (lanes - 1) as f64;
    let mut bits = 0.0;
    let mut k = 0;
    for &id in ids.iter().rev() {
        bits += p as f64 - log2_of((1 << p) - enc[id as usize].cmpl);
        if bits > budget {
            break;
        }
        k += 1;
    }
    while k > 0 {
        let mut words = vec![0u16; k + 1];
        let (mut x, mut len) = (RANS_L, 0);
        for &id in ids[ids.len() - k..].iter().rev() {
            put(&mut x, &enc[id as usize], &mut words, &mut len);
        }
        if len + 2 <= lanes {
            let mut payload = vec![(x >> 16) as u16, x as u16];
            payload.extend(words[..len].iter().rev());
            return (k, payload);
        }
        k -= k.div_ceil(16);
    }
    (0, Vec::new())
}

/// Encodes the symbols `ids` (indices into `enc`, in decoding order) on `L` states, symbol j
/// on state j % L, starting from RANS_L + `payload` ([`tail_of`]), and ends the stream. rANS
/// runs backwards: the last symbols first.
fn put_main<const L: usize>(
    ids: &[u16],
    enc: &[EncSym],
    p: u32,
    simd: bool,
    payload: &[u16],
    out: &mut Vec<u8>,
) {
    let mut words = word_buffer(ids.len(), L);
    let mut len = 0;
    let mut st: [u32; L] =
        std::array::from_fn(|j| RANS_L + payload.get(j).map_or(0, |&w| w as u32));
    let rounds = ids.chunks_exact(L);
    let tail = rounds.remainder();
    for (x, &id) in st.iter_mut().zip(tail).rev() {
        put(x, &enc[id as usize], &mut words, &mut len);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, simd);
    #[cfg(target_arch = "x86_64")]
    if simd && L >= 8 && std::arch::is_x86_feature_detected!("avx2") {
        // Frequency and start of each id, for the vector loop's one gather per lane.
        let packed: Vec<u32> = enc
            .iter()
            .map(|e| ((1 << p) - e.cmpl) | e.start << 16)
            .collect();
        let ids = &ids[..ids.len() - tail.len()];
        // The vector loop reads `packed` unchecked.
        assert!(ids.iter().copied().max().unwrap_or(0) < packed.len() as u16);
        // SAFETY: the CPU has AVX2, every id is in bounds, whole rounds of L, and `words` has
        // one word per symbol and 2L + 1 >= 8 more.
        unsafe {
            match L {
                8 => simd::put_rounds::<1>(ids, &packed, p, &mut st, &mut words, &mut len),
                _ => simd::put_rounds::<4>(ids, &packed, p, &mut st, &mut words, &mut len),
            }
        }
        finish(&st, words, len, out);
        return;
    }
    for round in rounds.rev() {
        for (x, &id) in st.iter_mut().zip(round).rev() {
            put(x, &enc[id as usize], &mut words, &mut len);
        }
    }
    finish(&st, words, len, out);
}

// ---------------------------------------------------------------------------------------------
// Decode

fn corrupt(what: &str) -> CoreError {
    CoreError::Corrupt(format!("srans: {what}"))
}

/// The 32-bit state stored as words `2 l` (high half) and `2 l + 1` of a word stream.
fn state(words: &[u8], l: usize) -> u32 {
    (word(words, 2 * l) as u32) << 16 | word(words, 2 * l + 1) as u32
}

/// The 16-bit little-endian word `i` of a word stream (read in place, never copied), clamped
/// to the last word (0 in a stream of none): a corrupt stream may run past its end, and the
/// final state check reports it.
#[inline(always)]
fn word(words: &[u8], i: usize) -> u16 {
    match (words.len() / 2).checked_sub(1) {
        Some(last) => {
            let i = i.min(last);
            u16::from_le_bytes([words[2 * i], words[2 * i + 1]])
        }
        None => 0,
    }
}

/// The header of a stream whose first byte `format` (not 0) `cur` has read, and the reader
/// of its table bits, which open with the header.
fn open<'a>(format: u8, cur: &mut Cursor<'a>) -> Result<(Header, BitReader<'a>)> {
    if format != FORMAT {
        return Err(corrupt(&format!("unknown stream format {format}")));
    }
    let mut tr = BitReader::new(&cur.data[cur.pos..]);
    let header = Header::read(&mut tr)?;
    header.check()?;
    Ok((header, tr))
}

/// The header of a stream that is not all zero (for tests that check what the encoder chose).
#[doc(hidden)]
pub fn header(data: &[u8]) -> Result<Header> {
    let mut cur = Cursor::new(data);
    let format = cur.u8()?;
    if format == 0 {
        return Err(corrupt("an all-zero tensor has no header"));
    }
    Ok(open(format, &mut cur)?.0)
}

pub fn decode(data: &[u8], shape: &[usize], out: &mut [i8]) -> Result<()> {
    decode_with(data, shape, out, true)
}

/// `decode`, with the SIMD path allowed or not (the tests compare the two).
#[doc(hidden)]
pub fn decode_with(data: &[u8], shape: &[usize], out: &mut [i8], simd: bool) -> Result<()> {
    let n = out.len();
    let mut cur = Cursor::new(data);
    let format = cur.u8()?;
    if format == 0 {
        if cur.rest().is_empty() {
            out.fill(0);
            return Ok(());
        }
        return Err(corrupt("trailing bytes after an all-zero tensor"));
    }
    let (header, mut tr) = open(format, &mut cur)?;
    let Header {
        lanes,
        p,
        s,
        ntables,
        rows_on,
        maxrel,
        maxmin,
        pairs,
        tail,
    } = header;
    let nsym = 2 * maxrel + 1;
    let (rows, rowlen) = if rows_on > 0 {
        rows_of(n, shape)
    } else {
        (1, n)
    };
    if rows.checked_mul(rowlen) != Some(n) {
        return Err(CoreError::Shape(format!(
            "srans: shape {shape:?} does not match {n} elements"
        )));
    }
    let mut tables = Vec::with_capacity(ntables);
    for _ in 0..ntables {
        tables.push(Table::new(normalize(
            &read_sent(&mut tr, nsym, s, true)?,
            s,
            p,
        )?));
    }
    let positional = rows_on == 2;
    if pairs && (nsym > 16 || positional || rowlen % 2 != 0 || rowlen == 0) {
        return Err(corrupt(
            "pairs need at most 16 symbols and tables by row of even length",
        ));
    }
    let mut posmap = Vec::new();
    if positional {
        if !(2..=MAX_POSITIONAL).contains(&rowlen) {
            return Err(corrupt("tables by position need rows of 2 to 64 codes"));
        }
        for _ in 0..rowlen {
            let c = tr.get(class_bits(ntables));
            if c as usize >= ntables {
                return Err(corrupt("position class out of range"));
            }
            posmap.push(c);
        }
    }
    // Row kinds: 0 = all zero, else 1 + the row's class (always 1 with tables by position).
    let nkinds = if positional { 2 } else { ntables + 1 };
    // Tables of the side stream: row kinds, then minima where some row is live.
    let side_tables = if rows_on > 0 {
        let kinds = Table::new(normalize(&read_sent(&mut tr, nkinds, s, false)?, s, p)?);
        let mins = if kinds.freq[1..].iter().any(|&f| f > 0) {
            Some(Table::new(normalize(
                &read_sent(&mut tr, maxmin, s, false)?,
                s,
                p,
            )?))
        } else {
            None
        };
        Some((kinds, mins))
    } else {
        None
    };
    tr.check("srans tables")?;
    cur.take(tr.bytes_consumed())?;
    // Row kinds and minima.
    let mut row_kind = vec![(1u8, 1i32); rows];
    // Lookup tables, first of the side tables, then of the classes: a buffer kept between
    // decodes (allocating and clearing it each time cost a few percent).
    let mut luts = LUTS.take();
    // The side stream runs to where its decoding ends, at the main stream's first state.
    let side = &data[cur.pos..];
    let mut first_state = None;
    if let Some((kinds, mins)) = side_tables {
        let size = (1 << p) + LUT_SLACK;
        grow(&mut luts, 2 * size);
        let (kind_lut, min_lut) = luts.split_at_mut(size);
        kinds.fill_lut(p, |sym| sym as u8, kind_lut);
        let kind_lut = &kind_lut[..1 << p];
        let min_lut = mins.map(|mins| {
            mins.fill_lut(p, |sym| sym as u8, min_lut);
            &min_lut[..1 << p]
        });
        let nside = side.len() / 2;
        if nside < 2 {
            return Err(corrupt("side stream too short"));
        }
        let mut x = state(side, 0);
        let mut pos = 2;
        for rk in row_kind.iter_mut() {
            let kind = take(&mut x, kind_lut, p, side, &mut pos);
            let m = if kind > 0 {
                let ml = min_lut.ok_or_else(|| corrupt("live row without a minimum table"))?;
                take(&mut x, ml, p, side, &mut pos) as i32 + 1
            } else {
                0
            };
            *rk = (kind, m);
        }
        if pos > nside || x < RANS_L {
            return Err(corrupt("side stream does not end where it should"));
        }
        cur.take(2 * pos)?;
        first_state = Some(x);
    } else {
        row_kind[0] = (1, maxmin as i32);
    }
    // Main stream.
    let rest = cur.rest();
    let stored = lanes - first_state.is_some() as usize;
    if rest.len() & 1 != 0 || rest.len() < 2 * 2 * stored {
        return Err(corrupt("main stream has a bad length"));
    }
    let mut main = Main {
        states: first_state
            .into_iter()
            .chain((0..stored).map(|l| state(rest, l)))
            .collect(),
        words: rest,
        pos: 2 * stored,
        tail,
        simd,
    };
    let mut classes = Vec::with_capacity(rows);
    for &(kind, _) in &row_kind {
        if kind as usize >= nkinds {
            return Err(corrupt("row class out of range"));
        }
        if kind > 0 {
            classes.push(kind as u32 - 1);
        }
    }
    let pos_off: Vec<i32> = (0..rowlen + 32)
        .map(|i| (posmap.get(i % rowlen.max(1)).copied().unwrap_or(0) << p) as i32)
        .collect();
    // The lookup tables, one after another (the SIMD path gathers across them).
    let nluts = ntables << p;
    grow(&mut luts, nluts + LUT_SLACK);
    // Alphabets of at most 16 symbols decode to symbols, which `expand` turns into each row's
    // codes (a pair symbol into two); larger ones decode to relative values.
    let expanded = pairs || nsym <= 16;
    for (c, t) in tables.iter().enumerate() {
        let lut = &mut luts[c << p..];
        if pairs {
            pair_table(t, p).fill_lut(p, |sym| sym as u8, lut);
        } else if expanded {
            t.fill_lut(p, |sym| sym as u8, lut);
        } else {
            t.fill_lut(p, |sym| value_of_sym(sym) as i8 as u8, lut);
        }
    }
    let rows = Rows {
        p,
        rowlen,
        classes: &classes,
        luts: &luts[..nluts],
        posmap: &posmap,
        pos_off: &pos_off,
    };
    let decoded = if expanded {
        decode_expanded(out, &rows, &row_kind, nsym, pairs, &mut main)
    } else {
        decode_codes(out, &rows, &row_kind, &mut main)
    };
    keep(&LUTS, luts);
    decoded
}

/// The main stream's codes of alphabets over 16 symbols into `out`: live rows in order, then
/// zero rows filled in and relative values restored.
fn decode_codes(
    out: &mut [i8],
    rows: &Rows,
    row_kind: &[(u8, i32)],
    main: &mut Main,
) -> Result<()> {
    let rowlen = rows.rowlen;
    let all_live = rows.classes.len() == row_kind.len();
    let mut tmp = Vec::new();
    let live_out: &mut [i8] = if all_live {
        out
    } else {
        tmp.resize(rows.classes.len() * rowlen, 0i8);
        &mut tmp
    };
    main.decode(live_out, rows)?;
    if !all_live {
        let mut src = tmp.chunks_exact(rowlen.max(1));
        for (row, &(kind, _)) in out.chunks_exact_mut(rowlen.max(1)).zip(row_kind) {
            match kind {
                0 => row.fill(0),
                _ => row.copy_from_slice(src.next().expect("one decoded row per live row")),
            }
        }
    }
    for (row, &(kind, m)) in out.chunks_exact_mut(rowlen.max(1)).zip(row_kind) {
        if kind > 0 && m > 1 {
            restore(row, m)?;
        }
    }
    Ok(())
}

/// The main stream's symbols (of at most 16 symbols, or their pairs) into `out`: the live rows'
/// symbols, then each row's codes from them ([`expand`]). Pairs come in class order (stable),
/// single symbols in row order.
fn decode_expanded(
    out: &mut [i8],
    rows: &Rows,
    row_kind: &[(u8, i32)],
    nsym: usize,
    pairs: bool,
    main: &mut Main,
) -> Result<()> {
    if !pairs {
        let place: Vec<usize> = (0..rows.classes.len()).collect();
        return decode_symbols(out, rows, row_kind, &place, nsym, 1, main);
    }
    // Live rows in class order, stable: a counting sort over kinds 1..=MAX_CLASSES (the
    // caller checked every kind).
    let mut next = [0usize; MAX_CLASSES + 2];
    for &(kind, _) in row_kind {
        next[kind as usize + 1] += 1;
    }
    for k in 1..next.len() {
        next[k] += next[k - 1];
    }
    let zero_rows = next[1];
    // Each live row's class in stream order, and its place in the stream in row order.
    let mut classes = vec![0u32; row_kind.len() - zero_rows];
    let mut place = Vec::with_capacity(classes.len());
    for &(kind, _) in row_kind.iter().filter(|k| k.0 > 0) {
        let at = next[kind as usize] - zero_rows;
        next[kind as usize] += 1;
        place.push(at);
        classes[at] = kind as u32 - 1;
    }
    let pair_rows = Rows {
        classes: &classes,
        ..*rows
    };
    decode_symbols(out, &pair_rows, row_kind, &place, nsym, 2, main)
}

/// The live rows' symbols (`per` codes each) into a kept buffer, and from them the codes of
/// every row ([`expand`]).
#[allow(clippy::too_many_arguments)]
fn decode_symbols(
    out: &mut [i8],
    rows: &Rows,
    row_kind: &[(u8, i32)],
    place: &[usize],
    nsym: usize,
    per: usize,
    main: &mut Main,
) -> Result<()> {
    let symbol_rows = Rows {
        rowlen: rows.rowlen / per,
        ..*rows
    };
    // Every symbol is written by the decoder before it is read: the buffer is not cleared.
    let mut buffer = SYMS.take();
    let nsyms = rows.classes.len() * symbol_rows.rowlen;
    grow(&mut buffer, nsyms);
    let syms = &mut buffer[..nsyms];
    let decoded = main
        .decode(syms, &symbol_rows)
        .and_then(|()| expand(syms, out, row_kind, place, nsym, per, main.simd));
    keep(&SYMS, buffer);
    decoded
}

fn lut_of<'a>(rows: &Rows<'a>, class: u32) -> &'a [u32] {
    let c = (class as usize) << rows.p;
    &rows.luts[c..c + (1 << rows.p)]
}

/// The live rows of a tensor: their length, each one's class, and every class's table as a
/// lookup table per slot, one after another (the SIMD path gathers across them).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // `pos_off`: SIMD only
struct Rows<'a> {
    p: u32,
    rowlen: usize,
    classes: &'a [u32],
    luts: &'a [u32],
    /// With tables by position: the class of each position (else empty), and the table
    /// offset of position i % rowlen at i, for rowlen + 32 entries (a SIMD round's offsets
    /// are one unaligned load from it).
    posmap: &'a [u32],
    pos_off: &'a [i32],
}

/// The main stream: its states, its words (read in place) and how far they are read, and the
/// length of its tail ([`tail_of`]).
struct Main<'a> {
    states: Vec<u32>,
    words: &'a [u8],
    pos: usize,
    tail: usize,
    simd: bool,
}

impl Main<'_> {
    /// Decodes `out` (the live rows' codes or symbols), symbol j on state j % states up to
    /// the tail, then the tail on one state whose words the states end with; checks that the
    /// stream ends where it should.
    fn decode(&mut self, out: &mut [i8], rows: &Rows) -> Result<()> {
        let end = || corrupt("main stream does not end where it should");
        let bulk = out.len().checked_sub(self.tail).ok_or_else(end)?;
        let done = self.decode_simd(&mut out[..bulk], rows);
        decode_scalar(
            &mut out[..bulk],
            done,
            rows,
            &mut self.states,
            self.words,
            &mut self.pos,
        );
        if self.pos != self.words.len() / 2 {
            return Err(end());
        }
        if self.tail == 0 {
            return match self.states.iter().all(|&x| x == RANS_L) {
                true => Ok(()),
                false => Err(end()),
            };
        }
        // Each state ended at RANS_L plus one word of the tail's stream.
        let mut payload = Vec::with_capacity(2 * self.states.len());
        for &x in &self.states {
            let w = x.wrapping_sub(RANS_L);
            if x < RANS_L || w > 0xFFFF {
                return Err(end());
            }
            payload.extend_from_slice(&(w as u16).to_le_bytes());
        }
        let mut x = [state(&payload, 0)];
        let mut at = 2;
        decode_scalar(out, bulk, rows, &mut x, &payload, &mut at);
        // The words the tail did not read are zero.
        if x[0] != RANS_L || at > self.states.len() || payload[2 * at..].iter().any(|&b| b != 0) {
            return Err(end());
        }
        Ok(())
    }

    /// Whole rounds of `out` decoded with AVX2 where the CPU has it: how many symbols.
    fn decode_simd(&mut self, out: &mut [i8], rows: &Rows) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.simd && std::arch::is_x86_feature_detected!("avx2") {
            let (st, words, pos) = (&mut self.states[..], self.words, &mut self.pos);
            // SAFETY: AVX2 is present; the function checks its own bounds.
            return unsafe {
                match st.len() {
                    8 => simd::decode::<1>(out, rows, st, words, pos),
                    32 => simd::decode::<4>(out, rows, st, words, pos),
                    _ => 0,
                }
            };
        }
        let _ = (out, rows);
        0
    }
}

/// Decodes `out[from..]` from states `st`, symbol j on state j % st.len(), the table of each
/// by its row's class (or its position in the row).
fn decode_scalar(
    out: &mut [i8],
    from: usize,
    rows: &Rows,
    st: &mut [u32],
    words: &[u8],
    pos: &mut usize,
) {
    let lanes = st.len();
    let mut lane = from % lanes;
    let rowlen = rows.rowlen.max(1);
    let (mut r, mut c) = (from / rowlen, from % rowlen);
    for o in out.iter_mut().skip(from) {
        let class = if rows.posmap.is_empty() {
            rows.classes[r]
        } else {
            rows.posmap[c]
        };
        *o = take(&mut st[lane], lut_of(rows, class), rows.p, words, pos) as i8;
        lane += 1;
        if lane == lanes {
            lane = 0;
        }
        c += 1;
        if c == rowlen {
            (r, c) = (r + 1, 0);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod simd;

/// The rows of `out` from their kinds and smallest magnitudes m (`row_kind`): zeros for a zero
/// row, else the codes of its symbols (`per` = 1), or of its pair symbols a + 16 b (`per` =
/// 2), which the live rows hold one after another in `syms` (`place`: where each live row is,
/// in row order). One table lookup per code does what [`restore`] does. Rows are written in
/// order, which the hardware prefetcher follows: a whole-model decode ran 4-7% faster than
/// writing pair rows in class order with software prefetches.
fn expand(
    syms: &[i8],
    out: &mut [i8],
    row_kind: &[(u8, i32)],
    place: &[usize],
    nsym: usize,
    per: usize,
    simd: bool,
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    let simd = simd && std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let simd = {
        let _ = simd;
        false
    };
    // Relative values of the symbols (0 past the alphabet: those never occur).
    let values: [i8; 16] =
        std::array::from_fn(|k| if k < nsym { value_of_sym(k) as i8 } else { 0 });
    let rowlen = out.len() / row_kind.len();
    let width = rowlen / per;
    let mut places = place.iter();
    for (orow, &(kind, m)) in out.chunks_exact_mut(rowlen).zip(row_kind) {
        if kind == 0 {
            orow.fill(0);
            continue;
        }
        let i = *places.next().expect("one place per live row");
        let srow = &syms[i * width..(i + 1) * width];
        // The row's codes of the 16 symbols (wrapping), and which of them leave int8.
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let (mut done, mut codes, mut bad) = (0, [0i8; 16], 0u32);
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: AVX2 is present; the functions keep to the slices' lengths.
            (done, codes, bad) = unsafe {
                if per == 2 {
                    simd::expand_row::<2>(srow, orow, &values, m)
                } else {
                    simd::expand_row::<1>(srow, orow, &values, m)
                }
            };
        }
        if !simd {
            for (k, (c, &r)) in codes.iter_mut().zip(&values).enumerate() {
                let q = r as i32 + (r as i32).signum() * (m - 1);
                bad |= ((q as i8 as i32 != q) as u32) << k;
                *c = q as i8;
            }
        }
        for (o, &s) in orow[per * done..].chunks_exact_mut(per).zip(&srow[done..]) {
            o[0] = codes[(s & 15) as usize];
            if per == 2 {
                o[1] = codes[((s as u8) >> 4) as usize];
            }
        }
        let hit = |s: &i8| (bad >> (s & 15)) & 1 == 1 || (bad >> ((*s as u8) >> 4)) & 1 == 1;
        if bad != 0 && srow.iter().any(hit) {
            return Err(corrupt("a code is out of the int8 range"));
        }
    }
    Ok(())
}

/// Relative values back to codes: q = r + sign(r)(m - 1). Wrapping i8 arithmetic with a
/// sign check (a valid stream never overflows) keeps the loop vectorised.
fn restore(row: &mut [i8], m: i32) -> Result<()> {
    let d = (m - 1) as i8;
    let mut flipped = 0i8;
    for v in row.iter_mut() {
        let r = *v;
        let s = (r > 0) as i8 - (r < 0) as i8;
        let q = r.wrapping_add(s.wrapping_mul(d));
        // Overflow flips the sign of a non-zero value.
        flipped |= q ^ r;
        *v = q;
    }
    if flipped < 0 {
        return Err(corrupt("a code is out of the int8 range"));
    }
    Ok(())
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
