//! Bit and byte I/O shared by the codecs: an LSB-first bit writer/reader and LEB128 varints.
//! Readers never panic on short or corrupt input: reading past the end yields zero bits and
//! sets an overrun flag that the decoders turn into `CoreError::Corrupt`.
use crate::error::{CoreError, Result};

/// LSB-first bit writer.
#[derive(Default)]
pub struct BitWriter {
    pub buf: Vec<u8>,
    acc: u64,
    nbits: u32,
    /// Counting mode: only the number of bits is kept (for exact size estimates).
    count_only: bool,
    counted: u64,
}

impl BitWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer that only counts bits.
    pub fn counting() -> Self {
        Self {
            count_only: true,
            ..Self::default()
        }
    }

    /// Whether this writer only counts: a coder may then add the length of a run of Huffman
    /// codes (frequencies × lengths) with [`Self::count`] instead of writing each.
    pub fn counts_only(&self) -> bool {
        self.count_only
    }

    /// Counts `bits` more (counting writers only).
    pub fn count(&mut self, bits: u64) {
        debug_assert!(self.count_only);
        self.counted += bits;
    }

    /// Writes the low `n` bits of `v` (n <= 32).
    #[inline]
    pub fn put(&mut self, v: u32, n: u32) {
        debug_assert!(n <= 32);
        if n == 0 {
            return;
        }
        if self.count_only {
            self.counted += n as u64;
            return;
        }
        let v = (v as u64) & ((1u64 << n) - 1);
        self.acc |= v << self.nbits;
        self.nbits += n;
        while self.nbits >= 8 {
            self.buf.push(self.acc as u8);
            self.acc >>= 8;
            self.nbits -= 8;
        }
    }

    pub fn bit_len(&self) -> u64 {
        if self.count_only {
            self.counted
        } else {
            self.buf.len() as u64 * 8 + self.nbits as u64
        }
    }

    /// Bytes that `finish` returns.
    pub fn byte_len(&self) -> usize {
        self.bit_len().div_ceil(8) as usize
    }

    /// Pads to a byte boundary and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        if self.nbits > 0 {
            self.buf.push(self.acc as u8);
        }
        self.buf
    }
}

/// LSB-first bit reader over a byte slice.
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    nbits: u32,
    consumed_past_end: u64,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        let mut r = Self {
            data,
            pos: 0,
            acc: 0,
            nbits: 0,
            consumed_past_end: 0,
        };
        r.refill();
        r
    }

    #[inline]
    fn refill(&mut self) {
        if self.pos + 8 <= self.data.len() && self.nbits <= 56 {
            let mut w = [0u8; 8];
            w.copy_from_slice(&self.data[self.pos..self.pos + 8]);
            let v = u64::from_le_bytes(w);
            let take = (63 - self.nbits) / 8; // whole bytes that fit
            self.acc |= (v & ((1u64 << (take * 8)) - 1)) << self.nbits;
            self.pos += take as usize;
            self.nbits += take * 8;
        } else {
            while self.nbits <= 56 {
                let b = if self.pos < self.data.len() {
                    let b = self.data[self.pos];
                    self.pos += 1;
                    b
                } else {
                    self.consumed_past_end += 1;
                    0
                };
                self.acc |= (b as u64) << self.nbits;
                self.nbits += 8;
            }
        }
    }

    /// The next `n` bits (n <= 32) without consuming them.
    #[inline]
    pub fn peek(&mut self, n: u32) -> u32 {
        if self.nbits < n {
            self.refill();
        }
        (self.acc & ((1u64 << n) - 1)) as u32
    }

    #[inline]
    pub fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.nbits);
        self.acc >>= n;
        self.nbits -= n;
    }

    #[inline]
    pub fn get(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.consume(n);
        v
    }

    /// True when more bits were consumed than the input holds.
    pub fn overrun(&self) -> bool {
        // Bytes fetched past the end are padding; an overrun happened if any of their bits
        // were actually consumed.
        (self.consumed_past_end * 8) > self.nbits as u64
    }

    /// Bytes of input consumed so far (rounded up to whole bytes).
    pub fn bytes_consumed(&self) -> usize {
        let fetched = self.pos as u64 + self.consumed_past_end;
        let used_bits = fetched * 8 - self.nbits as u64;
        used_bits.div_ceil(8) as usize
    }

    pub fn check(&self, what: &str) -> Result<()> {
        if self.overrun() {
            Err(CoreError::Corrupt(format!(
                "{what}: bit stream is truncated"
            )))
        } else {
            Ok(())
        }
    }
}

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Byte cursor over untrusted input.
pub struct Cursor<'a> {
    pub data: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub fn u8(&mut self) -> Result<u8> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| CoreError::Corrupt("unexpected end of codec data".into()))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    break;
                }
                return Ok(v);
            }
        }
        Err(CoreError::Corrupt("varint is too long".into()))
    }

    /// A varint that must not exceed `max` (a bound derived from the input's size or shape).
    pub fn varint_max(&mut self, max: u64, what: &str) -> Result<usize> {
        let v = self.varint()?;
        if v > max {
            return Err(CoreError::Corrupt(format!(
                "{what} {v} exceeds its bound {max}"
            )));
        }
        Ok(v as usize)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.data.len() - self.pos {
            return Err(CoreError::Corrupt("unexpected end of codec data".into()));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.data[self.pos..];
        self.pos = self.data.len();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let mut w = BitWriter::new();
        for i in 0..1000u32 {
            w.put(i & ((1 << (i % 17)) - 1), i % 17);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for i in 0..1000u32 {
            assert_eq!(r.get(i % 17), i & ((1 << (i % 17)) - 1));
        }
        assert!(!r.overrun());
        r.get(16);
        assert!(r.overrun());
    }

    #[test]
    fn varints_round_trip_and_reject_garbage() {
        let mut out = Vec::new();
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            out.clear();
            put_varint(&mut out, v);
            assert_eq!(Cursor::new(&out).varint().unwrap(), v);
        }
        assert!(Cursor::new(&[0xff; 11]).varint().is_err());
        assert!(Cursor::new(&[0x80]).varint().is_err());
    }
}
