//! srans's model search: per-row statistics, classes of rows (or of positions in short rows)
//! found by Lloyd iterations on code cost, and the candidate models whose tables the encoder
//! weighs ([`Candidate::fit`]).
use super::format::{Sent, MAX_CLASSES};
use super::knots::Knots;
use super::symbols::{rel, sym_of, symbol_lut};
use super::table::{log_values, normalize, Table};

/// Statistics of rows: each row's smallest non-zero magnitude (0 for an all-zero row) and its
/// histogram over signed relative symbols, as a (symbol, count) list in symbol order without
/// zero counts, all lists one after another (one allocation for all rows, and the model
/// search visits only the symbols a row uses: a few of 255 with 8-bit codes).
pub(super) struct RowInfos {
    pub(super) mmin: Vec<i32>,
    /// Row r's list ends at `end[r]`.
    end: Vec<usize>,
    sym: Vec<u16>,
    count: Vec<u32>,
}

impl RowInfos {
    fn with_capacity(rows: usize, slots: usize) -> Self {
        Self {
            mmin: Vec::with_capacity(rows),
            end: Vec::with_capacity(rows),
            sym: Vec::with_capacity(slots),
            count: Vec::with_capacity(slots),
        }
    }

    /// Appends a row from its dense histogram.
    fn push(&mut self, mmin: i32, hist: &[u32]) {
        // Every slot written, and a cursor that advances past non-zero counts (a branch per
        // symbol would be mispredicted often).
        let mut len = self.sym.len();
        self.sym.resize(len + hist.len(), 0);
        self.count.resize(len + hist.len(), 0);
        for (i, &x) in hist.iter().enumerate() {
            self.sym[len] = i as u16;
            self.count[len] = x;
            len += (x > 0) as usize;
        }
        self.sym.truncate(len);
        self.count.truncate(len);
        self.mmin.push(mmin);
        self.end.push(len);
    }

    pub(super) fn len(&self) -> usize {
        self.mmin.len()
    }

    /// Row r's (symbols, counts).
    pub(super) fn row(&self, r: usize) -> (&[u16], &[u32]) {
        let start = if r == 0 { 0 } else { self.end[r - 1] };
        (
            &self.sym[start..self.end[r]],
            &self.count[start..self.end[r]],
        )
    }

    /// Symbols in use: one past the largest symbol of any row (1 for none).
    pub(super) fn symbols(&self) -> usize {
        (0..self.len())
            .map(|r| self.row(r).0.last().map_or(1, |&s| s as usize + 1))
            .max()
            .unwrap_or(1)
    }
}

/// A candidate model: which table codes each code, and the counts that the tables are fitted
/// to (at any resolution s, [`Candidate::fit`]).
pub(super) struct Candidate {
    pub(super) rows_on: bool,
    /// Table class of each position in a row (empty: tables by row class instead).
    pub(super) posmap: Vec<u8>,
    pub(super) p: u32,
    pub(super) maxrel: usize,
    pub(super) maxmin: usize,
    /// Each row's kind (0 all-zero, else 1 + class) and smallest magnitude.
    pub(super) rows: Vec<(usize, i32)>,
    /// Counts of each class table, of the row kinds and of the row minimums - 1.
    pub(super) counts: Vec<Vec<u64>>,
    pub(super) kinds: Vec<u64>,
    pub(super) mins: Vec<u64>,
}

/// Tables fitted to a candidate at s steps per octave: their log-scale values, and the bits
/// of tables and data together.
pub(super) struct Fit {
    pub(super) s: u32,
    pub(super) tables: Vec<Sent>,
    pub(super) kind_table: Sent,
    /// Absent (no values) without live rows.
    pub(super) min_table: Sent,
    pub(super) bits: f64,
}

/// Smallest non-zero magnitude, and the histogram over relative symbols into `hist` (2 maxabs
/// + 1 zeros), from a histogram `h` of the codes -maxabs..=maxabs (h[maxabs + v] counts v).
fn info_from_counts<T: Copy + Into<u64>>(h: &[T], maxabs: usize, hist: &mut [u32]) -> i32 {
    let count = |v: i32| h[(maxabs as i32 + v) as usize].into() as u32;
    let mmin = (1..=maxabs as i32)
        .find(|&m| count(m) + count(-m) > 0)
        .unwrap_or(0);
    if mmin > 0 {
        hist[0] = count(0);
        // ±m have the relative values ±r, r = m - (mmin - 1): symbols 2r - 1 and 2r.
        for m in mmin..=maxabs as i32 {
            let r = (m - mmin + 1) as usize;
            hist[2 * r - 1] = count(m);
            hist[2 * r] = count(-m);
        }
    }
    mmin
}

/// Per-row statistics of `rows` rows of `rowlen` codes within ±maxabs, those of the whole
/// tensor as one row, and the count of each code value -maxabs..=maxabs. One pass over the
/// codes ([`crate::codec::count::Counter`] per row); rows shorter than the alphabet are
/// counted directly.
pub(super) fn row_infos(
    codes: &[i8],
    rows: usize,
    rowlen: usize,
    maxabs: usize,
) -> (RowInfos, RowInfos, Vec<u64>) {
    let width = 2 * maxabs + 1;
    let at = |c: i8| (c as i32 + maxabs as i32) as usize;
    let mut total = vec![0u64; width];
    let mut counter = crate::codec::count::Counter::new(maxabs);
    let (mut h, mut hist) = (vec![0u32; width], vec![0u32; width]);
    let mut infos = RowInfos::with_capacity(rows, rows * width.min(rowlen + 1));
    // Short rows: their non-zero codes, and the symbols met (each once), so that only those
    // are listed and cleared again.
    let short = if rowlen < width { rowlen } else { 0 };
    let (mut nz, mut met) = (vec![0i8; short], vec![0u16; short]);
    for row in codes.chunks_exact(rowlen.max(1)).take(rows) {
        if rowlen < width {
            // Zeros, most codes of a pruned row, are counted apart: counted one by one into
            // the same slot, each count would wait on the one before.
            let mut nonzero = 0;
            for &c in row {
                nz[nonzero] = c;
                nonzero += (c != 0) as usize;
            }
            let nz = &nz[..nonzero];
            let zeros = (rowlen - nonzero) as u32;
            total[maxabs] += zeros as u64;
            for &c in nz {
                total[at(c)] += 1;
            }
            let mmin = nz
                .iter()
                .map(|&c| c.unsigned_abs() as i32)
                .min()
                .unwrap_or(0);
            if mmin > 0 {
                // A cursor that advances at a symbol's first code (no branch to mispredict).
                let mut distinct = 0;
                for &c in nz {
                    let s = sym_of(rel(c, mmin));
                    met[distinct] = s as u16;
                    distinct += (hist[s] == 0) as usize;
                    hist[s] += 1;
                }
                let met = &mut met[..distinct];
                met.sort_unstable();
                // Symbol 0 is the zeros' (a non-zero code's relative value is never 0).
                if zeros > 0 {
                    infos.sym.push(0);
                    infos.count.push(zeros);
                }
                for &s in met.iter() {
                    infos.sym.push(s);
                    infos.count.push(std::mem::take(&mut hist[s as usize]));
                }
            }
            infos.mmin.push(mmin);
            infos.end.push(infos.sym.len());
        } else {
            counter.count(row, &mut h);
            for (t, &x) in total.iter_mut().zip(&h) {
                *t += x as u64;
            }
            hist.fill(0);
            let mmin = info_from_counts(&h, maxabs, &mut hist);
            infos.push(mmin, &hist);
        }
    }
    let mut whole = RowInfos::with_capacity(1, width);
    hist.fill(0);
    let mmin = info_from_counts(&total, maxabs, &mut hist);
    whole.push(mmin, &hist);
    (infos, whole, total)
}

/// Tries class counts `ks` in turn (`bits_for` gives the best plan's bits, or None when the
/// count is not allowed), stopping after the first count that codes less than
/// [`CLASS_GAIN`] smaller than the one before: more classes pay for themselves less and less.
pub(super) fn over_class_counts(ks: &[usize], mut bits_for: impl FnMut(usize) -> Option<f64>) {
    let mut prev = f64::INFINITY;
    for &k in ks {
        match bits_for(k) {
            Some(here) if here < prev * (1.0 - CLASS_GAIN) => prev = here,
            _ => break,
        }
    }
}

/// More classes are tried only while the last count saved at least this fraction: a count
/// that saved less rarely makes the next worth its search.
const CLASS_GAIN: f64 = 0.003;

/// Rows up to this long may be coded with tables by position.
pub(super) const MAX_POSITIONAL: usize = 64;

/// The statistics of each position of the live rows (relative to each row's minimum).
/// `small`: every code is within ±7, so a row's symbols are a lookup in `symbol_lut` rather
/// than computed one by one.
pub(super) fn position_infos(
    codes: &[i8],
    mmin: &[i32],
    rowlen: usize,
    nsym: usize,
    small: bool,
) -> RowInfos {
    let mut hist = vec![0u32; rowlen * nsym];
    for (row, &m) in codes.chunks_exact(rowlen).zip(mmin) {
        if m > 0 && small {
            let lut = symbol_lut(m);
            for (p, &q) in row.iter().enumerate() {
                hist[p * nsym + lut[(q + 8) as usize] as usize] += 1;
            }
        } else if m > 0 {
            for (p, &q) in row.iter().enumerate() {
                hist[p * nsym + sym_of(rel(q, m))] += 1;
            }
        }
    }
    let mut pos = RowInfos::with_capacity(rowlen, rowlen * nsym);
    for h in hist.chunks_exact(nsym) {
        pos.push(1, h);
    }
    pos
}

/// Renumbers the classes in use 0.. (in order of first use) with their counts.
fn compact(mut class: Vec<u8>, mut counts: Vec<Vec<u64>>) -> (Vec<u8>, Vec<Vec<u64>>) {
    let mut remap = [u8::MAX; MAX_CLASSES];
    let mut used = Vec::new();
    for c in class.iter_mut() {
        if remap[*c as usize] == u8::MAX {
            remap[*c as usize] = used.len() as u8;
            used.push(std::mem::take(&mut counts[*c as usize]));
        }
        *c = remap[*c as usize];
    }
    (class, used)
}

fn add_row(counts: &mut [u64], syms: &[u16], ns: &[u32]) {
    for (&i, &n) in syms.iter().zip(ns) {
        counts[i as usize] += n as u64;
    }
}

fn sub_row(counts: &mut [u64], syms: &[u16], ns: &[u32]) {
    for (&i, &n) in syms.iter().zip(ns) {
        counts[i as usize] -= n as u64;
    }
}

/// Groups rows (or positions) into classes that share a table: Lloyd iterations on code
/// cost. Built once per set of rows; [`Classes::of`] then tries any number of classes.
pub(super) struct Classes<'a> {
    pub(super) nsym: usize,
    /// The rows by their mean symbol index (grows with density and spread): the initial
    /// classes are its quantiles.
    pub(super) order: Vec<usize>,
    /// The rows' statistics, and which of them are live (the rows classed).
    infos: &'a RowInfos,
    pub(super) live: Vec<usize>,
}

impl<'a> Classes<'a> {
    /// The classes of the live rows of `infos` (those with a non-zero code), over `nsym`
    /// symbols.
    pub(super) fn new(infos: &'a RowInfos, nsym: usize) -> Self {
        let mut c = Self {
            nsym,
            order: Vec::new(),
            infos,
            live: (0..infos.len()).filter(|&r| infos.mmin[r] > 0).collect(),
        };
        let mut keys = Vec::with_capacity(c.live.len());
        for &r in &c.live {
            let (syms, counts) = infos.row(r);
            let n: u64 = counts.iter().map(|&x| x as u64).sum();
            let sum: u64 = syms
                .iter()
                .zip(counts)
                .map(|(&i, &x)| i as u64 * x as u64)
                .sum();
            keys.push(sum as f64 / n.max(1) as f64);
        }
        // By key, ties by index (the order of a stable sort), as integers: the keys are
        // non-negative, so their bit patterns sort like them.
        let mut ranked: Vec<(u64, usize)> = keys.iter().map(|k| k.to_bits()).zip(0..).collect();
        ranked.sort_unstable();
        c.order = ranked.into_iter().map(|(_, i)| i).collect();
        c
    }

    /// The rows' histograms, one (symbols, counts) pair per row.
    fn rows(&self) -> impl Iterator<Item = (&'a [u16], &'a [u32])> + '_ {
        self.live.iter().map(|&r| self.infos.row(r))
    }

    /// Class ids (compacted: those in use are 0..) of at most k classes and the counts of
    /// each class, starting from the quantiles of the mean symbol index, or from splitting
    /// each class of `half` (a search with about k/2 classes) at its median.
    pub(super) fn of(&self, k: usize, half: Option<&[u8]>) -> (Vec<u8>, Vec<Vec<u64>>) {
        let rows = self.live.len();
        let mut class = vec![0u8; rows];
        match half {
            Some(half) => {
                let mut size = [0usize; MAX_CLASSES];
                for &c in half {
                    size[c as usize] += 1;
                }
                let mut seen = [0usize; MAX_CLASSES];
                for &i in &self.order {
                    let c = half[i] as usize;
                    let upper = (2 * seen[c] >= size[c]) as usize;
                    seen[c] += 1;
                    class[i] = ((2 * c + upper).min(k - 1)) as u8;
                }
            }
            None => {
                for (rank, &i) in self.order.iter().enumerate() {
                    class[i] = (rank * k / rows.max(1)) as u8;
                }
            }
        }
        let mut counts = self.counts(&class, k);
        // Two rounds: starting from a split of the classes found with half as many, further
        // rounds gain little.
        for _ in 0..2 {
            let costs = self.costs(&counts);
            if !self.assign(&costs, k, &mut class, &mut counts) {
                break;
            }
        }
        compact(class, counts)
    }

    /// The counts of each of k classes.
    fn counts(&self, class: &[u8], k: usize) -> Vec<Vec<u64>> {
        let mut counts = vec![vec![0u64; self.nsym]; k];
        for ((syms, ns), &c) in self.rows().zip(class) {
            add_row(&mut counts[c as usize], syms, ns);
        }
        counts
    }

    /// `costs[symbol][class]` in bits under the tables of `counts` (with a small prior);
    /// classes not in use cost infinitely much.
    fn costs(&self, counts: &[Vec<u64>]) -> Vec<[f32; MAX_CLASSES]> {
        let nsym = self.nsym;
        let mut costs = vec![[f32::INFINITY; MAX_CLASSES]; nsym];
        for (j, c) in counts.iter().enumerate() {
            let n: u64 = c.iter().sum();
            if n == 0 {
                continue;
            }
            for (cost, &x) in costs.iter_mut().zip(c) {
                cost[j] = -((x as f64 + 0.02) / (n as f64 + 0.02 * nsym as f64)).log2() as f32;
            }
        }
        costs
    }

    /// One class: every row in class 0, and the counts of them all.
    pub(super) fn one(&self) -> (Vec<u8>, Vec<Vec<u64>>) {
        let mut counts = vec![0u64; self.nsym];
        for (syms, ns) in self.rows() {
            add_row(&mut counts, syms, ns);
        }
        (vec![0; self.live.len()], vec![counts])
    }

    /// Moves every row to its cheapest class under `costs[symbol][class]` (k classes), moving
    /// its counts along in `counts`; returns whether any row moved. The search's inner loop: every class's cost of a row at once,
    /// K side by side (the smallest power of two for k), in AVX2 where the CPU has it; the
    /// same arithmetic either way, so the choice does not depend on the CPU.
    fn assign(
        &self,
        costs: &[[f32; MAX_CLASSES]],
        k: usize,
        class: &mut [u8],
        counts: &mut [Vec<u64>],
    ) -> bool {
        let before = class.to_vec();
        let changed = match k {
            0..=4 => self.assign_k::<4>(costs, k, class),
            5..=8 => self.assign_k::<8>(costs, k, class),
            _ => self.assign_k::<16>(costs, k, class),
        };
        for (((syms, ns), &a), &b) in self.rows().zip(&before).zip(class.iter()) {
            if a != b {
                sub_row(&mut counts[a as usize], syms, ns);
                add_row(&mut counts[b as usize], syms, ns);
            }
        }
        changed
    }

    fn assign_k<const K: usize>(
        &self,
        costs: &[[f32; MAX_CLASSES]],
        k: usize,
        class: &mut [u8],
    ) -> bool {
        let costs: Vec<[f32; K]> = costs
            .iter()
            .map(|c| std::array::from_fn(|j| c[j]))
            .collect();
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { self.assign_avx2::<K>(&costs, k, class) };
        }
        self.assign_with::<K>(&costs, k, class)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn assign_avx2<const K: usize>(
        &self,
        costs: &[[f32; K]],
        k: usize,
        class: &mut [u8],
    ) -> bool {
        self.assign_with::<K>(costs, k, class)
    }

    #[inline(always)]
    fn assign_with<const K: usize>(&self, costs: &[[f32; K]], k: usize, class: &mut [u8]) -> bool {
        let mut changed = false;
        for ((syms, ns), c) in self.rows().zip(class.iter_mut()) {
            let mut acc = [0f32; K];
            for (&i, &n) in syms.iter().zip(ns) {
                let n = n as f32;
                for (a, &x) in acc.iter_mut().zip(&costs[i as usize]) {
                    *a += n * x;
                }
            }
            let mut best = (f32::INFINITY, *c);
            for (j, &cost) in acc.iter().enumerate().take(k) {
                if cost < best.0 {
                    best = (cost, j as u8);
                }
            }
            changed |= best.1 != *c;
            *c = best.1;
        }
        changed
    }
}

/// Whether a table may be sent as knots ([`Knots`]), and of which kind.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Smooth {
    No,
    /// A class table over symbols 0, +1, -1, ...: one curve over the magnitudes.
    Signed,
    /// The row minimums: one curve over the symbols in order.
    Plain,
}

/// The cost of a table over `counts` (table bits + data bits) and the table as sent. Each
/// sign has a value of its own: signs are not a fair coin within a row class.
///
/// With `smooth`, where the table is a noticeable part of the bits, it also weighs the table
/// sent as knots ([`Knots`]), a smooth curve that costs a dozen values and the data little
/// where counts are few (small tensors of 8-bit codes, whose tables are the largest part of
/// the overhead).
fn fit_table(counts: &[u64], s: u32, p: u32, smooth: Smooth) -> (f64, Sent) {
    // (all bits, the table's bits, the table)
    let cost = |sent: Sent| {
        let table = sent.bits() as f64;
        match normalize(&sent.us, s, p) {
            Ok(freq) => (table + Table::new(freq).cost(counts, p), table, sent),
            Err(_) => (f64::INFINITY, table, sent),
        }
    };
    let mut best = cost(Sent::values(log_values(counts, s)));
    // Only where the table is a noticeable part of the bits: elsewhere smoothing saves little.
    if smooth != Smooth::No && best.1 * SMOOTH_SHARE >= best.0 {
        if let Some(knots) = Knots::fit(counts, s, p, smooth == Smooth::Signed) {
            let other = cost(Sent::knots(knots, counts.len(), s));
            if other.0 < best.0 {
                best = other;
            }
        }
    }
    (best.0, best.2)
}

/// Tables are also fitted as knots when the table takes at least 1/SMOOTH_SHARE of the bits:
/// below that share, knots rarely save anything.
const SMOOTH_SHARE: f64 = 64.0;

/// Bits that name one of `n` classes.
pub(super) fn class_bits(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

/// The candidate with tables `counts`, used by row class (`class`, one per live row) or by
/// position in the row (`posmap`, when not empty).
pub(super) fn candidate(
    mmin: &[i32],
    rows_on: bool,
    (class, counts): (&[u8], Vec<Vec<u64>>),
    posmap: Vec<u8>,
    p: u32,
    nsym: usize,
    maxmin: usize,
) -> Candidate {
    let ntables = counts.len();
    let nclass = if posmap.is_empty() { ntables } else { 1 };
    let (mut kinds, mut mins) = (Vec::new(), Vec::new());
    let mut rows = Vec::new();
    if rows_on {
        kinds = vec![0u64; nclass + 1];
        mins = vec![0u64; maxmin];
        let mut it = class.iter();
        for &m in mmin {
            if m == 0 {
                kinds[0] += 1;
                rows.push((0, 0));
            } else {
                let c = *it.next().expect("one class per live row") as usize;
                kinds[c + 1] += 1;
                mins[m as usize - 1] += 1;
                rows.push((c + 1, m));
            }
        }
    } else {
        rows.push((1, mmin.first().copied().unwrap_or(0)));
    }
    Candidate {
        rows_on,
        posmap,
        p,
        maxrel: nsym / 2,
        maxmin,
        rows,
        counts,
        kinds,
        mins,
    }
}

impl Candidate {
    /// The tables at s steps per octave and the bits they code the candidate in; with
    /// `smooth`, class and minimum tables may be smooth ([`fit_table`]).
    pub(super) fn fit(&self, s: u32, smooth: bool) -> Fit {
        let p = self.p;
        let shape = |form| if smooth { form } else { Smooth::No };
        let mut bits = (self.posmap.len() as u32 * class_bits(self.counts.len())) as f64;
        let mut tables = Vec::new();
        for c in &self.counts {
            let (b, table) = fit_table(c, s, p, shape(Smooth::Signed));
            bits += b;
            tables.push(table);
        }
        let (mut kind_table, mut min_table) = (Sent::values(Vec::new()), Sent::values(Vec::new()));
        if self.rows_on {
            let (b, table) = fit_table(&self.kinds, s, p, Smooth::No);
            bits += b;
            kind_table = table;
            if self.mins.iter().any(|&c| c > 0) {
                let (b, table) = fit_table(&self.mins, s, p, shape(Smooth::Plain));
                bits += b;
                min_table = table;
            }
        }
        Fit {
            s,
            tables,
            kind_table,
            min_table,
            bits,
        }
    }
}
