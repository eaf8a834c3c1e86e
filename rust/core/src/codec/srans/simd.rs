//! The AVX2 coders of srans's main stream: whole rounds of 8·V codes, V vectors of eight
//! lanes, each lane's symbol looked up in its class's 2^p-entry table.
use super::decode::Rows;

use std::arch::x86_64::*;

/// For a mask of lanes that read a word: lane i takes the word at the count of reading
/// lanes below it.
static PERM: [[u32; 8]; 256] = {
    let mut t = [[0u32; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let mut i = 0;
        while i < 8 {
            t[m][i] = (m & ((1 << i) - 1)).count_ones();
            i += 1;
        }
        m += 1;
    }
    t
};

/// Decodes whole rounds of 8·V codes (V vectors of eight lanes) while the words allow;
/// returns the number of codes decoded. The scalar loop finishes the rest.
///
/// Each round first settles the table offset of every lane (in `offs`, or straight from
/// `pos_off` with tables by position), so the vector loop itself has no branches and few
/// live registers: the states, the offsets and five constants.
#[target_feature(enable = "avx2,popcnt")]
pub(super) unsafe fn decode<const V: usize>(
    out: &mut [i8],
    rows: &Rows,
    st: &mut [u32],
    words: &[u8],
    pos: &mut usize,
) -> usize {
    let n = 8 * V;
    let Rows {
        p,
        rowlen,
        classes,
        luts,
        posmap,
        pos_off,
        ..
    } = *rows;
    let positional = !posmap.is_empty();
    debug_assert_eq!(st.len(), n);
    let mut x = [_mm256_setzero_si256(); V];
    for (v, xv) in x.iter_mut().enumerate() {
        *xv = unsafe { _mm256_loadu_si256(st[8 * v..].as_ptr().cast()) };
    }
    let low12 = _mm256_set1_epi32(0xFFF);
    let slot_mask = _mm256_set1_epi32((1 << p) - 1);
    let pshift = _mm_cvtsi32_si128(p as i32);
    let one = _mm256_set1_epi32(1);
    let word_max = _mm256_set1_epi32(0xFFFF);
    let lane0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let class_off = |r: usize| ((classes[r] as usize) << p) as i32;
    // Table offset of each lane this round (rows by class).
    let mut offs = [0i32; 32];
    // The table offset that fills every lane of `offs` (-1: none).
    let mut offs_class = -1;
    let mut col = 0usize; // position in the row of the round's first code
    let (mut r0, mut left) = (0usize, rowlen); // its row, and the codes left in that row
    let mut e = [_mm256_setzero_si256(); V];
    let mut j = 0;
    let mut at = *pos;
    // A round reads eight words per vector in place: it runs while they are in the stream.
    while j + n <= out.len() && 2 * (at + n) <= words.len() {
        let offp: *const i32 = if positional {
            // col < rowlen, and pos_off holds rowlen + 32 entries.
            pos_off[col..col + n].as_ptr()
        } else {
            if left >= n || (rowlen >= n && class_off(r0) == class_off(r0 + 1)) {
                // The whole round in one class's table (rows in class order make this common).
                if offs_class != class_off(r0) {
                    offs_class = class_off(r0);
                    offs[..n].fill(offs_class);
                }
            } else if rowlen >= n {
                // One row boundary in the round: lanes below `left` stay in row r0.
                let (off0, off1) = (
                    _mm256_set1_epi32(class_off(r0)),
                    _mm256_set1_epi32(class_off(r0 + 1)),
                );
                let left_v = _mm256_set1_epi32(left as i32);
                for v in 0..V {
                    let lanes = _mm256_add_epi32(lane0, _mm256_set1_epi32(8 * v as i32));
                    let off = _mm256_blendv_epi8(off1, off0, _mm256_cmpgt_epi32(left_v, lanes));
                    // SAFETY: 8v + 8 <= n <= 32.
                    unsafe { _mm256_storeu_si256(offs[8 * v..].as_mut_ptr().cast(), off) };
                }
                offs_class = -1;
            } else {
                // Rows shorter than a round.
                let (mut r, mut l) = (r0, left);
                for o in offs[..n].iter_mut() {
                    if l == 0 {
                        r += 1;
                        l = rowlen;
                    }
                    *o = class_off(r);
                    l -= 1;
                }
                offs_class = -1;
            }
            offs.as_ptr()
        };
        for v in 0..V {
            // SAFETY: offp points at n >= 8v + 8 offsets.
            let xv = x[v];
            let slot = _mm256_and_si256(xv, slot_mask);
            let off = unsafe { _mm256_loadu_si256(offp.add(8 * v).cast()) };
            let idx = _mm256_add_epi32(slot, off);
            // SAFETY: idx < (classes.len() << p) <= luts.len() (class ids checked).
            let ev = unsafe { gather(luts.as_ptr(), idx) };
            let o = _mm256_and_si256(_mm256_srli_epi32::<8>(ev), low12);
            let f = _mm256_add_epi32(_mm256_srli_epi32::<20>(ev), one);
            let y = _mm256_add_epi32(_mm256_mullo_epi32(f, _mm256_srl_epi32(xv, pshift)), o);
            let need = _mm256_cmpeq_epi32(_mm256_min_epu32(y, word_max), y);
            let m = _mm256_movemask_ps(_mm256_castsi256_ps(need)) as usize;
            // SAFETY: 2(at + 8) <= 2(at + n) <= words.len() at the round's start, and `at`
            // grows by at most 8 per vector.
            let w = unsafe {
                _mm256_cvtepu16_epi32(_mm_loadu_si128(words.as_ptr().add(2 * at).cast()))
            };
            let perm = unsafe { _mm256_loadu_si256(PERM[m].as_ptr().cast()) };
            let w = _mm256_permutevar8x32_epi32(w, perm);
            x[v] = _mm256_blendv_epi8(y, _mm256_or_si256(_mm256_slli_epi32::<16>(y), w), need);
            at += m.count_ones() as usize;
            e[v] = ev;
        }
        // SAFETY: j + n <= out.len().
        unsafe { store_bytes(&e, out.as_mut_ptr().add(j)) };
        j += n;
        col = (col + n) % rowlen;
        if left > n {
            left -= n;
        } else {
            let past = n - left;
            r0 += 1 + past / rowlen;
            left = rowlen - past % rowlen;
        }
    }
    for (v, xv) in x.iter().enumerate() {
        unsafe { _mm256_storeu_si256(st[8 * v..].as_mut_ptr().cast(), *xv) };
    }
    *pos = at;
    j
}

/// For a mask of lanes that write a word: the `pshufb` control that packs their 16-bit words
/// into the low words, highest lane first (the encoder runs backwards).
static PACK_DESC: [[u8; 16]; 256] = {
    let mut t = [[0x80u8; 16]; 256];
    let mut m = 0;
    while m < 256 {
        let (mut lane, mut j) = (8, 0);
        while lane > 0 {
            lane -= 1;
            if m & (1 << lane) != 0 {
                t[m][2 * j] = 2 * lane as u8;
                t[m][2 * j + 1] = 2 * lane as u8 + 1;
                j += 1;
            }
        }
        m += 1;
    }
    t
};

/// Encodes whole rounds of 8·V symbols (ids into `packed`, whose entries are freq | start <<
/// 16), last round first, on the states `st` (8·V): the AVX2 form of the scalar encoder's
/// loop, word for word the same stream. Each vector of eight lanes renormalises, packs the
/// words of the lanes that renormalise (highest lane first) with one shuffle, and divides by
/// the frequencies in f64: the quotient of two integers below 2^32 and 2^13, correctly
/// rounded, never reaches the next integer, so truncation gives x / f exactly.
///
/// The caller guarantees every id is below `packed.len()`, `rounds.len()` is a multiple of
/// 8·V, and `words` holds 8 words past `*len` plus one per symbol.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn put_rounds<const V: usize>(
    rounds: &[u16],
    packed: &[u32],
    p: u32,
    st: &mut [u32],
    words: &mut [u16],
    len: &mut usize,
) {
    let shift = _mm_cvtsi32_si128(32 - p as i32);
    let (low13, one, total) = (
        _mm256_set1_epi32(0x1FFF),
        _mm256_set1_epi32(1),
        _mm256_set1_epi32(1 << p),
    );
    let (bias, two31) = (_mm_set1_epi32(i32::MIN), _mm256_set1_pd(2147483648.0));
    let low16 = _mm_set1_epi32(0xFFFF);
    // SAFETY (loads and stores below): `st` holds 8·V states, each round 8·V ids.
    let mut x: [__m256i; V] =
        std::array::from_fn(|v| unsafe { _mm256_loadu_si256(st[8 * v..].as_ptr().cast()) });
    for round in rounds.chunks_exact(8 * V).rev() {
        for v in (0..V).rev() {
            let idx =
                _mm256_cvtepu16_epi32(unsafe { _mm_loadu_si128(round[8 * v..].as_ptr().cast()) });
            // SAFETY: the caller guarantees the ids are in bounds.
            let e = unsafe { gather(packed.as_ptr(), idx) };
            let f = _mm256_and_si256(e, low13);
            let start = _mm256_srli_epi32::<16>(e);
            let xv = x[v];
            // x >= f 2^(32-p), compared as x >> (32-p) > f - 1 (both below 2^13).
            let emit = _mm256_cmpgt_epi32(_mm256_srl_epi32(xv, shift), _mm256_sub_epi32(f, one));
            let m = _mm256_movemask_ps(_mm256_castsi256_ps(emit)) as usize;
            let w = _mm_packus_epi32(
                _mm_and_si128(_mm256_castsi256_si128(xv), low16),
                _mm_and_si128(_mm256_extracti128_si256::<1>(xv), low16),
            );
            let w = _mm_shuffle_epi8(w, unsafe { _mm_loadu_si128(PACK_DESC[m].as_ptr().cast()) });
            let dst = &mut words[*len..*len + 8];
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), w) };
            *len += m.count_ones() as usize;
            let x0 = _mm256_blendv_epi8(xv, _mm256_srli_epi32::<16>(xv), emit);
            let to_f64 =
                |h: __m128i| _mm256_add_pd(_mm256_cvtepi32_pd(_mm_xor_si128(h, bias)), two31);
            let q_lo = _mm256_cvttpd_epi32(_mm256_div_pd(
                to_f64(_mm256_castsi256_si128(x0)),
                _mm256_cvtepi32_pd(_mm256_castsi256_si128(f)),
            ));
            let q_hi = _mm256_cvttpd_epi32(_mm256_div_pd(
                to_f64(_mm256_extracti128_si256::<1>(x0)),
                _mm256_cvtepi32_pd(_mm256_extracti128_si256::<1>(f)),
            ));
            let q = _mm256_set_m128i(q_hi, q_lo);
            // x' = x0 + start + q (2^p - f), wrapping like the scalar encoder.
            x[v] = _mm256_add_epi32(
                _mm256_add_epi32(x0, start),
                _mm256_mullo_epi32(q, _mm256_sub_epi32(total, f)),
            );
        }
    }
    for (v, xv) in x.iter().enumerate() {
        unsafe { _mm256_storeu_si256(st[8 * v..8 * v + 8].as_mut_ptr().cast(), *xv) };
    }
}

/// The pair ids `base + s(q0) + 16 s(q1)` of a row of codes within ±7 (`s` = `lut[q + 8]`),
/// 32 codes at a time: one shuffle looks up the symbols, one multiply-add joins the pairs.
/// Fills `out` (half the row's length, rounded down) up to the last whole 32 codes and
/// returns how many ids it wrote.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn pair_ids(row: &[i8], lut: &[u8; 16], base: u16, out: &mut [u16]) -> usize {
    // SAFETY (loads and stores): a block is 32 codes and 16 ids.
    let t = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(lut.as_ptr().cast()) });
    let (eight, weights, base) = (
        _mm256_set1_epi8(8),
        _mm256_set1_epi16(16 << 8 | 1),
        _mm256_set1_epi16(base as i16),
    );
    let mut done = 0;
    for (codes, ids) in row.chunks_exact(32).zip(out.chunks_exact_mut(16)) {
        let x = unsafe { _mm256_loadu_si256(codes.as_ptr().cast()) };
        let s = _mm256_shuffle_epi8(t, _mm256_add_epi8(x, eight));
        let p = _mm256_add_epi16(_mm256_maddubs_epi16(s, weights), base);
        unsafe { _mm256_storeu_si256(ids.as_mut_ptr().cast(), p) };
        done += 16;
    }
    done
}

/// The ids `base + s(q)` of a row of codes within ±7 (`s` = `lut[q + 8]`), 32 codes at a
/// time, like [`pair_ids`]; returns how many ids it wrote.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn single_ids(row: &[i8], lut: &[u8; 16], base: u16, out: &mut [u16]) -> usize {
    // SAFETY (loads and stores): a block is 32 codes and 32 ids.
    let t = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(lut.as_ptr().cast()) });
    let (eight, base) = (_mm256_set1_epi8(8), _mm256_set1_epi16(base as i16));
    let mut done = 0;
    for (codes, ids) in row.chunks_exact(32).zip(out.chunks_exact_mut(32)) {
        let x = unsafe { _mm256_loadu_si256(codes.as_ptr().cast()) };
        let s = _mm256_shuffle_epi8(t, _mm256_add_epi8(x, eight));
        let lo = _mm256_add_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(s)), base);
        let hi = _mm256_add_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(s)), base);
        unsafe {
            _mm256_storeu_si256(ids.as_mut_ptr().cast(), lo);
            _mm256_storeu_si256(ids[16..].as_mut_ptr().cast(), hi);
        }
        done += 32;
    }
    done
}

/// `base[idx[i]]` for the eight lanes, by scalar loads: `vpgatherdd` is microcoded on some
/// x86 cores with AVX2, where eight loads are faster.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn gather(base: *const u32, idx: __m256i) -> __m256i {
    let lo = _mm256_castsi256_si128(idx);
    let hi = _mm256_extracti128_si256::<1>(idx);
    let (a, b) = (
        _mm_cvtsi128_si64(lo) as u64,
        _mm_extract_epi64::<1>(lo) as u64,
    );
    let (c, d) = (
        _mm_cvtsi128_si64(hi) as u64,
        _mm_extract_epi64::<1>(hi) as u64,
    );
    // SAFETY: the caller guarantees every index is in bounds.
    let at = |i: u64| unsafe { *base.add(i as u32 as usize) as i32 };
    let half = |x: u64, y: u64| {
        let v = _mm_cvtsi32_si128(at(x));
        let v = _mm_insert_epi32::<1>(v, at(x >> 32));
        let v = _mm_insert_epi32::<2>(v, at(y));
        _mm_insert_epi32::<3>(v, at(y >> 32))
    };
    _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(half(a, b)), half(c, d))
}

/// The low byte of every 32-bit lane of `e`, in order, to `dst` (8·V bytes).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store_bytes<const V: usize>(e: &[__m256i; V], dst: *mut i8) {
    let ff = _mm256_set1_epi32(0xFF);
    if V == 4 {
        // Saturating packs keep 128-bit halves apart: the result holds dwords
        // (e0 lo, e1 lo, e2 lo, e3 lo, e0 hi, e1 hi, e2 hi, e3 hi); one permutation orders them.
        let lo = |v: usize| _mm256_and_si256(e[v], ff);
        let a = _mm256_packus_epi32(lo(0), lo(1));
        let b = _mm256_packus_epi32(lo(2), lo(3));
        let c = _mm256_packus_epi16(a, b);
        let c = _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        unsafe { _mm256_storeu_si256(dst.cast(), c) };
    } else {
        for (v, ev) in e.iter().enumerate() {
            let a = _mm256_packus_epi32(_mm256_and_si256(*ev, ff), _mm256_setzero_si256());
            let c = _mm256_packus_epi16(a, a);
            let c = _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4));
            unsafe { _mm_storel_epi64(dst.add(8 * v).cast(), _mm256_castsi256_si128(c)) };
        }
    }
}

/// A row's codes of its 16 symbols, `values[k] + sign(values[k])(m - 1)` (wrapping): as a
/// `pshufb` table, as bytes, and a mask of the symbols whose code leaves int8.
#[target_feature(enable = "avx2")]
unsafe fn row_table(values: &[i8; 16], m: i32) -> (__m128i, [i8; 16], u32) {
    let r = unsafe { _mm_loadu_si128(values.as_ptr().cast()) };
    let d = _mm_sign_epi8(_mm_set1_epi8((m - 1) as i8), r);
    let table = _mm_add_epi8(r, d);
    let bad = !_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_adds_epi8(r, d), table)) as u32 & 0xFFFF;
    let mut codes = [0i8; 16];
    unsafe { _mm_storeu_si128(codes.as_mut_ptr().cast(), table) };
    (table, codes, bad)
}

/// One row of symbols (below 16, PER = 1) or pair symbols a + 16 b (PER = 2) to their codes,
/// 16 symbols at a time (and 8 more for pairs), through the row's table ([`row_table`]).
/// Returns the symbols done (the caller finishes the rest), the row's codes of the 16 symbols
/// and the mask of those that leave int8.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn expand_row<const PER: usize>(
    syms: &[i8],
    out: &mut [i8],
    values: &[i8; 16],
    m: i32,
) -> (usize, [i8; 16], u32) {
    let (table, codes, bad) = unsafe { row_table(values, m) };
    let low4 = _mm_set1_epi8(15);
    let look = |v: __m128i| _mm_shuffle_epi8(table, _mm_and_si128(v, low4));
    // The codes of pair symbols in order: a and b of each, interleaved.
    let split = |v: __m128i| {
        let (a, b) = (look(v), look(_mm_srli_epi16::<4>(v)));
        (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b))
    };
    let n = syms.len().min(out.len() / PER);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= syms.len() and PER (i + 16) <= out.len().
        unsafe {
            let v = _mm_loadu_si128(syms.as_ptr().add(i).cast());
            let dst = out.as_mut_ptr().add(PER * i);
            if PER == 2 {
                let (lo, hi) = split(v);
                _mm_storeu_si128(dst.cast(), lo);
                _mm_storeu_si128(dst.add(16).cast(), hi);
            } else {
                _mm_storeu_si128(dst.cast(), look(v));
            }
        }
        i += 16;
    }
    if PER == 2 && i + 8 <= n {
        // SAFETY: i + 8 <= syms.len() and 2i + 16 <= out.len().
        unsafe {
            let (lo, _) = split(_mm_loadl_epi64(syms.as_ptr().add(i).cast()));
            _mm_storeu_si128(out.as_mut_ptr().add(2 * i).cast(), lo);
        }
        i += 8;
    }
    (i, codes, bad)
}
