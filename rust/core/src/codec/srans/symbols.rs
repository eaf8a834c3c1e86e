//! Codes as symbols: a code q of a row whose smallest non-zero magnitude is m is sent as its
//! relative value r = q - sign(q)(m - 1), and r as the symbol 0, +1, -1, +2, -2, ...

/// Signed relative value r (as its two's-complement byte) → symbol: 0, +1, -1, +2, -2, ...
#[inline]
pub(super) const fn sym_of(r: i32) -> usize {
    // Without branches: the signs of weights are a coin flip to the predictor.
    (2 * r.abs() - (r > 0) as i32) as usize
}

/// Symbol → signed relative value (the inverse of `sym_of`).
pub(super) fn value_of_sym(sym: usize) -> i32 {
    if sym % 2 == 1 {
        sym.div_ceil(2) as i32
    } else {
        -((sym / 2) as i32)
    }
}

/// Relative value of code q in a row whose smallest non-zero magnitude is m.
#[inline]
pub(super) const fn rel(q: i8, m: i32) -> i32 {
    let q = q as i32;
    q - q.signum() * (m - 1)
}

/// The symbols of a row's codes given its smallest magnitude m, into `out`:
/// `sym_of(rel(q, m))`, in 16-bit arithmetic so that the loop vectorises.
pub(super) fn row_symbols(row: &[i8], m: i32, out: &mut [u16]) {
    // r = q - sign(q)(m - 1), symbol 2|r| - (r > 0): for q != 0, 2|q| - 2(m - 1) - (q > 0).
    let d2 = 2 * (m - 1) as i16;
    for (s, &q) in out.iter_mut().zip(row) {
        let q = q as i16;
        let sym = 2 * q.max(-q) - d2 - (q > 0) as i16;
        *s = if q == 0 { 0 } else { sym as u16 };
    }
}

/// The symbols of a row with smallest magnitude m (within ±7) for the codes -8..=7
/// (`lut[q + 8]`; 0 for codes that cannot occur in it). Built at compile time, as the encoder
/// looks one up per row.
pub(super) fn symbol_lut(m: i32) -> [u8; 16] {
    static LUTS: [[u8; 16]; 8] = {
        let mut luts = [[0u8; 16]; 8];
        let mut m = 1;
        while m < 8 {
            let mut k = 0;
            while k < 16 {
                let q = k as i32 - 8;
                if q != 0 && q.abs() >= m {
                    luts[m as usize][k] = sym_of(rel(q as i8, m)) as u8;
                }
                k += 1;
            }
            m += 1;
        }
        luts
    };
    LUTS[m as usize]
}
