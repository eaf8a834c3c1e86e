//! The srans encoder: the model search ([`super::model`]) picks the tables, then the side
//! stream (row kinds and minima) and the main stream (codes, or pairs of codes) are coded on
//! 1, 8 or 32 interleaved states.
use super::buffers::word_buffer;
use super::coder::{put, EncSym, RANS_L};
use super::format::{finish, rows_of, state, Header, FORMAT, PS};
use super::model::{
    candidate, class_bits, over_class_counts, position_infos, row_infos, Candidate, Classes, Fit,
    RowInfos, MAX_POSITIONAL,
};
use super::symbols::row_symbols;
use super::table::{log2_of, normalize, pair_table, Table, PAIR_SYMBOLS};
#[cfg(target_arch = "x86_64")]
use super::{simd, symbols::symbol_lut};
use crate::codec::bits::BitWriter;

/// Encodes `codes`, a tensor of `shape`, as an srans stream.
pub fn encode(codes: &[i8], shape: &[usize]) -> Vec<u8> {
    encode_with(codes, shape, PAIR_SLACK, true)
}

/// `encode`, and the histogram of the code values ([`crate::codec::simple::code_histogram`]'s),
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
    let maxabs = crate::codec::max_magnitude(codes) as usize;
    if maxabs == 0 {
        return (
            vec![0],
            crate::codec::simple::histogram_of_counts(&[n as u64]),
        );
    }
    let (rows, rowlen) = rows_of(n, shape);
    let (by_row, whole, counts) = row_infos(codes, rows, rowlen, maxabs);
    let (cand, fit) = choose_model(codes, rows, rowlen, maxabs, by_row, whole);
    // Codes within ±7 take the shuffle paths of `row_ids`.
    let simd_ids = simd && maxabs <= 7;
    let blob = write(codes, rowlen, &cand, &fit, pair_slack, simd, simd_ids);
    (blob, crate::codec::simple::histogram_of_counts(&counts))
}

/// The model that codes the tensor smallest, and its tables: one pseudo-row (`whole`), or
/// real rows (`by_row`) with 1 to 16 classes by row, or 2 to 8 by position in short rows.
fn choose_model(
    codes: &[i8],
    rows: usize,
    rowlen: usize,
    maxabs: usize,
    by_row: RowInfos,
    whole: RowInfos,
) -> (Candidate, Fit) {
    let n = codes.len();
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
    // The table resolution, once the model is chosen: s = 2 and 8 rarely save much over 4,
    // too little to weigh every candidate at all three.
    for s in [2, 8] {
        let other = cand.fit(s, false);
        if other.bits < fit.bits {
            fit = other;
        }
    }
    // Knot tables at that resolution, weighed for the chosen model only: fitting knots costs
    // far more than the value-by-value tables the search weighs.
    let fit = cand.fit(fit.s, true);
    (cand, fit)
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

/// Pairs may cost this much more than single codes (modelled bits, on every fourth pair):
/// one lookup decodes two codes.
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

/// The tail of a stream on 8 or 32 states: its last symbols, coded on one state of their own
/// whose words (final state first) become the main states' first values, RANS_L + word. Every
/// rANS state starts at RANS_L, 16 bits that carry nothing; these carry the tail. Returns the
/// tail's length and words: as many symbols as the modelled bits allow, a sixteenth fewer at a
/// time while its words outnumber the states.
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
