/* Packed, cache-blocked SGEMM (BLIS-style loop nest): B is packed into KC x NR micro-panels of
 * a KC x NC block, A into MR x KC micro-panels of an MC x KC block, and an MR x NR register
 * micro-kernel runs over them. Micro-kernels: AVX-512 (8x32), AVX2/FMA (6x16), NEON (8x8),
 * scalar (4x8). x86 picks at run time (__builtin_cpu_supports), Arm at compile time. */
#include <stdint.h>

#include "lc_internal.h"

#if LC_X86
#include <immintrin.h>
#endif
#if LC_ARM64
#include <arm_neon.h>
#endif

/* Depth of a block: C is read and written once per KC of k, so a deeper block halves C's
 * traffic (2048^3: 4 passes over the 16 MiB C instead of 8); an AVX2 B micro-panel is then
 * KC x 16 floats = 32 KiB. Rows of A per block: 48 x KC floats = 96 KiB, which leaves room in
 * a 512 KiB L2 for B's panels (more rows evict them). bench/conv compares the result with
 * OpenBLAS; the -D overrides below let a sweep try other blockings. */
#ifndef LC_GEMM_KC
#define LC_GEMM_KC 512
#endif
#ifndef LC_GEMM_MC
#define LC_GEMM_MC 48
#endif
#ifndef LC_GEMM_NC
#define LC_GEMM_NC 1024
#endif
enum { KC = LC_GEMM_KC, MC_ROWS = LC_GEMM_MC, NC_COLS = LC_GEMM_NC, MR_MAX = 8, NR_MAX = 32 };

/* Bias and activation over a finished rows x cols tile of C (row stride ldc), while it is in L1:
 * rb, when not NULL, one bias per row; cb, when not NULL, one per column. */
typedef void (*tile_epi_fn)(float *c, size_t ldc, size_t rows, size_t cols, const float *rb,
                            const float *cb, int act);

/* Each activation's loop separate, so each is branch-free and vectorises in its ISA's copy. */
#define LC_EPI_ROWS(expr)                                                                      \
    for (size_t y = 0; y < rows; ++y) {                                                        \
        float *o = c + y * ldc;                                                                \
        float b = rb ? rb[y] : 0.0f;                                                           \
        if (cb)                                                                                \
            for (size_t x = 0; x < cols; ++x) {                                                \
                float v = o[x] + cb[x] + b;                                                    \
                o[x] = (expr);                                                                 \
            }                                                                                  \
        else                                                                                   \
            for (size_t x = 0; x < cols; ++x) {                                                \
                float v = o[x] + b;                                                            \
                o[x] = (expr);                                                                 \
            }                                                                                  \
    }
LC_INLINE void tile_epi_body(float *c, size_t ldc, size_t rows, size_t cols, const float *rb,
                             const float *cb, int act) {
    if (act == LC_ACT_RELU) {
        LC_EPI_ROWS(v > 0.0f ? v : 0.0f)
    } else if (act == LC_ACT_RELU6) {
        LC_EPI_ROWS(v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f)
    } else {
        LC_EPI_ROWS(v)
    }
}
#undef LC_EPI_ROWS
LC_VARIANTS(tile_epi,
            (float *c, size_t ldc, size_t rows, size_t cols, const float *rb, const float *cb,
             int act),
            (c, ldc, rows, cols, rb, cb, act))

/* A full micro-tile's epilogue, applied in registers before the store: per-row bias rb and
 * per-column bias cb (each NULL for none), then activation act. */
typedef struct {
    const float *rb, *cb;
    int act;
} tile_epi;

/* c (MR x NR, row stride ldc) = or += packed a (kc x MR) times packed b (kc x NR), then
 * the epilogue e (NULL for none). */
typedef void (*ukernel_fn)(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                           int accumulate, const tile_epi *e);
/* The indirect form: c = (element (i, p) of A at a[off[p] + i*rsa]) times packed b, so A is
 * read where it lies (input pixels, rows of a row-major matrix) instead of from a packed panel.
 * Each ISA writes its kernel once as an always-inline body taking (a, rsa, off); the packed
 * kernel is that body with off == NULL (element (i, p) at a[p*MR + i]), folded at compile time. */
typedef void (*ukernel_ind_fn)(size_t kc, const float *a, size_t rsa, const size_t *off,
                               const float *b, float *c, size_t ldc, int accumulate,
                               const tile_epi *e);

typedef struct {
    size_t mr, nr;
    ukernel_fn fn;
    ukernel_ind_fn ind;
    tile_epi_fn epi;
} gemm_kernel;

/* The epilogue of the tile at absolute row i and column j (NULL when e is). */
LC_INLINE const tile_epi *tile_at(const lc_gemm_epi *e, size_t i, size_t j, tile_epi *t) {
    if (!e) return NULL;
    t->rb = e->bias && e->per_row ? e->bias + i : NULL;
    t->cb = e->bias && !e->per_row ? e->bias + j : NULL;
    t->act = e->act;
    return t;
}
/* A partial tile's epilogue (rows x cols at c), after it was copied out of the local tile. */
LC_INLINE void apply_epi(const gemm_kernel *g, const lc_gemm_epi *e, float *c, size_t ldc,
                         size_t i, size_t j, size_t rows, size_t cols) {
    tile_epi t;
    if (tile_at(e, i, j, &t)) g->epi(c, ldc, rows, cols, t.rb, t.cb, t.act);
}

/* Row i of A at step p: the packed panel's (a + p*MR) or the indirect a + off[p]. */
#define LC_A_STEP(a, off, p, MR) ((off) ? (a) + (off)[p] : (a) + (p) * (MR))
#define LC_A_RS(off, rsa) ((off) ? (rsa) : 1)

#define LC_UK_WRAPPERS(target, name, body)                                                      \
    target static void name(size_t kc, const float *a, const float *b, float *c, size_t ldc,     \
                            int accumulate, const tile_epi *e) {                                \
        body(kc, a, 1, NULL, b, c, ldc, accumulate, e);                                         \
    }                                                                                           \
    target static void name##_ind(size_t kc, const float *a, size_t rsa, const size_t *off,     \
                                  const float *b, float *c, size_t ldc, int accumulate,         \
                                  const tile_epi *e) {                                          \
        body(kc, a, rsa, off, b, c, ldc, accumulate, e);                                        \
    }

/* ---- scalar 4x8 ---- */
LC_INLINE void uk_scalar_body(size_t kc, const float *a0, size_t rsa, const size_t *off,
                              const float *b, float *c, size_t ldc, int accumulate,
                              const tile_epi *e) {
    float acc[4][8] = {{0}};
    size_t rs = LC_A_RS(off, rsa);
    for (size_t p = 0; p < kc; ++p) {
        const float *a = LC_A_STEP(a0, off, p, 4);
        for (int i = 0; i < 4; ++i) {
            float ai = a[i * rs];
            for (int j = 0; j < 8; ++j) acc[i][j] += ai * b[j];
        }
        b += 8;
    }
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 8; ++j)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
    if (e) tile_epi_generic(c, ldc, 4, 8, e->rb, e->cb, e->act);
}
LC_UK_WRAPPERS(, uk_scalar_4x8, uk_scalar_body)

#if LC_X86
/* ---- AVX2/FMA 6x16 ---- */
LC_TARGET_AVX2 LC_INLINE void uk_avx2_body(size_t kc, const float *a0, size_t rsa,
                                           const size_t *off, const float *b, float *c,
                                           size_t ldc, int accumulate, const tile_epi *e) {
    size_t rs = LC_A_RS(off, rsa);
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int i = 0; i < 6; ++i) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
    }
    for (size_t p = 0; p < kc; ++p) {
        const float *a = LC_A_STEP(a0, off, p, 6);
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), ai;
        /* a hint only: prefetching past the panel's end cannot fault */
        if (!off) _mm_prefetch((const char *)((uintptr_t)a + 192), _MM_HINT_T0);
        ai = _mm256_broadcast_ss(a + 0 * rs); c00 = _mm256_fmadd_ps(ai, b0, c00); c01 = _mm256_fmadd_ps(ai, b1, c01);
        ai = _mm256_broadcast_ss(a + 1 * rs); c10 = _mm256_fmadd_ps(ai, b0, c10); c11 = _mm256_fmadd_ps(ai, b1, c11);
        ai = _mm256_broadcast_ss(a + 2 * rs); c20 = _mm256_fmadd_ps(ai, b0, c20); c21 = _mm256_fmadd_ps(ai, b1, c21);
        ai = _mm256_broadcast_ss(a + 3 * rs); c30 = _mm256_fmadd_ps(ai, b0, c30); c31 = _mm256_fmadd_ps(ai, b1, c31);
        ai = _mm256_broadcast_ss(a + 4 * rs); c40 = _mm256_fmadd_ps(ai, b0, c40); c41 = _mm256_fmadd_ps(ai, b1, c41);
        ai = _mm256_broadcast_ss(a + 5 * rs); c50 = _mm256_fmadd_ps(ai, b0, c50); c51 = _mm256_fmadd_ps(ai, b1, c51);
        b += 16;
    }
    __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f), eb0 = zero, eb1 = zero;
    if (e && e->cb) {
        eb0 = _mm256_loadu_ps(e->cb);
        eb1 = _mm256_loadu_ps(e->cb + 8);
    }
#define LC_ST2(i, r0, r1)                                                                   \
    do {                                                                                    \
        float *ci = c + (i) * ldc;                                                          \
        if (accumulate) {                                                                   \
            r0 = _mm256_add_ps(r0, _mm256_loadu_ps(ci));                                    \
            r1 = _mm256_add_ps(r1, _mm256_loadu_ps(ci + 8));                                \
        }                                                                                   \
        if (e) {                                                                            \
            __m256 bi = e->rb ? _mm256_set1_ps(e->rb[i]) : zero;                            \
            r0 = _mm256_add_ps(r0, _mm256_add_ps(eb0, bi));                                 \
            r1 = _mm256_add_ps(r1, _mm256_add_ps(eb1, bi));                                 \
            if (e->act != LC_ACT_NONE) {                                                    \
                r0 = _mm256_max_ps(r0, zero);                                               \
                r1 = _mm256_max_ps(r1, zero);                                               \
            }                                                                               \
            if (e->act == LC_ACT_RELU6) {                                                   \
                r0 = _mm256_min_ps(r0, six);                                                \
                r1 = _mm256_min_ps(r1, six);                                                \
            }                                                                               \
        }                                                                                   \
        _mm256_storeu_ps(ci, r0);                                                           \
        _mm256_storeu_ps(ci + 8, r1);                                                       \
    } while (0)
    LC_ST2(0, c00, c01); LC_ST2(1, c10, c11); LC_ST2(2, c20, c21);
    LC_ST2(3, c30, c31); LC_ST2(4, c40, c41); LC_ST2(5, c50, c51);
#undef LC_ST2
}
LC_UK_WRAPPERS(LC_TARGET_AVX2, uk_avx2_6x16, uk_avx2_body)

/* ---- AVX-512 8x32 ---- */
LC_TARGET_AVX512 LC_INLINE void uk_avx512_body(size_t kc, const float *a0, size_t rsa,
                                               const size_t *off, const float *b, float *c,
                                               size_t ldc, int accumulate, const tile_epi *e) {
    size_t rs = LC_A_RS(off, rsa);
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
    __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    for (size_t p = 0; p < kc; ++p) {
        const float *a = LC_A_STEP(a0, off, p, 8);
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), ai;
        ai = _mm512_set1_ps(a[0 * rs]); c00 = _mm512_fmadd_ps(ai, b0, c00); c01 = _mm512_fmadd_ps(ai, b1, c01);
        ai = _mm512_set1_ps(a[1 * rs]); c10 = _mm512_fmadd_ps(ai, b0, c10); c11 = _mm512_fmadd_ps(ai, b1, c11);
        ai = _mm512_set1_ps(a[2 * rs]); c20 = _mm512_fmadd_ps(ai, b0, c20); c21 = _mm512_fmadd_ps(ai, b1, c21);
        ai = _mm512_set1_ps(a[3 * rs]); c30 = _mm512_fmadd_ps(ai, b0, c30); c31 = _mm512_fmadd_ps(ai, b1, c31);
        ai = _mm512_set1_ps(a[4 * rs]); c40 = _mm512_fmadd_ps(ai, b0, c40); c41 = _mm512_fmadd_ps(ai, b1, c41);
        ai = _mm512_set1_ps(a[5 * rs]); c50 = _mm512_fmadd_ps(ai, b0, c50); c51 = _mm512_fmadd_ps(ai, b1, c51);
        ai = _mm512_set1_ps(a[6 * rs]); c60 = _mm512_fmadd_ps(ai, b0, c60); c61 = _mm512_fmadd_ps(ai, b1, c61);
        ai = _mm512_set1_ps(a[7 * rs]); c70 = _mm512_fmadd_ps(ai, b0, c70); c71 = _mm512_fmadd_ps(ai, b1, c71);
        b += 32;
    }
    __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f), eb0 = zero, eb1 = zero;
    if (e && e->cb) {
        eb0 = _mm512_loadu_ps(e->cb);
        eb1 = _mm512_loadu_ps(e->cb + 16);
    }
#define LC_ST2(i, r0, r1)                                                                   \
    do {                                                                                    \
        float *ci = c + (i) * ldc;                                                          \
        if (accumulate) {                                                                   \
            r0 = _mm512_add_ps(r0, _mm512_loadu_ps(ci));                                    \
            r1 = _mm512_add_ps(r1, _mm512_loadu_ps(ci + 16));                               \
        }                                                                                   \
        if (e) {                                                                            \
            __m512 bi = e->rb ? _mm512_set1_ps(e->rb[i]) : zero;                            \
            r0 = _mm512_add_ps(r0, _mm512_add_ps(eb0, bi));                                 \
            r1 = _mm512_add_ps(r1, _mm512_add_ps(eb1, bi));                                 \
            if (e->act != LC_ACT_NONE) {                                                    \
                r0 = _mm512_max_ps(r0, zero);                                               \
                r1 = _mm512_max_ps(r1, zero);                                               \
            }                                                                               \
            if (e->act == LC_ACT_RELU6) {                                                   \
                r0 = _mm512_min_ps(r0, six);                                                \
                r1 = _mm512_min_ps(r1, six);                                                \
            }                                                                               \
        }                                                                                   \
        _mm512_storeu_ps(ci, r0);                                                           \
        _mm512_storeu_ps(ci + 16, r1);                                                      \
    } while (0)
    LC_ST2(0, c00, c01); LC_ST2(1, c10, c11); LC_ST2(2, c20, c21); LC_ST2(3, c30, c31);
    LC_ST2(4, c40, c41); LC_ST2(5, c50, c51); LC_ST2(6, c60, c61); LC_ST2(7, c70, c71);
#undef LC_ST2
}
LC_UK_WRAPPERS(LC_TARGET_AVX512, uk_avx512_8x32, uk_avx512_body)
#endif /* LC_X86 */

#if LC_ARM64
/* ---- NEON 8x8 ---- */
LC_INLINE void uk_neon_body(size_t kc, const float *ap, size_t rsa, const size_t *off,
                            const float *b, float *c, size_t ldc, int accumulate,
                            const tile_epi *e) {
    float32x4_t acc[8][2];
    for (int i = 0; i < 8; ++i) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
    for (size_t p = 0; p < kc; ++p) {
        const float *a = LC_A_STEP(ap, off, p, 8);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), a0, a1;
        if (!off) {
            a0 = vld1q_f32(a);
            a1 = vld1q_f32(a + 4);
        } else {
            float t[8];
            for (int i = 0; i < 8; ++i) t[i] = a[i * rsa];
            a0 = vld1q_f32(t);
            a1 = vld1q_f32(t + 4);
        }
        acc[0][0] = vfmaq_laneq_f32(acc[0][0], b0, a0, 0); acc[0][1] = vfmaq_laneq_f32(acc[0][1], b1, a0, 0);
        acc[1][0] = vfmaq_laneq_f32(acc[1][0], b0, a0, 1); acc[1][1] = vfmaq_laneq_f32(acc[1][1], b1, a0, 1);
        acc[2][0] = vfmaq_laneq_f32(acc[2][0], b0, a0, 2); acc[2][1] = vfmaq_laneq_f32(acc[2][1], b1, a0, 2);
        acc[3][0] = vfmaq_laneq_f32(acc[3][0], b0, a0, 3); acc[3][1] = vfmaq_laneq_f32(acc[3][1], b1, a0, 3);
        acc[4][0] = vfmaq_laneq_f32(acc[4][0], b0, a1, 0); acc[4][1] = vfmaq_laneq_f32(acc[4][1], b1, a1, 0);
        acc[5][0] = vfmaq_laneq_f32(acc[5][0], b0, a1, 1); acc[5][1] = vfmaq_laneq_f32(acc[5][1], b1, a1, 1);
        acc[6][0] = vfmaq_laneq_f32(acc[6][0], b0, a1, 2); acc[6][1] = vfmaq_laneq_f32(acc[6][1], b1, a1, 2);
        acc[7][0] = vfmaq_laneq_f32(acc[7][0], b0, a1, 3); acc[7][1] = vfmaq_laneq_f32(acc[7][1], b1, a1, 3);
        b += 8;
    }
    for (int i = 0; i < 8; ++i) {
        float *ci = c + i * ldc;
        float32x4_t r0 = acc[i][0], r1 = acc[i][1];
        if (accumulate) {
            r0 = vaddq_f32(r0, vld1q_f32(ci));
            r1 = vaddq_f32(r1, vld1q_f32(ci + 4));
        }
        vst1q_f32(ci, r0);
        vst1q_f32(ci + 4, r1);
    }
    if (e) tile_epi_generic(c, ldc, 8, 8, e->rb, e->cb, e->act);
}
LC_UK_WRAPPERS(, uk_neon_8x8, uk_neon_body)
#endif

int lc_isa_resolve(int isa) {
#if LC_X86
    int has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == LC_ISA_SCALAR) return LC_ISA_SCALAR;
    if (isa == LC_ISA_AVX2) return has2 ? LC_ISA_AVX2 : LC_ISA_SCALAR;
    if (has512) return LC_ISA_AVX512;
    if (has2) return LC_ISA_AVX2;
    return LC_ISA_SCALAR;
#elif LC_ARM64
    return isa == LC_ISA_SCALAR ? LC_ISA_SCALAR : LC_ISA_NEON;
#else
    (void)isa;
    return LC_ISA_SCALAR;
#endif
}

static gemm_kernel select_kernel(int isa) {
    gemm_kernel k;
    k.epi = tile_epi_generic;
    switch (lc_isa_resolve(isa)) {
#if LC_X86
    case LC_ISA_AVX512:
        k.mr = 8; k.nr = 32; k.fn = uk_avx512_8x32; k.ind = uk_avx512_8x32_ind;
        k.epi = tile_epi_avx512;
        return k;
    case LC_ISA_AVX2:
        k.mr = 6; k.nr = 16; k.fn = uk_avx2_6x16; k.ind = uk_avx2_6x16_ind;
        k.epi = tile_epi_avx2;
        return k;
#endif
#if LC_ARM64
    case LC_ISA_NEON: k.mr = 8; k.nr = 8; k.fn = uk_neon_8x8; k.ind = uk_neon_8x8_ind; return k;
#endif
    default: k.mr = 4; k.nr = 8; k.fn = uk_scalar_4x8; k.ind = uk_scalar_4x8_ind; return k;
    }
}

/* Rows of the A block and columns of the B block, for this kernel and problem. */
static size_t block_mc(const gemm_kernel *g, size_t m) {
    size_t mc = MC_ROWS / g->mr * g->mr;
    return LC_MIN(mc, lc_round_up(m, g->mr));
}
static size_t block_nc(const gemm_kernel *g, size_t n) {
    return LC_MIN((size_t)NC_COLS, lc_round_up(n, g->nr));
}

size_t lc_sgemm_workspace_bytes(int isa, size_t m, size_t n, size_t k) {
    gemm_kernel g = select_kernel(isa);
    size_t kc = LC_MIN((size_t)KC, LC_MAX(k, (size_t)1));
    return lc_align64(block_mc(&g, m) * kc * sizeof(float)) +
           lc_align64(block_nc(&g, n) * kc * sizeof(float));
}

/* A block (mc x kc at a, row stride lda) -> MR-row micro-panels, zero rows past mc. */
static void pack_a(size_t mc, size_t kc, const float *a, size_t lda, float *ap, size_t mr) {
    for (size_t i0 = 0; i0 < mc; i0 += mr) {
        size_t rows = LC_MIN(mr, mc - i0);
        for (size_t p = 0; p < kc; ++p) {
            size_t i = 0;
            for (; i < rows; ++i) ap[i] = a[(i0 + i) * lda + p];
            for (; i < mr; ++i) ap[i] = 0.0f;
            ap += mr;
        }
    }
}

/* B block (kc x nc at b, row stride ldb) -> NR-column micro-panels, zero columns past nc. */
static void pack_b(size_t kc, size_t nc, const float *b, size_t ldb, float *bp, size_t nr) {
    for (size_t j0 = 0; j0 < nc; j0 += nr) {
        size_t cols = LC_MIN(nr, nc - j0);
        if (cols == nr) {
            for (size_t p = 0; p < kc; ++p) {
                memcpy(bp, b + p * ldb + j0, nr * sizeof(float));
                bp += nr;
            }
        } else {
            for (size_t p = 0; p < kc; ++p) {
                size_t j = 0;
                for (; j < cols; ++j) bp[j] = b[p * ldb + j0 + j];
                for (; j < nr; ++j) bp[j] = 0.0f;
                bp += nr;
            }
        }
    }
}

/* One operand: raw row-major (ptr, ld) or prepacked micro-panels over the whole k (ptr, k). */
typedef struct {
    const float *ptr;
    size_t ld;
    int prepacked;
} operand;

/* The macro-kernel over rows [m0, m1) and columns [n0, n1) of C = A*B; c points at C[m0][n0].
 * A raw: a.ptr points at row m0. B raw: b.ptr points at column n0. A prepacked: panels of mr
 * rows from row 0 (a.ptr), so iteration starts at the panel holding m0; B prepacked likewise
 * with nr columns. Micro-tiles that stick out of [m0,m1) x [n0,n1) go through a local tile. */
static void gemm_core(const gemm_kernel *g, size_t m0, size_t m1, size_t n0, size_t n1, size_t k,
                      operand a, operand b, float *c, size_t ldc, int accumulate, void *ws,
                      const lc_gemm_epi *epi) {
    if (m1 <= m0 || n1 <= n0) return;
    if (k == 0) {
        if (!accumulate)
            for (size_t i = 0; i < m1 - m0; ++i) memset(c + i * ldc, 0, (n1 - n0) * sizeof(float));
        apply_epi(g, epi, c, ldc, m0, n0, m1 - m0, n1 - n0);
        return;
    }
    size_t mr = g->mr, nr = g->nr;
    size_t rs = a.prepacked ? m0 - m0 % mr : m0; /* first row iterated */
    size_t cs = b.prepacked ? n0 - n0 % nr : n0; /* first column iterated */
    size_t mcb = block_mc(g, m1 - rs), ncb = block_nc(g, n1 - cs), kcb = LC_MIN((size_t)KC, k);
    /* ws may be NULL when both are prepacked. With A prepacked, B's buffer starts at ws: the
     * rows iterated (from the panel holding m0) can exceed the m the workspace was sized for,
     * so an A-sized gap before it could push it past the end. */
    float *abuf = (float *)ws, *bbuf = NULL;
    if (!b.prepacked)
        bbuf = a.prepacked ? (float *)ws
                           : (float *)((char *)ws + lc_align64(mcb * kcb * sizeof(float)));
    float tmp[MR_MAX * NR_MAX];
    for (size_t jc = cs; jc < n1; jc += ncb) {
        size_t nc = LC_MIN(ncb, n1 - jc);
        for (size_t pc = 0; pc < k; pc += kcb) {
            size_t kc = LC_MIN(kcb, k - pc);
            int acc = accumulate || pc > 0;
            const lc_gemm_epi *last = pc + kc == k ? epi : NULL; /* after the last block */
            if (!b.prepacked) pack_b(kc, nc, b.ptr + pc * b.ld + (jc - cs), b.ld, bbuf, nr);
            for (size_t ic = rs; ic < m1; ic += mcb) {
                size_t mc = LC_MIN(mcb, m1 - ic);
                if (!a.prepacked) pack_a(mc, kc, a.ptr + (ic - rs) * a.ld + pc, a.ld, abuf, mr);
                for (size_t jr = 0; jr < nc; jr += nr) {
                    size_t j = jc + jr; /* absolute first column of this micro-panel */
                    const float *bpanel = b.prepacked ? b.ptr + (j / nr) * nr * k + pc * nr
                                                      : bbuf + jr * kc;
                    size_t jlo = LC_MAX(j, n0), jhi = LC_MIN(j + nr, n1);
                    for (size_t ir = 0; ir < mc; ir += mr) {
                        size_t i = ic + ir;
                        const float *apanel = a.prepacked ? a.ptr + (i / mr) * mr * k + pc * mr
                                                          : abuf + ir * kc;
                        size_t ilo = LC_MAX(i, m0), ihi = LC_MIN(i + mr, m1);
                        float *cij = c + (ilo - m0) * ldc + (jlo - n0);
                        if (ilo == i && ihi == i + mr && jlo == j && jhi == j + nr) {
                            tile_epi te;
                            g->fn(kc, apanel, bpanel, cij, ldc, acc, tile_at(last, i, j, &te));
                        } else {
                            g->fn(kc, apanel, bpanel, tmp, nr, 0, NULL);
                            const float *t = tmp + (ilo - i) * nr + (jlo - j);
                            for (size_t y = 0; y < ihi - ilo; ++y)
                                for (size_t x = 0; x < jhi - jlo; ++x)
                                    cij[y * ldc + x] =
                                        acc ? cij[y * ldc + x] + t[y * nr + x] : t[y * nr + x];
                            apply_epi(g, last, cij, ldc, ilo, jlo, ihi - ilo, jhi - jlo);
                        }
                    }
                }
            }
        }
    }
}

void lc_sgemm(int isa, size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
              size_t ldb, float *c, size_t ldc, int accumulate, void *workspace) {
    gemm_kernel g = select_kernel(isa);
    operand oa = {a, lda, 0}, ob = {b, ldb, 0};
    gemm_core(&g, 0, m, 0, n, k, oa, ob, c, ldc, accumulate, workspace, NULL);
}

void lc_gemm_tile(int isa, size_t *mr, size_t *nr) {
    gemm_kernel g = select_kernel(isa);
    *mr = g.mr;
    *nr = g.nr;
}

void lc_sgemm_prepacked(int isa, size_t m, size_t k, const float *ap, const float *bp, size_t n0,
                        size_t n1, float *c, size_t ldc, int accumulate) {
    gemm_kernel g = select_kernel(isa);
    operand oa = {ap, k, 1}, ob = {bp, k, 1};
    gemm_core(&g, 0, m, n0, n1, k, oa, ob, c, ldc, accumulate, NULL, NULL);
}

void lc_sgemm_papb_epi(int isa, size_t m0, size_t m1, size_t n0, size_t n1, size_t k,
                       const float *ap, const float *bp, float *c, size_t ldc, int accumulate,
                       const lc_gemm_epi *epi) {
    gemm_kernel g = select_kernel(isa);
    operand oa = {ap, k, 1}, ob = {bp, k, 1};
    gemm_core(&g, m0, m1, n0, n1, k, oa, ob, c, ldc, accumulate, NULL, epi);
}
void lc_sgemm_papb(int isa, size_t m0, size_t m1, size_t n0, size_t n1, size_t k, const float *ap,
                   const float *bp, float *c, size_t ldc, int accumulate) {
    lc_sgemm_papb_epi(isa, m0, m1, n0, n1, k, ap, bp, c, ldc, accumulate, NULL);
}

void lc_sgemm_pa_epi(int isa, size_t m0, size_t m1, size_t n, size_t k, const float *ap,
                     const float *b, size_t ldb, float *c, size_t ldc, int accumulate,
                     void *workspace, const lc_gemm_epi *epi) {
    gemm_kernel g = select_kernel(isa);
    operand oa = {ap, k, 1}, ob = {b, ldb, 0};
    gemm_core(&g, m0, m1, 0, n, k, oa, ob, c, ldc, accumulate, workspace, epi);
}
void lc_sgemm_pa(int isa, size_t m0, size_t m1, size_t n, size_t k, const float *ap,
                 const float *b, size_t ldb, float *c, size_t ldc, int accumulate,
                 void *workspace) {
    lc_sgemm_pa_epi(isa, m0, m1, n, k, ap, b, ldb, c, ldc, accumulate, workspace, NULL);
}

void lc_sgemm_pb_epi(int isa, size_t m, size_t n0, size_t n1, size_t k, const float *a,
                     size_t lda, const float *bp, float *c, size_t ldc, int accumulate,
                     void *workspace, const lc_gemm_epi *epi) {
    gemm_kernel g = select_kernel(isa);
    operand oa = {a, lda, 0}, ob = {bp, k, 1};
    gemm_core(&g, 0, m, n0, n1, k, oa, ob, c, ldc, accumulate, workspace, epi);
}
void lc_sgemm_pb(int isa, size_t m, size_t n0, size_t n1, size_t k, const float *a, size_t lda,
                 const float *bp, float *c, size_t ldc, int accumulate, void *workspace) {
    lc_sgemm_pb_epi(isa, m, n0, n1, k, a, lda, bp, c, ldc, accumulate, workspace, NULL);
}

void lc_sgemm_indirect(int isa, size_t m, size_t n0, size_t n1, size_t k, const float *a,
                       size_t rsa, const size_t *off, const float *bp, float *c, size_t ldc) {
    lc_sgemm_indirect_epi(isa, m, n0, n1, k, a, rsa, off, bp, c, ldc, NULL);
}
void lc_sgemm_indirect_epi(int isa, size_t m, size_t n0, size_t n1, size_t k, const float *a,
                           size_t rsa, const size_t *off, const float *bp, float *c, size_t ldc,
                           const lc_gemm_epi *epi) {
    gemm_kernel g = select_kernel(isa);
    size_t mr = g.mr, nr = g.nr;
    float tmp[MR_MAX * NR_MAX];
    if (m < mr || n1 <= n0) return; /* the contract asks for m >= mr */
    for (size_t i = 0; i < m; i += mr) {
        size_t i0 = LC_MIN(i, m - mr); /* last tile overlaps the one before: same values */
        const float *ai = a + i0 * rsa;
        for (size_t j = n0 - n0 % nr; j < n1; j += nr) {
            const float *bpanel = bp + (j / nr) * nr * k;
            size_t jlo = LC_MAX(j, n0), jhi = LC_MIN(j + nr, n1);
            float *cij = c + i0 * ldc + (jlo - n0);
            if (jlo == j && jhi == j + nr) {
                tile_epi te;
                g.ind(k, ai, rsa, off, bpanel, cij, ldc, 0, tile_at(epi, i0, j, &te));
            } else {
                g.ind(k, ai, rsa, off, bpanel, tmp, nr, 0, NULL);
                for (size_t y = 0; y < mr; ++y)
                    memcpy(cij + y * ldc, tmp + y * nr + (jlo - j), (jhi - jlo) * sizeof(float));
                apply_epi(&g, epi, cij, ldc, i0, jlo, mr, jhi - jlo);
            }
        }
    }
}

size_t lc_gemm_packed_a_floats(int isa, size_t m, size_t k) {
    gemm_kernel g = select_kernel(isa);
    return lc_round_up(m, g.mr) * k;
}

size_t lc_gemm_packed_b_floats(int isa, size_t k, size_t n) {
    gemm_kernel g = select_kernel(isa);
    return lc_round_up(n, g.nr) * k;
}

void lc_gemm_pack_a(int isa, size_t m, size_t k, const float *a, size_t rs, size_t cs, float *ap) {
    gemm_kernel g = select_kernel(isa);
    for (size_t i0 = 0; i0 < m; i0 += g.mr)
        for (size_t p = 0; p < k; ++p)
            for (size_t i = 0; i < g.mr; ++i)
                *ap++ = i0 + i < m ? a[(i0 + i) * rs + p * cs] : 0.0f;
}

void lc_gemm_pack_b(int isa, size_t k, size_t n, const float *b, size_t rs, size_t cs, float *bp) {
    gemm_kernel g = select_kernel(isa);
    for (size_t j0 = 0; j0 < n; j0 += g.nr)
        for (size_t p = 0; p < k; ++p)
            for (size_t j = 0; j < g.nr; ++j)
                *bp++ = j0 + j < n ? b[p * rs + (j0 + j) * cs] : 0.0f;
}
