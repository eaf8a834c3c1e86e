//! The bit-stream codecs over int8 codes: dense packing, order-0 Huffman, Deep Compression's
//! relative-index CSR with Huffman on codes and gaps, element bitmap, block-sparse bitmap (BSR)
//! and the Wen & Gregg pattern dictionary. Each writes into a [`BitWriter`] (a counting writer
//! gives the exact size without producing bytes) and reads from a [`BitReader`] that never
//! panics on corrupt input.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::bits::{BitReader, BitWriter};
use super::huffman;
use super::huffman::{
    code_lengths, get_gamma, put_gamma, read_lengths, read_sorted_lengths, write_lengths,
    write_sorted_lengths, Decoder, Encoder,
};
use crate::error::{CoreError, Result};

const VALUE_MAX_LEN: u32 = 12;
const ID_MAX_LEN: u32 = 15;
/// Dictionary size cap of the pattern codec (ids fit a 15-bit length-limited code).
pub(crate) const MAX_DICT: usize = 8191;

#[inline]
fn sym(q: i8) -> usize {
    (q as i32 + 128) as usize
}

#[inline]
fn unsym(s: u32) -> i8 {
    (s as i32 - 128) as i8
}

fn value_freqs<'a, I: IntoIterator<Item = &'a i8>>(it: I) -> Vec<u64> {
    let mut h = vec![0u64; 256];
    for &q in it {
        h[sym(q)] += 1;
    }
    h
}

/// The histogram of code values (index q + 128) that the simple codecs are sized from
/// (counted by `count::Counter`).
pub fn code_histogram(codes: &[i8]) -> Vec<u64> {
    let maxabs = super::max_magnitude(codes) as usize;
    let mut counts = vec![0u64; 2 * maxabs + 1];
    // In pieces, so that no count can overflow.
    let mut counter = super::count::Counter::new(maxabs);
    let mut piece = vec![0u32; counts.len()];
    for part in codes.chunks(1 << 30) {
        counter.count(part, &mut piece);
        for (c, &p) in counts.iter_mut().zip(&piece) {
            *c += p as u64;
        }
    }
    histogram_of_counts(&counts)
}

/// [`code_histogram`] from counts of the values -maxabs..=maxabs (counts[maxabs + v] counts
/// v), such as a coder gathered on its way.
pub fn histogram_of_counts(counts: &[u64]) -> Vec<u64> {
    let maxabs = counts.len() / 2;
    // maxabs = 128 has a slot for +128, which no code holds.
    let mut h = vec![0u64; 256];
    for (v, &c) in counts.iter().enumerate().filter(|(_, &c)| c > 0) {
        h[sym((v as i32 - maxabs as i32) as i8)] = c;
    }
    h
}

fn corrupt(msg: &str) -> CoreError {
    CoreError::Corrupt(msg.to_string())
}

/// Length of the vectors the block codecs work on: the k×k slice of a 4-D conv weight
/// (out, in, kh, kw) when k×k > 1, else 4 consecutive codes.
pub fn vector_len(shape: &[usize]) -> usize {
    if shape.len() == 4 {
        let k = shape[2].saturating_mul(shape[3]);
        if (2..=64).contains(&k) {
            return k;
        }
    }
    4
}

// ---------------------------------------------------------------- exact sizes from histograms

/// Bits of `write_lengths` for these lengths.
fn table_bits(lens: &[u8]) -> u64 {
    match lens.iter().position(|&l| l > 0) {
        None => 1,
        Some(lo) => {
            let hi = lens.iter().rposition(|&l| l > 0).unwrap_or(lo);
            1 + 16 + 16 + 4 * (hi - lo + 1) as u64
        }
    }
}

/// Table plus payload bits of a value Huffman code built from `freqs`.
fn huffman_bits(freqs: &[u64]) -> u64 {
    let lens = code_lengths(freqs, VALUE_MAX_LEN);
    table_bits(&lens)
        + freqs
            .iter()
            .zip(&lens)
            .map(|(&f, &l)| f * l as u64)
            .sum::<u64>()
}

/// Exact encoded size of `dense` (bytes), from the value histogram (`code_histogram`).
pub fn dense_size(freqs: &[u64]) -> usize {
    let n: u64 = freqs.iter().sum();
    let (Some(lo), Some(hi)) = (
        freqs.iter().position(|&f| f > 0),
        freqs.iter().rposition(|&f| f > 0),
    ) else {
        return 0;
    };
    let width = 32 - ((hi - lo) as u32).leading_zeros();
    (12 + n * width as u64).div_ceil(8) as usize
}

/// Exact encoded size of `huffman` (bytes), from the value histogram.
pub fn huffman_size(freqs: &[u64]) -> usize {
    if freqs.iter().all(|&f| f == 0) {
        return 0;
    }
    huffman_bits(freqs).div_ceil(8) as usize
}

/// Exact encoded size of `bitmap` (bytes), from the value histogram.
pub fn bitmap_size(freqs: &[u64]) -> usize {
    let n: u64 = freqs.iter().sum();
    let mut f = freqs.to_vec();
    f[sym(0)] = 0;
    let nnz: u64 = f.iter().sum();
    let bits = n + if nnz > 0 { huffman_bits(&f) } else { 0 };
    bits.div_ceil(8) as usize
}

// ---------------------------------------------------------------- dense

pub fn dense_enc(codes: &[i8], _shape: &[usize], w: &mut BitWriter) {
    if codes.is_empty() {
        return;
    }
    let lo = codes.iter().copied().min().unwrap_or(0);
    let hi = codes.iter().copied().max().unwrap_or(0);
    let span = (hi as i32 - lo as i32) as u32;
    let width = 32 - span.leading_zeros();
    w.put(sym(lo) as u32, 8);
    w.put(width, 4);
    for &q in codes {
        w.put((q as i32 - lo as i32) as u32, width);
    }
}

pub fn dense_dec(r: &mut BitReader, _shape: &[usize], out: &mut [i8]) -> Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let lo = r.get(8) as i32 - 128;
    let width = r.get(4);
    if width > 8 {
        return Err(corrupt("dense: code width over 8 bits"));
    }
    for o in out.iter_mut() {
        let v = lo + r.get(width) as i32;
        if v > 127 {
            return Err(corrupt("dense: code out of the int8 range"));
        }
        *o = v as i8;
    }
    r.check("dense")
}

// ---------------------------------------------------------------- huffman

pub fn huffman_enc(codes: &[i8], _shape: &[usize], w: &mut BitWriter) {
    if codes.is_empty() {
        return;
    }
    let enc = Encoder::from_freqs(&code_histogram(codes), VALUE_MAX_LEN);
    write_lengths(w, &enc.lens);
    for &q in codes {
        enc.put(w, sym(q));
    }
}

fn value_decoder(r: &mut BitReader) -> Result<Decoder> {
    let lens = read_lengths(r, 256)?;
    if lens.iter().all(|&l| l == 0) {
        return Err(corrupt("empty value table"));
    }
    Decoder::new(&lens)
}

pub fn huffman_dec(r: &mut BitReader, _shape: &[usize], out: &mut [i8]) -> Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    value_decoder(r)?.get_many(r, out, unsym)?;
    r.check("huffman")
}

// ---------------------------------------------------------------- Deep Compression CSR

/// Relative-index CSR entries (skip, code): a gap over 15 adds filler entries (15, 0);
/// trailing zeros are not stored.
pub fn csr_entries(codes: &[i8]) -> Vec<(u8, i8)> {
    // Without branches on the codes (half of them are zero, in no pattern a predictor could
    // learn): every code writes an entry slot and keeps it when it is non-zero or the 16th
    // zero of a run (a filler); fillers after the last non-zero are dropped at the end.
    let mut out = vec![(0u8, 0i8); codes.len()];
    let (mut len, mut kept, mut z) = (0usize, 0usize, 0u8);
    for &q in codes {
        let nonzero = q != 0;
        let filler = !nonzero & (z == 15);
        out[len] = (z, q);
        len += (nonzero | filler) as usize;
        kept = if nonzero { len } else { kept };
        z = if nonzero | filler { 0 } else { z + 1 };
    }
    out.truncate(kept);
    out
}

/// The counts of the CSR entries' skips (16) and codes (by `sym`), taken from the gaps between
/// non-zero codes without building the entries, which sizing does not need.
fn csr_counts(codes: &[i8]) -> ([u64; 16], Vec<u64>) {
    let (mut sf, mut cf) = ([0u64; 16], vec![0u64; 256]);
    // Position of the last non-zero code + 1.
    let mut after = 0usize;
    for (b, block) in codes.chunks(64).enumerate() {
        let mut nonzero = block
            .iter()
            .enumerate()
            .fold(0u64, |m, (i, &q)| m | ((q != 0) as u64) << i);
        while nonzero != 0 {
            let at = 64 * b + nonzero.trailing_zeros() as usize;
            nonzero &= nonzero - 1;
            // A gap of g zeros: g / 16 fillers (15, 0), then the code with skip g % 16.
            let gap = at - after;
            sf[15] += (gap / 16) as u64;
            cf[sym(0)] += (gap / 16) as u64;
            sf[gap % 16] += 1;
            cf[sym(codes[at])] += 1;
            after = at + 1;
        }
    }
    (sf, cf)
}

pub fn csr_enc(codes: &[i8], _shape: &[usize], w: &mut BitWriter) {
    if w.counts_only() {
        let (sf, cf) = csr_counts(codes);
        if let Some((clens, slens)) = csr_header(w, &sf, &cf) {
            w.count(huffman::cost(&sf, &slens) + huffman::cost(&cf, &clens));
        }
        return;
    }
    // Writing needs the entries: their counts come with them, cheaper than a second pass over
    // the gaps.
    let e = csr_entries(codes);
    let mut sf = [0u64; 16];
    for &(s, _) in &e {
        sf[s as usize] += 1;
    }
    let cf = value_freqs(e.iter().map(|(_, q)| q));
    let Some((clens, slens)) = csr_header(w, &sf, &cf) else {
        return;
    };
    let (cenc, senc) = (Encoder::new(clens), Encoder::new(slens));
    for &(s, q) in &e {
        senc.put(w, s as usize);
        cenc.put(w, sym(q));
    }
}

/// The number of entries and the code lengths of codes and skips, from their counts; the
/// lengths (codes, skips) unless there are no entries.
fn csr_header(w: &mut BitWriter, sf: &[u64; 16], cf: &[u64]) -> Option<(Vec<u8>, Vec<u8>)> {
    let entries: u64 = sf.iter().sum();
    put_gamma(w, entries as u32);
    if entries == 0 {
        return None;
    }
    let (clens, slens) = (
        code_lengths(cf, VALUE_MAX_LEN),
        code_lengths(sf, VALUE_MAX_LEN),
    );
    write_lengths(w, &clens);
    write_lengths(w, &slens);
    Some((clens, slens))
}

pub fn csr_dec(r: &mut BitReader, _shape: &[usize], out: &mut [i8]) -> Result<()> {
    let n = out.len();
    let count = get_gamma(r)? as usize;
    out.fill(0);
    if count == 0 {
        return r.check("csr");
    }
    if count > n {
        return Err(corrupt("csr: more entries than elements"));
    }
    let cdec = value_decoder(r)?;
    let slens = read_lengths(r, 16)?;
    if slens.iter().all(|&l| l == 0) {
        return Err(corrupt("csr: empty skip table"));
    }
    let sdec = Decoder::new(&slens)?;
    let mut pos = 0usize;
    for _ in 0..count {
        pos += sdec.get(r)? as usize;
        let q = unsym(cdec.get(r)?);
        if pos >= n {
            return Err(corrupt("csr: entry past the end of the tensor"));
        }
        out[pos] = q;
        pos += 1;
    }
    r.check("csr")
}

// ---------------------------------------------------------------- bitmap

pub fn bitmap_enc(codes: &[i8], _shape: &[usize], w: &mut BitWriter) {
    for &q in codes {
        w.put((q != 0) as u32, 1);
    }
    let nz: Vec<i8> = codes.iter().copied().filter(|&q| q != 0).collect();
    if nz.is_empty() {
        return;
    }
    let enc = Encoder::from_freqs(&value_freqs(&nz), VALUE_MAX_LEN);
    write_lengths(w, &enc.lens);
    for &q in &nz {
        enc.put(w, sym(q));
    }
}

pub fn bitmap_dec(r: &mut BitReader, _shape: &[usize], out: &mut [i8]) -> Result<()> {
    let mut nnz = 0usize;
    for o in out.iter_mut() {
        let b = r.get(1);
        *o = b as i8; // 1 marks a non-zero, filled below
        nnz += b as usize;
    }
    r.check("bitmap")?;
    if nnz == 0 {
        return Ok(());
    }
    let dec = value_decoder(r)?;
    for o in out.iter_mut() {
        if *o != 0 {
            let q = unsym(dec.get(r)?);
            if q == 0 {
                return Err(corrupt("bitmap: zero stored as a non-zero"));
            }
            *o = q;
        }
    }
    r.check("bitmap")
}

// ---------------------------------------------------------------- block-sparse (BSR)

pub fn bsr_enc(codes: &[i8], shape: &[usize], w: &mut BitWriter) {
    let v = vector_len(shape);
    let mut f = vec![0u64; 256];
    let mut any = false;
    let counting = w.counts_only();
    for blk in codes.chunks(v) {
        let nz = blk.iter().fold(false, |a, &q| a | (q != 0));
        if !counting {
            w.put(nz as u32, 1);
        }
        if nz {
            any = true;
            for &q in blk {
                f[sym(q)] += 1;
            }
        }
    }
    if counting {
        // One bit per block.
        w.count(codes.len().div_ceil(v) as u64);
    }
    if !any {
        return;
    }
    let lens = code_lengths(&f, VALUE_MAX_LEN);
    write_lengths(w, &lens);
    if counting {
        w.count(huffman::cost(&f, &lens));
        return;
    }
    let enc = Encoder::new(lens);
    for blk in codes.chunks(v) {
        if blk.iter().any(|&q| q != 0) {
            for &q in blk {
                enc.put(w, sym(q));
            }
        }
    }
}

pub fn bsr_dec(r: &mut BitReader, shape: &[usize], out: &mut [i8]) -> Result<()> {
    let v = vector_len(shape);
    let mut any = false;
    for blk in out.chunks_mut(v) {
        let b = r.get(1) as i8;
        any |= b != 0;
        blk.fill(0);
        blk[0] = b; // marker, replaced below
    }
    r.check("bsr")?;
    if !any {
        return Ok(());
    }
    let dec = value_decoder(r)?;
    for blk in out.chunks_mut(v) {
        if blk[0] != 0 {
            for o in blk.iter_mut() {
                *o = unsym(dec.get(r)?);
            }
        }
    }
    r.check("bsr")
}

// ---------------------------------------------------------------- pattern dictionary

/// FxHash-style hasher for the pattern table (patterns are short byte strings).
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            self.add(u64::from_le_bytes(a));
        }
        for &b in chunks.remainder() {
            self.add(b as u64);
        }
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The pattern codec's slicing: the vector length (see [`vector_len`]) and the codes with
/// the last partial vector padded with zeros, so they split into whole vectors.
pub(crate) fn pattern_vectors<'a>(
    codes: &'a [i8],
    shape: &[usize],
) -> (usize, std::borrow::Cow<'a, [i8]>) {
    let v = vector_len(shape);
    if codes.len() % v == 0 {
        return (v, std::borrow::Cow::Borrowed(codes));
    }
    let mut p = codes.to_vec();
    p.resize(codes.len().div_ceil(v) * v, 0);
    (v, std::borrow::Cow::Owned(p))
}

/// Sorts unique-pattern indices into dictionary order: most frequent first, ties by content
/// (so the order, and every choice made from it, is deterministic).
pub(crate) fn dictionary_order(ids: &mut [u32], counts: &[u32], vecs: &[&[i8]], first: &[usize]) {
    ids.sort_unstable_by(|&a, &b| {
        counts[b as usize]
            .cmp(&counts[a as usize])
            .then(vecs[first[a as usize]].cmp(vecs[first[b as usize]]))
    });
}

/// Unique-pattern index of every vector (first-seen order) and the first vector of each.
pub(crate) fn unique_patterns(vecs: &[&[i8]]) -> (Vec<u32>, Vec<usize>) {
    let mut first: Vec<usize> = Vec::new();
    let mut vid = Vec::with_capacity(vecs.len());
    if vecs.first().is_some_and(|p| p.len() <= 16) {
        // Short patterns (k×k up to 4×4, 4-vectors) are packed into one integer key, in an
        // open-addressing table at most half full: no hashing of slices, and probes that
        // rarely collide.
        let bits = (2 * vecs.len())
            .max(16)
            .next_power_of_two()
            .trailing_zeros();
        let mask = (1usize << bits) - 1;
        let (mut keys, mut ids) = (vec![0u128; mask + 1], vec![u32::MAX; mask + 1]);
        for (i, p) in vecs.iter().enumerate() {
            let mut b = [0u8; 16];
            for (d, &q) in b.iter_mut().zip(p.iter()) {
                *d = q as u8;
            }
            let key = u128::from_le_bytes(b);
            let h = ((key as u64) ^ ((key >> 64) as u64).rotate_left(29))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut slot = (h >> (64 - bits)) as usize;
            while ids[slot] != u32::MAX && keys[slot] != key {
                slot = (slot + 1) & mask;
            }
            if ids[slot] == u32::MAX {
                (keys[slot], ids[slot]) = (key, first.len() as u32);
                first.push(i);
            }
            vid.push(ids[slot]);
        }
    } else {
        let mut map: FxMap<&[i8], u32> =
            FxMap::with_capacity_and_hasher(vecs.len(), Default::default());
        for (i, &p) in vecs.iter().enumerate() {
            let next = first.len() as u32;
            let id = *map.entry(p).or_insert(next);
            if id == next {
                first.push(i);
            }
            vid.push(id);
        }
    }
    (vid, first)
}

pub fn pattern_enc(codes: &[i8], shape: &[usize], w: &mut BitWriter) {
    if codes.is_empty() {
        return;
    }
    let (v, padded) = pattern_vectors(codes, shape);
    let vecs: Vec<&[i8]> = padded.chunks_exact(v).collect();
    let (vid, first) = unique_patterns(&vecs);
    let mut counts = vec![0u32; first.len()];
    for &u in &vid {
        counts[u as usize] += 1;
    }
    // Dictionary: patterns seen at least twice, most frequent first (ties by content). A size
    // depends only on the counts when every such pattern fits: ties are not ordered then
    // (comparing contents took a sixth of the sizing).
    let mut dict: Vec<u32> = (0..first.len() as u32)
        .filter(|&u| counts[u as usize] >= 2)
        .collect();
    if w.counts_only() && dict.len() <= MAX_DICT {
        dict.sort_unstable_by_key(|&u| std::cmp::Reverse(counts[u as usize]));
    } else {
        dictionary_order(&mut dict, &counts, &vecs, &first);
    }
    dict.truncate(MAX_DICT);
    let d = dict.len();
    const NONE: u32 = u32::MAX;
    let mut id_of = vec![NONE; first.len()];
    for (i, &u) in dict.iter().enumerate() {
        id_of[u as usize] = i as u32;
    }
    let esc_count = vid.iter().filter(|&&u| id_of[u as usize] == NONE).count() as u64;
    // Ranks: dictionary entries and the escape, by frequency (descending).
    let mut freq: Vec<u64> = dict.iter().map(|&u| counts[u as usize] as u64).collect();
    let esc_rank = freq.iter().position(|&f| f < esc_count).unwrap_or(d);
    freq.insert(esc_rank, esc_count);
    let mut lens = code_lengths(&freq, ID_MAX_LEN);
    // Non-decreasing lengths in rank order (reassigning sorted lengths never costs more).
    let mut nz: Vec<u8> = lens.iter().copied().filter(|&l| l > 0).collect();
    nz.sort_unstable();
    let used = nz.len();
    lens[..used].copy_from_slice(&nz);
    for l in &mut lens[used..] {
        *l = 0;
    }
    // Values: dictionary patterns and escaped vectors.
    let mut vf = vec![0u64; 256];
    for &u in &dict {
        for &q in vecs[first[u as usize]] {
            vf[sym(q)] += 1;
        }
    }
    for (p, &u) in vecs.iter().zip(&vid) {
        if id_of[u as usize] == NONE {
            for &q in *p {
                vf[sym(q)] += 1;
            }
        }
    }
    let vlens = code_lengths(&vf, VALUE_MAX_LEN);
    put_gamma(w, d as u32);
    put_gamma(w, esc_rank as u32);
    write_sorted_lengths(w, &lens);
    write_lengths(w, &vlens);
    if w.counts_only() {
        // Every vector's id (or escape), and the values of the dictionary and the escapes.
        w.count(huffman::cost(&freq, &lens) + huffman::cost(&vf, &vlens));
        return;
    }
    let (idenc, venc) = (Encoder::new(lens), Encoder::new(vlens));
    for &u in &dict {
        for &q in vecs[first[u as usize]] {
            venc.put(w, sym(q));
        }
    }
    let rank_of = |id: u32| {
        if (id as usize) < esc_rank {
            id as usize
        } else {
            id as usize + 1
        }
    };
    for (p, &u) in vecs.iter().zip(&vid) {
        match id_of[u as usize] {
            NONE => {
                idenc.put(w, esc_rank);
                for &q in *p {
                    venc.put(w, sym(q));
                }
            }
            id => idenc.put(w, rank_of(id)),
        }
    }
}

pub fn pattern_dec(r: &mut BitReader, shape: &[usize], out: &mut [i8]) -> Result<()> {
    let v = vector_len(shape);
    let n = out.len();
    if n == 0 {
        return Ok(());
    }
    let nvec = n.div_ceil(v);
    let d = get_gamma(r)? as usize;
    let esc_rank = get_gamma(r)? as usize;
    if d > nvec.min(MAX_DICT) || esc_rank > d {
        return Err(corrupt("pattern: dictionary header out of range"));
    }
    let lens = read_sorted_lengths(r, d + 1)?;
    if lens.len() < d || lens.is_empty() {
        return Err(corrupt("pattern: id table does not cover the dictionary"));
    }
    let iddec = Decoder::new(&lens)?;
    let vdec = value_decoder(r)?;
    let mut dict = vec![0i8; d * v];
    for x in dict.iter_mut() {
        *x = unsym(vdec.get(r)?);
    }
    r.check("pattern dictionary")?;
    let mut tmp = vec![0i8; v];
    for (i, chunk) in out.chunks_mut(v).enumerate() {
        let rank = iddec.get(r)? as usize;
        let _ = i;
        if rank == esc_rank {
            for t in tmp.iter_mut() {
                *t = unsym(vdec.get(r)?);
            }
            chunk.copy_from_slice(&tmp[..chunk.len()]);
        } else {
            let id = if rank < esc_rank { rank } else { rank - 1 };
            if id >= d {
                return Err(corrupt("pattern: id outside the dictionary"));
            }
            chunk.copy_from_slice(&dict[id * v..id * v + chunk.len()]);
        }
    }
    r.check("pattern")
}

// ---------------------------------------------------------------- lossless floats

/// Byte-grouped lossless coding of fixed-size items (e.g. float32): byte plane k holds byte k
/// of every item; each plane is stored raw or order-0 Huffman coded, whichever is smaller.
pub fn bytegroup_encode(data: &[u8], itemsize: usize) -> Vec<u8> {
    let mut out = vec![itemsize as u8];
    if itemsize == 0 || data.is_empty() {
        return out;
    }
    let n = data.len() / itemsize;
    let mut plane = vec![0u8; n];
    for k in 0..itemsize {
        for (i, p) in plane.iter_mut().enumerate() {
            *p = data[i * itemsize + k];
        }
        let mut f = vec![0u64; 256];
        for &b in &plane {
            f[b as usize] += 1;
        }
        let enc = Encoder::from_freqs(&f, VALUE_MAX_LEN);
        let mut w = BitWriter::new();
        write_lengths(&mut w, &enc.lens);
        for &b in &plane {
            enc.put(&mut w, b as usize);
        }
        let coded = w.finish();
        if coded.len() < n {
            out.push(1);
            super::bits::put_varint(&mut out, coded.len() as u64);
            out.extend_from_slice(&coded);
        } else {
            out.push(0);
            out.extend_from_slice(&plane);
        }
    }
    out
}

pub fn bytegroup_decode(blob: &[u8], out: &mut [u8]) -> Result<()> {
    let mut cur = super::bits::Cursor::new(blob);
    let itemsize = cur.u8()? as usize;
    if out.is_empty() {
        return Ok(());
    }
    if itemsize == 0 || out.len() % itemsize != 0 {
        return Err(corrupt("bytegroup: item size does not divide the output"));
    }
    let n = out.len() / itemsize;
    for k in 0..itemsize {
        match cur.u8()? {
            0 => {
                let plane = cur.take(n)?;
                for (i, &b) in plane.iter().enumerate() {
                    out[i * itemsize + k] = b;
                }
            }
            1 => {
                let len = cur.varint_max(blob.len() as u64, "bytegroup plane length")?;
                let bytes = cur.take(len)?;
                let mut r = BitReader::new(bytes);
                let lens = read_lengths(&mut r, 256)?;
                if lens.iter().all(|&l| l == 0) {
                    return Err(corrupt("bytegroup: empty table"));
                }
                let dec = Decoder::new(&lens)?;
                for i in 0..n {
                    out[i * itemsize + k] = dec.get(&mut r)? as u8;
                }
                r.check("bytegroup plane")?;
            }
            m => {
                return Err(CoreError::Corrupt(format!(
                    "bytegroup: unknown plane mode {m}"
                )))
            }
        }
    }
    if cur.pos != blob.len() {
        return Err(corrupt("bytegroup: trailing bytes"));
    }
    Ok(())
}
