/* Internal helpers shared by the kernel sources (not part of the public interface). */
#ifndef LC_INTERNAL_H
#define LC_INTERNAL_H

#include <stddef.h>
#include <string.h>
#include "lc_conv.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LC_X86 1
#if defined(__clang__)
#define LC_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#else /* GCC: also let the vectoriser use 512-bit vectors in these copies */
#define LC_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma,prefer-vector-width=512")))
#endif
#define LC_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define LC_X86 0
#endif
#if defined(__aarch64__)
#define LC_ARM64 1
#else
#define LC_ARM64 0
#endif

/* Let GCC fuse a*b+c into FMA in the vectorised loops (C99 mode turns contraction off). The
 * kernels' error bounds (tests/test_primitives.py) hold with or without contraction. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LC_INLINE static inline __attribute__((always_inline))
#define LC_RESTRICT __restrict__
#else
#define LC_INLINE static inline
#define LC_RESTRICT
#endif

/* Multi-versioned functions: NAME##_body is an always-inline function; LC_VARIANTS defines
 * NAME##_avx512, NAME##_avx2 and NAME##_generic around it (x86), and LC_DISPATCH calls the one
 * the resolved ISA allows. The compiler vectorises each copy for its own target. */
#if LC_X86
#define LC_VARIANTS(name, params, args)                                                        \
    LC_TARGET_AVX512 static void name##_avx512 params { name##_body args; }                   \
    LC_TARGET_AVX2 static void name##_avx2 params { name##_body args; }                       \
    static void name##_generic params { name##_body args; }
#define LC_DISPATCH(isa, name, args)                                                           \
    do {                                                                                       \
        int lc_r_ = lc_isa_resolve(isa);                                                       \
        if (lc_r_ == LC_ISA_AVX512) name##_avx512 args;                                        \
        else if (lc_r_ == LC_ISA_AVX2) name##_avx2 args;                                       \
        else name##_generic args;                                                              \
    } while (0)
#else
#define LC_VARIANTS(name, params, args)                                                        \
    static void name##_generic params { name##_body args; }
#define LC_DISPATCH(isa, name, args)                                                           \
    do {                                                                                       \
        (void)(isa);                                                                           \
        name##_generic args;                                                                   \
    } while (0)
#endif

/* Eight floats as one GCC/clang vector (one AVX register, two SSE or NEON registers): the
 * hand-blocked loops use it where the auto-vectoriser would keep accumulators in memory. Loads
 * and stores go through memcpy (any alignment). Other compilers take the scalar paths. */
#if defined(__GNUC__) || defined(__clang__)
#define LC_HAVE_VEC 1
typedef float lc_v8 __attribute__((vector_size(32)));
typedef int lc_v8i __attribute__((vector_size(32)));
#define LC_V8_LOAD(v, p) memcpy(&(v), (p), sizeof(lc_v8))
#define LC_V8_STORE(p, v) memcpy((p), &(v), sizeof(lc_v8))
/* lc_act on every lane, by masks (C has no vector ?:); NaN becomes 0, as in lc_act. */
#define LC_V8_ACT(v, act)                                                                      \
    do {                                                                                       \
        if ((act) != LC_ACT_NONE) {                                                            \
            lc_v8 lc_zero_ = {0};                                                              \
            (v) = (lc_v8)((lc_v8i)(v) & ((v) > lc_zero_));                                     \
            if ((act) == LC_ACT_RELU6) {                                                       \
                lc_v8 lc_six_ = lc_zero_ + 6.0f;                                               \
                lc_v8i lc_lt_ = (v) < lc_six_;                                                 \
                (v) = (lc_v8)(((lc_v8i)(v) & lc_lt_) | ((lc_v8i)lc_six_ & ~lc_lt_));           \
            }                                                                                  \
        }                                                                                      \
    } while (0)
#else
#define LC_HAVE_VEC 0
#endif

#define LC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LC_MAX(a, b) ((a) > (b) ? (a) : (b))

LC_INLINE size_t lc_round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }
/* Bytes rounded to the 64-byte alignment every workspace sub-buffer keeps. */
LC_INLINE size_t lc_align64(size_t bytes) { return lc_round_up(bytes, 64); }

LC_INLINE float lc_act(float v, int act) {
    if (act == LC_ACT_NONE) return v;
    v = v > 0.0f ? v : 0.0f;
    if (act == LC_ACT_RELU6) v = v < 6.0f ? v : 6.0f;
    return v;
}

/* Declarations of every primitive's functions, from the table. */
#define LC_PRIMITIVE(id, family, layout)                                                       \
    int lc_##id##_applicable(const lc_conv_params *p);                                         \
    size_t lc_##id##_workspace_bytes(const lc_conv_params *p);                                 \
    size_t lc_##id##_packed_bytes(const lc_conv_params *p);                                    \
    void lc_##id##_pack(const lc_conv_params *p, const float *weight, float *packed);          \
    void lc_##id##_run(const lc_conv_params *p, const float *input, const float *packed,       \
                       const float *bias, float *output, void *workspace, size_t oc_begin,     \
                       size_t oc_end, size_t oy_begin, size_t oy_end);
#include "lc_primitives.inc"
#undef LC_PRIMITIVE

/* Epilogues over output channels [k0, k1) of a finished convolution: add bias (may be NULL)
 * and apply the activation. CHW: pixels [j0, j1) of planes of `plane` floats; HWC: `pixels`
 * rows of `k` floats. */
void lc_epilogue_chw(float *out, size_t plane, size_t j0, size_t j1, const float *bias, size_t k0,
                     size_t k1, int act);
void lc_epilogue_hwc(float *out, size_t pixels, size_t k, const float *bias, size_t k0, size_t k1,
                     int act);

/* A GEMM's fused epilogue: bias (NULL for none; indexed by C's absolute row when per_row, else
 * by its absolute column) then the activation (LC_ACT_*), applied to each tile of C right after
 * its last block of k, while the tile is in L1. The _epi forms of the prepacked GEMMs
 * (lc_conv.h) take one; NULL is no epilogue. accumulate != 0 adds the bias to the sum. */
typedef struct lc_gemm_epi {
    const float *bias;
    int per_row;
    int act;
} lc_gemm_epi;
void lc_sgemm_pa_epi(int isa, size_t m0, size_t m1, size_t n, size_t k, const float *ap,
                     const float *b, size_t ldb, float *c, size_t ldc, int accumulate,
                     void *workspace, const lc_gemm_epi *epi);
void lc_sgemm_pb_epi(int isa, size_t m, size_t n0, size_t n1, size_t k, const float *a,
                     size_t lda, const float *bp, float *c, size_t ldc, int accumulate,
                     void *workspace, const lc_gemm_epi *epi);
void lc_sgemm_papb_epi(int isa, size_t m0, size_t m1, size_t n0, size_t n1, size_t k,
                       const float *ap, const float *bp, float *c, size_t ldc, int accumulate,
                       const lc_gemm_epi *epi);
void lc_sgemm_indirect_epi(int isa, size_t m, size_t n0, size_t n1, size_t k, const float *a,
                           size_t rsa, const size_t *off, const float *bp, float *c, size_t ldc,
                           const lc_gemm_epi *epi);
/* The epilogue of a conv's GEMM (NULL when it has neither bias nor activation). */
LC_INLINE const lc_gemm_epi *lc_conv_epi(lc_gemm_epi *e, const float *bias, int per_row, int act) {
    e->bias = bias;
    e->per_row = per_row;
    e->act = act;
    return bias || act != LC_ACT_NONE ? e : NULL;
}

/* 1x1 HWC: weights (packed B) up to this size stay in L1/L2 while the primitive sweeps every
 * output pixel over them, so reading A in place (lc_sgemm_indirect) beats packing it: small-C
 * 1x1 layers, where packing costs as much as the multiply. (im2row reads in place whatever the
 * weights' size: lowering costs more than packing.) */
#ifndef LC_INDIRECT_B_BYTES
#define LC_INDIRECT_B_BYTES (64 * 1024)
#endif

/* Generic weight relayouts used by the pack functions. */
/* [K][Cg][KH][KW] -> [g][KH][KW][Cg][Kg] (per group, taps outer, output channels inner). */
void lc_pack_rsck(const lc_conv_params *p, const float *w, float *packed);

#endif /* LC_INTERNAL_H */
