//! The srans stream: its first byte, the header, the tables as sent (value by value or as
//! knots), and the layout of the word streams.
//!
//! A stream is `0` for an all-zero tensor; else [`FORMAT`], then the table bits (the
//! [`Header`], the class tables, the position map, the side tables) up to the next byte, the
//! side words (the side stream's final state, then its words in decoding order, up to where
//! its decoding ends: its first state is the main stream's first, which is not stored again),
//! and the main words (the final states, then the words in decoding order).
use super::buffers::{keep, WORDS};
use super::corrupt;
use super::knots::Knots;
use super::table::MAX_OCTAVES;
use crate::codec::bits::{BitReader, BitWriter, Cursor};
use crate::codec::huffman::{get_gamma, put_gamma};
use crate::error::Result;

/// The first byte of a stream that is not all zero (an all-zero tensor is the single byte 0).
/// It marks the format, so that a stream of another format is refused rather than misread;
/// the decoder accepts this value only.
pub(super) const FORMAT: u8 = 5;

/// The rows of a tensor of `n` codes: its output channels (`shape[0]`) where it has two or
/// more dimensions, else one row.
pub(super) fn rows_of(n: usize, shape: &[usize]) -> (usize, usize) {
    if shape.len() >= 2 && shape[0] > 0 && n > 0 {
        (shape[0], n / shape[0])
    } else {
        (1, n)
    }
}

/// Probability resolutions: frequencies sum to 2^p and a class's lookup table has 2^p
/// entries. Rebuilding the tables is part of every decode, so the encoder keeps them to a
/// quarter of the codes or less (coarser p, fewer classes) for smaller tensors.
pub(super) const PS: [u32; 3] = [12, 11, 10];

/// The most class tables a stream has (the header's 4-bit count).
pub(super) const MAX_CLASSES: usize = 16;

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
    /// Symbols in the main stream's tail (with 8 or 32 lanes: the last symbols, coded on a
    /// state whose words are the main states' first values).
    pub tail: usize,
}

/// The interleaved states a stream may use, which the header names by index.
const LANES: [usize; 3] = [1, 8, 32];

/// The resolutions of log-scale table values (steps per octave), which the header names by
/// index.
const STEPS: [u32; 3] = [2, 4, 8];

impl Header {
    pub(super) fn write(&self, w: &mut BitWriter) {
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

/// The header of a stream whose first byte `format` (not 0) `cur` has read, and the reader
/// of its table bits, which open with the header.
pub(super) fn open<'a>(format: u8, cur: &mut Cursor<'a>) -> Result<(Header, BitReader<'a>)> {
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

pub(super) fn zigzag(v: i64) -> u32 {
    ((v << 1) ^ (v >> 63)) as u32
}

pub(super) fn unzigzag(z: u32) -> i64 {
    (z >> 1) as i64 ^ -((z & 1) as i64)
}

/// Writes log-scale values, each Elias-gamma coded relative to the previous present value:
/// 0 = the same value, 1 = absent, else zigzag(u - previous u) + 1. A repeated value takes one
/// bit: small tensors of 8-bit codes have many symbols of the same small count.
pub(super) fn write_table(w: &mut BitWriter, us: &[Option<u32>]) {
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
pub(super) fn value_code(d: i64) -> u32 {
    match zigzag(d) {
        0 => 0,
        z => z + 1,
    }
}

/// Reads `n` log-scale values as `write_table` wrote them, each below `MAX_OCTAVES` octaves at
/// s steps per octave.
pub(super) fn read_table(r: &mut BitReader, n: usize, s: u32) -> Result<Vec<Option<u32>>> {
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
                return Err(corrupt("table value out of range"));
            }
            prev = u;
            us.push(Some(u as u32));
        }
    }
    Ok(us)
}

/// Bits `write_table` spends on `us`.
fn table_bits(us: &[Option<u32>]) -> u64 {
    let mut w = BitWriter::counting();
    write_table(&mut w, us);
    w.bit_len()
}

/// A table as sent: its log-scale values, and the knots they were read from where it is sent
/// as knots rather than value by value (a flag bit says which).
pub(super) struct Sent {
    pub(super) us: Vec<Option<u32>>,
    knots: Option<Knots>,
}

impl Sent {
    pub(super) fn values(us: Vec<Option<u32>>) -> Self {
        Self { us, knots: None }
    }

    pub(super) fn knots(knots: Knots, nsym: usize, s: u32) -> Self {
        Self {
            us: knots.expand(nsym, s),
            knots: Some(knots),
        }
    }

    pub(super) fn write(&self, w: &mut BitWriter) {
        w.put(self.knots.is_some() as u32, 1);
        match &self.knots {
            Some(k) => k.write(w),
            None => write_table(w, &self.us),
        }
    }

    pub(super) fn bits(&self) -> u64 {
        1 + match &self.knots {
            Some(k) => k.bits(),
            None => table_bits(&self.us),
        }
    }
}

/// Reads a table over `nsym` symbols (`signed`: symbols 0, +1, -1, ...) as [`Sent::write`]
/// wrote it.
pub(super) fn read_sent(
    r: &mut BitReader,
    nsym: usize,
    s: u32,
    signed: bool,
) -> Result<Vec<Option<u32>>> {
    if r.get(1) == 1 {
        Ok(Knots::read(r, nsym, s, signed)?.expand(nsym, s))
    } else {
        read_table(r, nsym, s)
    }
}

/// The 32-bit state stored as words `2 l` (high half) and `2 l + 1` of a word stream.
pub(super) fn state(words: &[u8], l: usize) -> u32 {
    (word(words, 2 * l) as u32) << 16 | word(words, 2 * l + 1) as u32
}

/// The 16-bit little-endian word `i` of a word stream (read in place, never copied), clamped
/// to the last word (0 in a stream of none): a corrupt stream may run past its end, and the
/// final state check reports it.
#[inline(always)]
pub(super) fn word(words: &[u8], i: usize) -> u16 {
    match (words.len() / 2).checked_sub(1) {
        Some(last) => {
            let i = i.min(last);
            u16::from_le_bytes([words[2 * i], words[2 * i + 1]])
        }
        None => 0,
    }
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
/// bytes in decoding order. `words` is the encoder's kept buffer (`buffers::word_buffer`),
/// with room for the states past `len`; it goes back to the pool.
pub(super) fn finish(states: &[u32], mut words: Vec<u16>, len: usize, out: &mut Vec<u8>) {
    let mut end = len;
    for &x in states.iter().rev() {
        words[end] = x as u16;
        words[end + 1] = (x >> 16) as u16;
        end += 2;
    }
    push_words(out, &words[..end]);
    keep(&WORDS, words);
}
