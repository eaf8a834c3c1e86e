/* Resize, nearest and bilinear, with ONNX's coordinate transforms and nearest modes (PyTorch's
 * modes are among them). Each output row and column finds its source index (nearest) or two
 * indices and weights (linear) once per row / pixel; HWC then streams the channels. */
#include <math.h>

#include "lc_internal.h"
#include "lc_ops.h"

/* Coordinates are rounded as PyTorch computes them, one float operation at a time: a fused
 * multiply-add would move a coordinate that lands on an integer off it, and nearest modes
 * then pick a different pixel. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif

LC_INLINE float src_coord(size_t x, float r, size_t in, size_t out, int coord) {
    switch (coord) {
    case LC_COORD_HALF_PIXEL: return ((float)x + 0.5f) * r - 0.5f;
    case LC_COORD_PYTORCH_HALF_PIXEL: return out > 1 ? ((float)x + 0.5f) * r - 0.5f : 0.0f;
    case LC_COORD_ASYMMETRIC: return (float)x * r;
    default: return out > 1 ? (float)x * (float)(in - 1) / (float)(out - 1) : 0.0f;
    }
}

LC_INLINE size_t nearest_index(float v, size_t in, int mode) {
    float f;
    switch (mode) {
    case LC_NEAREST_ROUND_PREFER_FLOOR: f = ceilf(v - 0.5f); break;
    case LC_NEAREST_ROUND_PREFER_CEIL: f = floorf(v + 0.5f); break;
    case LC_NEAREST_FLOOR: f = floorf(v); break;
    default: f = ceilf(v); break;
    }
    if (!(f > 0.0f)) return 0;
    return f >= (float)(in - 1) ? in - 1 : (size_t)f;
}

/* Linear: indices i0, i1 and the weight of i1, the coordinate clamped to [0, in - 1]. */
typedef struct {
    size_t i0, i1;
    float l;
} lerp_t;

LC_INLINE lerp_t lerp_at(float v, size_t in) {
    lerp_t t;
    if (!(v > 0.0f)) v = 0.0f;
    t.i0 = (size_t)v;
    if (t.i0 >= in - 1) {
        t.i0 = t.i1 = in - 1;
        t.l = 0.0f;
    } else {
        t.i1 = t.i0 + 1;
        t.l = v - (float)t.i0;
    }
    return t;
}

LC_INLINE void resize_chw_body(const lc_resize_params *p, const float *in, float *out, size_t c0,
                               size_t c1) {
    for (size_t c = c0; c < c1; ++c) {
        const float *x = in + c * p->h * p->w;
        for (size_t oy = 0; oy < p->oh; ++oy) {
            float vy = src_coord(oy, p->rh, p->h, p->oh, p->coord);
            float *o = out + (c * p->oh + oy) * p->ow;
            if (p->mode == LC_RESIZE_NEAREST) {
                const float *row = x + nearest_index(vy, p->h, p->nearest) * p->w;
                for (size_t ox = 0; ox < p->ow; ++ox)
                    o[ox] = row[nearest_index(src_coord(ox, p->rw, p->w, p->ow, p->coord), p->w,
                                              p->nearest)];
            } else {
                lerp_t ty = lerp_at(vy, p->h);
                const float *r0 = x + ty.i0 * p->w, *r1 = x + ty.i1 * p->w;
                for (size_t ox = 0; ox < p->ow; ++ox) {
                    lerp_t tx = lerp_at(src_coord(ox, p->rw, p->w, p->ow, p->coord), p->w);
                    o[ox] = (1.0f - ty.l) * ((1.0f - tx.l) * r0[tx.i0] + tx.l * r0[tx.i1]) +
                            ty.l * ((1.0f - tx.l) * r1[tx.i0] + tx.l * r1[tx.i1]);
                }
            }
        }
    }
}

LC_INLINE void resize_hwc_body(const lc_resize_params *p, const float *in, float *out, size_t y0,
                               size_t y1) {
    size_t nc = p->c;
    for (size_t oy = y0; oy < y1; ++oy) {
        float vy = src_coord(oy, p->rh, p->h, p->oh, p->coord);
        for (size_t ox = 0; ox < p->ow; ++ox) {
            float vx = src_coord(ox, p->rw, p->w, p->ow, p->coord);
            float *o = out + (oy * p->ow + ox) * nc;
            if (p->mode == LC_RESIZE_NEAREST) {
                size_t iy = nearest_index(vy, p->h, p->nearest);
                size_t ix = nearest_index(vx, p->w, p->nearest);
                memcpy(o, in + (iy * p->w + ix) * nc, nc * sizeof(float));
            } else {
                lerp_t ty = lerp_at(vy, p->h), tx = lerp_at(vx, p->w);
                const float *a = in + (ty.i0 * p->w + tx.i0) * nc, *b = in + (ty.i0 * p->w + tx.i1) * nc;
                const float *d = in + (ty.i1 * p->w + tx.i0) * nc, *e = in + (ty.i1 * p->w + tx.i1) * nc;
                float wy0 = 1.0f - ty.l, wy1 = ty.l, wx0 = 1.0f - tx.l, wx1 = tx.l;
                for (size_t c = 0; c < nc; ++c)
                    o[c] = wy0 * (wx0 * a[c] + wx1 * b[c]) + wy1 * (wx0 * d[c] + wx1 * e[c]);
            }
        }
    }
}

#define RESIZE_PARAMS (const lc_resize_params *p, const float *in, float *out, size_t b, size_t e)
LC_VARIANTS(resize_chw, RESIZE_PARAMS, (p, in, out, b, e))
LC_VARIANTS(resize_hwc, RESIZE_PARAMS, (p, in, out, b, e))

size_t lc_op_resize_chw_units(const lc_resize_params *p) { return p->c; }
size_t lc_op_resize_hwc_units(const lc_resize_params *p) { return p->oh; }
void lc_op_resize_chw(const lc_resize_params *p, const float *const *inputs, float *output,
                      size_t begin, size_t end) {
    LC_DISPATCH(p->isa, resize_chw, (p, inputs[0], output, begin, end));
}
void lc_op_resize_hwc(const lc_resize_params *p, const float *const *inputs, float *output,
                      size_t begin, size_t end) {
    LC_DISPATCH(p->isa, resize_hwc, (p, inputs[0], output, begin, end));
}
