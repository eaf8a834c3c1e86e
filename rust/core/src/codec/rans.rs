//! `crans`: context-modelled adaptive rANS over int8 code streams.
//!
//! Rows are output channels (`shape[0]`). Every row starts with an adaptive all-zero flag, so
//! pruned channels cost almost nothing. A non-zero row then sends its smallest non-zero
//! magnitude m (per-layer magnitude pruning plus per-channel scales make m channel-specific),
//! and each code q is coded as the relative magnitude |q| - m + 1 (0 stays 0): a token (the
//! magnitude itself when max|q| <= 15, else an exponential bucket whose offset has one adaptive
//! model per bucket) and a sign (adaptive binary models by the sign of the previous non-zero in
//! the row and whether |q| > 1). Tokens use adaptive models selected by a context of:
//!
//! - the previous token in the row (0, 1, 2+, or row start);
//! - whether the token two back was non-zero;
//! - the density of non-zeros among the last 16 codes (5 levels), which tracks how hard each
//!   output channel was pruned (left out for small tensors when that codes smaller; one header
//!   byte says which).
//!
//! Each context model is mixed, at every rebuild, with the tensor-wide token distribution, so
//! sparse contexts learn fast. Models adapt with deferred summation (frequencies renormalised
//! to 2^14 on a growing period): no tables are transmitted. One rANS state with 16-bit
//! renormalisation; the stream is the header byte and the rANS words.
use super::bits::Cursor;
use crate::error::{CoreError, Result};

const PROB_BITS: u32 = 14;
const PROB_SCALE: u32 = 1 << PROB_BITS;
const RANS_L: u32 = 1 << 16;
const INC: u32 = 24;
const COUNT_LIMIT: u32 = 1 << 20;
const MAX_PERIOD: u32 = 256;
/// Weight of the tensor-wide token distribution in each context model, in observations.
const PRIOR_OBS: u32 = 48;
/// Initial count of each offset symbol (offsets within a bucket are close to uniform).
const OFF_INIT: u32 = 256;

/// An adaptive frequency model over at most N symbols.
#[derive(Clone)]
struct Model<const N: usize> {
    /// `cum_hi[s]` = end of symbol s's slot range; 0xFFFF beyond the alphabet.
    cum_hi: [u16; N],
    counts: [u32; N],
    total: u32,
    n: u32,
    until: u32,
    period: u32,
}

impl<const N: usize> Model<N> {
    fn new(n: usize) -> Self {
        Self::with_init(n, 1)
    }

    /// A model whose symbols start with `init` counts each (larger = slower to commit, better
    /// for flat distributions).
    fn with_init(n: usize, init: u32) -> Self {
        debug_assert!((1..=N).contains(&n));
        let mut m = Self {
            cum_hi: [0xFFFF; N],
            counts: [0; N],
            total: n as u32 * init,
            n: n as u32,
            until: 2,
            period: 2,
        };
        for c in &mut m.counts[..n] {
            *c = init;
        }
        m.rebuild();
        m
    }

    fn rebuild(&mut self) {
        let mut e = [0u64; N];
        for (x, &c) in e.iter_mut().zip(&self.counts) {
            *x = c as u64;
        }
        self.rebuild_from(&e, self.total as u64);
    }

    /// Rebuilds from the counts mixed with a prior distribution worth PRIOR_OBS observations.
    fn rebuild_mixed(&mut self, prior: &[u32; N], prior_total: u32) {
        let pt = prior_total.max(1) as u64;
        let w = (PRIOR_OBS * INC) as u64;
        let mut e = [0u64; N];
        for ((x, &c), &p) in e.iter_mut().zip(&self.counts).zip(prior) {
            *x = c as u64 * pt + w * p as u64;
        }
        self.rebuild_from(&e, self.total as u64 * pt + w * pt);
    }

    fn rebuild_from(&mut self, e: &[u64; N], total: u64) {
        let n = self.n as usize;
        let mut freq = [0u32; N];
        let mut sum = 0u32;
        let mut best = 0usize;
        let mut best_f = 0u32;
        for (s, (fr, &cnt)) in freq.iter_mut().zip(e).take(n).enumerate() {
            let f = ((cnt * PROB_SCALE as u64) / total).max(1) as u32;
            *fr = f;
            sum += f;
            if f > best_f {
                best_f = f;
                best = s;
            }
        }
        // sum <= PROB_SCALE + n; the largest frequency (>= PROB_SCALE / n) absorbs the error.
        freq[best] = (freq[best] as i64 + PROB_SCALE as i64 - sum as i64) as u32;
        let mut c = 0u32;
        for (ch, &f) in self.cum_hi.iter_mut().zip(&freq).take(n) {
            c += f;
            *ch = c as u16;
        }
        // The last symbol ends at PROB_SCALE, which fits in u16 (2^14).
    }

    #[inline(always)]
    fn start_freq(&self, s: usize) -> (u32, u32) {
        let start = if s == 0 { 0 } else { self.cum_hi[s - 1] as u32 };
        (start, self.cum_hi[s] as u32 - start)
    }

    #[inline(always)]
    fn find(&self, slot: u32) -> usize {
        // Linear scan: the first symbols (zero, the smallest magnitudes) are the likely ones.
        // cum_hi of the last symbol is PROB_SCALE > slot, so the scan stops inside the alphabet.
        let slot = slot as u16;
        let mut s = 0usize;
        while self.cum_hi[s] <= slot {
            s += 1;
        }
        s
    }

    /// Counts `s`; true when the model is due for a rebuild.
    #[inline(always)]
    fn count(&mut self, s: usize) -> bool {
        self.counts[s] += INC;
        self.total += INC;
        if self.total > COUNT_LIMIT {
            let mut t = 0;
            for c in &mut self.counts[..self.n as usize] {
                *c = (*c).div_ceil(2);
                t += *c;
            }
            self.total = t;
        }
        self.until -= 1;
        if self.until == 0 {
            self.period = (self.period * 2).min(MAX_PERIOD);
            self.until = self.period;
            return true;
        }
        false
    }

    #[inline(always)]
    fn update(&mut self, s: usize) {
        if self.count(s) {
            self.rebuild();
        }
    }

    /// Like `update`, but rebuilds mixed with the tensor-wide counts in `g`.
    #[inline(always)]
    fn update_mixed(&mut self, s: usize, g: &Model<N>) {
        if self.count(s) {
            self.rebuild_mixed(&g.counts, g.total);
        }
    }
}

/// Exponential magnitude buckets for codes with max|q| > 15: (first magnitude, width).
const BUCKETS: [(u32, u32); 14] = [
    (0, 1),
    (1, 1),
    (2, 1),
    (3, 1),
    (4, 2),
    (6, 2),
    (8, 4),
    (12, 4),
    (16, 8),
    (24, 8),
    (32, 16),
    (48, 16),
    (64, 32),
    (96, 33),
];

fn bucket_of(m: u32) -> usize {
    let mut b = 0;
    for (i, &(lo, _)) in BUCKETS.iter().enumerate() {
        if m >= lo {
            b = i;
        }
    }
    b
}

const TOK_N: usize = 16;
const OFF_N: usize = 48;
const N_CTX: usize = 40;
const DENS_LEVEL: [u8; 17] = [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4];

struct Models {
    tok: Vec<Model<TOK_N>>,
    /// Tensor-wide token counts: the prior every context model is mixed with.
    glob: Model<TOK_N>,
    off: Vec<Model<OFF_N>>,
    row: [Model<TOK_N>; 2],
    sign: [Model<TOK_N>; 6],
    /// Smallest non-zero magnitude of each non-zero row (its token, by the previous row's
    /// clamped to 3, then the offset within the bucket).
    rmin: [Model<TOK_N>; 4],
    rmin_off: Vec<Model<OFF_N>>,
    bucketed: bool,
}

impl Models {
    fn new(maxabs: u32) -> Self {
        let bucketed = maxabs > 15;
        let ntok = if bucketed {
            bucket_of(maxabs) + 1
        } else {
            maxabs as usize + 1
        };
        let off = if bucketed {
            BUCKETS[..ntok]
                .iter()
                .map(|&(_, w)| Model::with_init(w as usize, OFF_INIT))
                .collect()
        } else {
            Vec::new()
        };
        Self {
            tok: vec![Model::new(ntok); N_CTX],
            glob: Model::new(ntok),
            off,
            row: [Model::new(2), Model::new(2)],
            sign: std::array::from_fn(|_| Model::new(2)),
            rmin: std::array::from_fn(|_| Model::new(ntok - 1)),
            rmin_off: if bucketed {
                BUCKETS[..ntok]
                    .iter()
                    .map(|&(_, w)| Model::with_init(w as usize, OFF_INIT))
                    .collect()
            } else {
                Vec::new()
            },
            bucketed,
        }
    }
}

/// Context state within a tensor.
struct Ctx {
    hist: u16,
    dens: u8,
    t1: u32,
    z2: u32,
    /// 0 for small tensors coded with fewer contexts (no density term), else 1.
    dens_on: u8,
}

impl Ctx {
    /// The context at the start of a tensor (`dens`: with the density term).
    fn new(dens: bool) -> Self {
        Ctx {
            hist: 0,
            dens: 0,
            t1: 3,
            z2: 0,
            dens_on: dens as u8,
        }
    }

    #[inline(always)]
    fn index(&self) -> usize {
        ((self.t1 * 2 + self.z2) * 5) as usize
            + (DENS_LEVEL[self.dens as usize] & self.dens_on.wrapping_neg()) as usize
    }

    #[inline(always)]
    fn push(&mut self, tok: u32) {
        self.z2 = (self.t1 != 0 && self.t1 != 3) as u32;
        self.t1 = tok.min(2);
        let nz = (tok != 0) as u16;
        // dens = number of set bits of hist, kept incrementally.
        self.dens = self.dens + nz as u8 - (self.hist >> 15) as u8;
        self.hist = (self.hist << 1) | nz;
    }

    #[inline]
    fn row_start(&mut self) {
        self.t1 = 3;
        self.z2 = 0;
    }
}

fn rows_of(n: usize, shape: &[usize]) -> (usize, usize) {
    if shape.len() >= 2 && shape[0] > 0 && n > 0 {
        (shape[0], n / shape[0])
    } else {
        (1, n)
    }
}

/// Queues a symbol for the rANS pass; a certain symbol (a one-symbol alphabet) costs nothing
/// and is not coded (the decoder skips it the same way).
#[inline]
fn push_sym(syms: &mut Vec<(u16, u16)>, st: u32, f: u32) {
    if f < PROB_SCALE {
        syms.push((st as u16, f as u16));
    }
}

/// Tensors up to this many codes are also tried with the reduced context set.
const SMALL: usize = 1 << 16;

/// Encodes `codes` (with `shape`, whose product must equal codes.len()).
///
/// Header byte: 0 = all zero; 1..=128 = max |q| (full contexts); 129..=255 = 128 + max |q|
/// (reduced contexts, only when max |q| <= 127). Then the rANS words.
pub fn encode(codes: &[i8], shape: &[usize]) -> Vec<u8> {
    let maxabs = codes
        .iter()
        .map(|&c| (c as i32).unsigned_abs())
        .max()
        .unwrap_or(0);
    if maxabs == 0 {
        return vec![0];
    }
    let full = encode_with(codes, shape, maxabs, true);
    if codes.len() <= SMALL && maxabs <= 127 {
        let reduced = encode_with(codes, shape, maxabs, false);
        if reduced.len() < full.len() {
            return reduced;
        }
    }
    full
}

fn encode_with(codes: &[i8], shape: &[usize], maxabs: u32, dens: bool) -> Vec<u8> {
    let n = codes.len();
    let mut out = vec![if dens {
        maxabs as u8
    } else {
        128 + maxabs as u8
    }];
    let (rows, rowlen) = rows_of(n, shape);
    let mut m = Models::new(maxabs);
    // Forward pass: (start, freq) of every symbol, and the sign bits.
    let mut syms: Vec<(u16, u16)> = Vec::with_capacity(n + rows);
    let mut ctx = Ctx::new(dens);
    let mut prev_row = 0usize;
    let mut prev_min = 0usize;
    for r in 0..rows {
        let row = &codes[r * rowlen..(r + 1) * rowlen];
        let nz = row.iter().any(|&c| c != 0) as usize;
        let model = &mut m.row[prev_row];
        let (st, f) = model.start_freq(nz);
        push_sym(&mut syms, st, f);
        model.update(nz);
        prev_row = nz;
        if nz == 0 {
            continue;
        }
        let tok_of = |mag: u32| {
            if m.bucketed {
                bucket_of(mag) as u32
            } else {
                mag
            }
        };
        let mmin = super::min_magnitude(row).unwrap_or(1);
        let tmin = tok_of(mmin);
        let rm = &mut m.rmin[prev_min];
        let (st, f) = rm.start_freq(tmin as usize - 1);
        push_sym(&mut syms, st, f);
        rm.update(tmin as usize - 1);
        prev_min = (tmin as usize - 1).min(3);
        if m.bucketed {
            let (lo, w) = BUCKETS[tmin as usize];
            if w > 1 {
                let om = &mut m.rmin_off[tmin as usize];
                let o = (mmin - lo) as usize;
                let (st, f) = om.start_freq(o);
                push_sym(&mut syms, st, f);
                om.update(o);
            }
        }
        ctx.row_start();
        let mut psign = 0usize;
        for &c in row {
            let mag_abs = (c as i32).unsigned_abs();
            // Magnitudes relative to the row's smallest non-zero magnitude.
            let mag = if mag_abs == 0 { 0 } else { mag_abs - mmin + 1 };
            let tok = tok_of(mag);
            let tm = &mut m.tok[ctx.index()];
            let (st, f) = tm.start_freq(tok as usize);
            push_sym(&mut syms, st, f);
            m.glob.count(tok as usize);
            tm.update_mixed(tok as usize, &m.glob);
            if m.bucketed {
                let (lo, w) = BUCKETS[tok as usize];
                if w > 1 {
                    let om = &mut m.off[tok as usize];
                    let o = (mag - lo) as usize;
                    let (st, f) = om.start_freq(o);
                    push_sym(&mut syms, st, f);
                    om.update(o);
                }
            }
            if mag != 0 {
                let sm = &mut m.sign[psign * 2 + (mag_abs > 1) as usize];
                let neg = (c < 0) as usize;
                let (st, f) = sm.start_freq(neg);
                push_sym(&mut syms, st, f);
                sm.update(neg);
                psign = 1 + neg;
            }
            ctx.push(tok);
        }
    }
    // Reverse pass: rANS (one state; the stream is its 16-bit words, then nothing else).
    let mut words: Vec<u16> = Vec::with_capacity(syms.len() / 2 + 8);
    let mut x = RANS_L;
    for &(st, f) in syms.iter().rev() {
        let (st, f) = (st as u32, f as u32);
        let x_max = ((RANS_L >> PROB_BITS) << 16) * f;
        if x >= x_max {
            words.push(x as u16);
            x >>= 16;
        }
        x = ((x / f) << PROB_BITS) + (x % f) + st;
    }
    words.push(x as u16);
    words.push((x >> 16) as u16);
    out.reserve(words.len() * 2);
    for w in words.iter().rev() {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

struct Dec {
    /// The 16-bit words, then one zero sentinel (reads past the end land on it).
    words: Vec<u16>,
    pos: usize,
    x: u32,
}

impl Dec {
    #[inline(always)]
    fn word(&mut self) -> u32 {
        let last = self.words.len() - 1;
        let w = self.words[self.pos.min(last)] as u32;
        self.pos += 1;
        w
    }

    #[inline(always)]
    fn get<const N: usize>(&mut self, m: &mut Model<N>) -> usize {
        let s = self.peek(m);
        m.update(s);
        s
    }

    /// Decodes one symbol without updating the model.
    #[inline(always)]
    fn peek<const N: usize>(&mut self, m: &Model<N>) -> usize {
        if m.n == 1 {
            return 0;
        }
        let x = self.x;
        let slot = x & (PROB_SCALE - 1);
        let s = m.find(slot);
        let (st, f) = m.start_freq(s);
        let x = f * (x >> PROB_BITS) + slot - st;
        // Branchless renormalisation: the next word is read, and used when x fell below L.
        let need = x < RANS_L;
        let last = self.words.len() - 1;
        let w = self.words[self.pos.min(last)] as u32;
        self.x = if need { (x << 16) | w } else { x };
        self.pos += need as usize;
        s
    }
}

/// Decodes into `out` (whose length is the element count; `shape` gives the rows).
pub fn decode(data: &[u8], shape: &[usize], out: &mut [i8]) -> Result<()> {
    let n = out.len();
    let mut cur = Cursor::new(data);
    let h = cur.u8()? as u32;
    if h == 0 {
        if !cur.rest().is_empty() {
            return Err(CoreError::Corrupt(
                "crans: trailing bytes after an all-zero tensor".into(),
            ));
        }
        out.fill(0);
        return Ok(());
    }
    let (maxabs, dens) = if h <= 128 {
        (h, true)
    } else {
        (h - 128, false)
    };
    let wbytes = cur.rest();
    if wbytes.len() % 2 != 0 {
        return Err(CoreError::Corrupt(
            "crans: the rANS stream has an odd length".into(),
        ));
    }
    let (rows, rowlen) = rows_of(n, shape);
    if rows.checked_mul(rowlen) != Some(n) {
        return Err(CoreError::Shape(format!(
            "crans: shape {shape:?} does not match {n} elements"
        )));
    }
    let mut m = Models::new(maxabs);
    let mut words: Vec<u16> = wbytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let nwords = words.len();
    words.push(0);
    let mut d = Dec {
        words,
        pos: 0,
        x: 0,
    };
    let hi = d.word();
    let lo = d.word();
    d.x = (hi << 16) | lo;
    if d.x < RANS_L {
        return Err(CoreError::Corrupt("crans: bad initial rANS state".into()));
    }
    let mut ctx = Ctx::new(dens);
    let mut prev_row = 0usize;
    let mut prev_min = 0usize;
    let bucketed = m.bucketed;
    for r in 0..rows {
        let row = &mut out[r * rowlen..(r + 1) * rowlen];
        let nz = d.get(&mut m.row[prev_row]);
        prev_row = nz;
        if nz == 0 {
            row.fill(0);
            continue;
        }
        let tmin = d.get(&mut m.rmin[prev_min]) as u32 + 1;
        prev_min = (tmin as usize - 1).min(3);
        let mmin = if bucketed {
            let (lo, w) = BUCKETS[tmin as usize];
            if w > 1 {
                lo + d.get(&mut m.rmin_off[tmin as usize]) as u32
            } else {
                lo
            }
        } else {
            tmin
        };
        ctx.row_start();
        let mut psign = 0usize;
        for o in row.iter_mut() {
            let tm = &mut m.tok[ctx.index()];
            let tok = d.peek(tm);
            m.glob.count(tok);
            tm.update_mixed(tok, &m.glob);
            let tok = tok as u32;
            let rel = if bucketed {
                let (lo, w) = BUCKETS[tok as usize];
                if w > 1 {
                    lo + d.get(&mut m.off[tok as usize]) as u32
                } else {
                    lo
                }
            } else {
                tok
            };
            let mag = if rel == 0 { 0 } else { rel + mmin - 1 };
            *o = if mag == 0 {
                0
            } else {
                let neg = d.get(&mut m.sign[psign * 2 + (mag > 1) as usize]);
                psign = 1 + neg;
                if neg == 1 {
                    if mag > 128 {
                        return Err(CoreError::Corrupt("crans: magnitude out of range".into()));
                    }
                    (-(mag as i32)) as i8
                } else {
                    if mag > 127 {
                        return Err(CoreError::Corrupt("crans: magnitude out of range".into()));
                    }
                    mag as i8
                }
            };
            ctx.push(tok);
        }
    }
    if d.pos != nwords || d.x != RANS_L {
        return Err(CoreError::Corrupt(
            "crans: rANS stream does not end where it should".into(),
        ));
    }
    Ok(())
}
