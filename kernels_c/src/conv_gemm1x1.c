/* 1x1 convolution as one GEMM, no lowering: stride 1, no padding, groups 1. Weights are packed
 * once into the GEMM's micro-panel order, so only the input is packed per call.
 * CHW: out (K x H*W) = W (K x C) * in (C x H*W). HWC: out (H*W x K) = in (H*W x C) * W^T. */
#include "lc_internal.h"

static int is_1x1(const lc_conv_params *p) {
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 &&
           p->pb == 0 && p->pr == 0 &&
           p->groups == 1;
}

int lc_gemm1x1_chw_applicable(const lc_conv_params *p) { return is_1x1(p); }
size_t lc_gemm1x1_chw_workspace_bytes(const lc_conv_params *p) {
    return lc_sgemm_workspace_bytes(p->isa, p->k, p->h * p->w, p->c);
}
size_t lc_gemm1x1_chw_packed_bytes(const lc_conv_params *p) {
    return lc_gemm_packed_a_floats(p->isa, p->k, p->c) * sizeof(float);
}
void lc_gemm1x1_chw_pack(const lc_conv_params *p, const float *weight, float *packed) {
    lc_gemm_pack_a(p->isa, p->k, p->c, weight, p->c, 1, packed);
}
/* Output rows [oy_begin, oy_end) are the contiguous pixels [jb, jb + n) (stride 1, no padding):
 * each call packs only its own pixels. */
void lc_gemm1x1_chw_run(const lc_conv_params *p, const float *input, const float *packed,
                        const float *bias, float *output, void *workspace, size_t oc_begin,
                        size_t oc_end, size_t oy_begin, size_t oy_end) {
    size_t hw = p->h * p->w, jb = oy_begin * p->w, n = (oy_end - oy_begin) * p->w;
    lc_gemm_epi e;
    lc_sgemm_pa_epi(p->isa, oc_begin, oc_end, n, p->c, packed, input + jb, hw,
                    output + oc_begin * hw + jb, hw, 0, workspace, lc_conv_epi(&e, bias, 1, p->act));
}

int lc_gemm1x1_hwc_applicable(const lc_conv_params *p) { return is_1x1(p); }
/* Small weights: the input rows are read in place (identity offsets in the workspace). */
static int hwc_indirect(const lc_conv_params *p) {
    return lc_gemm_packed_b_floats(p->isa, p->c, p->k) * sizeof(float) <= LC_INDIRECT_B_BYTES;
}
size_t lc_gemm1x1_hwc_workspace_bytes(const lc_conv_params *p) {
    return lc_sgemm_workspace_bytes(p->isa, p->h * p->w, p->k, p->c) +
           lc_align64(p->c * sizeof(size_t));
}
size_t lc_gemm1x1_hwc_packed_bytes(const lc_conv_params *p) {
    return lc_gemm_packed_b_floats(p->isa, p->c, p->k) * sizeof(float);
}
void lc_gemm1x1_hwc_pack(const lc_conv_params *p, const float *weight, float *packed) {
    /* B = W^T: element (c, k) is weight[k*C + c] */
    lc_gemm_pack_b(p->isa, p->c, p->k, weight, 1, p->c, packed);
}
void lc_gemm1x1_hwc_run(const lc_conv_params *p, const float *input, const float *packed,
                        const float *bias, float *output, void *workspace, size_t oc_begin,
                        size_t oc_end, size_t oy_begin, size_t oy_end) {
    size_t jb = oy_begin * p->w, n = (oy_end - oy_begin) * p->w, mr, nr;
    lc_gemm_tile(p->isa, &mr, &nr);
    lc_gemm_epi e;
    const lc_gemm_epi *epi = lc_conv_epi(&e, bias, 0, p->act);
    if (hwc_indirect(p) && n >= mr) {
        size_t *off = (size_t *)((char *)workspace +
                                 lc_sgemm_workspace_bytes(p->isa, p->h * p->w, p->k, p->c));
        for (size_t q = 0; q < p->c; ++q) off[q] = q;
        lc_sgemm_indirect_epi(p->isa, n, oc_begin, oc_end, p->c, input + jb * p->c, p->c, off,
                              packed, output + jb * p->k + oc_begin, p->k, epi);
    } else {
        lc_sgemm_pb_epi(p->isa, n, oc_begin, oc_end, p->c, input + jb * p->c, p->c, packed,
                        output + jb * p->k + oc_begin, p->k, 0, workspace, epi);
    }
}
