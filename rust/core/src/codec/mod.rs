//! Weight codecs over int8 code streams with shape information, lossless byte-grouped coding
//! of floats, and the CRC-32 that Python's `.lcz` container checks every record and header
//! with.
//!
//! The codecs are a table ([`CODECS`]): name → encode, decode, exact size. Adding one is one
//! entry. [`encode_auto`] picks the smallest per tensor. Every decoder takes untrusted bytes:
//! it returns `CoreError::Corrupt` on anything malformed, never panics, and allocates only in
//! proportion to the output it was asked to fill or to its input.
pub mod bits;
mod count;
pub mod huffman;
pub mod merge;
pub mod rans;
pub mod simple;
pub mod srans;

/// The C decoders of kernels_c, as the Rust side sees them (kernels_c/include/lc_decode.h).
pub mod c_decoders {
    use std::ffi::{c_char, c_int, CString};

    extern "C" {
        fn lc_codec_id(name: *const c_char) -> c_int;
        fn lc_decode_workspace_bytes(codec: c_int, shape: *const usize, ndim: usize) -> usize;
    }

    /// Bytes of workspace the C decoder of codec `name` needs for a tensor of `shape`, or
    /// None when kernels_c has no decoder of that name.
    pub fn workspace_bytes(name: &str, shape: &[usize]) -> Option<usize> {
        let cname = CString::new(name).ok()?;
        // SAFETY: a NUL-terminated string and a shape slice, read during the calls only.
        let id = unsafe { lc_codec_id(cname.as_ptr()) };
        if id < 0 {
            return None;
        }
        Some(unsafe { lc_decode_workspace_bytes(id, shape.as_ptr(), shape.len()) })
    }
}

use crate::error::{CoreError, Result};
use bits::{BitReader, BitWriter};

/// CRC-32 (IEEE) of `data`: the `.lcz` container's checksum of its header and every record.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// A decoder: untrusted bytes, the shape, the output to fill.
pub type DecodeFn = fn(&[u8], &[usize], &mut [i8]) -> Result<()>;

/// How a codec's exact encoded length is known without keeping its output.
pub enum Size {
    /// From the histogram of code values ([`simple::code_histogram`]) alone.
    Histogram(fn(&[u64]) -> usize),
    /// By running the coder into a bit counter.
    Counting(fn(&[i8], &[usize]) -> usize),
    /// Only by encoding (the adaptive and fitted rANS coders).
    Encoding,
    /// By encoding with a coder that counts the code values on the way: it also returns the
    /// histogram ([`simple::code_histogram`]'s) that the `Histogram` codecs are sized from.
    CountingEncoder(CountingEncodeFn),
}

/// An encoder that also returns the histogram of the code values.
pub type CountingEncodeFn = fn(&[i8], &[usize]) -> (Vec<u8>, Vec<u64>);

/// One codec: a name, a stable id, and its three functions.
pub struct Codec {
    pub name: &'static str,
    pub id: u8,
    pub summary: &'static str,
    pub encode: fn(&[i8], &[usize]) -> Vec<u8>,
    pub decode: DecodeFn,
    /// How its exact length in bytes is known without writing it.
    pub size: Size,
    /// `auto` tries this codec on tensors of at most this many codes, or never (None;
    /// [`auto_candidates`]).
    pub auto_codes: Option<usize>,
}

impl Codec {
    /// Exact length in bytes of `encode`'s output (by encoding where no sizer exists).
    pub fn size_of(&self, codes: &[i8], shape: &[usize]) -> usize {
        self.size_with(codes, shape, &mut None)
    }

    /// `size_of`, with the value histogram computed at most once into `hist` for every codec
    /// sized from it.
    fn size_with(&self, codes: &[i8], shape: &[usize], hist: &mut Option<Vec<u64>>) -> usize {
        match self.size {
            Size::Histogram(size) => {
                size(hist.get_or_insert_with(|| simple::code_histogram(codes)))
            }
            Size::Counting(size) => size(codes, shape),
            Size::Encoding => (self.encode)(codes, shape).len(),
            Size::CountingEncoder(encode) => {
                let (blob, h) = encode(codes, shape);
                hist.get_or_insert(h);
                blob.len()
            }
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

/// How a bit-stream codec is sized and the largest tensor auto tries it on: from the value
/// histogram when it has a sizer (everywhere), else by running its coder into a bit counter
/// (small tensors only).
macro_rules! sizing {
    ($enc:path) => {
        (
            Size::Counting(|c, s| bit_size($enc, c, s)),
            Some(AUTO_SMALL_CODES),
        )
    };
    ($enc:path, $size:expr) => {
        (Size::Histogram($size), Some(usize::MAX))
    };
}

macro_rules! bit_codec {
    ($name:literal, $id:literal, $summary:literal, $enc:path, $dec:path $(, $size:expr)?) => {
        Codec {
            name: $name,
            id: $id,
            summary: $summary,
            encode: |c, s| bit_encode($enc, c, s),
            decode: |d, s, o| bit_decode($dec, $name, d, s, o),
            size: sizing!($enc $(, $size)?).0,
            auto_codes: sizing!($enc $(, $size)?).1,
        }
    };
}

/// The largest tensor on which `auto` tries the codecs that it can size only by running their
/// coder (csr, bsr, pattern): they win on small tensors, rarely and by little on larger ones,
/// where running them would take most of auto's time.
pub const AUTO_SMALL_CODES: usize = 16384;

/// The codec table. The `.lcz` container records each tensor's codec by name, so names never
/// change; ids are unique short numbers that `codec_table()` reports with the names.
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
        size: Size::Encoding,
        // It decodes symbol by symbol with model updates (tens of MB/s, not memory speed), and
        // codes little smaller than srans.
        auto_codes: None,
    },
    Codec {
        name: "srans",
        id: 8,
        summary: "static-context rANS, up to 32 interleaved states (row or position classes, row minimum)",
        encode: srans::encode,
        decode: srans::decode,
        size: Size::CountingEncoder(srans::encode_counting),
        auto_codes: Some(usize::MAX),
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

/// Exact sizes of every codec in the table.
pub fn sizes(codes: &[i8], shape: &[usize]) -> Result<Vec<(&'static str, usize)>> {
    check_shape(codes.len(), shape)?;
    let mut hist = None;
    Ok(CODECS
        .iter()
        .map(|c| (c.name, c.size_with(codes, shape, &mut hist)))
        .collect())
}

/// The codecs `auto` tries on a tensor of `n` codes: those that decode at memory speed, and
/// of them the ones sized only by running their coder on small tensors ([`AUTO_SMALL_CODES`]).
pub fn auto_candidates(n: usize) -> impl Iterator<Item = &'static Codec> {
    CODECS
        .iter()
        .filter(move |c| c.auto_codes.is_some_and(|most| n <= most))
}

/// The smallest encoding among [`auto_candidates`] (ties go to the earlier entry). Codecs
/// sized only by encoding are encoded once (their size is their length), those that count the
/// code values as they encode first, so that their histogram sizes the `Histogram` codecs;
/// the others are sized exactly, and only the winner is written.
pub fn encode_auto(codes: &[i8], shape: &[usize]) -> (&'static Codec, Vec<u8>) {
    smallest_of(auto_candidates(codes.len()).collect(), codes, shape)
}

/// `auto` restricted to the codecs named in `among` (e.g. those a decoder elsewhere has):
/// the smallest encoding among the [`auto_candidates`] that `among` names. An error for an
/// unknown name, or when `among` names none of the codecs `auto` tries on this many codes.
pub fn encode_auto_among(
    codes: &[i8],
    shape: &[usize],
    among: &[&str],
) -> Result<(&'static Codec, Vec<u8>)> {
    check_shape(codes.len(), shape)?;
    for name in among {
        codec_by_name(name)?;
    }
    let candidates: Vec<&'static Codec> = auto_candidates(codes.len())
        .filter(|c| among.contains(&c.name))
        .collect();
    if candidates.is_empty() {
        return Err(CoreError::InvalidArgument(format!(
            "auto tries none of {among:?} on a tensor of {} codes",
            codes.len()
        )));
    }
    Ok(smallest_of(candidates, codes, shape))
}

fn smallest_of(
    candidates: Vec<&'static Codec>,
    codes: &[i8],
    shape: &[usize],
) -> (&'static Codec, Vec<u8>) {
    let mut hist = None;
    let mut blobs: Vec<Option<Vec<u8>>> = candidates
        .iter()
        .map(|c| match c.size {
            Size::CountingEncoder(encode) => {
                let (blob, h) = encode(codes, shape);
                hist.get_or_insert(h);
                Some(blob)
            }
            _ => None,
        })
        .collect();
    let mut best: Option<(usize, usize)> = None;
    for (i, c) in candidates.iter().enumerate() {
        let size = match (&blobs[i], &c.size) {
            (Some(blob), _) => blob.len(),
            (None, Size::Encoding) => {
                let blob = (c.encode)(codes, shape);
                let size = blob.len();
                blobs[i] = Some(blob);
                size
            }
            _ => c.size_with(codes, shape, &mut hist),
        };
        if best.is_none_or(|(_, b)| size < b) {
            best = Some((i, size));
        }
    }
    let (i, _) = best.expect("auto has candidates for every size");
    let c = candidates[i];
    (
        c,
        blobs[i].take().unwrap_or_else(|| (c.encode)(codes, shape)),
    )
}

/// The largest |code| (0 for none or all zeros), in one pass that vectorises: per-lane
/// extremes of 32 codes at a time, as bytes offset by 128 (SSE2 has byte minimum and maximum
/// only unsigned).
pub(crate) fn max_magnitude(codes: &[i8]) -> u32 {
    let (mut lo, mut hi) = ([128u8; 32], [128u8; 32]);
    let mut blocks = codes.chunks_exact(32);
    for b in &mut blocks {
        for i in 0..32 {
            let u = b[i] as u8 ^ 0x80;
            lo[i] = lo[i].min(u);
            hi[i] = hi[i].max(u);
        }
    }
    let rest = blocks.remainder().iter().map(|&c| c as u8 ^ 0x80);
    let lo = lo.iter().copied().chain(rest.clone()).min().unwrap_or(128) as i32 - 128;
    let hi = hi.iter().copied().chain(rest).max().unwrap_or(128) as i32 - 128;
    lo.unsigned_abs().max(hi.unsigned_abs())
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

    #[test]
    fn auto_among_picks_the_smallest_of_the_named_candidates() {
        let codes: Vec<i8> = (0..600).map(|i| ((i * 7) % 5) as i8 - 2).collect();
        let shape = [600];
        let all = sizes(&codes, &shape).unwrap();
        for among in [
            &["dense"][..],
            &["huffman", "bitmap"],
            &["dense", "srans", "csr"],
        ] {
            let (c, blob) = encode_auto_among(&codes, &shape, among).unwrap();
            let best = all
                .iter()
                .filter(|(n, _)| among.contains(n))
                .map(|&(_, s)| s)
                .min()
                .unwrap();
            assert!(among.contains(&c.name));
            assert_eq!(blob.len(), best, "{among:?}");
            let mut out = vec![0i8; codes.len()];
            decode(c.name, &blob, &shape, &mut out).unwrap();
            assert_eq!(out, codes);
        }
        assert!(encode_auto_among(&codes, &shape, &["nope"]).is_err());
        assert!(encode_auto_among(&codes, &shape, &["crans"]).is_err());
        let big = vec![0i8; AUTO_SMALL_CODES + 1];
        assert!(encode_auto_among(&big, &[big.len()], &["csr"]).is_err());
    }

    #[test]
    fn c_decoders_know_their_codecs_only() {
        assert_eq!(c_decoders::workspace_bytes("dense", &[4, 4]), Some(0));
        assert!(c_decoders::workspace_bytes("huffman", &[4, 4]).unwrap() > 0);
        assert_eq!(c_decoders::workspace_bytes("crans", &[4]), None);
        assert_eq!(c_decoders::workspace_bytes("bad\0name", &[4]), None);
    }

    #[test]
    fn max_magnitude_sees_every_code() {
        for len in [0usize, 1, 31, 32, 33, 100] {
            for (at, v, want) in [
                (0, -128i8, 128u32),
                (len / 2, 127, 127),
                (len.saturating_sub(1), -5, 5),
            ] {
                let mut codes = vec![0i8; len];
                if len > 0 {
                    codes[at] = v;
                }
                assert_eq!(
                    max_magnitude(&codes),
                    if len > 0 { want } else { 0 },
                    "{len} {v}"
                );
            }
        }
        assert_eq!(max_magnitude(&[3, -4, 2]), 4);
    }

    #[test]
    fn auto_tries_coder_sized_codecs_on_small_tensors_only_and_never_crans() {
        let names = |n: usize| auto_candidates(n).map(|c| c.name).collect::<Vec<_>>();
        for n in [0, 1, AUTO_SMALL_CODES, AUTO_SMALL_CODES + 1, usize::MAX] {
            let small = n <= AUTO_SMALL_CODES;
            assert!(!names(n).contains(&"crans"), "{n}");
            for c in ["csr", "bsr", "pattern"] {
                assert_eq!(names(n).contains(&c), small, "{c} at {n}");
            }
            for c in ["dense", "huffman", "bitmap", "srans"] {
                assert!(names(n).contains(&c), "{c} at {n}");
            }
        }
    }
}
