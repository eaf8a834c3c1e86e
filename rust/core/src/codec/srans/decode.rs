//! The srans decoder: the header and tables, the side stream (each row's kind and minimum),
//! then the main stream into the live rows, from which every row's codes are restored.
use super::buffers::{grow, keep, LUTS, SYMS};
use super::coder::{take, RANS_L};
use super::corrupt;
use super::format::{open, read_sent, rows_of, state, Header, MAX_CLASSES};
use super::model::{class_bits, MAX_POSITIONAL};
#[cfg(target_arch = "x86_64")]
use super::simd;
use super::symbols::value_of_sym;
use super::table::{normalize, pair_table, Table, LUT_SLACK};
use crate::codec::bits::Cursor;
use crate::error::{CoreError, Result};

/// Decodes an srans stream of a tensor of `shape` into `out`.
pub fn decode(data: &[u8], shape: &[usize], out: &mut [i8]) -> Result<()> {
    decode_with(data, shape, out, true)
}

/// `decode`, with the SIMD path allowed or not (the tests compare the two).
#[doc(hidden)]
pub fn decode_with(data: &[u8], shape: &[usize], out: &mut [i8], simd: bool) -> Result<()> {
    let n = out.len();
    let mut cur = Cursor::new(data);
    let format = cur.u8()?;
    if format == 0 {
        if cur.rest().is_empty() {
            out.fill(0);
            return Ok(());
        }
        return Err(corrupt("trailing bytes after an all-zero tensor"));
    }
    let (header, mut tr) = open(format, &mut cur)?;
    let Header {
        lanes,
        p,
        s,
        ntables,
        rows_on,
        maxrel,
        maxmin,
        pairs,
        tail,
    } = header;
    let nsym = 2 * maxrel + 1;
    let (rows, rowlen) = if rows_on > 0 {
        rows_of(n, shape)
    } else {
        (1, n)
    };
    if rows.checked_mul(rowlen) != Some(n) {
        return Err(CoreError::Shape(format!(
            "srans: shape {shape:?} does not match {n} elements"
        )));
    }
    let mut tables = Vec::with_capacity(ntables);
    for _ in 0..ntables {
        tables.push(Table::new(normalize(
            &read_sent(&mut tr, nsym, s, true)?,
            s,
            p,
        )?));
    }
    let positional = rows_on == 2;
    if pairs && (nsym > 16 || positional || rowlen % 2 != 0 || rowlen == 0) {
        return Err(corrupt(
            "pairs need at most 16 symbols and tables by row of even length",
        ));
    }
    let mut posmap = Vec::new();
    if positional {
        if !(2..=MAX_POSITIONAL).contains(&rowlen) {
            return Err(corrupt("tables by position need rows of 2 to 64 codes"));
        }
        for _ in 0..rowlen {
            let c = tr.get(class_bits(ntables));
            if c as usize >= ntables {
                return Err(corrupt("position class out of range"));
            }
            posmap.push(c);
        }
    }
    // Row kinds: 0 = all zero, else 1 + the row's class (always 1 with tables by position).
    let nkinds = if positional { 2 } else { ntables + 1 };
    // Tables of the side stream: row kinds, then minima where some row is live.
    let side_tables = if rows_on > 0 {
        let kinds = Table::new(normalize(&read_sent(&mut tr, nkinds, s, false)?, s, p)?);
        let mins = if kinds.freq[1..].iter().any(|&f| f > 0) {
            Some(Table::new(normalize(
                &read_sent(&mut tr, maxmin, s, false)?,
                s,
                p,
            )?))
        } else {
            None
        };
        Some((kinds, mins))
    } else {
        None
    };
    tr.check("srans tables")?;
    cur.take(tr.bytes_consumed())?;
    // Lookup tables, first of the side tables, then of the classes (a kept buffer).
    let mut luts = LUTS.take();
    // Each row's kind and smallest magnitude, and the main stream's first state where the
    // side stream ends on it.
    let (row_kind, first_state) = match side_tables {
        Some((kinds, mins)) => {
            let (row_kind, x, bytes) =
                decode_side(&data[cur.pos..], &kinds, mins.as_ref(), p, rows, &mut luts)?;
            cur.take(bytes)?;
            (row_kind, Some(x))
        }
        None => (vec![(1, maxmin as i32)], None),
    };
    // Main stream.
    let rest = cur.rest();
    let stored = lanes - first_state.is_some() as usize;
    if rest.len() & 1 != 0 || rest.len() < 2 * 2 * stored {
        return Err(corrupt("main stream has a bad length"));
    }
    let mut main = Main {
        states: first_state
            .into_iter()
            .chain((0..stored).map(|l| state(rest, l)))
            .collect(),
        words: rest,
        pos: 2 * stored,
        tail,
        simd,
    };
    let mut classes = Vec::with_capacity(rows);
    for &(kind, _) in &row_kind {
        if kind as usize >= nkinds {
            return Err(corrupt("row class out of range"));
        }
        if kind > 0 {
            classes.push(kind as u32 - 1);
        }
    }
    let pos_off: Vec<i32> = (0..rowlen + 32)
        .map(|i| (posmap.get(i % rowlen.max(1)).copied().unwrap_or(0) << p) as i32)
        .collect();
    // The lookup tables, one after another (the SIMD path gathers across them).
    let nluts = ntables << p;
    grow(&mut luts, nluts + LUT_SLACK);
    // Alphabets of at most 16 symbols decode to symbols, which `expand` turns into each row's
    // codes (a pair symbol into two); larger ones decode to relative values.
    let expanded = pairs || nsym <= 16;
    for (c, t) in tables.iter().enumerate() {
        let lut = &mut luts[c << p..];
        if pairs {
            pair_table(t, p).fill_lut(p, |sym| sym as u8, lut);
        } else if expanded {
            t.fill_lut(p, |sym| sym as u8, lut);
        } else {
            t.fill_lut(p, |sym| value_of_sym(sym) as i8 as u8, lut);
        }
    }
    let rows = Rows {
        p,
        rowlen,
        classes: &classes,
        luts: &luts[..nluts],
        posmap: &posmap,
        pos_off: &pos_off,
    };
    let decoded = if expanded {
        decode_expanded(out, &rows, &row_kind, nsym, pairs, &mut main)
    } else {
        decode_codes(out, &rows, &row_kind, &mut main)
    };
    keep(&LUTS, luts);
    decoded
}

/// A row's kind (0 = all zero, else 1 + its class) and smallest non-zero magnitude.
type RowKind = (u8, i32);

/// Each row's kind and smallest magnitude from the side stream at the start of `side`, with the tables of the kinds and of the minima (where some
/// row is live); and its final state, which is the main stream's first, and its length in
/// bytes. The side stream runs to where its decoding ends, just before the main stream's.
fn decode_side(
    side: &[u8],
    kinds: &Table,
    mins: Option<&Table>,
    p: u32,
    rows: usize,
    luts: &mut Vec<u32>,
) -> Result<(Vec<RowKind>, u32, usize)> {
    let size = (1 << p) + LUT_SLACK;
    grow(luts, 2 * size);
    let (kind_lut, min_lut) = luts.split_at_mut(size);
    kinds.fill_lut(p, |sym| sym as u8, kind_lut);
    let kind_lut = &kind_lut[..1 << p];
    let min_lut = mins.map(|mins| {
        mins.fill_lut(p, |sym| sym as u8, min_lut);
        &min_lut[..1 << p]
    });
    let nside = side.len() / 2;
    if nside < 2 {
        return Err(corrupt("side stream too short"));
    }
    let mut x = state(side, 0);
    let mut pos = 2;
    let mut row_kind = Vec::with_capacity(rows);
    for _ in 0..rows {
        let kind = take(&mut x, kind_lut, p, side, &mut pos);
        let m = if kind > 0 {
            let ml = min_lut.ok_or_else(|| corrupt("live row without a minimum table"))?;
            take(&mut x, ml, p, side, &mut pos) as i32 + 1
        } else {
            0
        };
        row_kind.push((kind, m));
    }
    if pos > nside || x < RANS_L {
        return Err(corrupt("side stream does not end where it should"));
    }
    Ok((row_kind, x, 2 * pos))
}

/// The live rows of a tensor: their length, each one's class, and every class's table as a
/// lookup table per slot, one after another (the SIMD path gathers across them).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // `pos_off`: SIMD only
pub(super) struct Rows<'a> {
    pub(super) p: u32,
    pub(super) rowlen: usize,
    pub(super) classes: &'a [u32],
    pub(super) luts: &'a [u32],
    /// With tables by position: the class of each position (else empty), and the table
    /// offset of position i % rowlen at i, for rowlen + 32 entries (a SIMD round's offsets
    /// are one unaligned load from it).
    pub(super) posmap: &'a [u32],
    pub(super) pos_off: &'a [i32],
}

fn lut_of<'a>(rows: &Rows<'a>, class: u32) -> &'a [u32] {
    let c = (class as usize) << rows.p;
    &rows.luts[c..c + (1 << rows.p)]
}

/// The main stream: its states, its words (read in place) and how far they are read, and the
/// length of its tail (the last symbols, on one state whose words the states end with).
struct Main<'a> {
    states: Vec<u32>,
    words: &'a [u8],
    pos: usize,
    tail: usize,
    simd: bool,
}

impl Main<'_> {
    /// Decodes `out` (the live rows' codes or symbols), symbol j on state j % states up to
    /// the tail, then the tail on one state whose words the states end with; checks that the
    /// stream ends where it should.
    fn decode(&mut self, out: &mut [i8], rows: &Rows) -> Result<()> {
        let end = || corrupt("main stream does not end where it should");
        let bulk = out.len().checked_sub(self.tail).ok_or_else(end)?;
        let done = self.decode_simd(&mut out[..bulk], rows);
        decode_scalar(
            &mut out[..bulk],
            done,
            rows,
            &mut self.states,
            self.words,
            &mut self.pos,
        );
        if self.pos != self.words.len() / 2 {
            return Err(end());
        }
        if self.tail == 0 {
            return match self.states.iter().all(|&x| x == RANS_L) {
                true => Ok(()),
                false => Err(end()),
            };
        }
        // Each state ended at RANS_L plus one word of the tail's stream.
        let mut payload = Vec::with_capacity(2 * self.states.len());
        for &x in &self.states {
            let w = x.wrapping_sub(RANS_L);
            if x < RANS_L || w > 0xFFFF {
                return Err(end());
            }
            payload.extend_from_slice(&(w as u16).to_le_bytes());
        }
        let mut x = [state(&payload, 0)];
        let mut at = 2;
        decode_scalar(out, bulk, rows, &mut x, &payload, &mut at);
        // The words the tail did not read are zero.
        if x[0] != RANS_L || at > self.states.len() || payload[2 * at..].iter().any(|&b| b != 0) {
            return Err(end());
        }
        Ok(())
    }

    /// Whole rounds of `out` decoded with AVX2 where the CPU has it: how many symbols.
    fn decode_simd(&mut self, out: &mut [i8], rows: &Rows) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.simd && std::arch::is_x86_feature_detected!("avx2") {
            let (st, words, pos) = (&mut self.states[..], self.words, &mut self.pos);
            // SAFETY: AVX2 is present; the function checks its own bounds.
            return unsafe {
                match st.len() {
                    8 => simd::decode::<1>(out, rows, st, words, pos),
                    32 => simd::decode::<4>(out, rows, st, words, pos),
                    _ => 0,
                }
            };
        }
        let _ = (out, rows);
        0
    }
}

/// Decodes `out[from..]` from states `st`, symbol j on state j % st.len(), the table of each
/// by its row's class (or its position in the row).
fn decode_scalar(
    out: &mut [i8],
    from: usize,
    rows: &Rows,
    st: &mut [u32],
    words: &[u8],
    pos: &mut usize,
) {
    let lanes = st.len();
    let mut lane = from % lanes;
    let rowlen = rows.rowlen.max(1);
    let (mut r, mut c) = (from / rowlen, from % rowlen);
    for o in out.iter_mut().skip(from) {
        let class = if rows.posmap.is_empty() {
            rows.classes[r]
        } else {
            rows.posmap[c]
        };
        *o = take(&mut st[lane], lut_of(rows, class), rows.p, words, pos) as i8;
        lane += 1;
        if lane == lanes {
            lane = 0;
        }
        c += 1;
        if c == rowlen {
            (r, c) = (r + 1, 0);
        }
    }
}

/// The main stream's codes of alphabets over 16 symbols into `out`: live rows in order, then
/// zero rows filled in and relative values restored.
fn decode_codes(out: &mut [i8], rows: &Rows, row_kind: &[RowKind], main: &mut Main) -> Result<()> {
    let rowlen = rows.rowlen;
    let all_live = rows.classes.len() == row_kind.len();
    let mut tmp = Vec::new();
    let live_out: &mut [i8] = if all_live {
        out
    } else {
        tmp.resize(rows.classes.len() * rowlen, 0i8);
        &mut tmp
    };
    main.decode(live_out, rows)?;
    if !all_live {
        let mut src = tmp.chunks_exact(rowlen.max(1));
        for (row, &(kind, _)) in out.chunks_exact_mut(rowlen.max(1)).zip(row_kind) {
            match kind {
                0 => row.fill(0),
                _ => row.copy_from_slice(src.next().expect("one decoded row per live row")),
            }
        }
    }
    for (row, &(kind, m)) in out.chunks_exact_mut(rowlen.max(1)).zip(row_kind) {
        if kind > 0 && m > 1 {
            restore(row, m)?;
        }
    }
    Ok(())
}

/// Relative values back to codes: q = r + sign(r)(m - 1). Wrapping i8 arithmetic with a
/// sign check (a valid stream never overflows) keeps the loop vectorised.
fn restore(row: &mut [i8], m: i32) -> Result<()> {
    let d = (m - 1) as i8;
    let mut flipped = 0i8;
    for v in row.iter_mut() {
        let r = *v;
        let s = (r > 0) as i8 - (r < 0) as i8;
        let q = r.wrapping_add(s.wrapping_mul(d));
        // Overflow flips the sign of a non-zero value.
        flipped |= q ^ r;
        *v = q;
    }
    if flipped < 0 {
        return Err(corrupt("a code is out of the int8 range"));
    }
    Ok(())
}

/// The main stream's symbols (of at most 16 symbols, or their pairs) into `out`: the live rows'
/// symbols, then each row's codes from them ([`expand`]). Pairs come in class order (stable),
/// single symbols in row order.
fn decode_expanded(
    out: &mut [i8],
    rows: &Rows,
    row_kind: &[RowKind],
    nsym: usize,
    pairs: bool,
    main: &mut Main,
) -> Result<()> {
    if !pairs {
        let place: Vec<usize> = (0..rows.classes.len()).collect();
        return decode_symbols(out, rows, row_kind, &place, nsym, 1, main);
    }
    // Live rows in class order, stable: a counting sort over kinds 1..=MAX_CLASSES (the
    // caller checked every kind).
    let mut next = [0usize; MAX_CLASSES + 2];
    for &(kind, _) in row_kind {
        next[kind as usize + 1] += 1;
    }
    for k in 1..next.len() {
        next[k] += next[k - 1];
    }
    let zero_rows = next[1];
    // Each live row's class in stream order, and its place in the stream in row order.
    let mut classes = vec![0u32; row_kind.len() - zero_rows];
    let mut place = Vec::with_capacity(classes.len());
    for &(kind, _) in row_kind.iter().filter(|k| k.0 > 0) {
        let at = next[kind as usize] - zero_rows;
        next[kind as usize] += 1;
        place.push(at);
        classes[at] = kind as u32 - 1;
    }
    let pair_rows = Rows {
        classes: &classes,
        ..*rows
    };
    decode_symbols(out, &pair_rows, row_kind, &place, nsym, 2, main)
}

/// The live rows' symbols (`per` codes each) into a kept buffer, and from them the codes of
/// every row ([`expand`]).
#[allow(clippy::too_many_arguments)]
fn decode_symbols(
    out: &mut [i8],
    rows: &Rows,
    row_kind: &[RowKind],
    place: &[usize],
    nsym: usize,
    per: usize,
    main: &mut Main,
) -> Result<()> {
    let symbol_rows = Rows {
        rowlen: rows.rowlen / per,
        ..*rows
    };
    // Every symbol is written by the decoder before it is read: the buffer is not cleared.
    let mut buffer = SYMS.take();
    let nsyms = rows.classes.len() * symbol_rows.rowlen;
    grow(&mut buffer, nsyms);
    let syms = &mut buffer[..nsyms];
    let decoded = main
        .decode(syms, &symbol_rows)
        .and_then(|()| expand(syms, out, row_kind, place, nsym, per, main.simd));
    keep(&SYMS, buffer);
    decoded
}

/// The rows of `out` from their kinds and smallest magnitudes m (`row_kind`): zeros for a zero
/// row, else the codes of its symbols (`per` = 1), or of its pair symbols a + 16 b (`per` =
/// 2), which the live rows hold one after another in `syms` (`place`: where each live row is,
/// in row order). One table lookup per code does what [`restore`] does. Rows are written in
/// row order, which the hardware prefetcher follows; with pairs, each row's symbols are read
/// from its place in class order.
fn expand(
    syms: &[i8],
    out: &mut [i8],
    row_kind: &[RowKind],
    place: &[usize],
    nsym: usize,
    per: usize,
    simd: bool,
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    let simd = simd && std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let simd = {
        let _ = simd;
        false
    };
    // Relative values of the symbols (0 past the alphabet: those never occur).
    let values: [i8; 16] =
        std::array::from_fn(|k| if k < nsym { value_of_sym(k) as i8 } else { 0 });
    let rowlen = out.len() / row_kind.len();
    let width = rowlen / per;
    let mut places = place.iter();
    // An empty tensor has rows of no codes: max(1) keeps the chunking defined (no chunks).
    for (orow, &(kind, m)) in out.chunks_exact_mut(rowlen.max(1)).zip(row_kind) {
        if kind == 0 {
            orow.fill(0);
            continue;
        }
        let i = *places.next().expect("one place per live row");
        let srow = &syms[i * width..(i + 1) * width];
        // The row's codes of the 16 symbols (wrapping), and which of them leave int8.
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let (mut done, mut codes, mut bad) = (0, [0i8; 16], 0u32);
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: AVX2 is present; the functions keep to the slices' lengths.
            (done, codes, bad) = unsafe {
                if per == 2 {
                    simd::expand_row::<2>(srow, orow, &values, m)
                } else {
                    simd::expand_row::<1>(srow, orow, &values, m)
                }
            };
        }
        if !simd {
            for (k, (c, &r)) in codes.iter_mut().zip(&values).enumerate() {
                let q = r as i32 + (r as i32).signum() * (m - 1);
                bad |= ((q as i8 as i32 != q) as u32) << k;
                *c = q as i8;
            }
        }
        for (o, &s) in orow[per * done..].chunks_exact_mut(per).zip(&srow[done..]) {
            o[0] = codes[(s & 15) as usize];
            if per == 2 {
                o[1] = codes[((s as u8) >> 4) as usize];
            }
        }
        let hit = |s: &i8| (bad >> (s & 15)) & 1 == 1 || (bad >> ((*s as u8) >> 4)) & 1 == 1;
        if bad != 0 && srow.iter().any(hit) {
            return Err(corrupt("a code is out of the int8 range"));
        }
    }
    Ok(())
}
