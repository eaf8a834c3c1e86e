//! Canonical, length-limited Huffman codes with table-driven decoding.
//!
//! Code lengths come from a plain Huffman tree, then are limited to `max_len` by lengthening
//! the longest codes below the limit until the Kraft sum fits (then unused slack is given back
//! to the most frequent symbols). Codes are canonical (ordered by length, then symbol) and
//! written LSB-first, bit-reversed, so the decoder is one table lookup of `max_len` bits.
use super::bits::{BitReader, BitWriter};
use crate::error::{CoreError, Result};

/// Longest code the decoders accept (table of 2^15 entries at most).
pub const MAX_LEN_LIMIT: u32 = 15;

/// Code lengths (0 = symbol unused) for `freqs`, each at most `max_len`.
pub fn code_lengths(freqs: &[u64], max_len: u32) -> Vec<u8> {
    let n = freqs.len();
    let mut lens = vec![0u8; n];
    let mut syms: Vec<usize> = (0..n).filter(|&i| freqs[i] > 0).collect();
    if syms.is_empty() {
        return lens;
    }
    if syms.len() == 1 {
        lens[syms[0]] = 1;
        return lens;
    }
    assert!(
        (syms.len() as u64) <= (1u64 << max_len),
        "alphabet does not fit max_len"
    );
    // Two-queue Huffman over symbols sorted by frequency.
    syms.sort_by_key(|&i| (freqs[i], i));
    let m = syms.len();
    // nodes: leaves 0..m, internal m..2m-1; parent links
    let mut weight: Vec<u64> = syms.iter().map(|&i| freqs[i]).collect();
    weight.resize(2 * m - 1, 0);
    let mut parent = vec![0usize; 2 * m - 1];
    let (mut leaf, mut internal, mut next) = (0usize, m, m);
    for _ in 0..m - 1 {
        let mut pick = || {
            if leaf < m && (internal >= next || weight[leaf] <= weight[internal]) {
                leaf += 1;
                leaf - 1
            } else {
                internal += 1;
                internal - 1
            }
        };
        let a = pick();
        let b = pick();
        weight[next] = weight[a] + weight[b];
        parent[a] = next;
        parent[b] = next;
        next += 1;
    }
    let mut depth = vec![0u32; 2 * m - 1];
    for node in (0..2 * m - 2).rev() {
        depth[node] = depth[parent[node]] + 1;
    }
    let mut l: Vec<u32> = (0..m).map(|k| depth[k].min(max_len)).collect();
    // Kraft fix: sum of 2^(max_len - l) must be <= 2^max_len.
    let cap = 1u64 << max_len;
    let mut kraft: u64 = l.iter().map(|&x| 1u64 << (max_len - x)).sum();
    // syms sorted ascending by freq: lengthen the least frequent codes below the limit first.
    while kraft > cap {
        // find the longest code below max_len among least frequent symbols
        let mut best: Option<usize> = None;
        for k in 0..m {
            if l[k] < max_len && best.is_none_or(|b| l[k] > l[b]) {
                best = Some(k);
            }
        }
        let k = best.expect("a code below the limit exists while Kraft overflows");
        kraft -= 1u64 << (max_len - l[k] - 1);
        l[k] += 1;
    }
    // Give slack back: shorten the most frequent codes while the sum still fits.
    for k in (0..m).rev() {
        while l[k] > 1 {
            let gain = 1u64 << (max_len - l[k]);
            if kraft + gain <= cap {
                kraft += gain;
                l[k] -= 1;
            } else {
                break;
            }
        }
    }
    for (k, &s) in syms.iter().enumerate() {
        lens[s] = l[k] as u8;
    }
    lens
}

fn reverse_bits(v: u32, n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        v.reverse_bits() >> (32 - n)
    }
}

/// Canonical codes (bit-reversed for LSB-first output) for `lens`.
fn canonical_codes(lens: &[u8]) -> Result<Vec<u32>> {
    let max = lens.iter().copied().max().unwrap_or(0) as usize;
    if max as u32 > MAX_LEN_LIMIT {
        return Err(CoreError::Corrupt(format!(
            "Huffman code length {max} is too long"
        )));
    }
    let mut count = vec![0u32; max + 2];
    for &l in lens {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = vec![0u32; max + 2];
    let mut code = 0u32;
    for bits in 1..=max {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    // Kraft check: the last code of the longest length must fit.
    let mut kraft: u64 = 0;
    for &l in lens {
        if l > 0 {
            kraft += 1u64 << (max - l as usize);
        }
    }
    if max > 0 && kraft > (1u64 << max) {
        return Err(CoreError::Corrupt(
            "Huffman code lengths are over-subscribed".into(),
        ));
    }
    let mut codes = vec![0u32; lens.len()];
    for (s, &l) in lens.iter().enumerate() {
        if l > 0 {
            codes[s] = reverse_bits(next[l as usize], l as u32);
            next[l as usize] += 1;
        }
    }
    Ok(codes)
}

/// Encoder side of a canonical code.
pub struct Encoder {
    pub lens: Vec<u8>,
    codes: Vec<u32>,
}

impl Encoder {
    pub fn new(lens: Vec<u8>) -> Self {
        let codes = canonical_codes(&lens).expect("lengths from code_lengths are valid");
        Self { lens, codes }
    }

    pub fn from_freqs(freqs: &[u64], max_len: u32) -> Self {
        Self::new(code_lengths(freqs, max_len))
    }

    #[inline]
    pub fn put(&self, w: &mut BitWriter, sym: usize) {
        w.put(self.codes[sym], self.lens[sym] as u32);
    }

    /// Bits needed for `freqs` under this code.
    pub fn cost(&self, freqs: &[u64]) -> u64 {
        cost(freqs, &self.lens)
    }
}

/// Bits that symbols of frequencies `freqs` take in codes of lengths `lens`.
pub fn cost(freqs: &[u64], lens: &[u8]) -> u64 {
    freqs.iter().zip(lens).map(|(&f, &l)| f * l as u64).sum()
}

/// Table-driven decoder: one lookup of `bits` bits gives symbol and length.
pub struct Decoder {
    table: Vec<u32>, // (sym << 5) | len ; len 0 = invalid code
    bits: u32,
    single: Option<u32>,
}

impl Decoder {
    pub fn new(lens: &[u8]) -> Result<Self> {
        let codes = canonical_codes(lens)?;
        let used: Vec<usize> = (0..lens.len()).filter(|&s| lens[s] > 0).collect();
        if used.len() == 1 {
            // A single symbol is written with a 1-bit code (0).
            return Ok(Self {
                table: vec![],
                bits: 0,
                single: Some(used[0] as u32),
            });
        }
        let bits = lens.iter().copied().max().unwrap_or(0) as u32;
        let mut table = vec![0u32; 1usize << bits];
        for &s in &used {
            let l = lens[s] as u32;
            let step = 1usize << l;
            let mut i = codes[s] as usize;
            while i < table.len() {
                table[i] = ((s as u32) << 5) | l;
                i += step;
            }
        }
        Ok(Self {
            table,
            bits,
            single: None,
        })
    }

    #[inline]
    pub fn get(&self, r: &mut BitReader) -> Result<u32> {
        if let Some(s) = self.single {
            r.consume_checked(1);
            return Ok(s);
        }
        let e = self.table[r.peek(self.bits) as usize];
        let l = e & 31;
        if l == 0 {
            return Err(CoreError::Corrupt("invalid Huffman code".into()));
        }
        r.consume(l);
        Ok(e >> 5)
    }
}

impl Decoder {
    /// Decodes `out.len()` symbols, each mapped by `map`. Long runs of an alphabet below 256
    /// go two symbols per table lookup: a second table holds, for every `bits`-bit window, its
    /// first code and, when it also fits in the window, the second.
    pub fn get_many(
        &self,
        r: &mut BitReader,
        out: &mut [i8],
        map: impl Fn(u32) -> i8,
    ) -> Result<()> {
        let mut i = 0;
        // Building the pair table costs about a lookup per entry: worth it for long runs.
        let pairs: Option<Vec<u32>> = (self.single.is_none() && out.len() >= 4 * self.table.len())
            .then(|| {
                let mask = self.table.len() - 1;
                (0..self.table.len())
                    .map(|w| {
                        let e = self.table[w];
                        let l = e & 31;
                        if l == 0 {
                            return Some(0); // invalid code: count 0
                        }
                        if e >> 5 > 255 {
                            return None; // a symbol that does not fit a byte: one at a time
                        }
                        let e2 = self.table[(w >> l) & mask];
                        let l2 = e2 & 31;
                        Some(if l2 > 0 && l + l2 <= self.bits && e2 >> 5 <= 255 {
                            2 << 24 | (l + l2) << 16 | (e2 >> 5) << 8 | e >> 5
                        } else {
                            1 << 24 | l << 16 | e >> 5
                        })
                    })
                    .collect()
            })
            .flatten();
        if let Some(pairs) = pairs {
            while i + 2 <= out.len() {
                let e = pairs[r.peek(self.bits) as usize];
                let n = (e >> 24) as usize;
                if n == 0 {
                    return Err(CoreError::Corrupt("invalid Huffman code".into()));
                }
                // The second byte of a single is overwritten by the next lookup.
                out[i] = map(e & 0xFF);
                out[i + 1] = map((e >> 8) & 0xFF);
                r.consume((e >> 16) & 31);
                i += n;
            }
        }
        for o in &mut out[i..] {
            *o = map(self.get(r)?);
        }
        Ok(())
    }
}

impl BitReader<'_> {
    #[inline]
    pub fn consume_checked(&mut self, n: u32) {
        self.peek(n);
        self.consume(n);
    }
}

/// Writes code lengths for symbols `0..lens.len()`: the used range [lo, hi] as two varints-ish
/// 16-bit fields, then 4 bits per length in that range.
pub fn write_lengths(w: &mut BitWriter, lens: &[u8]) {
    let lo = lens.iter().position(|&l| l > 0);
    match lo {
        None => {
            w.put(0, 1);
        }
        Some(lo) => {
            let hi = lens.iter().rposition(|&l| l > 0).unwrap_or(lo);
            w.put(1, 1);
            w.put(lo as u32, 16);
            w.put((hi - lo) as u32, 16);
            for &l in &lens[lo..=hi] {
                w.put(l as u32, 4);
            }
        }
    }
}

/// Reads lengths written by [`write_lengths`] for an alphabet of `n` symbols.
pub fn read_lengths(r: &mut BitReader, n: usize) -> Result<Vec<u8>> {
    let mut lens = vec![0u8; n];
    if r.get(1) == 0 {
        return Ok(lens);
    }
    let lo = r.get(16) as usize;
    let span = r.get(16) as usize;
    if lo + span >= n {
        return Err(CoreError::Corrupt(
            "Huffman table range exceeds the alphabet".into(),
        ));
    }
    for l in &mut lens[lo..=lo + span] {
        *l = r.get(4) as u8;
    }
    r.check("Huffman table")?;
    Ok(lens)
}

/// Lengths that are non-decreasing in the symbol index (symbols sorted by frequency) are
/// written as the count of codes per length 1..=15 (varint-like 4+n bits).
pub fn write_sorted_lengths(w: &mut BitWriter, lens: &[u8]) {
    let mut counts = [0u32; 16];
    for &l in lens {
        counts[l as usize] += 1;
    }
    for &c in &counts[1..] {
        put_gamma(w, c);
    }
}

pub fn read_sorted_lengths(r: &mut BitReader, max_symbols: usize) -> Result<Vec<u8>> {
    let mut lens = Vec::new();
    for l in 1..16u8 {
        let c = get_gamma(r)? as usize;
        if c > max_symbols || lens.len() + c > max_symbols {
            return Err(CoreError::Corrupt(
                "Huffman table claims too many symbols".into(),
            ));
        }
        lens.extend(std::iter::repeat_n(l, c));
    }
    r.check("Huffman table")?;
    Ok(lens)
}

/// Bits [`put_gamma`] spends on `v`.
pub fn gamma_bits(v: u32) -> u32 {
    2 * (63 - (v as u64 + 1).leading_zeros()) + 1
}

/// Elias-gamma of v + 1.
pub fn put_gamma(w: &mut BitWriter, v: u32) {
    let x = v as u64 + 1;
    let n = 63 - x.leading_zeros();
    w.put(0, n);
    w.put(1, 1);
    if n > 0 {
        let rest = x & ((1u64 << n) - 1);
        if n > 32 {
            w.put(rest as u32, 32);
            w.put((rest >> 32) as u32, n - 32);
        } else {
            w.put(rest as u32, n);
        }
    }
}

pub fn get_gamma(r: &mut BitReader) -> Result<u32> {
    let mut n = 0;
    while r.get(1) == 0 {
        n += 1;
        if n > 32 || r.overrun() {
            return Err(CoreError::Corrupt("bad Elias-gamma code".into()));
        }
    }
    let rest = if n > 0 { r.get(n) as u64 } else { 0 };
    let x = (1u64 << n) | rest;
    u32::try_from(x - 1).map_err(|_| CoreError::Corrupt("bad Elias-gamma code".into()))
}

/// Frequency histogram of values in `0..n`.
pub fn histogram<I: IntoIterator<Item = usize>>(it: I, n: usize) -> Vec<u64> {
    let mut h = vec![0u64; n];
    for s in it {
        h[s] += 1;
    }
    h
}

/// Convenience for byte-oriented streams: a self-describing Huffman block over `syms`
/// (alphabet `n`, lengths at most `max_len`) appended to `w`.
pub fn encode_block(w: &mut BitWriter, syms: &[u32], n: usize, max_len: u32) {
    let freqs = histogram(syms.iter().map(|&s| s as usize), n);
    let enc = Encoder::from_freqs(&freqs, max_len);
    write_lengths(w, &enc.lens);
    for &s in syms {
        enc.put(w, s as usize);
    }
}

pub fn decode_block(r: &mut BitReader, out: &mut [u32], n: usize) -> Result<()> {
    let lens = read_lengths(r, n)?;
    if out.is_empty() {
        return Ok(());
    }
    if lens.iter().all(|&l| l == 0) {
        return Err(CoreError::Corrupt(
            "empty Huffman table for a non-empty block".into(),
        ));
    }
    let dec = Decoder::new(&lens)?;
    for o in out.iter_mut() {
        *o = dec.get(r)?;
    }
    r.check("Huffman block")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_bits_counts_what_put_gamma_writes() {
        for v in [0, 1, 2, 3, 6, 7, 100, 65535, u32::MAX - 1, u32::MAX] {
            let mut w = BitWriter::new();
            put_gamma(&mut w, v);
            assert_eq!(w.bit_len(), gamma_bits(v) as u64, "{v}");
        }
    }
}
