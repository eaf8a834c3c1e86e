/* Fully connected layer of one row as a matrix-vector product: each output feature is a dot
 * product of the input with one weight row, summed in independent lanes (vectorised), then
 * bias and the fused activation. */
#include "lc_act.h"

enum { LANES = 16 };

LC_INLINE void linear_body(const lc_linear_params *p, const float *const *in, float *out,
                           size_t j0, size_t j1) {
    const float *x = in[0], *bias = in[2];
    size_t n = p->in_f, nv = n / LANES * LANES;
    for (size_t j = j0; j < j1; ++j) {
        const float *w = in[1] + j * n;
        float acc[LANES], r = bias ? bias[j] : 0.0f;
        for (size_t l = 0; l < LANES; ++l) acc[l] = 0.0f;
        for (size_t i = 0; i < nv; i += LANES)
            for (size_t l = 0; l < LANES; ++l) acc[l] += x[i + l] * w[i + l];
        for (size_t i = nv; i < n; ++i) r += x[i] * w[i];
        for (size_t l = 0; l < LANES; ++l) r += acc[l];
        out[j] = r;
    }
    if (p->act.kind != LC_ACT_NONE) lc_act_span(out + j0, out + j0, j1 - j0, &p->act);
}
LC_VARIANTS(linear, (const lc_linear_params *p, const float *const *in, float *out, size_t b, size_t e),
            (p, in, out, b, e))

size_t lc_op_linear_units(const lc_linear_params *p) { return p->out_f; }
void lc_op_linear(const lc_linear_params *p, const float *const *inputs, float *output,
                  size_t begin, size_t end) {
    LC_DISPATCH(p->isa, linear, (p, inputs, output, begin, end));
}
