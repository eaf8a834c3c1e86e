/* Pooling: max and average with four pads, stride, dilation (max), windows cut at the padded
 * input's edge (ceil mode), count_include_pad; global average and max.
 * CHW: per channel and output row, each tap swept along the row over the output columns whose
 * input column is inside the image (vectorised along W for stride 1). HWC: per output pixel,
 * each valid tap accumulated across the channels (vectorised along C). */
#include <math.h>

#include "lc_act.h"

/* Output positions [lo, hi) of an axis whose input index o * st + off lies in [0, n). */
LC_INLINE void tap_range(ptrdiff_t off, size_t st, size_t n, size_t on, size_t *lo, size_t *hi) {
    size_t l = off < 0 ? ((size_t)(-off) + st - 1) / st : 0, h;
    h = ((ptrdiff_t)n - 1 - off < 0) ? 0 : (size_t)((ptrdiff_t)n - 1 - off) / st + 1;
    *lo = l;
    *hi = h < on ? h : on;
}

/* Average pooling's divisor along one axis for output position o: the window [start, start+k)
 * cut at the padded end n + pad_end; without count_include_pad, cut at the input [0, n). */
LC_INLINE size_t avg_extent(size_t o, size_t st, size_t k, size_t pad_begin, size_t pad_end,
                            size_t n, int include_pad) {
    ptrdiff_t s = (ptrdiff_t)(o * st) - (ptrdiff_t)pad_begin, e = s + (ptrdiff_t)k;
    ptrdiff_t lim = (ptrdiff_t)(n + pad_end);
    if (e > lim) e = lim;
    if (!include_pad) {
        if (s < 0) s = 0;
        if (e > (ptrdiff_t)n) e = (ptrdiff_t)n;
    }
    return e > s ? (size_t)(e - s) : 0;
}

LC_INLINE float inv_or_zero(size_t n) { return n ? 1.0f / (float)n : 0.0f; }

LC_INLINE void pool_chw_body(const lc_pool_params *p, const float *in, float *out, size_t c0,
                             size_t c1, int is_max) {
    size_t ow = p->ow;
    for (size_t c = c0; c < c1; ++c) {
        const float *x = in + c * p->h * p->w;
        for (size_t oy = 0; oy < p->oh; ++oy) {
            float *o = out + (c * p->oh + oy) * ow;
            float init = is_max ? -INFINITY : 0.0f;
            for (size_t ox = 0; ox < ow; ++ox) o[ox] = init;
            for (size_t r = 0; r < p->kh; ++r) {
                ptrdiff_t iy = (ptrdiff_t)(oy * p->sh + r * p->dh) - (ptrdiff_t)p->pt;
                if (iy < 0 || iy >= (ptrdiff_t)p->h) continue;
                const float *xr = x + (size_t)iy * p->w;
                for (size_t s = 0; s < p->kw; ++s) {
                    ptrdiff_t off = (ptrdiff_t)(s * p->dw) - (ptrdiff_t)p->pl;
                    size_t lo, hi;
                    tap_range(off, p->sw, p->w, ow, &lo, &hi);
                    if (lo >= hi) continue;
                    const float *xs = xr + (size_t)((ptrdiff_t)(lo * p->sw) + off);
                    float *os = o + lo;
                    size_t n = hi - lo, st = p->sw;
                    if (is_max) {
                        if (st == 1)
                            for (size_t i = 0; i < n; ++i) os[i] = xs[i] > os[i] ? xs[i] : os[i];
                        else
                            for (size_t i = 0; i < n; ++i)
                                os[i] = xs[i * st] > os[i] ? xs[i * st] : os[i];
                    } else {
                        if (st == 1)
                            for (size_t i = 0; i < n; ++i) os[i] += xs[i];
                        else
                            for (size_t i = 0; i < n; ++i) os[i] += xs[i * st];
                    }
                }
            }
            if (!is_max) {
                size_t ey = avg_extent(oy, p->sh, p->kh, p->pt, p->pb, p->h, p->count_include_pad);
                for (size_t ox = 0; ox < ow; ++ox) {
                    size_t ex = avg_extent(ox, p->sw, p->kw, p->pl, p->pr, p->w,
                                           p->count_include_pad);
                    o[ox] *= inv_or_zero(ey * ex);
                }
            }
        }
    }
}

LC_INLINE void pool_hwc_body(const lc_pool_params *p, const float *in, float *out, size_t y0,
                             size_t y1, int is_max) {
    size_t nc = p->c;
    for (size_t oy = y0; oy < y1; ++oy)
        for (size_t ox = 0; ox < p->ow; ++ox) {
            float *o = out + (oy * p->ow + ox) * nc;
            float init = is_max ? -INFINITY : 0.0f;
            for (size_t c = 0; c < nc; ++c) o[c] = init;
            for (size_t r = 0; r < p->kh; ++r) {
                ptrdiff_t iy = (ptrdiff_t)(oy * p->sh + r * p->dh) - (ptrdiff_t)p->pt;
                if (iy < 0 || iy >= (ptrdiff_t)p->h) continue;
                for (size_t s = 0; s < p->kw; ++s) {
                    ptrdiff_t ix = (ptrdiff_t)(ox * p->sw + s * p->dw) - (ptrdiff_t)p->pl;
                    if (ix < 0 || ix >= (ptrdiff_t)p->w) continue;
                    const float *x = in + ((size_t)iy * p->w + (size_t)ix) * nc;
                    if (is_max)
                        for (size_t c = 0; c < nc; ++c) o[c] = x[c] > o[c] ? x[c] : o[c];
                    else
                        for (size_t c = 0; c < nc; ++c) o[c] += x[c];
                }
            }
            if (!is_max) {
                size_t ey = avg_extent(oy, p->sh, p->kh, p->pt, p->pb, p->h, p->count_include_pad);
                size_t ex = avg_extent(ox, p->sw, p->kw, p->pl, p->pr, p->w, p->count_include_pad);
                float inv = inv_or_zero(ey * ex);
                for (size_t c = 0; c < nc; ++c) o[c] *= inv;
            }
        }
}

#define POOL_VARIANT(layout, kind, is_max)                                                     \
    LC_INLINE void kind##_##layout##_body(const lc_pool_params *p, const float *in,           \
                                          float *out, size_t b, size_t e) {                   \
        pool_##layout##_body(p, in, out, b, e, is_max);                                        \
    }                                                                                          \
    LC_VARIANTS(kind##_##layout,                                                               \
                (const lc_pool_params *p, const float *in, float *out, size_t b, size_t e),    \
                (p, in, out, b, e))                                                            \
    void lc_op_##kind##_##layout(const lc_pool_params *p, const float *const *inputs,          \
                                 float *output, size_t begin, size_t end) {                   \
        LC_DISPATCH(p->isa, kind##_##layout, (p, inputs[0], output, begin, end));              \
    }
POOL_VARIANT(chw, maxpool, 1)
POOL_VARIANT(hwc, maxpool, 1)
POOL_VARIANT(chw, avgpool, 0)
POOL_VARIANT(hwc, avgpool, 0)

size_t lc_op_maxpool_chw_units(const lc_pool_params *p) { return p->c; }
size_t lc_op_avgpool_chw_units(const lc_pool_params *p) { return p->c; }
size_t lc_op_maxpool_hwc_units(const lc_pool_params *p) { return p->oh; }
size_t lc_op_avgpool_hwc_units(const lc_pool_params *p) { return p->oh; }

/* ---- global pooling ---- */

enum { LANES = 16 }; /* independent partial results: a vectorisable reduction in any order */

LC_INLINE void global_chw_body(const lc_global_pool_params *p, const float *in, float *out,
                               size_t c0, size_t c1, int is_max) {
    size_t n = p->hw, nv = n / LANES * LANES;
    for (size_t c = c0; c < c1; ++c) {
        const float *x = in + c * n;
        float acc[LANES];
        float r;
        if (is_max) {
            for (size_t j = 0; j < LANES; ++j) acc[j] = -INFINITY;
            for (size_t i = 0; i < nv; i += LANES)
                for (size_t j = 0; j < LANES; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
            r = -INFINITY;
            for (size_t i = nv; i < n; ++i) r = x[i] > r ? x[i] : r;
            for (size_t j = 0; j < LANES; ++j) r = acc[j] > r ? acc[j] : r;
        } else {
            for (size_t j = 0; j < LANES; ++j) acc[j] = 0.0f;
            for (size_t i = 0; i < nv; i += LANES)
                for (size_t j = 0; j < LANES; ++j) acc[j] += x[i + j];
            r = 0.0f;
            for (size_t i = nv; i < n; ++i) r += x[i];
            for (size_t j = 0; j < LANES; ++j) r += acc[j];
            r /= (float)n;
        }
        out[c] = r;
    }
}

LC_INLINE void global_hwc_body(const lc_global_pool_params *p, const float *in, float *out,
                               size_t c0, size_t c1, int is_max) {
    size_t nc = p->c;
    float *o = out + c0;
    size_t m = c1 - c0;
    const float *x0 = in + c0;
    for (size_t c = 0; c < m; ++c) o[c] = x0[c];
    for (size_t q = 1; q < p->hw; ++q) {
        const float *x = x0 + q * nc;
        if (is_max)
            for (size_t c = 0; c < m; ++c) o[c] = x[c] > o[c] ? x[c] : o[c];
        else
            for (size_t c = 0; c < m; ++c) o[c] += x[c];
    }
    if (!is_max) {
        float inv = 1.0f / (float)p->hw;
        for (size_t c = 0; c < m; ++c) o[c] *= inv;
    }
}

#define GLOBAL_VARIANT(layout, kind, is_max)                                                   \
    LC_INLINE void kind##_##layout##_body(const lc_global_pool_params *p, const float *in,    \
                                          float *out, size_t b, size_t e) {                   \
        global_##layout##_body(p, in, out, b, e, is_max);                                      \
    }                                                                                          \
    LC_VARIANTS(kind##_##layout,                                                               \
                (const lc_global_pool_params *p, const float *in, float *out, size_t b,        \
                 size_t e),                                                                    \
                (p, in, out, b, e))                                                            \
    size_t lc_op_##kind##_##layout##_units(const lc_global_pool_params *p) { return p->c; }   \
    void lc_op_##kind##_##layout(const lc_global_pool_params *p, const float *const *inputs,   \
                                 float *output, size_t begin, size_t end) {                   \
        LC_DISPATCH(p->isa, kind##_##layout, (p, inputs[0], output, begin, end));              \
    }
GLOBAL_VARIANT(chw, global_avgpool, 0)
GLOBAL_VARIANT(hwc, global_avgpool, 0)
GLOBAL_VARIANT(chw, global_maxpool, 1)
GLOBAL_VARIANT(hwc, global_maxpool, 1)
