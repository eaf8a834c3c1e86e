/* Direct convolution (sum2d): any kernel size, stride, padding, dilation and groups.
 * CHW: one output plane per output channel, accumulated tap by tap (each tap an AXPY over a
 * row, vectorised along the width). HWC: per output pixel, taps x input channels, vectorised
 * along the output channels; weights packed [g][kh][kw][c/g][k/g]. No workspace. */
#include "lc_internal.h"

/* Output columns [lo, hi) whose input column ox*sw + off lies inside [0, w). */
LC_INLINE void valid_cols(ptrdiff_t off, size_t sw, size_t w, size_t ow, size_t *lo, size_t *hi) {
    size_t l = 0, h;
    if (off < 0) l = ((size_t)(-off) + sw - 1) / sw;
    if ((ptrdiff_t)w - 1 - off < 0) {
        h = 0;
    } else {
        h = (size_t)((ptrdiff_t)w - 1 - off) / sw + 1;
    }
    if (h > ow) h = ow;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

enum { DSEG = 16, DKB = 4, DMAXKW = 16 };

/* Register-blocked direct convolution: DKB output channels x DSEG output columns accumulate
 * over every input channel and tap before one store. Interior stride-1 taps use 8-wide vector
 * accumulators; taps that reach into the padding (and stride > 1) run over their valid columns
 * only. Channel blocks past the group end use zero weights and are not stored. */
LC_INLINE void direct_chw_body(const lc_conv_params *p, const float *LC_RESTRICT in,
                               const float *LC_RESTRICT w, const float *bias,
                               float *LC_RESTRICT out, size_t ob, size_t oe, size_t y0,
                               size_t y1) {
    size_t cg = p->c / p->groups, kg = p->k / p->groups, rs = p->kh * p->kw;
    size_t plane = p->oh * p->ow, sw = p->sw, H = p->h, W = p->w;
    for (size_t k0 = ob; k0 < oe;) {
        size_t g = k0 / kg;
        size_t kb = LC_MIN((size_t)DKB, LC_MIN(oe, (g + 1) * kg) - k0);
        float b[DKB];
        for (size_t kk = 0; kk < DKB; ++kk) b[kk] = (bias && kk < kb) ? bias[k0 + kk] : 0.0f;
        for (size_t oy = y0; oy < y1; ++oy) {
            for (size_t ox0 = 0; ox0 < p->ow; ox0 += DSEG) {
                size_t n = LC_MIN((size_t)DSEG, p->ow - ox0);
                float acc[DKB][DSEG];
                memset(acc, 0, sizeof acc);
                /* valid output columns of each kernel column, hoisted out of the tap loops */
                size_t los[DMAXKW], his[DMAXKW];
                ptrdiff_t offs[DMAXKW];
                for (size_t s = 0; s < p->kw && s < DMAXKW; ++s) {
                    offs[s] = (ptrdiff_t)(ox0 * sw + s * p->dw) - (ptrdiff_t)p->pl;
                    valid_cols(offs[s], sw, W, n, &los[s], &his[s]);
                }
#if LC_HAVE_VEC
                lc_v8 v00 = {0}, v01 = {0}, v10 = {0}, v11 = {0}, v20 = {0}, v21 = {0}, v30 = {0},
                      v31 = {0};
#endif
                for (size_t ci = 0; ci < cg; ++ci) {
                    const float *x = in + (g * cg + ci) * H * W;
                    const float *wk = w + (k0 * cg + ci) * rs;
                    for (size_t r = 0; r < p->kh; ++r) {
                        ptrdiff_t iy = (ptrdiff_t)(oy * p->sh + r * p->dh) - (ptrdiff_t)p->pt;
                        if (iy < 0 || iy >= (ptrdiff_t)H) continue;
                        const float *xr = x + (size_t)iy * W;
                        for (size_t s = 0; s < p->kw; ++s) {
                            size_t t = r * p->kw + s;
                            float wv[DKB];
                            for (size_t kk = 0; kk < DKB; ++kk)
                                wv[kk] = kk < kb ? wk[kk * cg * rs + t] : 0.0f;
                            ptrdiff_t off;
                            size_t lo, hi;
                            if (s < DMAXKW) {
                                off = offs[s];
                                lo = los[s];
                                hi = his[s];
                            } else {
                                off = (ptrdiff_t)(ox0 * sw + s * p->dw) - (ptrdiff_t)p->pl;
                                valid_cols(off, sw, W, n, &lo, &hi);
                            }
                            if (lo >= hi) continue;
                            const float *xs = xr + (size_t)((ptrdiff_t)(lo * sw) + off);
#if LC_HAVE_VEC
                            if (sw == 1 && lo == 0 && hi == DSEG) {
                                lc_v8 x0, x1;
                                LC_V8_LOAD(x0, xs);
                                LC_V8_LOAD(x1, xs + 8);
                                v00 += wv[0] * x0; v01 += wv[0] * x1;
                                v10 += wv[1] * x0; v11 += wv[1] * x1;
                                v20 += wv[2] * x0; v21 += wv[2] * x1;
                                v30 += wv[3] * x0; v31 += wv[3] * x1;
                                continue;
                            }
#endif
                            for (size_t j = lo; j < hi; ++j) {
                                float v = xs[(j - lo) * sw];
                                for (size_t kk = 0; kk < DKB; ++kk) acc[kk][j] += wv[kk] * v;
                            }
                        }
                    }
                }
#if LC_HAVE_VEC
                {
                    float tmp[DKB][DSEG];
                    LC_V8_STORE(tmp[0], v00);
                    LC_V8_STORE(tmp[0] + 8, v01);
                    LC_V8_STORE(tmp[1], v10);
                    LC_V8_STORE(tmp[1] + 8, v11);
                    LC_V8_STORE(tmp[2], v20);
                    LC_V8_STORE(tmp[2] + 8, v21);
                    LC_V8_STORE(tmp[3], v30);
                    LC_V8_STORE(tmp[3] + 8, v31);
                    for (size_t kk = 0; kk < DKB; ++kk)
                        for (size_t j = 0; j < DSEG; ++j) acc[kk][j] += tmp[kk][j];
                }
#endif
                for (size_t kk = 0; kk < kb; ++kk) {
                    float *o = out + (k0 + kk) * plane + oy * p->ow + ox0;
                    for (size_t j = 0; j < n; ++j) o[j] = lc_act(acc[kk][j] + b[kk], p->act);
                }
            }
        }
        k0 += kb;
    }
}
LC_VARIANTS(direct_chw,
            (const lc_conv_params *p, const float *in, const float *w, const float *bias,
             float *out, size_t ob, size_t oe, size_t y0, size_t y1),
            (p, in, w, bias, out, ob, oe, y0, y1))

LC_INLINE void direct_hwc_body(const lc_conv_params *p, const float *LC_RESTRICT in,
                               const float *LC_RESTRICT w, const float *bias,
                               float *LC_RESTRICT out, size_t ob, size_t oe, size_t y0,
                               size_t y1) {
    size_t g_count = p->groups, cg = p->c / g_count, kg = p->k / g_count, rs = p->kh * p->kw;
    for (size_t oy = y0; oy < y1; ++oy) {
        for (size_t ox = 0; ox < p->ow; ++ox) {
            float *o = out + (oy * p->ow + ox) * p->k;
            for (size_t k = ob; k < oe; ++k) o[k] = bias ? bias[k] : 0.0f;
            for (size_t g = ob / kg; g < g_count && g * kg < oe; ++g) {
                size_t klo = LC_MAX(ob, g * kg) - g * kg, khi = LC_MIN(oe, (g + 1) * kg) - g * kg;
                float *og = o + g * kg;
                for (size_t r = 0; r < p->kh; ++r) {
                    ptrdiff_t iy = (ptrdiff_t)(oy * p->sh + r * p->dh) - (ptrdiff_t)p->pt;
                    if (iy < 0 || iy >= (ptrdiff_t)p->h) continue;
                    for (size_t s = 0; s < p->kw; ++s) {
                        ptrdiff_t ix = (ptrdiff_t)(ox * p->sw + s * p->dw) - (ptrdiff_t)p->pl;
                        if (ix < 0 || ix >= (ptrdiff_t)p->w) continue;
                        const float *x = in + ((size_t)iy * p->w + (size_t)ix) * p->c + g * cg;
                        const float *wt = w + ((g * rs + r * p->kw + s) * cg) * kg;
                        for (size_t ci = 0; ci < cg; ++ci) {
                            float xv = x[ci];
                            const float *wr = wt + ci * kg;
                            for (size_t k = klo; k < khi; ++k) og[k] += xv * wr[k];
                        }
                    }
                }
            }
            if (p->act != LC_ACT_NONE)
                for (size_t k = ob; k < oe; ++k) o[k] = lc_act(o[k], p->act);
        }
    }
}
LC_VARIANTS(direct_hwc,
            (const lc_conv_params *p, const float *in, const float *w, const float *bias,
             float *out, size_t ob, size_t oe, size_t y0, size_t y1),
            (p, in, w, bias, out, ob, oe, y0, y1))

int lc_direct_chw_applicable(const lc_conv_params *p) { return p->oh > 0 && p->ow > 0; }
size_t lc_direct_chw_workspace_bytes(const lc_conv_params *p) { (void)p; return 0; }
size_t lc_direct_chw_packed_bytes(const lc_conv_params *p) {
    return p->k * (p->c / p->groups) * p->kh * p->kw * sizeof(float);
}
void lc_direct_chw_pack(const lc_conv_params *p, const float *weight, float *packed) {
    memcpy(packed, weight, lc_direct_chw_packed_bytes(p));
}
void lc_direct_chw_run(const lc_conv_params *p, const float *input, const float *packed,
                       const float *bias, float *output, void *workspace, size_t oc_begin,
                       size_t oc_end, size_t oy_begin, size_t oy_end) {
    (void)workspace;
    LC_DISPATCH(p->isa, direct_chw, (p, input, packed, bias, output, oc_begin, oc_end, oy_begin, oy_end));
}

int lc_direct_hwc_applicable(const lc_conv_params *p) { return p->oh > 0 && p->ow > 0; }
size_t lc_direct_hwc_workspace_bytes(const lc_conv_params *p) { (void)p; return 0; }
size_t lc_direct_hwc_packed_bytes(const lc_conv_params *p) {
    return lc_direct_chw_packed_bytes(p);
}
void lc_direct_hwc_pack(const lc_conv_params *p, const float *weight, float *packed) {
    lc_pack_rsck(p, weight, packed);
}
void lc_direct_hwc_run(const lc_conv_params *p, const float *input, const float *packed,
                       const float *bias, float *output, void *workspace, size_t oc_begin,
                       size_t oc_end, size_t oy_begin, size_t oy_end) {
    (void)workspace;
    LC_DISPATCH(p->isa, direct_hwc, (p, input, packed, bias, output, oc_begin, oc_end, oy_begin, oy_end));
}
