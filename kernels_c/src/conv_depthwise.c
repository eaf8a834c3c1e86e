/* Depthwise convolution (groups == C == K), 3x3 and 5x5, stride 1 or 2, any padding.
 * CHW: per channel, per output row, taps accumulated along the row (vectorised along W).
 * HWC: per output pixel, taps accumulated along the channels (vectorised along C); weights
 * packed [kh][kw][C]. No workspace. */
#include "lc_internal.h"

static int dw_ok(const lc_conv_params *p, size_t ks) {
    return p->groups == p->c && p->k == p->c && p->kh == ks && p->kw == ks && p->sh == p->sw &&
           (p->sh == 1 || p->sh == 2) && p->dh == 1 && p->dw == 1 && p->oh > 0 && p->ow > 0;
}

LC_INLINE void dw_chw_body(const lc_conv_params *p, const float *LC_RESTRICT in,
                           const float *LC_RESTRICT w, const float *bias, float *LC_RESTRICT out,
                           size_t ob, size_t oe, size_t y0, size_t y1, size_t ks, size_t st) {
    size_t plane = p->oh * p->ow;
    for (size_t c = ob; c < oe; ++c) {
        const float *x = in + c * p->h * p->w;
        const float *wc = w + c * ks * ks;
        float b = bias ? bias[c] : 0.0f;
        for (size_t oy = y0; oy < y1; ++oy) {
            float *o = out + c * plane + oy * p->ow;
            for (size_t ox = 0; ox < p->ow; ++ox) o[ox] = b;
            for (size_t r = 0; r < ks; ++r) {
                ptrdiff_t iy = (ptrdiff_t)(oy * st + r) - (ptrdiff_t)p->pt;
                if (iy < 0 || iy >= (ptrdiff_t)p->h) continue;
                const float *xr = x + (size_t)iy * p->w;
                for (size_t s = 0; s < ks; ++s) {
                    float wv = wc[r * ks + s];
                    ptrdiff_t off = (ptrdiff_t)s - (ptrdiff_t)p->pl;
                    size_t lo = off < 0 ? ((size_t)(-off) + st - 1) / st : 0, hi;
                    hi = ((ptrdiff_t)p->w - 1 - off < 0) ? 0
                                                         : (size_t)((ptrdiff_t)p->w - 1 - off) / st + 1;
                    if (hi > p->ow) hi = p->ow;
                    if (lo >= hi) continue;
                    /* first valid input column: lo * st + off >= 0 by construction of lo */
                    const float *xs = xr + (size_t)((ptrdiff_t)(lo * st) + off);
                    float *os = o + lo;
                    size_t n = hi - lo;
                    if (st == 1)
                        for (size_t i = 0; i < n; ++i) os[i] += wv * xs[i];
                    else
                        for (size_t i = 0; i < n; ++i) os[i] += wv * xs[2 * i];
                }
            }
            if (p->act != LC_ACT_NONE)
                for (size_t ox = 0; ox < p->ow; ++ox) o[ox] = lc_act(o[ox], p->act);
        }
    }
}

LC_INLINE void dw_hwc_body(const lc_conv_params *p, const float *LC_RESTRICT in,
                           const float *LC_RESTRICT w, const float *bias, float *LC_RESTRICT out,
                           size_t ob, size_t oe, size_t y0, size_t y1, size_t ks, size_t st) {
    size_t c_all = p->c;
    for (size_t oy = y0; oy < y1; ++oy)
        for (size_t ox = 0; ox < p->ow; ++ox) {
            float *o = out + (oy * p->ow + ox) * c_all;
            for (size_t c = ob; c < oe; ++c) o[c] = bias ? bias[c] : 0.0f;
            for (size_t r = 0; r < ks; ++r) {
                ptrdiff_t iy = (ptrdiff_t)(oy * st + r) - (ptrdiff_t)p->pt;
                if (iy < 0 || iy >= (ptrdiff_t)p->h) continue;
                for (size_t s = 0; s < ks; ++s) {
                    ptrdiff_t ix = (ptrdiff_t)(ox * st + s) - (ptrdiff_t)p->pl;
                    if (ix < 0 || ix >= (ptrdiff_t)p->w) continue;
                    const float *x = in + ((size_t)iy * p->w + (size_t)ix) * c_all;
                    const float *wt = w + (r * ks + s) * c_all;
                    for (size_t c = ob; c < oe; ++c) o[c] += x[c] * wt[c];
                }
            }
            if (p->act != LC_ACT_NONE)
                for (size_t c = ob; c < oe; ++c) o[c] = lc_act(o[c], p->act);
        }
}

/* Kernel size and stride as compile-time constants in each copy. */
#define DW_VARIANT(layout, ks, st)                                                              \
    LC_INLINE void dw_##layout##_##ks##_##st##_body(const lc_conv_params *p, const float *in,  \
                                                    const float *w, const float *bias,         \
                                                    float *out, size_t ob, size_t oe,          \
                                                    size_t y0, size_t y1) {                    \
        dw_##layout##_body(p, in, w, bias, out, ob, oe, y0, y1, ks, st);                       \
    }                                                                                          \
    LC_VARIANTS(dw_##layout##_##ks##_##st,                                                     \
                (const lc_conv_params *p, const float *in, const float *w, const float *bias,  \
                 float *out, size_t ob, size_t oe, size_t y0, size_t y1),                      \
                (p, in, w, bias, out, ob, oe, y0, y1))
DW_VARIANT(chw, 3, 1)
DW_VARIANT(chw, 3, 2)
DW_VARIANT(chw, 5, 1)
DW_VARIANT(chw, 5, 2)
DW_VARIANT(hwc, 3, 1)
DW_VARIANT(hwc, 3, 2)
DW_VARIANT(hwc, 5, 1)
DW_VARIANT(hwc, 5, 2)

#define DW_PRIMITIVE(layout, ks)                                                                \
    int lc_depthwise##ks##x##ks##_##layout##_applicable(const lc_conv_params *p) {              \
        return dw_ok(p, ks);                                                                    \
    }                                                                                           \
    size_t lc_depthwise##ks##x##ks##_##layout##_workspace_bytes(const lc_conv_params *p) {      \
        (void)p;                                                                                \
        return 0;                                                                               \
    }                                                                                           \
    size_t lc_depthwise##ks##x##ks##_##layout##_packed_bytes(const lc_conv_params *p) {         \
        return p->c * ks * ks * sizeof(float);                                                  \
    }                                                                                           \
    void lc_depthwise##ks##x##ks##_##layout##_pack(const lc_conv_params *p, const float *weight,\
                                                   float *packed) {                             \
        dw_pack_##layout(p, weight, packed, ks);                                                \
    }                                                                                           \
    void lc_depthwise##ks##x##ks##_##layout##_run(                                              \
        const lc_conv_params *p, const float *input, const float *packed, const float *bias,    \
        float *output, void *workspace, size_t oc_begin, size_t oc_end, size_t oy_begin,        \
        size_t oy_end) {                                                                        \
        (void)workspace;                                                                        \
        if (p->sh == 1)                                                                         \
            LC_DISPATCH(p->isa, dw_##layout##_##ks##_1,                                         \
                        (p, input, packed, bias, output, oc_begin, oc_end, oy_begin,        \
                         oy_end));                                                              \
        else                                                                                    \
            LC_DISPATCH(p->isa, dw_##layout##_##ks##_2,                                         \
                        (p, input, packed, bias, output, oc_begin, oc_end, oy_begin,        \
                         oy_end));                                                              \
    }

static void dw_pack_chw(const lc_conv_params *p, const float *w, float *packed, size_t ks) {
    memcpy(packed, w, p->c * ks * ks * sizeof(float));
}
static void dw_pack_hwc(const lc_conv_params *p, const float *w, float *packed, size_t ks) {
    for (size_t t = 0; t < ks * ks; ++t)
        for (size_t c = 0; c < p->c; ++c) packed[t * p->c + c] = w[c * ks * ks + t];
}

DW_PRIMITIVE(chw, 3)
DW_PRIMITIVE(hwc, 3)
DW_PRIMITIVE(chw, 5)
DW_PRIMITIVE(hwc, 5)
