/* Softmax and layer-norm over the channels of each pixel. HWC: a pixel's channels are
 * contiguous, reduced with independent lanes. CHW: a block of up to BLOCK pixels at a time,
 * its running statistics on the stack, each channel plane read as a contiguous run (vectorised
 * along the pixels). */
#include <math.h>

#include "lc_act.h"

enum { BLOCK = 64, LANES = 16 };

LC_INLINE float lanes_max(const float *x, size_t n) {
    float acc[LANES], r = -INFINITY;
    size_t nv = n / LANES * LANES;
    for (size_t j = 0; j < LANES; ++j) acc[j] = -INFINITY;
    for (size_t i = 0; i < nv; i += LANES)
        for (size_t j = 0; j < LANES; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    for (size_t i = nv; i < n; ++i) r = x[i] > r ? x[i] : r;
    for (size_t j = 0; j < LANES; ++j) r = acc[j] > r ? acc[j] : r;
    return r;
}

LC_INLINE float lanes_sum(const float *x, size_t n) {
    float acc[LANES], r = 0.0f;
    size_t nv = n / LANES * LANES;
    for (size_t j = 0; j < LANES; ++j) acc[j] = 0.0f;
    for (size_t i = 0; i < nv; i += LANES)
        for (size_t j = 0; j < LANES; ++j) acc[j] += x[i + j];
    for (size_t i = nv; i < n; ++i) r += x[i];
    for (size_t j = 0; j < LANES; ++j) r += acc[j];
    return r;
}

/* ---- softmax ---- */

LC_INLINE void softmax_hwc_body(const lc_softmax_params *p, const float *in, float *out,
                                size_t q0, size_t q1) {
    size_t c = p->c;
    for (size_t q = q0; q < q1; ++q) {
        const float *x = in + q * c;
        float *o = out + q * c;
        float m = lanes_max(x, c);
        for (size_t i = 0; i < c; ++i) o[i] = lc_expf(x[i] - m);
        float inv = 1.0f / lanes_sum(o, c);
        for (size_t i = 0; i < c; ++i) o[i] *= inv;
    }
}

LC_INLINE void softmax_chw_body(const lc_softmax_params *p, const float *in, float *out,
                                size_t q0, size_t q1) {
    size_t hw = p->hw;
    for (size_t b = q0; b < q1; b += BLOCK) {
        size_t n = LC_MIN((size_t)BLOCK, q1 - b);
        float m[BLOCK], s[BLOCK];
        for (size_t i = 0; i < n; ++i) m[i] = -INFINITY, s[i] = 0.0f;
        for (size_t c = 0; c < p->c; ++c) {
            const float *x = in + c * hw + b;
            for (size_t i = 0; i < n; ++i) m[i] = x[i] > m[i] ? x[i] : m[i];
        }
        for (size_t c = 0; c < p->c; ++c) {
            const float *x = in + c * hw + b;
            float *o = out + c * hw + b;
            for (size_t i = 0; i < n; ++i) {
                o[i] = lc_expf(x[i] - m[i]);
                s[i] += o[i];
            }
        }
        for (size_t i = 0; i < n; ++i) s[i] = 1.0f / s[i];
        for (size_t c = 0; c < p->c; ++c) {
            float *o = out + c * hw + b;
            for (size_t i = 0; i < n; ++i) o[i] *= s[i];
        }
    }
}

#define NORM_PARAMS(type) (const type *p, const float *in, float *out, size_t b, size_t e)
LC_VARIANTS(softmax_chw, NORM_PARAMS(lc_softmax_params), (p, in, out, b, e))
LC_VARIANTS(softmax_hwc, NORM_PARAMS(lc_softmax_params), (p, in, out, b, e))

size_t lc_op_softmax_chw_units(const lc_softmax_params *p) { return p->hw; }
size_t lc_op_softmax_hwc_units(const lc_softmax_params *p) { return p->hw; }
void lc_op_softmax_chw(const lc_softmax_params *p, const float *const *inputs, float *output,
                       size_t begin, size_t end) {
    LC_DISPATCH(p->isa, softmax_chw, (p, inputs[0], output, begin, end));
}
void lc_op_softmax_hwc(const lc_softmax_params *p, const float *const *inputs, float *output,
                       size_t begin, size_t end) {
    LC_DISPATCH(p->isa, softmax_hwc, (p, inputs[0], output, begin, end));
}

/* ---- layer-norm ----
 * Two passes over data shifted by its first channel: x - x[0] is exact for
 * nearby values, so the mean and x - mean keep their precision when the
 * channels are large and close together (a plain f32 mean loses it there). */

LC_INLINE void layernorm_hwc_body(const lc_layernorm_params *p, const float *const *in,
                                  float *out, size_t q0, size_t q1) {
    size_t c = p->c;
    const float *g = in[1], *be = in[2];
    for (size_t q = q0; q < q1; ++q) {
        const float *x = in[0] + q * c;
        float *o = out + q * c;
        float k = x[0];
        for (size_t i = 0; i < c; ++i) o[i] = x[i] - k;
        float mean = lanes_sum(o, c) / (float)c;
        for (size_t i = 0; i < c; ++i) o[i] = (o[i] - mean) * (o[i] - mean);
        float inv = 1.0f / sqrtf(lanes_sum(o, c) / (float)c + p->eps);
        for (size_t i = 0; i < c; ++i) o[i] = ((x[i] - k) - mean) * inv * g[i] + be[i];
    }
}

LC_INLINE void layernorm_chw_body(const lc_layernorm_params *p, const float *const *in,
                                  float *out, size_t q0, size_t q1) {
    size_t hw = p->hw;
    const float *g = in[1], *be = in[2];
    for (size_t b = q0; b < q1; b += BLOCK) {
        size_t n = LC_MIN((size_t)BLOCK, q1 - b);
        const float *k = in[0] + b;
        float m[BLOCK], v[BLOCK];
        for (size_t i = 0; i < n; ++i) m[i] = 0.0f, v[i] = 0.0f;
        for (size_t c = 0; c < p->c; ++c) {
            const float *x = in[0] + c * hw + b;
            for (size_t i = 0; i < n; ++i) m[i] += x[i] - k[i];
        }
        for (size_t i = 0; i < n; ++i) m[i] /= (float)p->c;
        for (size_t c = 0; c < p->c; ++c) {
            const float *x = in[0] + c * hw + b;
            for (size_t i = 0; i < n; ++i) {
                float d = (x[i] - k[i]) - m[i];
                v[i] += d * d;
            }
        }
        for (size_t i = 0; i < n; ++i) v[i] = 1.0f / sqrtf(v[i] / (float)p->c + p->eps);
        for (size_t c = 0; c < p->c; ++c) {
            const float *x = in[0] + c * hw + b;
            float *o = out + c * hw + b;
            for (size_t i = 0; i < n; ++i) o[i] = ((x[i] - k[i]) - m[i]) * v[i] * g[c] + be[c];
        }
    }
}

#define LN_PARAMS (const lc_layernorm_params *p, const float *const *in, float *out, size_t b, size_t e)
LC_VARIANTS(layernorm_chw, LN_PARAMS, (p, in, out, b, e))
LC_VARIANTS(layernorm_hwc, LN_PARAMS, (p, in, out, b, e))

size_t lc_op_layernorm_chw_units(const lc_layernorm_params *p) { return p->hw; }
size_t lc_op_layernorm_hwc_units(const lc_layernorm_params *p) { return p->hw; }
void lc_op_layernorm_chw(const lc_layernorm_params *p, const float *const *inputs, float *output,
                         size_t begin, size_t end) {
    LC_DISPATCH(p->isa, layernorm_chw, (p, inputs, output, begin, end));
}
void lc_op_layernorm_hwc(const lc_layernorm_params *p, const float *const *inputs, float *output,
                         size_t begin, size_t end) {
    LC_DISPATCH(p->isa, layernorm_hwc, (p, inputs, output, begin, end));
}

/* ---- local response normalisation ----
 * The window's squares are summed into the output first, then each element is scaled by
 * (bias + scale * sum) ^ -beta; beta = 0.75 (every LRN network's) as 1 / (t^1/2 * t^1/4), two
 * square roots that vectorise, any other beta through powf. */

LC_INLINE void lrn_finish(const lc_lrn_params *p, const float *x, float *o, size_t n) {
    float scale = p->scale, bias = p->bias, beta = p->beta;
    if (beta == 0.75f) {
        for (size_t i = 0; i < n; ++i) {
            float r = 1.0f / sqrtf(bias + scale * o[i]);
            o[i] = x[i] * r * sqrtf(r);
        }
    } else {
        for (size_t i = 0; i < n; ++i) o[i] = x[i] * powf(bias + scale * o[i], -beta);
    }
}

LC_INLINE void lrn_chw_body(const lc_lrn_params *p, const float *in, float *out, size_t k0,
                            size_t k1) {
    size_t hw = p->hw;
    for (size_t k = k0; k < k1; ++k) {
        float *o = out + k * hw;
        size_t lo = k >= p->before ? k - p->before : 0, hi = LC_MIN(p->c - 1, k + p->after);
        for (size_t i = 0; i < hw; ++i) o[i] = 0.0f;
        for (size_t j = lo; j <= hi; ++j) {
            const float *x = in + j * hw;
            for (size_t i = 0; i < hw; ++i) o[i] += x[i] * x[i];
        }
        lrn_finish(p, in + k * hw, o, hw);
    }
}

LC_INLINE void lrn_hwc_body(const lc_lrn_params *p, const float *in, float *out, size_t q0,
                            size_t q1) {
    size_t c = p->c;
    for (size_t q = q0; q < q1; ++q) {
        const float *x = in + q * c;
        float *o = out + q * c;
        for (size_t k = 0; k < c; ++k) o[k] = 0.0f;
        /* o[k] += x[k + d]^2 for every offset d of the window, over the k it keeps inside */
        for (size_t b = 0; b <= p->before && b < c; ++b)
            for (size_t k = b; k < c; ++k) o[k] += x[k - b] * x[k - b];
        for (size_t a = 1; a <= p->after && a < c; ++a)
            for (size_t k = 0; k + a < c; ++k) o[k] += x[k + a] * x[k + a];
        lrn_finish(p, x, o, c);
    }
}

LC_VARIANTS(lrn_chw, NORM_PARAMS(lc_lrn_params), (p, in, out, b, e))
LC_VARIANTS(lrn_hwc, NORM_PARAMS(lc_lrn_params), (p, in, out, b, e))

size_t lc_op_lrn_chw_units(const lc_lrn_params *p) { return p->c; }
size_t lc_op_lrn_hwc_units(const lc_lrn_params *p) { return p->hw; }
void lc_op_lrn_chw(const lc_lrn_params *p, const float *const *inputs, float *output,
                   size_t begin, size_t end) {
    LC_DISPATCH(p->isa, lrn_chw, (p, inputs[0], output, begin, end));
}
void lc_op_lrn_hwc(const lc_lrn_params *p, const float *const *inputs, float *output,
                   size_t begin, size_t end) {
    LC_DISPATCH(p->isa, lrn_hwc, (p, inputs[0], output, begin, end));
}
