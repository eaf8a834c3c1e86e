//! Weight codecs over int8 code streams with shape information, and the checksum of every
//! `.lcz` record.
//!
//! The codecs are a table ([`CODECS`]): name → encode, decode, exact size. Adding one is one
//! entry. [`encode_auto`] picks the smallest per tensor. Every decoder takes untrusted bytes:
//! it returns `CoreError::Corrupt` on anything malformed, never panics, and allocates only in
//! proportion to the output it was asked to fill or to its input.
pub mod bits;
pub mod huffman;
pub mod merge;
pub mod rans;
pub mod simple;
pub mod srans;

use crate::error::{CoreError, Result};
use bits::{BitReader, BitWriter};

/// CRC-32 (IEEE) of `data`, the checksum of every `.lcz` record.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// A decoder: untrusted bytes, the shape, the output to fill.
pub type DecodeFn = fn(&[u8], &[usize], &mut [i8]) -> Result<()>;

/// An exact sizer: the length `encode` would return, without writing it.
pub type SizeFn = fn(&[i8], &[usize]) -> usize;

/// One codec: a name, a stable id, and its three functions.
pub struct Codec {
    pub name: &'static str,
    pub id: u8,
    pub summary: &'static str,
    pub encode: fn(&[i8], &[usize]) -> Vec<u8>,
    pub decode: DecodeFn,
    /// Exact length in bytes of `encode`'s output without writing it; None when the only way
    /// to know is to encode (the adaptive and fitted rANS coders).
    pub size: Option<SizeFn>,
    /// Decodes symbol by symbol with model updates (tens of MB/s, not memory speed).
    pub slow_decode: bool,
}

impl Codec {
    /// Exact length in bytes of `encode`'s output (by encoding where no sizer exists).
    pub fn size_of(&self, codes: &[i8], shape: &[usize]) -> usize {
        match self.size {
            Some(size) => size(codes, shape),
            None => (self.encode)(codes, shape).len(),
        }
    }
}

type BitEnc = fn(&[i8], &[usize], &mut BitWriter);
type BitDec = fn(&mut BitReader, &[usize], &mut [i8]) -> Result<()>;

fn bit_encode(f: BitEnc, codes: &[i8], shape: &[usize]) -> Vec<u8> {
    let mut w = BitWriter::new();
    f(codes, shape, &mut w);
    w.finish()
}

fn bit_size(f: BitEnc, codes: &[i8], shape: &[usize]) -> usize {
    let mut w = BitWriter::counting();
    f(codes, shape, &mut w);
    w.byte_len()
}

fn bit_decode(f: BitDec, name: &str, data: &[u8], shape: &[usize], out: &mut [i8]) -> Result<()> {
    let mut r = BitReader::new(data);
    f(&mut r, shape, out)?;
    r.check(name)?;
    if r.bytes_consumed() != data.len() {
        return Err(CoreError::Corrupt(format!(
            "{name}: trailing bytes after the code stream"
        )));
    }
    Ok(())
}

macro_rules! bit_codec {
    // Size by encoding into a bit counter.
    ($name:literal, $id:literal, $summary:literal, $enc:path, $dec:path) => {
        bit_codec!($name, $id, $summary, $enc, $dec, |c, s| bit_size(
            $enc, c, s
        ))
    };
    // With a size function computed from histograms (no pass over the bit stream).
    ($name:literal, $id:literal, $summary:literal, $enc:path, $dec:path, $size:expr) => {
        Codec {
            name: $name,
            id: $id,
            summary: $summary,
            encode: |c, s| bit_encode($enc, c, s),
            decode: |d, s, o| bit_decode($dec, $name, d, s, o),
            size: Some($size),
            slow_decode: false,
        }
    };
}

/// The codec table. Ids are stable (they are written into containers).
pub static CODECS: &[Codec] = &[
    bit_codec!("dense", 1, "packed fixed-width codes", simple::dense_enc, simple::dense_dec, simple::dense_size),
    bit_codec!(
        "huffman",
        2,
        "canonical length-limited Huffman over code values",
        simple::huffman_enc,
        simple::huffman_dec,
        simple::huffman_size
    ),
    bit_codec!(
        "csr",
        3,
        "Deep Compression relative-index CSR, Huffman on codes and gaps",
        simple::csr_enc,
        simple::csr_dec
    ),
    bit_codec!(
        "bitmap",
        4,
        "non-zero bitmap + Huffman-coded non-zeros",
        simple::bitmap_enc,
        simple::bitmap_dec,
        simple::bitmap_size
    ),
    bit_codec!(
        "bsr",
        5,
        "block-sparse: block bitmap (k×k slices) + Huffman-coded non-zero blocks",
        simple::bsr_enc,
        simple::bsr_dec
    ),
    bit_codec!(
        "pattern",
        6,
        "Wen & Gregg pattern dictionary: Huffman-coded pattern ids, escapes for singletons",
        simple::pattern_enc,
        simple::pattern_dec
    ),
    Codec {
        name: "crans",
        id: 7,
        summary: "context-modelled adaptive rANS (neighbours, channel density, zero rows, row minimum)",
        encode: rans::encode,
        decode: rans::decode,
        size: None,
        slow_decode: true,
    },
    Codec {
        name: "srans",
        id: 8,
        summary: "static-context rANS, up to 32 interleaved states (row or position classes, row minimum)",
        encode: srans::encode,
        decode: srans::decode,
        size: None,
        slow_decode: false,
    },
];

/// The codec called `name`.
pub fn codec_by_name(name: &str) -> Result<&'static Codec> {
    CODECS.iter().find(|c| c.name == name).ok_or_else(|| {
        let names: Vec<&str> = CODECS.iter().map(|c| c.name).collect();
        CoreError::InvalidArgument(format!(
            "unknown codec {name:?}; known: auto, {}",
            names.join(", ")
        ))
    })
}

pub fn numel(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            CoreError::Shape(format!(
                "shape {shape:?} has more elements than fit in memory"
            ))
        })
}

fn check_shape(len: usize, shape: &[usize]) -> Result<()> {
    let n = numel(shape)?;
    if n != len {
        return Err(CoreError::Shape(format!(
            "shape {shape:?} holds {n} elements but {len} codes were given"
        )));
    }
    Ok(())
}

/// Encodes with the codec called `name` ("auto" picks the smallest). Returns the codec used.
pub fn encode(name: &str, codes: &[i8], shape: &[usize]) -> Result<(&'static Codec, Vec<u8>)> {
    check_shape(codes.len(), shape)?;
    if name == "auto" {
        return Ok(encode_auto(codes, shape));
    }
    let c = codec_by_name(name)?;
    Ok((c, (c.encode)(codes, shape)))
}

/// Decodes `data` written by codec `name` into `out` (length = product of `shape`).
pub fn decode(name: &str, data: &[u8], shape: &[usize], out: &mut [i8]) -> Result<()> {
    check_shape(out.len(), shape)?;
    let c = codec_by_name(name)?;
    (c.decode)(data, shape, out)
}

/// Candidate codecs of `auto` (every codec in the table).
pub fn sizes(codes: &[i8], shape: &[usize]) -> Result<Vec<(&'static str, usize)>> {
    check_shape(codes.len(), shape)?;
    Ok(CODECS
        .iter()
        .map(|c| (c.name, c.size_of(codes, shape)))
        .collect())
}

/// How much larger than the smallest encoding `auto` accepts to avoid a slow decoder: this
/// fraction, or this many bytes (small tensors: crans decodes a 3600-code depthwise layer in
/// about 70 us, as long as srans takes for 100000 codes, to save a few dozen bytes).
pub const AUTO_SLACK: f64 = 0.05;
pub const AUTO_SLACK_BYTES: usize = 128;

/// Whether `auto` takes a fast decoder of `fast` bytes over a slow one of `best` bytes.
pub fn auto_takes_fast(fast: usize, best: usize) -> bool {
    fast as f64 <= best as f64 * (1.0 + AUTO_SLACK) || fast <= best + AUTO_SLACK_BYTES
}

/// The smallest encoding over every codec in the table (ties go to the earlier entry), except
/// that a fast-decoding codec within [`AUTO_SLACK`] (or [`AUTO_SLACK_BYTES`]) of a
/// slow-decoding winner is taken instead:
/// a model decoded on every load (and on a device) is worth a few percent more bytes at 10-20
/// times the decoding speed. With srans as the fast codec this costs up to 1% of auto's bits
/// on the three large bench models and up to 3% on the small default model (`lc min` against
/// `lc auto` in bench/results/codecs.md), and gives up crans mostly on small depthwise layers.
/// Codecs sized by encoding (their size is their length) are encoded once; the others are
/// sized exactly with a counting writer and only the winner is written.
pub fn encode_auto(codes: &[i8], shape: &[usize]) -> (&'static Codec, Vec<u8>) {
    let mut sized: Vec<(&'static Codec, usize, Option<Vec<u8>>)> = Vec::with_capacity(CODECS.len());
    for c in CODECS {
        match c.size {
            Some(size) => sized.push((c, size(codes, shape), None)),
            None => {
                let blob = (c.encode)(codes, shape);
                sized.push((c, blob.len(), Some(blob)));
            }
        }
    }
    let smallest = |fast_only: bool| {
        sized
            .iter()
            .enumerate()
            .filter(|(_, (c, _, _))| !fast_only || !c.slow_decode)
            .min_by_key(|(i, (_, n, _))| (*n, *i))
            .map(|(i, _)| i)
            .expect("the table has fast codecs")
    };
    let (best, fast) = (smallest(false), smallest(true));
    let pick = if auto_takes_fast(sized[fast].1, sized[best].1) {
        fast
    } else {
        best
    };
    let (c, _, blob) = sized.swap_remove(pick);
    (c, blob.unwrap_or_else(|| (c.encode)(codes, shape)))
}

/// The smallest non-zero |code| of a row (None for an all-zero row): per-layer magnitude
/// pruning with per-channel scales makes it a per-channel constant worth sending once.
pub(crate) fn min_magnitude(row: &[i8]) -> Option<u32> {
    row.iter()
        .filter(|&&c| c != 0)
        .map(|&c| c.unsigned_abs() as u32)
        .min()
}

/// Lossless byte-grouped coding of fixed-size items (floats that are not quantized).
pub fn encode_bytes(data: &[u8], itemsize: usize) -> Result<Vec<u8>> {
    if itemsize == 0 || itemsize > 16 || data.len() % itemsize != 0 {
        return Err(CoreError::InvalidArgument(format!(
            "byte length {} is not a multiple of the item size {itemsize} (1..16)",
            data.len()
        )));
    }
    Ok(simple::bytegroup_encode(data, itemsize))
}

pub fn decode_bytes(blob: &[u8], out: &mut [u8]) -> Result<()> {
    simple::bytegroup_decode(blob, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The CRC-32/ISO-HDLC check value of "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn table_ids_and_names_are_unique() {
        for (i, a) in CODECS.iter().enumerate() {
            for b in &CODECS[i + 1..] {
                assert_ne!(a.id, b.id);
                assert_ne!(a.name, b.name);
            }
        }
        assert!(codec_by_name("auto").is_err());
        assert!(codec_by_name("nope").is_err());
    }
}
