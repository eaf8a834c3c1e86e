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

LC_INLINE void direct_chw_body(const lc_conv_params *p, const float *LC_RESTRICT in,
                               const float *LC_RESTRICT w, const float *bias,
                               float *LC_RESTRICT out, size_t ob, size_t oe) {
    size_t cg = p->c / p->groups, kg = p->k / p->groups, rs = p->kh * p->kw;
    size_t plane = p->oh * p->ow, sw = p->sw;
    for (size_t k = ob; k < oe; ++k) {
        size_t g = k / kg;
        float *o = out + k * plane;
        float b = bias ? bias[k] : 0.0f;
        for (size_t i = 0; i < plane; ++i) o[i] = b;
        for (size_t ci = 0; ci < cg; ++ci) {
            const float *x = in + (g * cg + ci) * p->h * p->w;
            const float *wk = w + (k * cg + ci) * rs;
            for (size_t r = 0; r < p->kh; ++r) {
                for (size_t s = 0; s < p->kw; ++s) {
                    float wv = wk[r * p->kw + s];
                    ptrdiff_t off = (ptrdiff_t)(s * p->dw) - (ptrdiff_t)p->pw;
                    size_t lo, hi;
                    valid_cols(off, sw, p->w, p->ow, &lo, &hi);
                    for (size_t oy = 0; oy < p->oh; ++oy) {
                        ptrdiff_t iy = (ptrdiff_t)(oy * p->sh + r * p->dh) - (ptrdiff_t)p->ph;
                        if (iy < 0 || iy >= (ptrdiff_t)p->h) continue;
                        const float *xr = x + (size_t)iy * p->w;
                        float *orow = o + oy * p->ow;
                        if (lo >= hi) continue;
                        /* first valid input column: lo * sw + off >= 0 by construction */
                        const float *xs = xr + (size_t)((ptrdiff_t)(lo * sw) + off);
                        float *os = orow + lo;
                        size_t n = hi - lo;
                        if (sw == 1) {
                            for (size_t i = 0; i < n; ++i) os[i] += wv * xs[i];
                        } else {
                            for (size_t i = 0; i < n; ++i) os[i] += wv * xs[i * sw];
                        }
                    }
                }
            }
        }
        if (p->act != LC_ACT_NONE)
            for (size_t i = 0; i < plane; ++i) o[i] = lc_act(o[i], p->act);
    }
}
LC_VARIANTS(direct_chw,
            (const lc_conv_params *p, const float *in, const float *w, const float *bias,
             float *out, size_t ob, size_t oe),
            (p, in, w, bias, out, ob, oe))

LC_INLINE void direct_hwc_body(const lc_conv_params *p, const float *LC_RESTRICT in,
                               const float *LC_RESTRICT w, const float *bias,
                               float *LC_RESTRICT out, size_t ob, size_t oe) {
    size_t g_count = p->groups, cg = p->c / g_count, kg = p->k / g_count, rs = p->kh * p->kw;
    for (size_t oy = 0; oy < p->oh; ++oy) {
        for (size_t ox = 0; ox < p->ow; ++ox) {
            float *o = out + (oy * p->ow + ox) * p->k;
            for (size_t k = ob; k < oe; ++k) o[k] = bias ? bias[k] : 0.0f;
            for (size_t g = ob / kg; g < g_count && g * kg < oe; ++g) {
                size_t klo = LC_MAX(ob, g * kg) - g * kg, khi = LC_MIN(oe, (g + 1) * kg) - g * kg;
                float *og = o + g * kg;
                for (size_t r = 0; r < p->kh; ++r) {
                    ptrdiff_t iy = (ptrdiff_t)(oy * p->sh + r * p->dh) - (ptrdiff_t)p->ph;
                    if (iy < 0 || iy >= (ptrdiff_t)p->h) continue;
                    for (size_t s = 0; s < p->kw; ++s) {
                        ptrdiff_t ix = (ptrdiff_t)(ox * p->sw + s * p->dw) - (ptrdiff_t)p->pw;
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
             float *out, size_t ob, size_t oe),
            (p, in, w, bias, out, ob, oe))

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
                       size_t oc_end) {
    (void)workspace;
    LC_DISPATCH(p->isa, direct_chw, (p, input, packed, bias, output, oc_begin, oc_end));
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
                       size_t oc_end) {
    (void)workspace;
    LC_DISPATCH(p->isa, direct_hwc, (p, input, packed, bias, output, oc_begin, oc_end));
}
