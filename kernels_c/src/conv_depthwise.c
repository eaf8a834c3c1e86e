/* Depthwise convolution (groups == C == K), 3x3 and 5x5, stride 1 or 2, any padding.
 * HWC: vectors of 8 channels, accumulated in registers over the taps. Pixels whose taps all lie
 * inside the input (nearly all) run without bounds checks, four at a time so neighbouring pixels
 * share their input loads and each weight load; pixels outer and channels inner, so the input
 * streams through memory in order (a channel-outer order re-reads each input row once per
 * 8-channel block). Weights packed [kh][kw][C].
 * CHW: vectors of 8 output columns of one channel's row, the taps' weights broadcast once per
 * channel; stride 2 loads 16 input columns and keeps the even ones. Weights in PyTorch's
 * [C][kh][kw].
 * Pixels near the border, channels past the last multiple of 8 (HWC) and rows narrower than a
 * vector (CHW) take one scalar routine shared by both layouts. No workspace. */
#include "lc_internal.h"

static int dw_ok(const lc_conv_params *p, size_t ks) {
    return p->groups == p->c && p->k == p->c && p->kh == ks && p->kw == ks && p->sh == p->sw &&
           (p->sh == 1 || p->sh == 2) && p->dh == 1 && p->dw == 1 && p->oh > 0 && p->ow > 0;
}

/* Kernel rows [*r0, *r1) of output row oy that fall inside the input. */
LC_INLINE void dw_rows(const lc_conv_params *p, size_t oy, size_t ks, size_t *r0, size_t *r1) {
    ptrdiff_t iy0 = (ptrdiff_t)(oy * p->sh) - (ptrdiff_t)p->pt;
    ptrdiff_t a = iy0 < 0 ? -iy0 : 0, b = (ptrdiff_t)p->h - iy0;
    if (b > (ptrdiff_t)ks) b = (ptrdiff_t)ks;
    if (a > b) a = b < 0 ? 0 : b;
    if (b < a) b = a;
    *r0 = (size_t)a;
    *r1 = (size_t)b;
}

/* Output columns [*xa, *xb) whose ks input columns ox*sw - pl + [0, ks) all lie inside [0, w);
 * the columns before xa and from xb on are the border ones. */
static void dw_interior_cols(const lc_conv_params *p, size_t ks, size_t *xa, size_t *xb) {
    size_t b = p->w + p->pl >= ks ? (p->w + p->pl - ks) / p->sw + 1 : 0;
    b = LC_MIN(b, p->ow);
    *xa = LC_MIN((p->pl + p->sw - 1) / p->sw, b);
    *xb = b;
}

/* One output value, with bounds checks: x is the channel's input at pixel (0, 0), rs and ps its
 * row and pixel strides; w the channel's tap (0, 0) weight, ts the stride between taps. */
LC_INLINE float dw_px_scalar(const lc_conv_params *p, const float *x, size_t rs, size_t ps,
                             const float *w, size_t ts, float b, size_t oy, size_t ox,
                             size_t ks) {
    ptrdiff_t iy0 = (ptrdiff_t)(oy * p->sh) - (ptrdiff_t)p->pt;
    ptrdiff_t ix0 = (ptrdiff_t)(ox * p->sw) - (ptrdiff_t)p->pl;
    float acc = b;
    for (size_t r = 0; r < ks; ++r) {
        ptrdiff_t iy = iy0 + (ptrdiff_t)r;
        if (iy < 0 || iy >= (ptrdiff_t)p->h) continue;
        for (size_t s = 0; s < ks; ++s) {
            ptrdiff_t ix = ix0 + (ptrdiff_t)s;
            if (ix < 0 || ix >= (ptrdiff_t)p->w) continue;
            acc += x[(size_t)iy * rs + (size_t)ix * ps] * w[(r * ks + s) * ts];
        }
    }
    return lc_act(acc, p->act);
}

#if LC_HAVE_VEC
#define DW_UNROLL _Pragma("GCC unroll 16")

/* Even lanes of the 16 floats a[0..8) ++ b[1..9) where b starts 7 floats after a: the stride-2
 * columns of x[0..15), without reading x[15]. */
#if defined(__clang__) || __GNUC__ >= 12
#define DW_EVENS(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 9, 11, 13, 15)
#else
#define DW_EVENS(a, b) __builtin_shuffle(a, b, (lc_v8i){0, 2, 4, 6, 9, 11, 13, 15})
#endif

/* HWC, output pixel ox, channels [c0, c1) in vectors of 8, checked: kernel rows [r0, r1) (rowp[r]
 * is input row oy*sh - pt + r) and the kernel columns inside the input. */
LC_INLINE void dw_hwc_px_checked(const lc_conv_params *p, const float *const *rowp,
                                 const float *w, const float *bias, float *orow, size_t c0,
                                 size_t c1, size_t ox, size_t r0, size_t r1, size_t ks) {
    size_t C = p->c;
    ptrdiff_t ix0 = (ptrdiff_t)(ox * p->sw) - (ptrdiff_t)p->pl;
    ptrdiff_t hi = LC_MIN((ptrdiff_t)ks, (ptrdiff_t)p->w - ix0);
    size_t s1 = hi > 0 ? (size_t)hi : 0, s0 = LC_MIN(ix0 < 0 ? (size_t)(-ix0) : 0, s1);
    for (size_t c = c0; c + 8 <= c1; c += 8) {
        lc_v8 acc = {0};
        if (bias) LC_V8_LOAD(acc, bias + c);
        for (size_t r = r0; r < r1; ++r)
            for (size_t s = s0; s < s1; ++s) {
                lc_v8 xv, wv;
                LC_V8_LOAD(xv, rowp[r] + (size_t)(ix0 + (ptrdiff_t)s) * C + c);
                LC_V8_LOAD(wv, w + (r * ks + s) * C + c);
                acc += xv * wv;
            }
        LC_V8_ACT(acc, p->act);
        LC_V8_STORE(orow + ox * C + c, acc);
    }
}

/* HWC, output pixels [ox, ox + n) (n <= DW_PX) of a row whose ks input rows are rowp[0..ks) and
 * whose taps all lie inside, channels [c0, c1) in vectors of 8. The pixels share the input
 * columns they read (each loaded once, for every pixel whose window covers it) and each weight
 * vector load. Pixels outer, channels inner: the input streams through memory in order. */
enum { DW_PX = 4 };
LC_INLINE void dw_hwc_pixels(const lc_conv_params *p, const float *const *rowp, const float *w,
                             const float *bias, float *orow, size_t c0, size_t c1, size_t ox,
                             size_t n, size_t ks, size_t st) {
    size_t C = p->c, col = (ox * st - p->pl) * C;
    for (size_t c = c0; c + 8 <= c1; c += 8) {
        lc_v8 a[DW_PX], bv = {0};
        if (bias) LC_V8_LOAD(bv, bias + c);
        DW_UNROLL for (size_t q = 0; q < DW_PX; ++q) a[q] = bv;
        DW_UNROLL for (size_t r = 0; r < ks; ++r) {
            const float *xr = rowp[r] + col + c;
            DW_UNROLL for (size_t j = 0; j < ks + (n - 1) * st; ++j) {
                lc_v8 xv;
                LC_V8_LOAD(xv, xr + j * C);
                DW_UNROLL for (size_t q = 0; q < n; ++q)
                    if (j >= q * st && j - q * st < ks) {
                        lc_v8 wv;
                        LC_V8_LOAD(wv, w + (r * ks + j - q * st) * C + c);
                        a[q] += xv * wv;
                    }
            }
        }
        DW_UNROLL for (size_t q = 0; q < n; ++q) {
            LC_V8_ACT(a[q], p->act);
            LC_V8_STORE(orow + (ox + q) * C + c, a[q]);
        }
    }
}
#endif

LC_INLINE void dw_hwc_body(const lc_conv_params *p, const float *LC_RESTRICT in,
                           const float *LC_RESTRICT w, const float *bias, float *LC_RESTRICT out,
                           size_t ob, size_t oe, size_t y0, size_t y1, size_t ks, size_t st) {
    size_t C = p->c, row = p->w * C, xa, xb, cv = ob;
    dw_interior_cols(p, ks, &xa, &xb);
    for (size_t oy = y0; oy < y1; ++oy) {
        float *orow = out + oy * p->ow * C;
        size_t r0, r1;
        dw_rows(p, oy, ks, &r0, &r1);
#if LC_HAVE_VEC
        const float *rowp[5] = {in, in, in, in, in};
        for (size_t r = r0; r < r1; ++r) rowp[r] = in + (oy * st + r - p->pt) * row;
        cv = ob + (oe - ob) / 8 * 8;
        if (r0 != 0 || r1 != ks) {
            for (size_t ox = 0; ox < p->ow; ++ox)
                dw_hwc_px_checked(p, rowp, w, bias, orow, ob, cv, ox, r0, r1, ks);
        } else {
            size_t ox = 0;
            for (; ox < xa; ++ox) dw_hwc_px_checked(p, rowp, w, bias, orow, ob, cv, ox, 0, ks, ks);
            for (; ox + DW_PX <= xb; ox += DW_PX)
                dw_hwc_pixels(p, rowp, w, bias, orow, ob, cv, ox, DW_PX, ks, st);
            for (; ox < xb; ++ox) dw_hwc_pixels(p, rowp, w, bias, orow, ob, cv, ox, 1, ks, st);
            for (; ox < p->ow; ++ox)
                dw_hwc_px_checked(p, rowp, w, bias, orow, ob, cv, ox, 0, ks, ks);
        }
#endif
        for (size_t c = cv; c < oe; ++c)
            for (size_t ox = 0; ox < p->ow; ++ox)
                orow[ox * C + c] = dw_px_scalar(p, in + c, row, C, w + c, C,
                                                bias ? bias[c] : 0.0f, oy, ox, ks);
    }
}

#if LC_HAVE_VEC
/* CHW, output columns [x0, x0 + 8) of one row: input rows xr[r] for r in [r0, r1), their taps'
 * columns all inside; wv the broadcast weights. */
LC_INLINE void dw_chw_vec(const float *const *xr, const lc_v8 *wv, const lc_v8 *bv, float *o, size_t x0,
                          size_t pl, size_t r0, size_t r1, size_t ks, size_t st, int act) {
    lc_v8 acc = *bv;
    for (size_t r = r0; r < r1; ++r) {
        const float *x = xr[r] + x0 * st - pl;
        DW_UNROLL for (size_t s = 0; s < ks; ++s) {
            lc_v8 v;
            if (st == 1) {
                LC_V8_LOAD(v, x + s);
            } else {
                lc_v8 a, b;
                LC_V8_LOAD(a, x + s);
                LC_V8_LOAD(b, x + s + 7);
                v = DW_EVENS(a, b);
            }
            acc += v * wv[r * ks + s];
        }
    }
    LC_V8_ACT(acc, act);
    LC_V8_STORE(o + x0, acc);
}

/* CHW, the interior columns [xa, xb) of one output row in vectors of 8 (the last one
 * overlapping its predecessor); xb - xa >= 8. */
LC_INLINE void dw_chw_interior(const float *const *xr, const lc_v8 *wv, const lc_v8 *bv, float *o,
                               size_t xa, size_t xb, size_t pl, size_t r0, size_t r1, size_t ks,
                               size_t st, int act) {
    size_t ox = xa;
    for (; ox + 8 <= xb; ox += 8) dw_chw_vec(xr, wv, bv, o, ox, pl, r0, r1, ks, st, act);
    if (ox < xb) dw_chw_vec(xr, wv, bv, o, xb - 8, pl, r0, r1, ks, st, act);
}
#endif

LC_INLINE void dw_chw_body(const lc_conv_params *p, const float *LC_RESTRICT in,
                           const float *LC_RESTRICT w, const float *bias, float *LC_RESTRICT out,
                           size_t ob, size_t oe, size_t y0, size_t y1, size_t ks, size_t st) {
    size_t plane = p->oh * p->ow, xa, xb;
    dw_interior_cols(p, ks, &xa, &xb);
    for (size_t c = ob; c < oe; ++c) {
        const float *x = in + c * p->h * p->w, *wc = w + c * ks * ks;
        float b = bias ? bias[c] : 0.0f;
        size_t vx = 0, vxe = 0; /* columns done by vectors */
#if LC_HAVE_VEC
        lc_v8 wv[25], bv = {0}, zero = {0};
        bv += b;
        for (size_t t = 0; t < ks * ks; ++t) wv[t] = zero + wc[t];
        if (xb - xa >= 8) {
            vx = xa;
            vxe = xb;
        }
#endif
        for (size_t oy = y0; oy < y1; ++oy) {
            float *o = out + c * plane + oy * p->ow;
            size_t r0, r1;
            dw_rows(p, oy, ks, &r0, &r1);
#if LC_HAVE_VEC
            if (vxe) {
                const float *xr[5] = {x, x, x, x, x};
                for (size_t r = r0; r < r1; ++r) xr[r] = x + (oy * st + r - p->pt) * p->w;
                if (r0 == 0 && r1 == ks)
                    dw_chw_interior(xr, wv, &bv, o, vx, vxe, p->pl, 0, ks, ks, st, p->act);
                else
                    dw_chw_interior(xr, wv, &bv, o, vx, vxe, p->pl, r0, r1, ks, st, p->act);
            }
#endif
            (void)r0;
            (void)r1;
            for (size_t ox = 0; ox < p->ow; ++ox) {
                if (ox == vx && vxe) ox = vxe;
                if (ox >= p->ow) break;
                o[ox] = dw_px_scalar(p, x, p->w, 1, wc, 1, b, oy, ox, ks);
            }
        }
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
