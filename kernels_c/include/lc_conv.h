/* leanconv convolution primitives and packed GEMM: C99, no allocation, no mutable globals.
 *
 * One image per call (the caller loops over the batch). Layouts: CHW (PyTorch NCHW without N)
 * and HWC (NHWC without N). Weights come in PyTorch's layout [K][C/groups][KH][KW] and are
 * turned into each primitive's packed layout by its `pack` function, once.
 *
 * Every primitive is one entry of the table in lc_primitives.inc; lc_primitive_get() exposes
 * the table to Rust, tests and benchmarks. Callers must check `applicable` and provide
 * `workspace_bytes` of 64-byte aligned scratch and `packed_bytes` of packed weights; the kernels
 * trust their arguments. */
#ifndef LC_CONV_H
#define LC_CONV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Instruction sets of the GEMM micro-kernels and vectorised loops. LC_ISA_AUTO picks the best
 * the CPU supports (x86: at run time; Arm: NEON at compile time); a forced choice the CPU lacks
 * falls back to the best it has. */
enum { LC_ISA_AUTO = 0, LC_ISA_SCALAR = 1, LC_ISA_AVX2 = 2, LC_ISA_AVX512 = 3, LC_ISA_NEON = 4 };
enum { LC_LAYOUT_CHW = 0, LC_LAYOUT_HWC = 1 };
enum { LC_ACT_NONE = 0, LC_ACT_RELU = 1, LC_ACT_RELU6 = 2 };

typedef struct lc_conv_params {
    size_t c, k;      /* input and output channels (multiples of groups) */
    size_t h, w;      /* input height and width */
    size_t kh, kw;    /* kernel size */
    size_t sh, sw;    /* stride */
    size_t dh, dw;    /* dilation */
    size_t pt, pl;    /* zero padding on top and left: output (0, 0) reads input (-pt, -pl) */
    size_t pb, pr;    /* zero padding at the bottom and right: only change oh and ow */
    size_t groups;
    int act;          /* LC_ACT_* fused after the bias */
    size_t oh, ow;    /* output size: filled by lc_conv_params_setup */
    int isa;          /* LC_ISA_*; LC_ISA_AUTO for the best available */
} lc_conv_params;

/* Validates the sizes (all non-zero, groups divide c and k, kernel fits the padded input) and
 * fills oh/ow: oh = (pt + h + pb - ((kh - 1)*dh + 1)) / sh + 1, ow likewise. Returns 0 on success, -1 on invalid parameters. */
int lc_conv_params_setup(lc_conv_params *p);

typedef struct lc_primitive {
    const char *name;    /* unique, e.g. "winograd4x4_hwc" */
    const char *family;  /* direct, im2col, kn2row, gemm1x1, winograd2x2, winograd4x4, depthwise */
    int layout;          /* LC_LAYOUT_* of input and output */
    int (*applicable)(const lc_conv_params *p);
    size_t (*workspace_bytes)(const lc_conv_params *p);
    size_t (*packed_bytes)(const lc_conv_params *p);
    void (*pack)(const lc_conv_params *p, const float *weight, float *packed);
    /* Computes output channels [oc_begin, oc_end) of output rows [oy_begin, oy_end) of one
     * image (0 <= oc_begin < oc_end <= k, 0 <= oy_begin < oy_end <= oh). bias may be NULL.
     * Calls over disjoint ranges may run concurrently, each with its own workspace of
     * workspace_bytes. A row range lowers / transforms only the input those rows read, so
     * splitting rows over threads does not repeat the lowering (splitting channels does). */
    void (*run)(const lc_conv_params *p, const float *input, const float *packed,
                const float *bias, float *output, void *workspace, size_t oc_begin,
                size_t oc_end, size_t oy_begin, size_t oy_end);
} lc_primitive;

size_t lc_primitive_count(void);
const lc_primitive *lc_primitive_get(size_t index); /* NULL when out of range */

/* The ISA LC_ISA_AUTO resolves to on this CPU, and what a forced choice resolves to. */
int lc_isa_resolve(int isa);

/* Packed, cache-blocked single-precision GEMM: C = A*B (or C += A*B when accumulate != 0).
 * A is m x k with row stride lda, B is k x n with row stride ldb, C is m x n with row stride ldc,
 * all row-major. The workspace (64-byte aligned, lc_sgemm_workspace_bytes) holds the packed
 * panels. */
size_t lc_sgemm_workspace_bytes(int isa, size_t m, size_t n, size_t k);
void lc_sgemm(int isa, size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
              size_t ldb, float *c, size_t ldc, int accumulate, void *workspace);

/* GEMM over operands already packed in micro-panel order (used by Winograd, whose transforms
 * write the packed layout directly). lc_gemm_tile gives the micro-tile (mr x nr) of `isa`.
 * ap: ceil(m/mr) panels of k x mr floats (rows past m zero); bp: panels of k x nr floats
 * covering columns [0, n_total) (columns past n_total zero). Computes columns [n0, n1) of
 * C = A*B into c (c points at column n0, row stride ldc). No workspace. */
void lc_gemm_tile(int isa, size_t *mr, size_t *nr);
void lc_sgemm_prepacked(int isa, size_t m, size_t k, const float *ap, const float *bp, size_t n0,
                        size_t n1, float *c, size_t ldc, int accumulate);

/* GEMMs with one operand prepacked (weights packed once at pack time). Prepacked A: panels of
 * mr rows over the whole k (lc_gemm_pack_a); prepacked B: panels of nr columns
 * (lc_gemm_pack_b). lc_sgemm_pa computes rows [m0, m1) of C = A*B into c (pointing at row m0);
 * lc_sgemm_pb computes columns [n0, n1) into c (pointing at column n0). The raw operand is
 * row-major with row stride ldb / lda (a points at A's row 0 for _pb, b at B's column 0 for
 * _pa). Workspace: lc_sgemm_workspace_bytes of the same sizes suffices. */
void lc_sgemm_pa(int isa, size_t m0, size_t m1, size_t n, size_t k, const float *ap,
                 const float *b, size_t ldb, float *c, size_t ldc, int accumulate,
                 void *workspace);
void lc_sgemm_pb(int isa, size_t m, size_t n0, size_t n1, size_t k, const float *a, size_t lda,
                 const float *bp, float *c, size_t ldc, int accumulate, void *workspace);
/* Both operands prepacked: rows [m0, m1) x columns [n0, n1) into c (pointing at C[m0][n0]). */
void lc_sgemm_papb(int isa, size_t m0, size_t m1, size_t n0, size_t n1, size_t k, const float *ap,
                   const float *bp, float *c, size_t ldc, int accumulate);
/* Indirect GEMM, nothing packed on A's side: rows [0, m) (m >= the tile's mr) of C = A*B where
 * element (i, q) of A is a[i*rsa + off[q]] (off: k offsets, e.g. the taps of an output pixel,
 * rsa the stride between neighbouring pixels) and B is prepacked (lc_gemm_pack_b). Computes
 * columns [n0, n1) into c (pointing at C[0][n0], row stride ldc). No workspace. */
void lc_sgemm_indirect(int isa, size_t m, size_t n0, size_t n1, size_t k, const float *a,
                       size_t rsa, const size_t *off, const float *bp, float *c, size_t ldc);
/* Sizes and packing of prepacked operands; element (i, p) of A is a[i*rs + p*cs], element
 * (p, j) of B is b[p*rs + j*cs], so transposed sources need no copy. */
size_t lc_gemm_packed_a_floats(int isa, size_t m, size_t k);
size_t lc_gemm_packed_b_floats(int isa, size_t k, size_t n);
void lc_gemm_pack_a(int isa, size_t m, size_t k, const float *a, size_t rs, size_t cs, float *ap);
void lc_gemm_pack_b(int isa, size_t k, size_t n, const float *b, size_t rs, size_t cs, float *bp);

#ifdef __cplusplus
}
#endif

#endif /* LC_CONV_H */
