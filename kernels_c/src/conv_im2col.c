/* im2col + GEMM (CHW) and im2row + GEMM (HWC), per group: any kernel, stride, padding,
 * dilation and groups. The lowered matrix is the workspace (the memory-hungry baseline).
 * CHW: out_g (K/g x OH*OW) = W_g (K/g x C/g*KH*KW) * col_g; weights stay in PyTorch layout.
 * HWC: out_g (OH*OW x K/g) = row_g (OH*OW x KH*KW*C/g) * W_g; weights packed [g][kh][kw][c][k]. */
#include "lc_internal.h"

static size_t lowered_bytes(const lc_conv_params *p) {
    return lc_align64((p->c / p->groups) * p->kh * p->kw * p->oh * p->ow * sizeof(float));
}

static void im2col_group(const lc_conv_params *p, const float *in, size_t g, float *col) {
    size_t cg = p->c / p->groups, plane = p->oh * p->ow;
    for (size_t ci = 0; ci < cg; ++ci) {
        const float *x = in + (g * cg + ci) * p->h * p->w;
        for (size_t r = 0; r < p->kh; ++r)
            for (size_t s = 0; s < p->kw; ++s) {
                float *row = col + ((ci * p->kh + r) * p->kw + s) * plane;
                for (size_t oy = 0; oy < p->oh; ++oy) {
                    float *dst = row + oy * p->ow;
                    ptrdiff_t iy = (ptrdiff_t)(oy * p->sh + r * p->dh) - (ptrdiff_t)p->ph;
                    if (iy < 0 || iy >= (ptrdiff_t)p->h) {
                        memset(dst, 0, p->ow * sizeof(float));
                        continue;
                    }
                    const float *xr = x + (size_t)iy * p->w;
                    for (size_t ox = 0; ox < p->ow; ++ox) {
                        ptrdiff_t ix = (ptrdiff_t)(ox * p->sw + s * p->dw) - (ptrdiff_t)p->pw;
                        dst[ox] = (ix < 0 || ix >= (ptrdiff_t)p->w) ? 0.0f : xr[ix];
                    }
                }
            }
    }
}

int lc_im2col_chw_applicable(const lc_conv_params *p) { return p->oh > 0 && p->ow > 0; }
size_t lc_im2col_chw_workspace_bytes(const lc_conv_params *p) {
    size_t kg = p->k / p->groups, kdim = (p->c / p->groups) * p->kh * p->kw;
    return lowered_bytes(p) + lc_sgemm_workspace_bytes(p->isa, kg, p->oh * p->ow, kdim);
}
size_t lc_im2col_chw_packed_bytes(const lc_conv_params *p) {
    return p->k * (p->c / p->groups) * p->kh * p->kw * sizeof(float);
}
void lc_im2col_chw_pack(const lc_conv_params *p, const float *weight, float *packed) {
    memcpy(packed, weight, lc_im2col_chw_packed_bytes(p));
}
void lc_im2col_chw_run(const lc_conv_params *p, const float *input, const float *packed,
                       const float *bias, float *output, void *workspace, size_t oc_begin,
                       size_t oc_end) {
    size_t kg = p->k / p->groups, kdim = (p->c / p->groups) * p->kh * p->kw;
    size_t plane = p->oh * p->ow;
    float *col = (float *)workspace;
    void *gws = (char *)workspace + lowered_bytes(p);
    for (size_t g = oc_begin / kg; g < p->groups && g * kg < oc_end; ++g) {
        size_t klo = LC_MAX(oc_begin, g * kg), khi = LC_MIN(oc_end, (g + 1) * kg);
        im2col_group(p, input, g, col);
        lc_sgemm(p->isa, khi - klo, plane, kdim, packed + klo * kdim, kdim, col, plane,
                 output + klo * plane, plane, 0, gws);
    }
    lc_epilogue_chw(output, plane, bias, oc_begin, oc_end, p->act);
}

static void im2row_group(const lc_conv_params *p, const float *in, size_t g, float *rows) {
    size_t cg = p->c / p->groups, kdim = cg * p->kh * p->kw;
    for (size_t oy = 0; oy < p->oh; ++oy)
        for (size_t ox = 0; ox < p->ow; ++ox) {
            float *dst = rows + (oy * p->ow + ox) * kdim;
            for (size_t r = 0; r < p->kh; ++r) {
                ptrdiff_t iy = (ptrdiff_t)(oy * p->sh + r * p->dh) - (ptrdiff_t)p->ph;
                for (size_t s = 0; s < p->kw; ++s, dst += cg) {
                    ptrdiff_t ix = (ptrdiff_t)(ox * p->sw + s * p->dw) - (ptrdiff_t)p->pw;
                    if (iy < 0 || iy >= (ptrdiff_t)p->h || ix < 0 || ix >= (ptrdiff_t)p->w)
                        memset(dst, 0, cg * sizeof(float));
                    else
                        memcpy(dst, in + ((size_t)iy * p->w + (size_t)ix) * p->c + g * cg,
                               cg * sizeof(float));
                }
            }
        }
}

int lc_im2row_hwc_applicable(const lc_conv_params *p) { return p->oh > 0 && p->ow > 0; }
size_t lc_im2row_hwc_workspace_bytes(const lc_conv_params *p) {
    size_t kg = p->k / p->groups, kdim = (p->c / p->groups) * p->kh * p->kw;
    return lowered_bytes(p) + lc_sgemm_workspace_bytes(p->isa, p->oh * p->ow, kg, kdim);
}
size_t lc_im2row_hwc_packed_bytes(const lc_conv_params *p) {
    return lc_im2col_chw_packed_bytes(p);
}
void lc_im2row_hwc_pack(const lc_conv_params *p, const float *weight, float *packed) {
    lc_pack_rsck(p, weight, packed);
}
void lc_im2row_hwc_run(const lc_conv_params *p, const float *input, const float *packed,
                       const float *bias, float *output, void *workspace, size_t oc_begin,
                       size_t oc_end) {
    size_t kg = p->k / p->groups, kdim = (p->c / p->groups) * p->kh * p->kw;
    size_t pixels = p->oh * p->ow;
    float *rows = (float *)workspace;
    void *gws = (char *)workspace + lowered_bytes(p);
    for (size_t g = oc_begin / kg; g < p->groups && g * kg < oc_end; ++g) {
        size_t klo = LC_MAX(oc_begin, g * kg), khi = LC_MIN(oc_end, (g + 1) * kg);
        im2row_group(p, input, g, rows);
        lc_sgemm(p->isa, pixels, khi - klo, kdim, rows, kdim, packed + g * kdim * kg + (klo - g * kg),
                 kg, output + klo, p->k, 0, gws);
    }
    lc_epilogue_hwc(output, pixels, p->k, bias, oc_begin, oc_end, p->act);
}
