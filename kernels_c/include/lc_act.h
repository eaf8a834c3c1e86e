/* The activations (lc_ops.h's LC_ACT_*) as always-inline functions: one definition that the
 * activation op and every kernel's fused epilogue share. lc_act_span applies one activation to
 * a run of floats with the kind switched once outside the loop, so each loop is branch-free and
 * vectorises in the caller's ISA copy (LC_VARIANTS). exp, tanh and erf are polynomial (no libm
 * call in the loops, which would stop vectorisation): within a few float ulps of libm, and erf
 * within 2e-7 absolute (Abramowitz & Stegun 7.1.26). Internal header. */
#ifndef LC_ACT_H
#define LC_ACT_H

#include <stdint.h>

#include "lc_internal.h"
#include "lc_ops.h"

LC_INLINE float lc_bits_to_float(int32_t i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}

/* exp(x) for x clamped to [-87, 88] (so 2^n stays a normal float): exp(-87) ~ 1.6e-38 stands
 * for anything smaller and exp(88) ~ 1.7e38 for anything larger, which every use here (sigmoid,
 * tanh, erf, softmax of x - max) absorbs. n = round(x / ln 2) by the 1.5 * 2^23 shift, r = x -
 * n ln 2 in two parts (Cody-Waite), exp(r) by Cephes' degree-6 polynomial. */
LC_INLINE float lc_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * lc_bits_to_float(((int32_t)n + 127) << 23);
}

LC_INLINE float lc_sigmoidf(float x) {
    float e = lc_expf(x < 0.0f ? x : -x); /* exp(-|x|): no overflow, no cancellation */
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

/* tanh: Cephes' odd polynomial below |x| = 0.625 (where (1 - e) / (1 + e) would cancel), the
 * exp form above. */
LC_INLINE float lc_tanhf(float x) {
    float a = x < 0.0f ? -x : x;
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                    1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    float e = lc_expf(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    big = x < 0.0f ? -big : big;
    return a < 0.625f ? small : big;
}

/* x * (1 + erf(x / sqrt 2)) / 2. With q = erfc(|x| / sqrt 2) from A&S 7.1.26, negative x use
 * x * q / 2 directly, so the far negative tail keeps its relative accuracy. */
LC_INLINE float lc_geluf(float x) {
    float z = (x < 0.0f ? -x : x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.3275911f * z);
    float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t +
                  0.254829592f) * t;
    float q = poly * lc_expf(-z * z);
    return 0.5f * x * (x < 0.0f ? q : 2.0f - q);
}

LC_INLINE float lc_clampf(float v, float lo, float hi) {
    v = v > lo ? v : lo;
    return v < hi ? v : hi;
}

LC_INLINE float lc_hard_swishf(float x) { return x * lc_clampf(x + 3.0f, 0.0f, 6.0f) / 6.0f; }

/* One activation of one value (for kernels that finish one element at a time). */
LC_INLINE float lc_act_eval(float x, const lc_activation *a) {
    switch (a->kind) {
    case LC_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case LC_ACT_RELU6: return lc_clampf(x, 0.0f, 6.0f);
    case LC_ACT_CLIP: return lc_clampf(x, a->alpha, a->beta);
    case LC_ACT_SIGMOID: return lc_sigmoidf(x);
    case LC_ACT_HARD_SIGMOID: return lc_clampf(a->alpha * x + a->beta, 0.0f, 1.0f);
    case LC_ACT_HARD_SWISH: return lc_hard_swishf(x);
    case LC_ACT_SILU: return x * lc_sigmoidf(x);
    case LC_ACT_GELU: return lc_geluf(x);
    case LC_ACT_TANH: return lc_tanhf(x);
    case LC_ACT_LEAKY_RELU: return x >= 0.0f ? x : a->alpha * x;
    default: return x;
    }
}

/* y[i] = act(x[i]) for i < n; y may equal x (in place). */
LC_INLINE void lc_act_span(float *y, const float *x, size_t n, const lc_activation *a) {
    float al = a->alpha, be = a->beta;
#define LC_ACT_LOOP(expr)                                                                      \
    for (size_t i = 0; i < n; ++i) {                                                           \
        float v = x[i];                                                                        \
        y[i] = (expr);                                                                         \
    }                                                                                          \
    break
    switch (a->kind) {
    case LC_ACT_RELU: LC_ACT_LOOP(v > 0.0f ? v : 0.0f);
    case LC_ACT_RELU6: LC_ACT_LOOP(lc_clampf(v, 0.0f, 6.0f));
    case LC_ACT_CLIP: LC_ACT_LOOP(lc_clampf(v, al, be));
    case LC_ACT_SIGMOID: LC_ACT_LOOP(lc_sigmoidf(v));
    case LC_ACT_HARD_SIGMOID: LC_ACT_LOOP(lc_clampf(al * v + be, 0.0f, 1.0f));
    case LC_ACT_HARD_SWISH: LC_ACT_LOOP(lc_hard_swishf(v));
    case LC_ACT_SILU: LC_ACT_LOOP(v * lc_sigmoidf(v));
    case LC_ACT_GELU: LC_ACT_LOOP(lc_geluf(v));
    case LC_ACT_TANH: LC_ACT_LOOP(lc_tanhf(v));
    case LC_ACT_LEAKY_RELU: LC_ACT_LOOP(v >= 0.0f ? v : al * v);
    default:
        if (y != x) memmove(y, x, n * sizeof *y);
        break;
    }
#undef LC_ACT_LOOP
}

#endif /* LC_ACT_H */
