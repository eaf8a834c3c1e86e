//! Histograms of int8 codes by value, the first pass of every model fit: four interleaved
//! tables (a run of one value, zeros mostly, would otherwise wait on the previous
//! increment's store), or with AVX2 and at most 15 values (4-bit codes), a compare and a
//! subtract per value and 32 codes, which needs no store per code at all.

/// Counts codes within ±maxabs, reusing its tables from call to call (one call per row).
pub(crate) struct Counter {
    maxabs: usize,
    h4: Vec<[u32; 4]>,
}

impl Counter {
    pub(crate) fn new(maxabs: usize) -> Self {
        Self {
            maxabs,
            h4: vec![[0; 4]; 2 * maxabs + 1],
        }
    }

    /// Sets `out[maxabs + v]` (2·maxabs + 1 entries) to how many of `codes` are v; every
    /// code must be within ±maxabs.
    pub(crate) fn count(&mut self, codes: &[i8], out: &mut [u32]) {
        let width = 2 * self.maxabs + 1;
        let out = &mut out[..width];
        #[cfg(target_arch = "x86_64")]
        if (1..=7).contains(&self.maxabs)
            && codes.len() >= 64
            && std::arch::is_x86_feature_detected!("avx2")
        {
            // SAFETY: the CPU has AVX2.
            unsafe {
                match self.maxabs {
                    1 => count_small::<1>(codes, out),
                    2 => count_small::<2>(codes, out),
                    3 => count_small::<3>(codes, out),
                    4 => count_small::<4>(codes, out),
                    5 => count_small::<5>(codes, out),
                    6 => count_small::<6>(codes, out),
                    _ => count_small::<7>(codes, out),
                }
            }
            return;
        }
        count4(codes, self.maxabs as i32, &mut self.h4);
        for (o, c) in out.iter_mut().zip(&self.h4) {
            *o = c.iter().sum();
        }
    }
}

/// Counts `codes` (within ±off) into `h4[off + code]`, in four interleaved copies.
fn count4(codes: &[i8], off: i32, h4: &mut [[u32; 4]]) {
    h4.fill([0; 4]);
    let mut quads = codes.chunks_exact(4);
    for q in &mut quads {
        for (k, &c) in q.iter().enumerate() {
            h4[(c as i32 + off) as usize][k] += 1;
        }
    }
    for &c in quads.remainder() {
        h4[(c as i32 + off) as usize][0] += 1;
    }
}

/// `Counter::count` for codes within ±M (M <= 7): per value, a vector of 32 byte counters
/// that each 32 codes decrement by their compare mask (-1 where equal), summed every 255
/// rounds before a byte could wrap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn count_small<const M: usize>(codes: &[i8], out: &mut [u32]) {
    use std::arch::x86_64::*;
    let width = 2 * M + 1;
    let values: [__m256i; 15] = std::array::from_fn(|v| _mm256_set1_epi8(v as i8 - M as i8));
    let mut acc = [_mm256_setzero_si256(); 15];
    out.fill(0);
    let flush = |acc: &mut [__m256i; 15], out: &mut [u32]| {
        for (a, o) in acc.iter_mut().zip(out.iter_mut()) {
            // Sums of each eight bytes, in four 64-bit lanes.
            let s = _mm256_sad_epu8(*a, _mm256_setzero_si256());
            let s = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
            *o += (_mm_cvtsi128_si64(s) + _mm_extract_epi64::<1>(s)) as u32;
            *a = _mm256_setzero_si256();
        }
    };
    let mut blocks = codes.chunks_exact(32);
    let mut rounds = 0;
    for b in &mut blocks {
        // SAFETY: a block is 32 bytes.
        let x = unsafe { _mm256_loadu_si256(b.as_ptr().cast()) };
        for v in 0..width {
            acc[v] = _mm256_sub_epi8(acc[v], _mm256_cmpeq_epi8(x, values[v]));
        }
        rounds += 1;
        if rounds == 255 {
            flush(&mut acc, out);
            rounds = 0;
        }
    }
    flush(&mut acc, out);
    for &c in blocks.remainder() {
        out[(c as i32 + M as i32) as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_counts_like_a_plain_histogram() {
        let mut seed = 7u64;
        for maxabs in [0usize, 1, 3, 7, 8, 127, 128] {
            for len in [0usize, 1, 63, 64, 65, 1000, 255 * 32 + 5, 20000] {
                let codes: Vec<i8> = (0..len)
                    .map(|i| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        // Runs of zeros and every value of the range, the extremes included.
                        if i % 3 == 0 {
                            0
                        } else {
                            let r = (seed >> 33) as i64 % (2 * maxabs as i64 + 1) - maxabs as i64;
                            r.clamp(-128, 127) as i8
                        }
                    })
                    .collect();
                let mut want = vec![0u32; 2 * maxabs + 1];
                for &c in &codes {
                    want[(c as i32 + maxabs as i32) as usize] += 1;
                }
                let mut got = vec![u32::MAX; 2 * maxabs + 1];
                Counter::new(maxabs).count(&codes, &mut got);
                assert_eq!(got, want, "maxabs {maxabs} len {len}");
            }
        }
    }
}
