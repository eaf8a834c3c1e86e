/* im2col + GEMM (CHW) and im2row + GEMM (HWC), per group: any kernel, stride, padding,
 * dilation and groups. im2col writes its matrix straight into the GEMM's packed-B panel order
 * and the weights are prepacked, so the GEMM packs nothing. The output pixels go in blocks
 * (lower_block): each CHW block is lowered into the workspace and multiplied while it is still
 * in the cache, so the workspace is one block, not the whole lowered matrix. HWC reads the
 * input rows in place where all taps are inside and lowers only the other pixels.
 * CHW: out_g (K/g x OH*OW) = W_g (K/g x C/g*KH*KW) * col_g; weights stay in PyTorch layout.
 * HWC: out_g (OH*OW x K/g) = row_g (OH*OW x KH*KW*C/g) * W_g; weights packed [g][kh][kw][c][k]. */
#include "lc_internal.h"

#ifndef LC_LOWER_BYTES
#define LC_LOWER_BYTES (128 * 1024)
#endif
enum { LOWER_MIN_PIXELS = 64 };

/* Output pixels lowered and multiplied per step: a block of about LC_LOWER_BYTES (half an L2),
 * but at least LOWER_MIN_PIXELS so the GEMM still does ~32 flops per weight byte it reads when
 * the weights do not fit the cache; a multiple of `unit` (the panel width). */
static size_t lower_block(const lc_conv_params *p, size_t unit) {
    size_t kdim = (p->c / p->groups) * p->kh * p->kw, pixels = p->oh * p->ow;
    size_t nb = LC_MAX(LC_LOWER_BYTES / (kdim * sizeof(float)), (size_t)LOWER_MIN_PIXELS);
    nb = LC_MAX(nb / unit, (size_t)1) * unit;
    return LC_MIN(nb, lc_round_up(pixels, unit));
}

/* Output pixels [jb, je) of group g's lowered (C/g*KH*KW x OH*OW) matrix in packed-B order:
 * panels of nr pixels from jb, each panel kdim x nr, written panel by panel so every store is
 * contiguous; pixels past je are zero. A panel of nr pixels in one output row whose taps all
 * fall inside the input copies strided input runs; any other panel checks every element. */
static void im2col_panels(const lc_conv_params *p, const float *in, size_t g, size_t jb,
                          size_t je, float *bp, size_t nr) {
    size_t cg = p->c / p->groups, kdim = cg * p->kh * p->kw;
    size_t hw = p->h * p->w, sw = p->sw;
    ptrdiff_t iy0[32], ix0[32]; /* nr <= 32: tap-origin of each pixel of the panel */
    for (size_t j0 = jb; j0 < je; j0 += nr) {
        float *dst = bp + (j0 - jb) * kdim; /* each panel holds nr * kdim floats */
        size_t n = LC_MIN(nr, je - j0);
        for (size_t jj = 0; jj < nr; ++jj) {
            size_t j = j0 + LC_MIN(jj, n - 1);
            iy0[jj] = (ptrdiff_t)((j / p->ow) * p->sh) - (ptrdiff_t)p->pt;
            ix0[jj] = (ptrdiff_t)((j % p->ow) * sw) - (ptrdiff_t)p->pl;
        }
        /* fast: one output row, every tap inside the input */
        int fast = n == nr && j0 / p->ow == (j0 + nr - 1) / p->ow && iy0[0] >= 0 &&
                   iy0[0] + (ptrdiff_t)((p->kh - 1) * p->dh) < (ptrdiff_t)p->h && ix0[0] >= 0 &&
                   ix0[nr - 1] + (ptrdiff_t)((p->kw - 1) * p->dw) < (ptrdiff_t)p->w;
        for (size_t ci = 0; ci < cg; ++ci) {
            const float *x = in + (g * cg + ci) * hw;
            for (size_t r = 0; r < p->kh; ++r)
                for (size_t s = 0; s < p->kw; ++s, dst += nr) {
                    ptrdiff_t dy = (ptrdiff_t)(r * p->dh), dx = (ptrdiff_t)(s * p->dw);
                    if (fast) {
                        const float *src = x + (size_t)(iy0[0] + dy) * p->w + (size_t)(ix0[0] + dx);
                        if (sw == 1)
                            for (size_t jj = 0; jj < nr; ++jj) dst[jj] = src[jj];
                        else
                            for (size_t jj = 0; jj < nr; ++jj) dst[jj] = src[jj * sw];
                        continue;
                    }
                    for (size_t jj = 0; jj < nr; ++jj) {
                        ptrdiff_t iy = iy0[jj] + dy, ix = ix0[jj] + dx;
                        dst[jj] = (jj >= n || iy < 0 || iy >= (ptrdiff_t)p->h || ix < 0 ||
                                   ix >= (ptrdiff_t)p->w)
                                      ? 0.0f
                                      : x[(size_t)iy * p->w + (size_t)ix];
                    }
                }
        }
    }
}

int lc_im2col_chw_applicable(const lc_conv_params *p) { return p->oh > 0 && p->ow > 0; }
size_t lc_im2col_chw_workspace_bytes(const lc_conv_params *p) {
    size_t kdim = (p->c / p->groups) * p->kh * p->kw, mr, nr;
    lc_gemm_tile(p->isa, &mr, &nr);
    return lc_align64(lc_gemm_packed_b_floats(p->isa, kdim, lower_block(p, nr)) * sizeof(float));
}
/* Weights: per group, the (K/g x C/g*KH*KW) matrix in the GEMM's packed-A order. */
static size_t group_a_floats(const lc_conv_params *p) {
    return lc_gemm_packed_a_floats(p->isa, p->k / p->groups,
                                   (p->c / p->groups) * p->kh * p->kw);
}
size_t lc_im2col_chw_packed_bytes(const lc_conv_params *p) {
    return p->groups * group_a_floats(p) * sizeof(float);
}
void lc_im2col_chw_pack(const lc_conv_params *p, const float *weight, float *packed) {
    size_t kg = p->k / p->groups, kdim = (p->c / p->groups) * p->kh * p->kw;
    for (size_t g = 0; g < p->groups; ++g)
        lc_gemm_pack_a(p->isa, kg, kdim, weight + g * kg * kdim, kdim, 1,
                       packed + g * group_a_floats(p));
}
void lc_im2col_chw_run(const lc_conv_params *p, const float *input, const float *packed,
                       const float *bias, float *output, void *workspace, size_t oc_begin,
                       size_t oc_end, size_t oy_begin, size_t oy_end) {
    size_t kg = p->k / p->groups, kdim = (p->c / p->groups) * p->kh * p->kw;
    size_t plane = p->oh * p->ow, mr, nr;
    lc_gemm_tile(p->isa, &mr, &nr);
    size_t nb = lower_block(p, nr), je = oy_end * p->ow;
    float *col = (float *)workspace;
    for (size_t g = oc_begin / kg; g < p->groups && g * kg < oc_end; ++g) {
        size_t klo = LC_MAX(oc_begin, g * kg), khi = LC_MIN(oc_end, (g + 1) * kg);
        lc_gemm_epi e;
        const lc_gemm_epi *epi = lc_conv_epi(&e, bias ? bias + g * kg : NULL, 1, p->act);
        for (size_t j = oy_begin * p->ow; j < je; j += nb) {
            size_t n = LC_MIN(nb, je - j);
            im2col_panels(p, input, g, j, j + n, col, nr);
            lc_sgemm_papb_epi(p->isa, klo - g * kg, khi - g * kg, 0, n, kdim,
                              packed + g * group_a_floats(p), col, output + klo * plane + j, plane,
                              0, epi);
        }
    }
}

/* Output pixels [ib, ie) of group g's lowered (OH*OW x KH*KW*C/g) matrix in packed-A order:
 * panels of mr pixels from ib, each kdim x mr (element (pixel, tap*C/g + c) at
 * [tap*C/g + c][pixel % mr]); pixels past ie are zero. Each pixel's taps copy C/g contiguous
 * input channels. */
static void im2row_panels(const lc_conv_params *p, const float *in, size_t g, size_t ib,
                          size_t ie, float *ap, size_t mr) {
    size_t cg = p->c / p->groups, kdim = cg * p->kh * p->kw;
    for (size_t i0 = ib; i0 < ie; i0 += mr) {
        float *dst = ap + (i0 - ib) * kdim; /* each panel holds mr * kdim floats */
        for (size_t ii = 0; ii < mr; ++ii) {
            size_t i = i0 + ii;
            if (i >= ie) {
                for (size_t q = 0; q < kdim; ++q) dst[q * mr + ii] = 0.0f;
                continue;
            }
            size_t oy = i / p->ow, ox = i % p->ow;
            for (size_t r = 0; r < p->kh; ++r) {
                ptrdiff_t iy = (ptrdiff_t)(oy * p->sh + r * p->dh) - (ptrdiff_t)p->pt;
                for (size_t s = 0; s < p->kw; ++s) {
                    ptrdiff_t ix = (ptrdiff_t)(ox * p->sw + s * p->dw) - (ptrdiff_t)p->pl;
                    float *d = dst + (r * p->kw + s) * cg * mr + ii;
                    if (iy < 0 || iy >= (ptrdiff_t)p->h || ix < 0 || ix >= (ptrdiff_t)p->w) {
                        for (size_t ci = 0; ci < cg; ++ci) d[ci * mr] = 0.0f;
                    } else {
                        const float *src = in + ((size_t)iy * p->w + (size_t)ix) * p->c + g * cg;
                        for (size_t ci = 0; ci < cg; ++ci) d[ci * mr] = src[ci];
                    }
                }
            }
        }
    }
}

/* Pixels from q (before `end`, all in q's output row) whose taps all fall inside the input; 0
 * when there are fewer than mr (lc_sgemm_indirect's least). */
static size_t interior_run(const lc_conv_params *p, size_t q, size_t end, size_t mr) {
    size_t oy = q / p->ow, ox = q % p->ow;
    size_t last = LC_MIN(end, (oy + 1) * p->ow); /* pixels of this row before `end` */
    size_t iy = oy * p->sh, ekh = (p->kh - 1) * p->dh, ekw = (p->kw - 1) * p->dw;
    if (iy < p->pt || iy - p->pt + ekh >= p->h || ox * p->sw < p->pl) return 0;
    /* last output column whose taps stay inside: (x*sw - pl + ekw < w) */
    if (p->w + p->pl <= ekw) return 0;
    size_t xmax = (p->w + p->pl - ekw - 1) / p->sw; /* inclusive */
    size_t stop = LC_MIN(last, oy * p->ow + xmax + 1);
    return stop >= q + mr ? stop - q : 0;
}

int lc_im2row_hwc_applicable(const lc_conv_params *p) { return p->oh > 0 && p->ow > 0; }
/* Workspace: one tile of mr lowered rows (pixels whose taps leave the input), then the kdim
 * tap offsets of the pixels read in place. */
static size_t im2row_rows_bytes(const lc_conv_params *p) {
    size_t kdim = (p->c / p->groups) * p->kh * p->kw, mr, nr;
    lc_gemm_tile(p->isa, &mr, &nr);
    return lc_align64(lc_gemm_packed_a_floats(p->isa, mr, kdim) * sizeof(float));
}
size_t lc_im2row_hwc_workspace_bytes(const lc_conv_params *p) {
    size_t kdim = (p->c / p->groups) * p->kh * p->kw;
    return im2row_rows_bytes(p) + lc_align64(kdim * sizeof(size_t));
}
/* Weights: per group, the (KH*KW*C/g x K/g) matrix (rows ordered tap-major like the lowered
 * rows) in the GEMM's packed-B order: panels of nr output channels. */
static size_t group_b_floats(const lc_conv_params *p) {
    return lc_gemm_packed_b_floats(p->isa, (p->c / p->groups) * p->kh * p->kw,
                                   p->k / p->groups);
}
size_t lc_im2row_hwc_packed_bytes(const lc_conv_params *p) {
    return p->groups * group_b_floats(p) * sizeof(float);
}
void lc_im2row_hwc_pack(const lc_conv_params *p, const float *weight, float *packed) {
    size_t cg = p->c / p->groups, kg = p->k / p->groups, rs = p->kh * p->kw, mr, nr;
    lc_gemm_tile(p->isa, &mr, &nr);
    for (size_t g = 0; g < p->groups; ++g) {
        float *bp = packed + g * group_b_floats(p);
        for (size_t j0 = 0; j0 < kg; j0 += nr)
            for (size_t t = 0; t < rs; ++t)
                for (size_t ci = 0; ci < cg; ++ci)
                    for (size_t j = 0; j < nr; ++j)
                        *bp++ = j0 + j < kg ? weight[((g * kg + j0 + j) * cg + ci) * rs + t] : 0.0f;
    }
}
void lc_im2row_hwc_run(const lc_conv_params *p, const float *input, const float *packed,
                       const float *bias, float *output, void *workspace, size_t oc_begin,
                       size_t oc_end, size_t oy_begin, size_t oy_end) {
    size_t kg = p->k / p->groups, kdim = (p->c / p->groups) * p->kh * p->kw, mr, nr;
    lc_gemm_tile(p->isa, &mr, &nr);
    size_t ie = oy_end * p->ow, cg = p->c / p->groups;
    float *rows = (float *)workspace;
    /* Runs of at least mr pixels of one output row whose taps are all inside the input are
     * multiplied in place (tap offsets `off`, pixel stride sw*C); only the others are lowered,
     * a tile at a time: lowering (packing A) costs more than streaming even megabytes of weights
     * from L2/L3 per tile. */
    size_t *off = (size_t *)((char *)workspace + im2row_rows_bytes(p));
    for (size_t r = 0; r < p->kh; ++r)
        for (size_t s = 0; s < p->kw; ++s)
            for (size_t ci = 0; ci < cg; ++ci)
                off[(r * p->kw + s) * cg + ci] = (r * p->dh * p->w + s * p->dw) * p->c + ci;
    for (size_t g = oc_begin / kg; g < p->groups && g * kg < oc_end; ++g) {
        size_t klo = LC_MAX(oc_begin, g * kg), khi = LC_MIN(oc_end, (g + 1) * kg);
        const float *bg = packed + g * group_b_floats(p);
        lc_gemm_epi e;
        const lc_gemm_epi *epi = lc_conv_epi(&e, bias ? bias + g * kg : NULL, 0, p->act);
        /* A tile lowers only the pixels up to the next interior run. */
        for (size_t q = oy_begin * p->ow; q < ie;) {
            size_t done = interior_run(p, q, ie, mr);
            if (done) {
                size_t oy = q / p->ow, ox = q % p->ow;
                const float *a =
                    input + ((oy * p->sh - p->pt) * p->w + ox * p->sw - p->pl) * p->c + g * cg;
                lc_sgemm_indirect_epi(p->isa, done, klo - g * kg, khi - g * kg, kdim, a,
                                      p->sw * p->c, off, bg, output + q * p->k + klo, p->k, epi);
            } else {
                done = 1;
                while (done < mr && q + done < ie && !interior_run(p, q + done, ie, mr)) ++done;
                im2row_panels(p, input, g, q, q + done, rows, mr);
                lc_sgemm_papb_epi(p->isa, 0, done, klo - g * kg, khi - g * kg, kdim, rows, bg,
                                  output + q * p->k + klo, p->k, 0, epi);
            }
            q += done;
        }
    }
}
