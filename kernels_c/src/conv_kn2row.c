/* kn2row (low memory): for each kernel tap (r, s) a 1x1 GEMM of that tap's weights with the
 * whole input, shifted and accumulated into the output. Stride 1, groups 1, any padding and
 * dilation. Output channels go in tiles of KN2ROW_TILE so the workspace is one tile of
 * H*W partial sums, independent of K and of the kernel size (im2col needs C*KH*KW*OH*OW).
 * CHW: T (kt x H*W) = W_rs[tile] (kt x C) * in (C x H*W); weights packed [kh][kw][K][C].
 * HWC: T (H*W x kt) = in (H*W x C) * W_rs (C x K)[:, tile]; weights packed [kh][kw][C][K]. */
#include "lc_internal.h"

enum { KN2ROW_TILE = 32 };

static int kn2row_ok(const lc_conv_params *p) {
    return p->sh == 1 && p->sw == 1 && p->groups == 1 && p->oh > 0 && p->ow > 0;
}
static size_t tile_k(const lc_conv_params *p) { return LC_MIN(p->k, (size_t)KN2ROW_TILE); }

/* Output rows/cols whose input index o + shift lies inside [0, n). */
LC_INLINE void shifted_range(ptrdiff_t shift, size_t n, size_t on, size_t *lo, size_t *hi) {
    ptrdiff_t l = -shift, h = (ptrdiff_t)n - shift;
    if (l < 0) l = 0;
    if (h > (ptrdiff_t)on) h = (ptrdiff_t)on;
    if (h < l) h = l;
    *lo = (size_t)l;
    *hi = (size_t)h;
}

int lc_kn2row_chw_applicable(const lc_conv_params *p) { return kn2row_ok(p); }
size_t lc_kn2row_chw_workspace_bytes(const lc_conv_params *p) {
    size_t hw = p->h * p->w, kt = tile_k(p);
    return lc_align64(kt * hw * sizeof(float)) + lc_sgemm_workspace_bytes(p->isa, kt, hw, p->c);
}
/* Weights: per tap, W_rs (K x C) in the GEMM's packed-A order. */
static size_t tap_a_floats(const lc_conv_params *p) {
    return lc_gemm_packed_a_floats(p->isa, p->k, p->c);
}
size_t lc_kn2row_chw_packed_bytes(const lc_conv_params *p) {
    return p->kh * p->kw * tap_a_floats(p) * sizeof(float);
}
void lc_kn2row_chw_pack(const lc_conv_params *p, const float *weight, float *packed) {
    size_t rs = p->kh * p->kw;
    for (size_t t = 0; t < rs; ++t)
        lc_gemm_pack_a(p->isa, p->k, p->c, weight + t, p->c * rs, rs, packed + t * tap_a_floats(p));
}
/* Output rows [lo, hi) within [y0, y1) whose input row o + sy exists; 0 when there are none. */
static int tap_rows(const lc_conv_params *p, ptrdiff_t sy, size_t y0, size_t y1, size_t *lo,
                    size_t *hi) {
    shifted_range(sy, p->h, p->oh, lo, hi);
    *lo = LC_MAX(*lo, y0);
    *hi = LC_MIN(*hi, y1);
    return *lo < *hi;
}

/* Each tap's GEMM covers only the input rows that output rows [oy_begin, oy_end) read. */
void lc_kn2row_chw_run(const lc_conv_params *p, const float *input, const float *packed,
                       const float *bias, float *output, void *workspace, size_t oc_begin,
                       size_t oc_end, size_t oy_begin, size_t oy_end) {
    size_t hw = p->h * p->w, plane = p->oh * p->ow, kt = tile_k(p);
    float *tbuf = (float *)workspace;
    void *gws = (char *)workspace + lc_align64(kt * hw * sizeof(float));
    for (size_t k0 = oc_begin; k0 < oc_end; k0 += kt) {
        size_t kn = LC_MIN(kt, oc_end - k0);
        for (size_t kk = 0; kk < kn; ++kk)
            memset(output + (k0 + kk) * plane + oy_begin * p->ow, 0,
                   (oy_end - oy_begin) * p->ow * sizeof(float));
        for (size_t r = 0; r < p->kh; ++r)
            for (size_t s = 0; s < p->kw; ++s) {
                ptrdiff_t sy = (ptrdiff_t)(r * p->dh) - (ptrdiff_t)p->pt;
                ptrdiff_t sx = (ptrdiff_t)(s * p->dw) - (ptrdiff_t)p->pl;
                size_t ylo, yhi, xlo, xhi;
                shifted_range(sx, p->w, p->ow, &xlo, &xhi);
                if (!tap_rows(p, sy, oy_begin, oy_end, &ylo, &yhi) || xlo >= xhi) continue;
                size_t iy0 = (size_t)((ptrdiff_t)ylo + sy), n = (yhi - ylo) * p->w;
                const float *a = packed + (r * p->kw + s) * tap_a_floats(p);
                lc_sgemm_pa(p->isa, k0, k0 + kn, n, p->c, a, input + iy0 * p->w, hw, tbuf, n, 0,
                            gws);
                for (size_t kk = 0; kk < kn; ++kk)
                    for (size_t oy = ylo; oy < yhi; ++oy) {
                        float *os = output + (k0 + kk) * plane + oy * p->ow + xlo;
                        const float *t = tbuf + kk * n + (oy - ylo) * p->w +
                                         (size_t)((ptrdiff_t)xlo + sx);
                        for (size_t i = 0; i < xhi - xlo; ++i) os[i] += t[i];
                    }
            }
    }
    lc_epilogue_chw(output, plane, oy_begin * p->ow, oy_end * p->ow, bias, oc_begin, oc_end,
                    p->act);
}

int lc_kn2row_hwc_applicable(const lc_conv_params *p) { return kn2row_ok(p); }
size_t lc_kn2row_hwc_workspace_bytes(const lc_conv_params *p) {
    size_t hw = p->h * p->w, kt = tile_k(p);
    return lc_align64(kt * hw * sizeof(float)) + lc_sgemm_workspace_bytes(p->isa, hw, kt, p->c);
}
/* Weights: per tap, W_rs^T (C x K) in the GEMM's packed-B order. */
static size_t tap_b_floats(const lc_conv_params *p) {
    return lc_gemm_packed_b_floats(p->isa, p->c, p->k);
}
size_t lc_kn2row_hwc_packed_bytes(const lc_conv_params *p) {
    return p->kh * p->kw * tap_b_floats(p) * sizeof(float);
}
void lc_kn2row_hwc_pack(const lc_conv_params *p, const float *weight, float *packed) {
    size_t rs = p->kh * p->kw;
    for (size_t t = 0; t < rs; ++t)
        lc_gemm_pack_b(p->isa, p->c, p->k, weight + t, rs, p->c * rs, packed + t * tap_b_floats(p));
}
void lc_kn2row_hwc_run(const lc_conv_params *p, const float *input, const float *packed,
                       const float *bias, float *output, void *workspace, size_t oc_begin,
                       size_t oc_end, size_t oy_begin, size_t oy_end) {
    size_t hw = p->h * p->w, kt = tile_k(p);
    float *tbuf = (float *)workspace;
    void *gws = (char *)workspace + lc_align64(kt * hw * sizeof(float));
    for (size_t k0 = oc_begin; k0 < oc_end; k0 += kt) {
        size_t kn = LC_MIN(kt, oc_end - k0);
        for (size_t i = oy_begin * p->ow; i < oy_end * p->ow; ++i)
            memset(output + i * p->k + k0, 0, kn * sizeof(float));
        for (size_t r = 0; r < p->kh; ++r)
            for (size_t s = 0; s < p->kw; ++s) {
                ptrdiff_t sy = (ptrdiff_t)(r * p->dh) - (ptrdiff_t)p->pt;
                ptrdiff_t sx = (ptrdiff_t)(s * p->dw) - (ptrdiff_t)p->pl;
                size_t ylo, yhi, xlo, xhi;
                shifted_range(sx, p->w, p->ow, &xlo, &xhi);
                if (!tap_rows(p, sy, oy_begin, oy_end, &ylo, &yhi) || xlo >= xhi) continue;
                size_t iy0 = (size_t)((ptrdiff_t)ylo + sy), n = (yhi - ylo) * p->w;
                const float *b = packed + (r * p->kw + s) * tap_b_floats(p);
                lc_sgemm_pb(p->isa, n, k0, k0 + kn, p->c, input + iy0 * p->w * p->c, p->c, b,
                            tbuf, kn, 0, gws);
                for (size_t oy = ylo; oy < yhi; ++oy)
                    for (size_t ox = xlo; ox < xhi; ++ox) {
                        float *o = output + (oy * p->ow + ox) * p->k + k0;
                        size_t ix = (size_t)((ptrdiff_t)ox + sx);
                        const float *t = tbuf + ((oy - ylo) * p->w + ix) * kn;
                        for (size_t kk = 0; kk < kn; ++kk) o[kk] += t[kk];
                    }
            }
    }
    lc_epilogue_hwc(output + oy_begin * p->ow * p->k, (oy_end - oy_begin) * p->ow, p->k, bias,
                    oc_begin, oc_end, p->act);
}
