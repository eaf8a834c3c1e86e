/* Element-wise kernels: activations, binary arithmetic with the broadcasts CNNs use, and
 * batch-norm as a per-channel affine map. Each works row by row (a CHW channel plane or an HWC
 * pixel), so a broadcast operand is a scalar or a vector per row and every inner loop is a
 * plain vectorisable stream; the fused activation runs over the row just written. */
#include "lc_act.h"

/* ---- activation ---- */

LC_INLINE void act_span_body(float *y, const float *x, size_t n, lc_activation a) {
    lc_act_span(y, x, n, &a);
}
LC_VARIANTS(act_span, (float *y, const float *x, size_t n, lc_activation a), (y, x, n, a))

size_t lc_op_activation_units(const lc_unary_params *p) { return p->n; }

void lc_op_activation(const lc_unary_params *p, const float *const *inputs, float *output,
                      size_t begin, size_t end) {
    LC_DISPATCH(p->isa, act_span, (output + begin, inputs[0] + begin, end - begin, p->act));
}

/* ---- binary ---- */

/* o = a op b over n elements (reversed: b op a). */
LC_INLINE void binary_vv(int op, int reversed, float *o, const float *a, const float *b,
                         size_t n) {
    if (reversed) {
        const float *t = a;
        a = b;
        b = t;
    }
    switch (op) {
    case LC_BINARY_ADD: for (size_t i = 0; i < n; ++i) o[i] = a[i] + b[i]; break;
    case LC_BINARY_SUB: for (size_t i = 0; i < n; ++i) o[i] = a[i] - b[i]; break;
    case LC_BINARY_MUL: for (size_t i = 0; i < n; ++i) o[i] = a[i] * b[i]; break;
    default: for (size_t i = 0; i < n; ++i) o[i] = a[i] / b[i]; break;
    }
}

/* o = a op s over n elements (reversed: s op a). */
LC_INLINE void binary_vs(int op, int reversed, float *o, const float *a, float s, size_t n) {
    switch (op) {
    case LC_BINARY_ADD: for (size_t i = 0; i < n; ++i) o[i] = a[i] + s; break;
    case LC_BINARY_MUL: for (size_t i = 0; i < n; ++i) o[i] = a[i] * s; break;
    case LC_BINARY_SUB:
        if (reversed)
            for (size_t i = 0; i < n; ++i) o[i] = s - a[i];
        else
            for (size_t i = 0; i < n; ++i) o[i] = a[i] - s;
        break;
    default:
        if (reversed)
            for (size_t i = 0; i < n; ++i) o[i] = s / a[i];
        else
            for (size_t i = 0; i < n; ++i) o[i] = a[i] / s;
        break;
    }
}

/* Rows [r0, r1) of `len` floats; `per_row_scalar`: the CHW channel broadcast (y[r] is the
 * row's scalar), else a channel broadcast is a vector of len (HWC). */
LC_INLINE void binary_body(const lc_binary_params *p, const float *x, const float *y, float *out,
                           size_t r0, size_t r1, size_t len, int per_row_scalar) {
    for (size_t r = r0; r < r1; ++r) {
        const float *xr = x + r * len;
        float *o = out + r * len;
        if (p->bcast == LC_BCAST_SAME)
            binary_vv(p->op, p->reversed, o, xr, y + r * len, len);
        else if (p->bcast == LC_BCAST_SCALAR)
            binary_vs(p->op, p->reversed, o, xr, y[0], len);
        else if (per_row_scalar)
            binary_vs(p->op, p->reversed, o, xr, y[r], len);
        else
            binary_vv(p->op, p->reversed, o, xr, y, len);
        if (p->act.kind != LC_ACT_NONE) lc_act_span(o, o, len, &p->act);
    }
}
LC_INLINE void binary_chw_body(const lc_binary_params *p, const float *x, const float *y,
                               float *out, size_t r0, size_t r1) {
    binary_body(p, x, y, out, r0, r1, p->hw, 1);
}
LC_INLINE void binary_hwc_body(const lc_binary_params *p, const float *x, const float *y,
                               float *out, size_t r0, size_t r1) {
    binary_body(p, x, y, out, r0, r1, p->c, 0);
}
#define ROWS_PARAMS(type) (const type *p, const float *x, const float *y, float *out, size_t r0, size_t r1)
LC_VARIANTS(binary_chw, ROWS_PARAMS(lc_binary_params), (p, x, y, out, r0, r1))
LC_VARIANTS(binary_hwc, ROWS_PARAMS(lc_binary_params), (p, x, y, out, r0, r1))

size_t lc_op_binary_chw_units(const lc_binary_params *p) { return p->c; }
size_t lc_op_binary_hwc_units(const lc_binary_params *p) { return p->hw; }

void lc_op_binary_chw(const lc_binary_params *p, const float *const *inputs, float *output,
                      size_t begin, size_t end) {
    LC_DISPATCH(p->isa, binary_chw, (p, inputs[0], inputs[1], output, begin, end));
}
void lc_op_binary_hwc(const lc_binary_params *p, const float *const *inputs, float *output,
                      size_t begin, size_t end) {
    LC_DISPATCH(p->isa, binary_hwc, (p, inputs[0], inputs[1], output, begin, end));
}

/* ---- per-channel affine (batch-norm) ---- */

LC_INLINE void affine_chw_body(const lc_affine_params *p, const float *x, const float *const *sb,
                               float *out, size_t r0, size_t r1) {
    size_t len = p->hw;
    for (size_t r = r0; r < r1; ++r) {
        const float *xr = x + r * len;
        float *o = out + r * len, s = sb[0][r], b = sb[1][r];
        for (size_t i = 0; i < len; ++i) o[i] = xr[i] * s + b;
        if (p->act.kind != LC_ACT_NONE) lc_act_span(o, o, len, &p->act);
    }
}
LC_INLINE void affine_hwc_body(const lc_affine_params *p, const float *x, const float *const *sb,
                               float *out, size_t r0, size_t r1) {
    size_t len = p->c;
    const float *s = sb[0], *b = sb[1];
    for (size_t r = r0; r < r1; ++r) {
        const float *xr = x + r * len;
        float *o = out + r * len;
        for (size_t i = 0; i < len; ++i) o[i] = xr[i] * s[i] + b[i];
        if (p->act.kind != LC_ACT_NONE) lc_act_span(o, o, len, &p->act);
    }
}
#define AFFINE_PARAMS (const lc_affine_params *p, const float *x, const float *const *sb, float *out, size_t r0, size_t r1)
LC_VARIANTS(affine_chw, AFFINE_PARAMS, (p, x, sb, out, r0, r1))
LC_VARIANTS(affine_hwc, AFFINE_PARAMS, (p, x, sb, out, r0, r1))

size_t lc_op_affine_chw_units(const lc_affine_params *p) { return p->c; }
size_t lc_op_affine_hwc_units(const lc_affine_params *p) { return p->hw; }

void lc_op_affine_chw(const lc_affine_params *p, const float *const *inputs, float *output,
                      size_t begin, size_t end) {
    LC_DISPATCH(p->isa, affine_chw, (p, inputs[0], inputs + 1, output, begin, end));
}
void lc_op_affine_hwc(const lc_affine_params *p, const float *const *inputs, float *output,
                      size_t begin, size_t end) {
    LC_DISPATCH(p->isa, affine_hwc, (p, inputs[0], inputs + 1, output, begin, end));
}
