//! The C decoders (kernels_c/src/dec_*.c) against the Rust codecs: streams written by the Rust
//! encoders decode to the same codes in C, and on damaged streams C agrees with the Rust
//! decoder (both refuse, or both give the same codes). Also keeps the corpus that the C test
//! harness (kernels_c/tests/test_decode.c) replays natively, under ASan/UBSan and under
//! qemu-aarch64 in step with the encoders.
use std::ffi::{c_char, c_int, c_void, CString};

use leanconv_core::codec::{self, CODECS};
use proptest::prelude::*;

mod common;
use common::{codes_for, shape_strategy, KINDS};

extern "C" {
    fn lc_decode(
        codec: c_int,
        stream: *const u8,
        len: usize,
        shape: *const usize,
        ndim: usize,
        out: *mut i8,
        out_len: usize,
        workspace: *mut c_void,
        workspace_bytes: usize,
    ) -> c_int;
    fn lc_decode_workspace_bytes(codec: c_int, shape: *const usize, ndim: usize) -> usize;
    fn lc_codec_id(name: *const c_char) -> c_int;
    fn lc_dec_srans(
        stream: *const u8,
        len: usize,
        shape: *const usize,
        ndim: usize,
        out: *mut i8,
        out_len: usize,
        workspace: *mut c_void,
        workspace_bytes: usize,
        simd: c_int,
    ) -> c_int;
}

const LC_DEC_E_CORRUPT: c_int = -1;
const LC_DEC_E_SIZE: c_int = -2;
const LC_DEC_E_WORKSPACE: c_int = -3;
const LC_DEC_E_CODEC: c_int = -4;

/// The codecs with a C decoder.
const C_CODECS: [&str; 7] = [
    "dense", "huffman", "csr", "bitmap", "bsr", "pattern", "srans",
];

fn c_id(name: &str) -> c_int {
    let name = CString::new(name).unwrap();
    unsafe { lc_codec_id(name.as_ptr()) }
}

fn workspace_bytes(id: c_int, shape: &[usize]) -> usize {
    unsafe { lc_decode_workspace_bytes(id, shape.as_ptr(), shape.len()) }
}

/// Decodes with the C decoder into `n` codes, with a workspace of `ws_bytes` bytes.
fn c_decode_with(
    id: c_int,
    data: &[u8],
    shape: &[usize],
    n: usize,
    ws_bytes: usize,
) -> Result<Vec<i8>, c_int> {
    let mut out = vec![0x55i8; n];
    let mut ws = vec![0u32; ws_bytes.div_ceil(4)];
    let rc = unsafe {
        lc_decode(
            id,
            data.as_ptr(),
            data.len(),
            shape.as_ptr(),
            shape.len(),
            out.as_mut_ptr(),
            n,
            ws.as_mut_ptr().cast(),
            ws_bytes,
        )
    };
    if rc == 0 {
        Ok(out)
    } else {
        Err(rc)
    }
}

fn c_decode(name: &str, data: &[u8], shape: &[usize]) -> Result<Vec<i8>, c_int> {
    let id = c_id(name);
    let n = codec::numel(shape).unwrap();
    c_decode_with(id, data, shape, n, workspace_bytes(id, shape))
}

/// srans in C with the SIMD paths allowed or not.
fn c_srans(data: &[u8], shape: &[usize], simd: bool) -> Result<Vec<i8>, c_int> {
    let n = codec::numel(shape).unwrap();
    let ws_bytes = workspace_bytes(c_id("srans"), shape);
    let mut out = vec![0x55i8; n];
    let mut ws = vec![0u32; ws_bytes.div_ceil(4)];
    let rc = unsafe {
        lc_dec_srans(
            data.as_ptr(),
            data.len(),
            shape.as_ptr(),
            shape.len(),
            out.as_mut_ptr(),
            n,
            ws.as_mut_ptr().cast(),
            ws_bytes,
            simd as c_int,
        )
    };
    if rc == 0 {
        Ok(out)
    } else {
        Err(rc)
    }
}

fn rust_decode(name: &str, data: &[u8], shape: &[usize]) -> Option<Vec<i8>> {
    let mut out = vec![0i8; codec::numel(shape).unwrap()];
    codec::decode(name, data, shape, &mut out).ok().map(|_| out)
}

fn encode(name: &str, codes: &[i8], shape: &[usize]) -> Vec<u8> {
    codec::encode(name, codes, shape).unwrap().1
}

fn check_c_round_trip(codes: &[i8], shape: &[usize]) {
    for name in C_CODECS {
        let blob = encode(name, codes, shape);
        assert_eq!(
            c_decode(name, &blob, shape).as_deref(),
            Ok(codes),
            "{name}: C did not decode the Rust stream of a {shape:?} tensor"
        );
    }
    let (best, blob) = codec::encode("auto", codes, shape).unwrap();
    if C_CODECS.contains(&best.name) {
        assert_eq!(c_decode(best.name, &blob, shape).as_deref(), Ok(codes));
    }
}

/// C and Rust agree on `data`: both refuse it (C with LC_DEC_E_CORRUPT), or both decode it to
/// the same codes.
fn check_agreement(name: &str, data: &[u8], shape: &[usize]) {
    let c = c_decode(name, data, shape);
    match rust_decode(name, data, shape) {
        Some(codes) => assert_eq!(c, Ok(codes), "{name} {shape:?} {data:?}"),
        None => assert_eq!(c, Err(LC_DEC_E_CORRUPT), "{name} {shape:?} {data:?}"),
    }
}

#[test]
fn c_codec_table_matches_the_rust_one() {
    for name in C_CODECS {
        let rust = CODECS.iter().find(|c| c.name == name).unwrap();
        assert_eq!(c_id(name), rust.id as c_int, "{name}");
    }
    assert_eq!(c_id("nope"), LC_DEC_E_CODEC);
    let shape = [4usize];
    assert_eq!(c_decode_with(99, &[], &shape, 4, 0), Err(LC_DEC_E_CODEC));
}

#[test]
fn c_decoders_check_the_shape_and_the_workspace() {
    let shape = [2usize, 3, 3, 3];
    let codes = codes_for(54, 3, 7);
    for name in C_CODECS {
        let id = c_id(name);
        let blob = encode(name, &codes, &shape);
        let ws = workspace_bytes(id, &shape);
        assert_eq!(
            c_decode_with(id, &blob, &shape, 53, ws),
            Err(LC_DEC_E_SIZE),
            "{name}"
        );
        let overflowing = [usize::MAX, 3];
        assert_eq!(
            c_decode_with(id, &blob, &overflowing, 54, ws),
            Err(LC_DEC_E_SIZE),
            "{name}"
        );
        if ws > 0 {
            assert_eq!(
                c_decode_with(id, &blob, &shape, 54, ws - 1),
                Err(LC_DEC_E_WORKSPACE),
                "{name}"
            );
        }
    }
}

#[test]
fn c_decoders_round_trip_large_tensors() {
    // Long runs take the two-codes-per-lookup path, and large dictionaries the pattern codec's
    // longest id codes.
    for (shape, kind) in [
        (vec![96usize, 64, 3, 3], 3u8),
        (vec![96, 64, 3, 3], 7),
        (vec![64, 64, 1, 1], 2),
        (vec![32, 1, 5, 5], 6),
        (vec![300, 200], 4),
        (vec![40000], 8),
    ] {
        let n: usize = shape.iter().product();
        for seed in [1u64, 2] {
            check_c_round_trip(&codes_for(n, kind, seed), &shape);
        }
    }
}

/// Tensors whose srans streams take every path of the decoder: 1, 8 and 32 states (8 and 32
/// through the AVX2 loop where the CPU has it), a tail, pairs, tables by position (depthwise
/// kernels), knot tables, 8-bit codes (relative values restored per row), zero rows, and row
/// minimums large enough to matter.
fn srans_tensors() -> Vec<(Vec<usize>, Vec<i8>)> {
    let mut out = Vec::new();
    for (shape, kind, seed) in [
        (vec![96usize, 64, 3, 3], 3u8, 1u64),
        (vec![96, 64, 3, 3], 7, 2),
        (vec![64, 64, 1, 1], 2, 3),
        (vec![64, 1, 3, 3], 3, 4),
        (vec![48, 1, 5, 5], 7, 5),
        (vec![256, 1, 3, 3], 6, 6),
        (vec![40, 40], 4, 7),
        (vec![300, 200], 4, 8),
        (vec![40000], 8, 9),
        (vec![24, 16, 3, 3], 3, 10),
        (vec![130, 30], 2, 11),
    ] {
        let n = shape.iter().product();
        let mut codes = codes_for(n, kind, seed);
        // Every third row zero, and rows of larger magnitudes (row minimums above 1).
        let rowlen = n / shape[0];
        for (r, row) in codes.chunks_exact_mut(rowlen).enumerate() {
            if r % 3 == 1 {
                row.fill(0);
            } else if r % 5 == 2 && kind != 2 && kind != 8 {
                row.iter_mut().for_each(|q| *q = q.saturating_mul(9));
            }
        }
        out.push((shape, codes));
    }
    // Depthwise kernels whose codes depend on the position in the kernel (a large centre
    // tap, odd taps pruned): tables by position.
    for (rows, k, seed) in [(700usize, 25usize, 12u64), (2000, 9, 13)] {
        let mut codes = codes_for(rows * k, 3, seed);
        for (i, c) in codes.iter_mut().enumerate() {
            match i % k {
                pos if pos == k / 2 => *c = if i % 3 == 0 { -7 } else { 6 },
                pos if pos % 2 == 1 => *c = 0,
                _ => {}
            }
        }
        let side = (k as f64).sqrt() as usize;
        out.push((vec![rows, 1, side, side], codes));
    }
    out
}

#[test]
fn c_srans_takes_every_path_and_its_scalar_and_simd_paths_agree() {
    let (mut lanes, mut pairs, mut positional, mut wide, mut tail) =
        (Vec::new(), false, false, false, false);
    for (shape, codes) in srans_tensors() {
        let blob = encode("srans", &codes, &shape);
        let h = codec::srans::header(&blob).unwrap();
        lanes.push(h.lanes);
        pairs |= h.pairs;
        positional |= h.rows_on == 2;
        wide |= h.maxrel > 8;
        tail |= h.tail > 0;
        for simd in [false, true] {
            assert_eq!(
                c_srans(&blob, &shape, simd).as_deref(),
                Ok(&codes[..]),
                "{shape:?} simd {simd}"
            );
        }
        // Damaged main words: C with and without SIMD agrees with Rust.
        for at in [blob.len() / 2, blob.len() - 3, blob.len() - 1] {
            let mut bad = blob.clone();
            bad[at] ^= 0x5A;
            let want = rust_decode("srans", &bad, &shape).ok_or(LC_DEC_E_CORRUPT);
            assert_eq!(c_srans(&bad, &shape, false), want, "{shape:?} byte {at}");
            assert_eq!(c_srans(&bad, &shape, true), want, "{shape:?} byte {at}");
        }
    }
    for l in [1, 8, 32] {
        assert!(lanes.contains(&l), "no stream with {l} states: {lanes:?}");
    }
    assert!(
        pairs && positional && wide && tail,
        "pairs {pairs} positional {positional} wide {wide} tail {tail}"
    );
}

#[test]
fn srans_stream_of_an_empty_tensor_decodes_in_rust_and_c() {
    use leanconv_core::codec::{bits::BitWriter, huffman::put_gamma};
    // One state, p = 10, s = 4, one table, rows on, maxrel 0, maxmin 1, no pairs; the class,
    // kind and minimum tables as values; a side stream that decodes the one row as all zero
    // and ends on the state the main stream (of no words) ends at.
    let mut w = BitWriter::new();
    for (v, bits) in [
        (0, 2),
        (2, 2),
        (1, 2),
        (0, 4),
        (1, 2),
        (0, 8),
        (1, 8),
        (0, 1),
    ] {
        w.put(v, bits);
    }
    // Flag 0 (values), then one value 0 per symbol: 1 class symbol, 2 kinds, 1 minimum.
    for symbols in [1, 2, 1] {
        w.put(0, 1);
        for _ in 0..symbols {
            put_gamma(&mut w, 0);
        }
    }
    let mut data = vec![5u8];
    data.extend(w.finish());
    data.extend([2, 0, 0, 0]);
    for shape in [vec![0usize], vec![3, 0, 3, 3]] {
        let mut none: [i8; 0] = [];
        assert_eq!(
            codec::decode("srans", &data, &shape, &mut none).map_err(|e| e.to_string()),
            Ok(())
        );
        assert_eq!(c_decode("srans", &data, &shape), Ok(vec![]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn c_decoders_round_trip_rust_streams(shape in shape_strategy(), kind in 0u8..KINDS, seed in any::<u64>()) {
        let n: usize = shape.iter().product();
        check_c_round_trip(&codes_for(n, kind, seed), &shape);
    }

    #[test]
    fn c_decoders_round_trip_arbitrary_codes(codes in prop::collection::vec(any::<i8>(), 0..400)) {
        check_c_round_trip(&codes, &[codes.len()]);
    }

    #[test]
    fn c_agrees_with_rust_on_damaged_streams(
        shape in shape_strategy(), kind in 0u8..KINDS, seed in any::<u64>(),
        at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>(), extra in any::<u8>(),
    ) {
        let n: usize = shape.iter().product();
        let codes = codes_for(n, kind, seed);
        for name in C_CODECS {
            let blob = encode(name, &codes, &shape);
            let mut longer = blob.clone();
            longer.push(extra);
            check_agreement(name, &longer, &shape);
            if !blob.is_empty() {
                let mut bad = blob.clone();
                bad[at % blob.len()] = byte;
                check_agreement(name, &bad, &shape);
                check_agreement(name, &blob[..cut % blob.len()], &shape);
            }
        }
    }

    #[test]
    fn c_agrees_with_rust_on_random_bytes(
        data in prop::collection::vec(any::<u8>(), 0..64), shape in shape_strategy(),
    ) {
        for name in C_CODECS {
            check_agreement(name, &data, &shape);
        }
    }
}

/// The tensors of the corpus that the C harness replays: a 3x3 conv, a 1x5 conv, a matrix and
/// a vector with an odd length, in several value distributions.
fn corpus_tensors() -> Vec<(Vec<usize>, Vec<i8>)> {
    let mut out = Vec::new();
    for (shape, kind, seed) in [
        (vec![2usize, 3, 3, 3], 3u8, 11u64),
        (vec![3, 2, 1, 5], 6, 12),
        (vec![5, 7], 2, 13),
        (vec![37], 4, 14),
    ] {
        let n = shape.iter().product();
        out.push((shape, codes_for(n, kind, seed)));
    }
    out
}

/// srans tensors large enough for 8 states and a tail, 32 states with pairs, and 32 states
/// with tables by position, which the C harness replays too (their streams run to kilobytes,
/// so it tries the eight bit flips of every byte rather than all 255 other values).
fn srans_corpus_tensors() -> Vec<(Vec<usize>, Vec<i8>)> {
    let mut out = Vec::new();
    for (shape, kind, seed) in [
        (vec![40usize, 8, 3, 3], 6u8, 21u64),
        (vec![80, 32, 3, 3], 6, 22),
    ] {
        let n = shape.iter().product();
        let mut codes = codes_for(n, kind, seed);
        let rowlen = n / shape[0];
        for row in codes.chunks_exact_mut(rowlen).skip(1).step_by(5) {
            row.fill(0);
        }
        out.push((shape, codes));
    }
    let (rows, k) = (700usize, 25usize);
    let mut codes = codes_for(rows * k, 6, 23);
    for (i, c) in codes.iter_mut().enumerate() {
        match i % k {
            12 => *c = if i % 3 == 0 { -7 } else { 6 },
            pos if pos % 2 == 1 => *c = 0,
            _ => {}
        }
    }
    out.push((vec![rows, 1, 5, 5], codes));
    out
}

#[test]
fn srans_corpus_takes_the_multi_state_paths() {
    let headers: Vec<(usize, bool, u8, bool)> = srans_corpus_tensors()
        .iter()
        .map(|(shape, codes)| {
            let h = codec::srans::header(&encode("srans", codes, shape)).unwrap();
            (h.lanes, h.pairs, h.rows_on, h.tail > 0)
        })
        .collect();
    assert_eq!(
        headers,
        [
            (8, false, 1, true),
            (32, true, 1, true),
            (32, false, 2, true)
        ],
        "the srans corpus must cover 8 states, pairs and tables by position"
    );
}

fn c_array(ty: &str, name: &str, items: impl Iterator<Item = String>) -> String {
    let mut items: Vec<String> = items.collect();
    if items.is_empty() {
        items.push("0".into()); // C99 has no empty arrays; the length says 0
    }
    let mut s = format!("static const {ty} {name}[] = {{");
    for (i, item) in items.iter().enumerate() {
        s += if i % 16 == 0 { "\n    " } else { " " };
        s += item;
        s += ",";
    }
    s + "\n};\n"
}

/// One corpus tensor in the C source: its shape and codes as arrays named by `tensor`, and per
/// (codec, stream id) of `streams` the codec's stream and its case in the corpus table.
fn corpus_entry(
    s: &mut String,
    cases: &mut Vec<String>,
    tensor: &str,
    shape: &[usize],
    codes: &[i8],
    streams: &[(&str, String)],
) {
    *s += &c_array(
        "size_t",
        &format!("shape_{tensor}"),
        shape.iter().map(|d| d.to_string()),
    );
    *s += &c_array(
        "int8_t",
        &format!("codes_{tensor}"),
        codes.iter().map(|c| c.to_string()),
    );
    for (name, id) in streams {
        let blob = encode(name, codes, shape);
        *s += &c_array(
            "uint8_t",
            &format!("stream_{id}"),
            blob.iter().map(|b| b.to_string()),
        );
        cases.push(format!(
            "    {{\"{name}\", {}, shape_{tensor}, {}, stream_{id}, {}, codes_{tensor}, {}}},\n",
            c_id(name),
            shape.len(),
            blob.len(),
            codes.len()
        ));
    }
}

/// kernels_c/tests/dec_corpus.inc: every C codec's stream of every corpus tensor, with the
/// codes it decodes to.
fn corpus_source() -> String {
    let mut s = String::from(
        "/* Generated by rust/core/tests/c_decoders.rs (LC_WRITE_DEC_CORPUS=1 cargo test --test\n \
         * c_decoders): streams of the Rust encoders and the codes they decode to. */\n",
    );
    let mut cases = Vec::new();
    for (t, (shape, codes)) in corpus_tensors().iter().enumerate() {
        let streams: Vec<_> = C_CODECS.iter().map(|&c| (c, format!("{c}_{t}"))).collect();
        corpus_entry(&mut s, &mut cases, &t.to_string(), shape, codes, &streams);
    }
    for (t, (shape, codes)) in srans_corpus_tensors().iter().enumerate() {
        let id = format!("srans_big_{t}");
        corpus_entry(
            &mut s,
            &mut cases,
            &id,
            shape,
            codes,
            &[("srans", id.clone())],
        );
    }
    s += "static const struct dec_case CORPUS[] = {\n";
    s += &cases.concat();
    s + "};\n"
}

#[test]
fn c_corpus_is_what_the_rust_encoders_write() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../kernels_c/tests/dec_corpus.inc");
    let want = corpus_source();
    if std::env::var_os("LC_WRITE_DEC_CORPUS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is not what the encoders write now: regenerate it with LC_WRITE_DEC_CORPUS=1",
        path.display()
    );
}

#[test]
fn c_agrees_with_rust_on_byte_corruptions_of_the_corpus() {
    // Every bit flip, and the byte's neighbours and extremes, at every position (the C
    // harness tries all 255 other values under the sanitizers).
    for (shape, codes) in corpus_tensors() {
        for name in C_CODECS {
            let blob = encode(name, &codes, &shape);
            for at in 0..blob.len() {
                let b = blob[at];
                let flips = (0..8).map(|k| b ^ (1 << k));
                for byte in flips.chain([b.wrapping_add(1), b.wrapping_sub(1), 0, 255]) {
                    let mut bad = blob.clone();
                    bad[at] = byte;
                    check_agreement(name, &bad, &shape);
                }
            }
        }
    }
}
