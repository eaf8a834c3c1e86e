/* The primitive table, parameter setup and the shared epilogues and weight relayouts. */
#include "lc_internal.h"

static const lc_primitive PRIMITIVES[] = {
#define LC_PRIMITIVE(id, family, layout)                                                       \
    {#id, family, layout, lc_##id##_applicable, lc_##id##_workspace_bytes,                     \
     lc_##id##_packed_bytes, lc_##id##_pack, lc_##id##_run},
#include "lc_primitives.inc"
#undef LC_PRIMITIVE
};

size_t lc_primitive_count(void) { return sizeof PRIMITIVES / sizeof *PRIMITIVES; }

const lc_primitive *lc_primitive_get(size_t index) {
    return index < lc_primitive_count() ? &PRIMITIVES[index] : NULL;
}

int lc_conv_params_setup(lc_conv_params *p) {
    if (!p->c || !p->h || !p->w || !p->k || !p->kh || !p->kw || !p->sh || !p->sw || !p->dh ||
        !p->dw || !p->groups)
        return -1;
    if (p->c % p->groups || p->k % p->groups) return -1;
    if (p->act < LC_ACT_NONE || p->act > LC_ACT_RELU6) return -1;
    if (p->isa < LC_ISA_AUTO || p->isa > LC_ISA_NEON) return -1;
    size_t ekh = (p->kh - 1) * p->dh + 1, ekw = (p->kw - 1) * p->dw + 1;
    size_t ih = p->pt + p->h + p->pb, iw = p->pl + p->w + p->pr;
    if (ekh > ih || ekw > iw) return -1;
    p->oh = (ih - ekh) / p->sh + 1;
    p->ow = (iw - ekw) / p->sw + 1;
    return 0;
}

void lc_epilogue_chw(float *out, size_t plane, size_t j0, size_t j1, const float *bias, size_t k0,
                     size_t k1, int act) {
    size_t n = j1 - j0;
    for (size_t k = k0; k < k1; ++k) {
        float b = bias ? bias[k] : 0.0f;
        float *o = out + k * plane + j0;
        if (act == LC_ACT_NONE) {
            if (b != 0.0f)
                for (size_t i = 0; i < n; ++i) o[i] += b;
        } else if (act == LC_ACT_RELU) {
            for (size_t i = 0; i < n; ++i) {
                float v = o[i] + b;
                o[i] = v > 0.0f ? v : 0.0f;
            }
        } else {
            for (size_t i = 0; i < n; ++i) {
                float v = o[i] + b;
                v = v > 0.0f ? v : 0.0f;
                o[i] = v < 6.0f ? v : 6.0f;
            }
        }
    }
}

void lc_epilogue_hwc(float *out, size_t pixels, size_t k, const float *bias, size_t k0, size_t k1,
                     int act) {
    if (act == LC_ACT_NONE && !bias) return;
    for (size_t i = 0; i < pixels; ++i) {
        float *o = out + i * k;
        for (size_t j = k0; j < k1; ++j) o[j] = lc_act(o[j] + (bias ? bias[j] : 0.0f), act);
    }
}

void lc_pack_rsck(const lc_conv_params *p, const float *w, float *packed) {
    size_t g = p->groups, cg = p->c / g, kg = p->k / g, rs = p->kh * p->kw;
    for (size_t gi = 0; gi < g; ++gi)
        for (size_t t = 0; t < rs; ++t)
            for (size_t ci = 0; ci < cg; ++ci)
                for (size_t ki = 0; ki < kg; ++ki)
                    packed[((gi * rs + t) * cg + ci) * kg + ki] =
                        w[((gi * kg + ki) * cg + ci) * rs + t];
}
