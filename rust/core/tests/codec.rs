//! Round trips of every codec in the table, exact sizes, and a bounded fuzz of every decoder
//! (random bytes, truncations and bit flips of valid streams: errors, never panics).
use leanconv_core::codec::{self, CODECS};
use leanconv_core::CoreError;
use proptest::prelude::*;

mod common;
use common::{codes_for, shape_strategy, KINDS};

fn check_round_trip(codes: &[i8], shape: &[usize]) {
    for c in CODECS {
        let blob = (c.encode)(codes, shape);
        assert_eq!(
            c.size_of(codes, shape),
            blob.len(),
            "{}: size estimate is not exact",
            c.name
        );
        let mut out = vec![0x55i8; codes.len()];
        (c.decode)(&blob, shape, &mut out).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(out, codes, "{} did not round-trip {shape:?}", c.name);
    }
    // auto: the first of the smallest among its candidates.
    let (best, blob) = codec::encode("auto", codes, shape).unwrap();
    let sizes: Vec<(&str, usize)> = codec::auto_candidates(codes.len())
        .map(|c| (c.name, c.size_of(codes, shape)))
        .collect();
    let min = sizes.iter().map(|s| s.1).min().unwrap();
    assert_eq!(blob.len(), min);
    assert_eq!(best.name, sizes.iter().find(|s| s.1 == min).unwrap().0);
    let mut out = vec![0i8; codes.len()];
    codec::decode(best.name, &blob, shape, &mut out).unwrap();
    assert_eq!(out, codes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn every_codec_round_trips(shape in shape_strategy(), kind in 0u8..KINDS, seed in any::<u64>()) {
        let n: usize = shape.iter().product();
        let codes = codes_for(n, kind, seed);
        check_round_trip(&codes, &shape);
    }

    #[test]
    fn srans_counts_the_value_histogram(shape in shape_strategy(), kind in 0u8..KINDS, seed in any::<u64>()) {
        // auto sizes the histogram codecs from the histogram srans counts while it encodes.
        let n: usize = shape.iter().product();
        let codes = codes_for(n, kind, seed);
        let (blob, hist) = codec::srans::encode_counting(&codes, &shape);
        prop_assert_eq!(hist, codec::simple::code_histogram(&codes));
        prop_assert_eq!(blob, codec::srans::encode(&codes, &shape));
    }

    #[test]
    fn arbitrary_codes_round_trip(codes in prop::collection::vec(any::<i8>(), 0..400)) {
        let shape = vec![codes.len()];
        check_round_trip(&codes, &shape);
    }

    #[test]
    fn decoders_never_panic_on_random_bytes(
        data in prop::collection::vec(any::<u8>(), 0..64),
        shape in shape_strategy(),
    ) {
        let n: usize = shape.iter().product();
        let mut out = vec![0i8; n];
        for c in CODECS {
            let _ = (c.decode)(&data, &shape, &mut out);
        }
        let mut fout = vec![0u8; n * 4];
        let _ = codec::decode_bytes(&data, &mut fout);
    }

    #[test]
    fn decoders_never_panic_on_damaged_streams(
        shape in shape_strategy(), kind in 0u8..KINDS, seed in any::<u64>(),
        flip in any::<usize>(), cut in any::<usize>(),
    ) {
        let n: usize = shape.iter().product();
        let codes = codes_for(n, kind, seed);
        let mut out = vec![0i8; n];
        for c in CODECS {
            let blob = (c.encode)(&codes, &shape);
            if !blob.is_empty() {
                let mut bad = blob.clone();
                bad[flip % blob.len()] ^= 1 << (flip % 8);
                let _ = (c.decode)(&bad, &shape, &mut out);
                let _ = (c.decode)(&blob[..cut % blob.len()], &shape, &mut out);
            }
        }
    }

    #[test]
    fn decoders_refuse_a_trailing_byte(
        shape in shape_strategy(), kind in 0u8..KINDS, seed in any::<u64>(), extra in any::<u8>(),
    ) {
        // A stream is exactly what its encoder wrote: one byte more is reported, not ignored.
        let n: usize = shape.iter().product();
        let codes = codes_for(n, kind, seed);
        let mut out = vec![0i8; n];
        for c in CODECS {
            let mut longer = (c.encode)(&codes, &shape);
            longer.push(extra);
            let got = (c.decode)(&longer, &shape, &mut out);
            prop_assert!(
                matches!(got, Err(CoreError::Corrupt(_))),
                "{} accepted a trailing byte {} after a {:?} tensor: {:?}", c.name, extra, shape, got
            );
        }
    }

    #[test]
    fn floats_round_trip_bytegrouped(v in prop::collection::vec(any::<f32>(), 0..300)) {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let blob = codec::encode_bytes(&bytes, 4).unwrap();
        let mut out = vec![0u8; bytes.len()];
        codec::decode_bytes(&blob, &mut out).unwrap();
        prop_assert_eq!(out, bytes);
    }
}

#[test]
fn larger_sparse_tensor_round_trips_and_crans_beats_order0() {
    let shape = [64usize, 32, 3, 3];
    let n: usize = shape.iter().product();
    let codes = codes_for(n, 3, 42);
    check_round_trip(&codes, &shape);
    // Order-0 entropy of the stream, in bytes.
    let mut h = [0f64; 256];
    for &c in &codes {
        h[(c as i32 + 128) as usize] += 1.0;
    }
    let h0: f64 = h
        .iter()
        .filter(|&&f| f > 0.0)
        .map(|&f| -f * (f / n as f64).log2())
        .sum::<f64>()
        / 8.0;
    let crans = codec::encode("crans", &codes, &shape).unwrap().1.len() as f64;
    // i.i.d. data: crans can only lose its learning cost, which must stay small.
    assert!(crans < h0 * 1.03, "crans {crans} vs H0 {h0}");
}

#[test]
fn pruned_channels_make_context_codecs_beat_order0() {
    // Half of the output channels are all zero, the rest dense: crans's contexts and srans's
    // row kinds must both see it, and so must auto.
    let shape = [128usize, 16, 3, 3];
    let row = 16 * 9;
    let mut codes = codes_for(128 * row, 4, 7);
    for r in (0..128).step_by(2) {
        codes[r * row..(r + 1) * row].fill(0);
    }
    let n = codes.len() as f64;
    let mut h = [0f64; 256];
    for &c in &codes {
        h[(c as i32 + 128) as usize] += 1.0;
    }
    let h0: f64 = h
        .iter()
        .filter(|&&f| f > 0.0)
        .map(|&f| -f * (f / n).log2())
        .sum::<f64>()
        / 8.0;
    for name in ["crans", "srans", "auto"] {
        let blob = codec::encode(name, &codes, &shape).unwrap().1;
        assert!(
            (blob.len() as f64) < 0.95 * h0,
            "{name}: {} vs H0 {h0}",
            blob.len()
        );
    }
}

#[test]
fn csr_follows_deep_compression_fillers() {
    let mut codes = vec![0i8; 40];
    codes[16] = 3; // a gap of 16 zeros: one filler (15, 0) then (0, 3)
    codes[39] = -1; // a gap of 22: one filler then (6, -1)
    let e = codec::simple::csr_entries(&codes);
    assert_eq!(e, vec![(15, 0), (0, 3), (15, 0), (6, -1)]);
    assert!(codec::simple::csr_entries(&[0; 100]).is_empty());
}

#[test]
fn shape_mismatch_and_unknown_codec_are_errors() {
    assert!(matches!(
        codec::encode("crans", &[1, 2, 3], &[2, 2]),
        Err(CoreError::Shape(_))
    ));
    assert!(matches!(
        codec::encode("zip", &[1], &[1]),
        Err(CoreError::InvalidArgument(_))
    ));
    let mut out = [0i8; 4];
    assert!(matches!(
        codec::decode("crans", &[], &[4], &mut out),
        Err(CoreError::Corrupt(_))
    ));
    assert!(matches!(
        codec::decode("crans", &[], &[usize::MAX, 3], &mut out),
        Err(CoreError::Shape(_))
    ));
}

/// Rows of different kinds (all zero, several spreads and densities, minima of 3), with codes
/// clamped to ±`max`.
fn srans_rows(rows: usize, rowlen: usize, seed: u64, max: i8) -> Vec<i8> {
    let mut codes = Vec::with_capacity(rows * rowlen);
    for r in 0..rows {
        let kind = match r % 7 {
            0 => 0,
            1 | 4 => 2,
            2 => 4,
            _ => 3,
        };
        let mut row = codes_for(rowlen, kind, seed * 1000 + r as u64);
        if r % 5 == 3 {
            // A row whose smallest non-zero magnitude is 3.
            for c in row.iter_mut() {
                if *c != 0 && c.unsigned_abs() < 3 {
                    *c = 3 * c.signum();
                }
            }
        }
        codes.extend(row.iter().map(|&c| c.clamp(-max, max)));
    }
    codes
}

/// SIMD and scalar decoding both return `codes`; damaged streams never panic either path.
fn check_srans_paths(codes: &[i8], shape: &[usize]) {
    check_srans_blob(
        codes,
        shape,
        &codec::encode("srans", codes, shape).unwrap().1,
    );
}

fn check_srans_blob(codes: &[i8], shape: &[usize], blob: &[u8]) {
    for simd in [true, false] {
        let mut out = vec![0x55i8; codes.len()];
        codec::srans::decode_with(blob, shape, &mut out, simd).unwrap();
        assert!(
            out == codes,
            "srans {shape:?} (simd {simd}) does not round-trip"
        );
    }
    for k in (0..blob.len()).step_by(blob.len() / 50 + 1) {
        let mut bad = blob.to_vec();
        bad[k] ^= 0x20;
        let mut out = vec![0i8; codes.len()];
        let _ = codec::srans::decode_with(&bad, shape, &mut out, true);
        let _ = codec::srans::decode_with(&bad, shape, &mut out, false);
    }
}

/// Tensors large enough for 8 and 32 interleaved srans states (which take the AVX2 path where
/// the CPU has it): rows of odd lengths, all-zero rows, rows with different minima and
/// spreads (several classes), the full int8 range.
#[test]
fn srans_large_tensors_round_trip_on_every_path() {
    // (rows, row length, seed): rows shorter than a SIMD round of 8 or 32 lanes, one
    // boundary per round, rare boundaries, a single row.
    let cases: [(usize, usize, u64); 8] = [
        (31, 97, 1),
        (150, 37, 2),
        (1500, 5, 8),
        (400, 45, 3),
        (97, 1001, 4),
        (1, 70001, 5),
        (3000, 9, 6),
        (8000, 25, 7),
    ];
    for (rows, rowlen, seed) in cases {
        check_srans_paths(&srans_rows(rows, rowlen, seed, 127), &[rows, rowlen]);
    }
}

/// With 8 or 32 states the stream's last symbols ride in the states' first values (the tail):
/// they round-trip on both paths, with 8-bit and 4-bit codes, and no single flipped bit of a
/// stream makes either path panic.
#[test]
fn srans_tails_round_trip_and_survive_every_bit_flip() {
    for (rows, rowlen, max) in [(64, 40, 127i8), (32, 144, 7), (128, 160, 127), (300, 64, 7)] {
        let codes = srans_rows(rows, rowlen, rows as u64, max);
        let shape = [rows, rowlen];
        let blob = codec::encode("srans", &codes, &shape).unwrap().1;
        let header = codec::srans::header(&blob).unwrap();
        assert!(header.lanes > 1 && header.tail > 0, "{shape:?}: a tail");
        check_srans_blob(&codes, &shape, &blob);
        if codes.len() < 16384 {
            let mut out = vec![0i8; codes.len()];
            for bit in 0..8 * blob.len() {
                let mut bad = blob.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                for simd in [true, false] {
                    let _ = codec::srans::decode_with(&bad, &shape, &mut out, simd);
                }
            }
        }
    }
}

/// Alphabets of at most 15 relative values (4-bit codes) decode by searching the tables in
/// registers when rows are whole vectors of eight (row lengths 8, 40, 64, 1152, one class or
/// several), and by table lookups otherwise (37, 5): all paths round-trip.
#[test]
fn srans_small_alphabets_round_trip_on_every_path() {
    let cases: [(usize, usize, u64); 7] = [
        (300, 8, 11),
        (500, 40, 12),
        (300, 64, 13),
        (30, 1152, 14),
        (1, 20000, 15),
        (150, 37, 16),
        (4000, 5, 17),
    ];
    for (rows, rowlen, seed) in cases {
        check_srans_paths(&srans_rows(rows, rowlen, seed, 7), &[rows, rowlen]);
        check_srans_paths(&srans_rows(rows, rowlen, seed, 1), &[rows, rowlen]);
    }
}

/// Tensors of 4-bit codes large enough for 32 states can code neighbouring codes as pairs
/// (header byte 8; forced here, whatever they cost) and round-trip on every path: rows whose
/// pairs are whole SIMD chunks of 16 or 8, or leave a scalar tail, many short rows, one long
/// row; and rows of large magnitudes whose codes for unused symbols would leave int8 (which
/// must not be reported as damage).
#[test]
fn srans_pairs_round_trip_on_every_path() {
    let cases: [(usize, usize, u64); 7] = [
        (4000, 6, 21),
        (700, 34, 22),
        (500, 46, 23),
        (200, 112, 24),
        (60, 1152, 25),
        (1, 30000, 26),
        (600, 64, 27),
    ];
    for (rows, rowlen, seed) in cases {
        // Not row 0 of srans_rows: it is all zero.
        let mut codes = srans_rows(rows + 1, rowlen, seed, 7).split_off(rowlen);
        if seed == 27 {
            // Every fourth row holds only ±122 and ±123: its minimum is 122, so relative
            // values up to 7 would code 128.
            for (r, row) in codes.chunks_exact_mut(rowlen).enumerate() {
                if r % 4 == 1 {
                    for c in row.iter_mut().filter(|c| **c != 0) {
                        *c = c.signum() * (122 + (c.unsigned_abs() % 2) as i8);
                    }
                }
            }
        }
        let blob = codec::srans::encode_with(&codes, &[rows, rowlen], f64::INFINITY, true);
        let header = codec::srans::header(&blob).unwrap();
        assert!(header.pairs, "{rows}x{rowlen} codes as pairs");
        if seed == 27 {
            assert!(
                header.maxrel as i32 + 122 - 1 > 127,
                "the largest relative value leaves int8"
            );
        }
        check_srans_blob(&codes, &[rows, rowlen], &blob);
    }
}

/// The AVX2 encoder writes the scalar encoder's stream byte for byte: 8 and 32 states, pairs
/// and single codes, 4- and 8-bit codes, row and position tables, rows that leave a partial
/// round.
#[test]
fn srans_vector_encoder_writes_the_scalar_stream() {
    let cases = [
        (300usize, 9usize, 31u64, 7i8),
        (1000, 9, 32, 127),
        (250, 17, 33, 7),
        (700, 34, 34, 7),
        (60, 1152, 35, 7),
        (60, 1152, 36, 127),
        (9, 2000, 37, 100),
        (1, 30001, 38, 7),
    ];
    for (rows, rowlen, seed, max) in cases {
        let codes = srans_rows(rows, rowlen, seed, max);
        let shape = [rows, rowlen];
        for pair_slack in [0.0, f64::INFINITY] {
            let vector = codec::srans::encode_with(&codes, &shape, pair_slack, true);
            let scalar = codec::srans::encode_with(&codes, &shape, pair_slack, false);
            assert_eq!(vector, scalar, "{rows}x{rowlen} max {max}");
        }
        check_srans_paths(&codes, &shape);
    }
}

/// Depthwise-like kernels whose distribution depends on the position in the kernel: srans
/// chooses tables by position (header byte 5 = 2) and every decoding path round-trips them.
#[test]
fn srans_tables_by_position_round_trip() {
    for (rows, k, seed) in [(700usize, 25usize, 11u64), (3000, 9, 12), (300, 9, 13)] {
        let mut codes = codes_for(rows * k, 3, seed);
        for (i, c) in codes.iter_mut().enumerate() {
            let pos = i % k;
            if pos == k / 2 {
                *c = if i % 3 == 0 { -7 } else { 6 }; // the centre tap: large
            } else if pos % 2 == 1 {
                *c = 0; // odd taps pruned
            }
        }
        let shape = [
            rows,
            1,
            (k as f64).sqrt() as usize,
            (k as f64).sqrt() as usize,
        ];
        let blob = codec::encode("srans", &codes, &shape).unwrap().1;
        if rows * k >= 16384 {
            assert_eq!(
                codec::srans::header(&blob).unwrap().rows_on,
                2,
                "{rows}x{k}: expected tables by position"
            );
        }
        for simd in [true, false] {
            let mut out = vec![0x55i8; codes.len()];
            codec::srans::decode_with(&blob, &shape, &mut out, simd).unwrap();
            assert!(out == codes, "{rows}x{k} (simd {simd}) does not round-trip");
        }
    }
}

/// The one srans stream format, pinned: the encoder writes exactly these streams (a small one
/// byte for byte; larger ones on 8 and 32 states, with pairs and with tables by position, by
/// length and CRC-32), they decode to their codes, and a stream whose first byte names any
/// other format is refused as corrupt.
#[test]
fn srans_stream_format_is_pinned() {
    let codes: [[i8; 20]; 6] = [
        [
            -3, -1, 1, 0, -3, 0, 0, -2, 1, -2, 0, 0, 0, 0, 1, 4, -1, 1, 1, -1,
        ],
        [
            -7, 4, -1, -1, 2, 0, 0, 1, -4, 1, 0, -3, 1, 3, -1, 0, -1, 1, 1, -1,
        ],
        [0; 20],
        [
            -2, 1, 1, 0, 3, -1, 2, -2, 4, 0, 0, 4, 1, 1, -3, 0, -3, -1, -1, 2,
        ],
        [
            0, -1, 0, 2, 0, 1, 0, 0, 0, -3, 0, 0, 0, 1, 0, 0, 0, -1, 0, -2,
        ],
        [
            0, 0, 1, 0, -5, 0, -1, 1, 0, 0, 3, 0, -1, -1, 0, -3, 0, 3, 0, 1,
        ],
    ];
    let small: Vec<i8> = codes.iter().flatten().copied().collect();
    let blob = codec::encode("srans", &small, &[6, 20]).unwrap().1;
    let hex: String = blob.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "0508701060441422451e020187bfaef1304fc91ab7bb0783401eced243cc54957eebb4ab1ee2aa4a61641ef687785f861d21"
    );
    let mut out = vec![0i8; small.len()];
    codec::decode("srans", &blob, &[6, 20], &mut out).unwrap();
    assert_eq!(out, small);

    // (codes, shape, pairs forced, what the header must say: lanes, pairs, rows_on)
    let depthwise: Vec<i8> = codes_for(700 * 25, 3, 11)
        .iter()
        .enumerate()
        .map(|(i, &c)| match i % 25 {
            12 => 6,
            k if k % 2 == 1 => 0,
            _ => c,
        })
        .collect();
    let cases = [
        (
            srans_rows(64, 40, 64, 127),
            vec![64, 40],
            false,
            (8, false, 1),
            (1429, 0xc144abd6),
        ),
        (
            srans_rows(300, 64, 300, 7),
            vec![300, 64],
            false,
            (32, false, 1),
            (4624, 0x7f4dbbc3),
        ),
        (
            srans_rows(200, 112, 24, 7),
            vec![200, 112],
            true,
            (32, true, 1),
            (4906, 0x5d614b35),
        ),
        (
            depthwise,
            vec![700, 1, 5, 5],
            false,
            (32, false, 2),
            (2153, 0x05995ef3),
        ),
    ];
    for (codes, shape, pairs, (lanes, with_pairs, rows_on), (len, crc)) in cases {
        let blob = match pairs {
            true => codec::srans::encode_with(&codes, &shape, f64::INFINITY, true),
            false => codec::encode("srans", &codes, &shape).unwrap().1,
        };
        let h = codec::srans::header(&blob).unwrap();
        assert_eq!(
            (h.lanes, h.pairs, h.rows_on),
            (lanes, with_pairs, rows_on),
            "{shape:?}"
        );
        assert_eq!((blob.len(), codec::crc32(&blob)), (len, crc), "{shape:?}");
        check_srans_blob(&codes, &shape, &blob);
    }

    for format in (1..=255u8).filter(|&f| f != blob[0]) {
        let mut other = blob.clone();
        other[0] = format;
        assert!(
            matches!(
                codec::decode("srans", &other, &[6, 20], &mut out),
                Err(CoreError::Corrupt(_))
            ),
            "format byte {format}"
        );
    }
}

/// One table fitted to a large Laplace-like tensor codes within 0.3% of its order-0 entropy.
#[test]
fn srans_tables_come_close_to_order0_entropy() {
    let n = 1 << 18;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let codes: Vec<i8> = (0..n)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let u = (rng >> 11) as f64 / (1u64 << 53) as f64;
            let mag = (-(1.0 - u).ln() * 1.6).round().min(7.0) as i8;
            if rng & 1 == 0 {
                mag
            } else {
                -mag
            }
        })
        .collect();
    let mut hist = [0u64; 256];
    for &c in &codes {
        hist[c as u8 as usize] += 1;
    }
    let h0: f64 = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| -(c as f64) * (c as f64 / n as f64).log2())
        .sum();
    let bits = 8.0 * codec::encode("srans", &codes, &[n]).unwrap().1.len() as f64;
    assert!(bits < 1.003 * h0, "srans {bits} bits against H0 {h0:.0}");
}

/// Long Huffman streams decode two codes per table lookup where both fit the window: skewed
/// values (a 1-bit zero, so most windows hold two codes), the full int8 range (12-bit codes,
/// mostly one per window), 4-bit values, odd lengths (a last code alone). Damaged streams are
/// reported or decode to something, never panic.
#[test]
fn huffman_long_runs_round_trip() {
    for (kind, n) in [(3u8, 50_001usize), (2, 70_000), (7, 20_001), (6, 9_999)] {
        let codes = codes_for(n, kind, 40 + kind as u64);
        let blob = codec::encode("huffman", &codes, &[n]).unwrap().1;
        let mut out = vec![0i8; n];
        codec::decode("huffman", &blob, &[n], &mut out).unwrap();
        assert!(out == codes, "kind {kind}, {n} codes");
        for k in (0..blob.len()).step_by(blob.len() / 40 + 1) {
            let mut bad = blob.clone();
            bad[k] ^= 0x08;
            let _ = codec::decode("huffman", &bad, &[n], &mut out);
        }
    }
}
