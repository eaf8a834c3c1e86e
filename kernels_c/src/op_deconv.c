/* Transposed convolution as a gather over output rows: output row oy receives input row
 * iy = (oy + pt - ky*dh) / sh from every kernel row ky that divides evenly, and within it input
 * column ix lands on ox = ix*sw + kx*dw - pl for each kernel column kx. Each (row, ky, kx,
 * group) is one GEMM of the group's weights for that tap with the input row, added into the
 * output row: each (iy, ky) pair feeds exactly one output row, so splitting rows over calls
 * repeats no work, and no full column matrix is ever materialised.
 *
 * The GEMMs read the input row in place and the tap's weights prepacked (lc_deconv_pack):
 * CHW computes (Og x n) = W_tap (Og x Ig) * X_row (Ig x n), written straight into the output
 * when sw == 1 (consecutive ix are consecutive ox) and through a column buffer scattered with
 * stride sw otherwise; HWC computes (n x Og) = X_row (n x Ig) * W_tap (Ig x Og), whose rows go
 * straight to output pixels sw apart (the GEMM's row stride). Groups of at most DIRECT_MAX
 * weights per tap (depthwise-transposed) skip the GEMM, whose packing would cost more than the
 * multiply: a direct loop over the weights relaid out as [kh][kw][c][og]. */
#include "lc_act.h"

/* Largest Ig * Og per group run by the direct loop. */
enum { DIRECT_MAX = 4 };

LC_INLINE int use_direct(const lc_deconv_params *p) {
    return (p->c / p->groups) * (p->k / p->groups) <= DIRECT_MAX;
}

size_t lc_deconv_packed_bytes(const lc_deconv_params *p, int layout) {
    size_t ig = p->c / p->groups, og = p->k / p->groups, taps = p->kh * p->kw;
    if (use_direct(p)) return taps * p->c * og * sizeof(float);
    size_t per = layout == LC_LAYOUT_CHW ? lc_gemm_packed_a_floats(p->isa, og, ig)
                                         : lc_gemm_packed_b_floats(p->isa, ig, og);
    return p->groups * taps * per * sizeof(float);
}

void lc_deconv_pack(const lc_deconv_params *p, int layout, const float *weight, float *packed) {
    size_t ig = p->c / p->groups, og = p->k / p->groups, taps = p->kh * p->kw;
    if (use_direct(p)) { /* [c][og][kh][kw] -> [kh][kw][c][og] */
        for (size_t t = 0; t < taps; ++t)
            for (size_t ci = 0; ci < p->c; ++ci)
                for (size_t o = 0; o < og; ++o)
                    *packed++ = weight[(ci * og + o) * taps + t];
        return;
    }
    /* one panel per (group, tap): element (oc, ic) of the tap at w[((g*ig + ic)*og + oc)*taps] */
    for (size_t g = 0; g < p->groups; ++g)
        for (size_t t = 0; t < taps; ++t) {
            const float *w = weight + g * ig * og * taps + t;
            if (layout == LC_LAYOUT_CHW) {
                lc_gemm_pack_a(p->isa, og, ig, w, taps, og * taps, packed);
                packed += lc_gemm_packed_a_floats(p->isa, og, ig);
            } else {
                lc_gemm_pack_b(p->isa, ig, og, w, og * taps, taps, packed);
                packed += lc_gemm_packed_b_floats(p->isa, ig, og);
            }
        }
}

size_t lc_deconv_workspace_bytes(const lc_deconv_params *p, int layout) {
    size_t ig = p->c / p->groups, og = p->k / p->groups;
    if (use_direct(p)) return 0;
    if (layout == LC_LAYOUT_HWC) return lc_sgemm_workspace_bytes(p->isa, p->w, og, ig);
    size_t cols = p->sw == 1 ? 0 : lc_align64(og * p->w * sizeof(float));
    return cols + lc_sgemm_workspace_bytes(p->isa, og, p->w, ig);
}

/* The input row of output row oy through kernel row ky, or -1 when none. */
LC_INLINE long input_row(const lc_deconv_params *p, size_t oy, size_t ky) {
    size_t t = oy + p->pt, off = ky * p->dh;
    if (t < off || (t - off) % p->sh) return -1;
    size_t iy = (t - off) / p->sh;
    return iy < p->h ? (long)iy : -1;
}

/* Input columns [*lo, *hi) that kernel column kx puts inside the output; the first lands on
 * output column *ox. Returns 0 when there are none. */
LC_INLINE int input_cols(const lc_deconv_params *p, size_t kx, size_t *lo, size_t *hi, size_t *ox) {
    size_t off = kx * p->dw;
    if (p->ow - 1 + p->pl < off) return 0;
    size_t a = p->pl > off ? (p->pl - off + p->sw - 1) / p->sw : 0;
    size_t b = LC_MIN(p->w, (p->ow - 1 + p->pl - off) / p->sw + 1);
    if (a >= b) return 0;
    *lo = a, *hi = b, *ox = a * p->sw + off - p->pl;
    return 1;
}

/* Output row oy set to the bias (or zero) before the taps add into it. */
LC_INLINE void init_row(const lc_deconv_params *p, int layout, const float *bias, float *out,
                        size_t oy) {
    size_t plane = p->oh * p->ow;
    if (layout == LC_LAYOUT_CHW) {
        for (size_t oc = 0; oc < p->k; ++oc) {
            float *r = out + oc * plane + oy * p->ow, v = bias ? bias[oc] : 0.0f;
            for (size_t x = 0; x < p->ow; ++x) r[x] = v;
        }
    } else {
        float *r = out + oy * p->ow * p->k;
        for (size_t x = 0; x < p->ow; ++x) {
            if (bias) memcpy(r + x * p->k, bias, p->k * sizeof(float));
            else memset(r + x * p->k, 0, p->k * sizeof(float));
        }
    }
}

LC_INLINE void finish_row(const lc_deconv_params *p, int layout, float *out, size_t oy) {
    if (p->act.kind == LC_ACT_NONE) return;
    if (layout == LC_LAYOUT_HWC) {
        float *r = out + oy * p->ow * p->k;
        lc_act_span(r, r, p->ow * p->k, &p->act);
    } else {
        for (size_t oc = 0; oc < p->k; ++oc) {
            float *r = out + (oc * p->oh + oy) * p->ow;
            lc_act_span(r, r, p->ow, &p->act);
        }
    }
}

/* Direct tap (ky, kx) of input row iy into output row oy, columns [lo, hi) from ox0. */
LC_INLINE void direct_tap(const lc_deconv_params *p, int layout, const float *x, const float *wt,
                          float *out, size_t oy, size_t iy, size_t lo, size_t hi, size_t ox0) {
    size_t G = p->groups, ig = p->c / G, og = p->k / G, sw = p->sw;
    if (layout == LC_LAYOUT_CHW) {
        size_t plane = p->oh * p->ow;
        for (size_t g = 0; g < G; ++g)
            for (size_t o = 0; o < og; ++o) {
                float *orow = out + (g * og + o) * plane + oy * p->ow + ox0;
                for (size_t i = 0; i < ig; ++i) {
                    size_t ci = g * ig + i;
                    const float *xrow = x + (ci * p->h + iy) * p->w + lo;
                    float wv = wt[ci * og + o];
                    for (size_t j = 0; j < hi - lo; ++j) orow[j * sw] += wv * xrow[j];
                }
            }
    } else {
        for (size_t ix = lo; ix < hi; ++ix) {
            float *op = out + (oy * p->ow + ox0 + (ix - lo) * sw) * p->k;
            const float *xp = x + (iy * p->w + ix) * p->c;
            for (size_t i = 0; i < ig; ++i)
                for (size_t o = 0; o < og; ++o)
                    for (size_t g = 0; g < G; ++g)
                        op[g * og + o] += wt[(g * ig + i) * og + o] * xp[g * ig + i];
        }
    }
}

/* GEMM tap (ky, kx) of input row iy, group g, into output row oy (see the file comment). */
LC_INLINE void gemm_tap(const lc_deconv_params *p, int layout, const float *x, const float *wp,
                        float *out, void *ws, size_t g, size_t oy, size_t iy, size_t lo, size_t hi,
                        size_t ox0) {
    size_t ig = p->c / p->groups, og = p->k / p->groups, n = hi - lo, sw = p->sw;
    if (layout == LC_LAYOUT_HWC) {
        const float *a = x + (iy * p->w + lo) * p->c + g * ig;
        float *c = out + (oy * p->ow + ox0) * p->k + g * og;
        lc_sgemm_pb(p->isa, n, 0, og, ig, a, p->c, wp, c, sw * p->k, 1, ws);
        return;
    }
    size_t plane = p->oh * p->ow;
    const float *b = x + g * ig * p->h * p->w + iy * p->w + lo;
    float *c = out + g * og * plane + oy * p->ow + ox0;
    if (sw == 1) {
        lc_sgemm_pa(p->isa, 0, og, n, ig, wp, b, p->h * p->w, c, plane, 1, ws);
        return;
    }
    float *cols = (float *)ws; /* og x n, then the GEMM's own workspace */
    void *gws = (char *)ws + lc_align64(og * p->w * sizeof(float));
    lc_sgemm_pa(p->isa, 0, og, n, ig, wp, b, p->h * p->w, cols, n, 0, gws);
    for (size_t o = 0; o < og; ++o)
        for (size_t j = 0; j < n; ++j) c[o * plane + j * sw] += cols[o * n + j];
}

LC_INLINE void deconv_body(const lc_deconv_params *p, int layout, const float *const *in,
                           float *out, size_t y0, size_t y1) {
    const float *x = in[0], *wp = in[1], *bias = in[2];
    void *ws = (void *)(uintptr_t)in[3]; /* the caller's writable workspace (lc_ops.h) */
    size_t ig = p->c / p->groups, og = p->k / p->groups;
    int direct = use_direct(p);
    size_t panel = layout == LC_LAYOUT_CHW ? lc_gemm_packed_a_floats(p->isa, og, ig)
                                           : lc_gemm_packed_b_floats(p->isa, ig, og);
    for (size_t oy = y0; oy < y1; ++oy) {
        init_row(p, layout, bias, out, oy);
        for (size_t ky = 0; ky < p->kh; ++ky) {
            long iy = input_row(p, oy, ky);
            if (iy < 0) continue;
            for (size_t kx = 0; kx < p->kw; ++kx) {
                size_t lo, hi, ox0, t = ky * p->kw + kx;
                if (!input_cols(p, kx, &lo, &hi, &ox0)) continue;
                if (direct) {
                    direct_tap(p, layout, x, wp + t * p->c * og, out, oy, (size_t)iy, lo, hi, ox0);
                    continue;
                }
                for (size_t g = 0; g < p->groups; ++g)
                    gemm_tap(p, layout, x, wp + (g * p->kh * p->kw + t) * panel, out, ws, g, oy,
                             (size_t)iy, lo, hi, ox0);
            }
        }
        finish_row(p, layout, out, oy);
    }
}

LC_INLINE void deconv_chw_body(const lc_deconv_params *p, const float *const *in, float *out,
                               size_t b, size_t e) {
    deconv_body(p, LC_LAYOUT_CHW, in, out, b, e);
}
LC_INLINE void deconv_hwc_body(const lc_deconv_params *p, const float *const *in, float *out,
                               size_t b, size_t e) {
    deconv_body(p, LC_LAYOUT_HWC, in, out, b, e);
}
LC_VARIANTS(deconv_chw, (const lc_deconv_params *p, const float *const *in, float *out, size_t b, size_t e),
            (p, in, out, b, e))
LC_VARIANTS(deconv_hwc, (const lc_deconv_params *p, const float *const *in, float *out, size_t b, size_t e),
            (p, in, out, b, e))

size_t lc_op_deconv_chw_units(const lc_deconv_params *p) { return p->oh; }
size_t lc_op_deconv_hwc_units(const lc_deconv_params *p) { return p->oh; }
void lc_op_deconv_chw(const lc_deconv_params *p, const float *const *inputs, float *output,
                      size_t begin, size_t end) {
    LC_DISPATCH(p->isa, deconv_chw, (p, inputs, output, begin, end));
}
void lc_op_deconv_hwc(const lc_deconv_params *p, const float *const *inputs, float *output,
                      size_t begin, size_t end) {
    LC_DISPATCH(p->isa, deconv_hwc, (p, inputs, output, begin, end));
}
