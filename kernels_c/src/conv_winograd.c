/* Winograd F(2x2,3x3) and F(4x4,3x3) (Lavin & Gray's matrices, points 0, +-1, +-2, inf) for
 * stride-1, dilation-1, groups-1 3x3 convolutions with any padding, CHW and HWC.
 *
 * Weights are transformed once at pack time (in double): U[xi][C][K], xi over the a*a
 * transform points (a = m + 2). Per block of up to TILE_BLOCK output tiles: the input tiles are
 * transformed into V[xi][tile][C] (vectorised over 16 channels), a*a GEMMs give
 * M[xi][tile][k] = V[xi] * U[xi][:, oc range], and the output transform adds the bias and the
 * activation while writing the m x m outputs of each tile.
 *
 * Error: the transforms scale intermediate values by up to 4 (input) and 8 (output) for
 * F(4x4,3x3), so its float32 error is a few times that of direct convolution (measured in
 * tests/test_primitives.py and bench/conv); F(2x2,3x3) is close to direct. */
#include "lc_internal.h"

enum { LANES = 16, TILE_BLOCK = 64 };

static int wino_ok(const lc_conv_params *p) {
    return p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1 &&
           p->groups == 1 && p->oh > 0 && p->ow > 0;
}

static size_t wino_tiles(const lc_conv_params *p, size_t m) {
    return ((p->oh + m - 1) / m) * ((p->ow + m - 1) / m);
}
static size_t wino_block(const lc_conv_params *p, size_t m) {
    return LC_MIN(wino_tiles(p, m), (size_t)TILE_BLOCK);
}
/* V is stored in the GEMM's packed-A order (panels of mr tiles), U in packed-B order (panels
 * of nr output channels), so the a*a GEMMs run without any packing. */
static size_t wino_ws(const lc_conv_params *p, size_t m) {
    size_t a2 = (m + 2) * (m + 2), tb = wino_block(p, m), mr, nr;
    lc_gemm_tile(p->isa, &mr, &nr);
    return lc_align64(a2 * lc_round_up(tb, mr) * p->c * sizeof(float)) +
           lc_align64(a2 * tb * p->k * sizeof(float));
}
static size_t wino_packed(const lc_conv_params *p, size_t m) {
    size_t mr, nr;
    lc_gemm_tile(p->isa, &mr, &nr);
    return (m + 2) * (m + 2) * p->c * lc_round_up(p->k, nr) * sizeof(float);
}

static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};

static void wino_pack(const lc_conv_params *p, size_t m, const float *w, float *u) {
    size_t a = m + 2, mr, nr;
    lc_gemm_tile(p->isa, &mr, &nr);
    size_t kp = lc_round_up(p->k, nr);
    memset(u, 0, wino_packed(p, m));
    for (size_t k = 0; k < p->k; ++k)
        for (size_t c = 0; c < p->c; ++c) {
            const float *g = w + (k * p->c + c) * 9;
            double t[6][3];
            for (size_t i = 0; i < a; ++i)
                for (size_t j = 0; j < 3; ++j) {
                    double s = 0;
                    for (size_t q = 0; q < 3; ++q)
                        s += (m == 2 ? G2[i][q] : G4[i][q]) * (double)g[q * 3 + j];
                    t[i][j] = s;
                }
            for (size_t i = 0; i < a; ++i)
                for (size_t j = 0; j < a; ++j) {
                    double s = 0;
                    for (size_t q = 0; q < 3; ++q) s += t[i][q] * (m == 2 ? G2[j][q] : G4[j][q]);
                    /* [xi][k / nr][c][k % nr] */
                    u[(i * a + j) * p->c * kp + ((k / nr) * p->c + c) * nr + k % nr] = (float)s;
                }
        }
}

/* 1-D transforms over LANES lanes: x[i*xs + l] -> y[i*ys + l]. */
LC_INLINE void bt4(const float *x, size_t xs, float *y, size_t ys) {
    for (size_t l = 0; l < LANES; ++l) {
        float d0 = x[l], d1 = x[xs + l], d2 = x[2 * xs + l], d3 = x[3 * xs + l];
        y[l] = d0 - d2;
        y[ys + l] = d1 + d2;
        y[2 * ys + l] = d2 - d1;
        y[3 * ys + l] = d1 - d3;
    }
}
LC_INLINE void at2(const float *x, size_t xs, float *y, size_t ys) {
    for (size_t l = 0; l < LANES; ++l) {
        float m0 = x[l], m1 = x[xs + l], m2 = x[2 * xs + l], m3 = x[3 * xs + l];
        y[l] = m0 + m1 + m2;
        y[ys + l] = m1 - m2 - m3;
    }
}
LC_INLINE void bt6(const float *x, size_t xs, float *y, size_t ys) {
    for (size_t l = 0; l < LANES; ++l) {
        float d0 = x[l], d1 = x[xs + l], d2 = x[2 * xs + l], d3 = x[3 * xs + l];
        float d4 = x[4 * xs + l], d5 = x[5 * xs + l];
        y[l] = 4.0f * d0 - 5.0f * d2 + d4;
        y[ys + l] = -4.0f * (d1 + d2) + d3 + d4;
        y[2 * ys + l] = 4.0f * (d1 - d2) - d3 + d4;
        y[3 * ys + l] = 2.0f * (d3 - d1) - d2 + d4;
        y[4 * ys + l] = 2.0f * (d1 - d3) - d2 + d4;
        y[5 * ys + l] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}
LC_INLINE void at4(const float *x, size_t xs, float *y, size_t ys) {
    for (size_t l = 0; l < LANES; ++l) {
        float m0 = x[l], m1 = x[xs + l], m2 = x[2 * xs + l], m3 = x[3 * xs + l];
        float m4 = x[4 * xs + l], m5 = x[5 * xs + l];
        float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        y[l] = m0 + s12 + s34;
        y[ys + l] = d12 + 2.0f * d34;
        y[2 * ys + l] = s12 + 4.0f * s34;
        y[3 * ys + l] = d12 + 8.0f * d34 + m5;
    }
}

LC_INLINE void wino_body(const lc_conv_params *p, const float *LC_RESTRICT in,
                         const float *LC_RESTRICT u, const float *bias, float *LC_RESTRICT out,
                         void *ws, size_t ob, size_t oe, size_t y0, size_t y1, size_t m,
                         int layout) {
    const size_t a = m + 2, a2 = a * a;
    /* the rows of tiles covering output rows [y0, y1); a tile that crosses y0 or y1 is
     * computed whole and writes only its rows inside */
    size_t tiles_x = (p->ow + m - 1) / m, tbmax = wino_block(p, m);
    size_t tile_end = (y1 + m - 1) / m * tiles_x;
    size_t C = p->c, K = p->k, H = p->h, W = p->w, kr = oe - ob, mr, nr;
    lc_gemm_tile(p->isa, &mr, &nr);
    size_t tbp = lc_round_up(tbmax, mr), kp = lc_round_up(K, nr);
    float *vbuf = (float *)ws;
    float *mbuf = (float *)((char *)ws + lc_align64(a2 * tbp * C * sizeof(float)));
    float d[6 * 6 * LANES], t[6 * 6 * LANES], v[6 * 6 * LANES];
    for (size_t t0 = y0 / m * tiles_x; t0 < tile_end; t0 += tbmax) {
        size_t tb = LC_MIN(tbmax, tile_end - t0);
        /* input transform */
        for (size_t tt = 0; tt < tb; ++tt) {
            size_t tyi = (t0 + tt) / tiles_x, txi = (t0 + tt) % tiles_x;
            ptrdiff_t y0 = (ptrdiff_t)(tyi * m) - (ptrdiff_t)p->pt;
            ptrdiff_t x0 = (ptrdiff_t)(txi * m) - (ptrdiff_t)p->pl;
            int interior = y0 >= 0 && x0 >= 0 && y0 + (ptrdiff_t)a <= (ptrdiff_t)H &&
                           x0 + (ptrdiff_t)a <= (ptrdiff_t)W;
            for (size_t c0 = 0; c0 < C; c0 += LANES) {
                size_t cb = LC_MIN((size_t)LANES, C - c0);
                if (cb < LANES || !interior) memset(d, 0, sizeof d);
                if (layout == LC_LAYOUT_CHW) {
                    for (size_t l = 0; l < cb; ++l) {
                        const float *x = in + (c0 + l) * H * W;
                        for (size_t i = 0; i < a; ++i) {
                            ptrdiff_t iy = y0 + (ptrdiff_t)i;
                            if (!interior && (iy < 0 || iy >= (ptrdiff_t)H)) continue;
                            for (size_t j = 0; j < a; ++j) {
                                ptrdiff_t ix = x0 + (ptrdiff_t)j;
                                if (!interior && (ix < 0 || ix >= (ptrdiff_t)W)) continue;
                                d[(i * a + j) * LANES + l] = x[(size_t)iy * W + (size_t)ix];
                            }
                        }
                    }
                } else {
                    for (size_t i = 0; i < a; ++i) {
                        ptrdiff_t iy = y0 + (ptrdiff_t)i;
                        if (!interior && (iy < 0 || iy >= (ptrdiff_t)H)) continue;
                        for (size_t j = 0; j < a; ++j) {
                            ptrdiff_t ix = x0 + (ptrdiff_t)j;
                            if (!interior && (ix < 0 || ix >= (ptrdiff_t)W)) continue;
                            const float *x = in + ((size_t)iy * W + (size_t)ix) * C + c0;
                            float *dd = d + (i * a + j) * LANES;
                            if (cb == LANES)
                                for (size_t l = 0; l < LANES; ++l) dd[l] = x[l];
                            else
                                for (size_t l = 0; l < cb; ++l) dd[l] = x[l];
                        }
                    }
                }
                for (size_t j = 0; j < a; ++j) {
                    if (m == 2) bt4(d + j * LANES, a * LANES, t + j * LANES, a * LANES);
                    else bt6(d + j * LANES, a * LANES, t + j * LANES, a * LANES);
                }
                for (size_t i = 0; i < a; ++i) {
                    if (m == 2) bt4(t + i * a * LANES, LANES, v + i * a * LANES, LANES);
                    else bt6(t + i * a * LANES, LANES, v + i * a * LANES, LANES);
                }
                /* packed-A order: [xi][tile / mr][c][tile % mr] */
                for (size_t xi = 0; xi < a2; ++xi) {
                    float *dst = vbuf + xi * tbp * C + (tt / mr) * mr * C + c0 * mr + tt % mr;
                    const float *src = v + xi * LANES;
                    for (size_t l = 0; l < cb; ++l) dst[l * mr] = src[l];
                }
            }
        }
        /* a*a GEMMs */
        for (size_t xi = 0; xi < a2; ++xi)
            lc_sgemm_prepacked(p->isa, tb, C, vbuf + xi * tbp * C, u + xi * C * kp, ob, oe,
                               mbuf + xi * tb * kr, kr, 0);
        /* output transform, bias, activation */
        for (size_t tt = 0; tt < tb; ++tt) {
            size_t tyi = (t0 + tt) / tiles_x, txi = (t0 + tt) % tiles_x;
            for (size_t k0 = 0; k0 < kr; k0 += LANES) {
                size_t kb = LC_MIN((size_t)LANES, kr - k0);
                float bl[LANES];
                if (kb < LANES) memset(d, 0, a2 * LANES * sizeof(float));
                for (size_t xi = 0; xi < a2; ++xi) {
                    const float *src = mbuf + (xi * tb + tt) * kr + k0;
                    float *dd = d + xi * LANES;
                    if (kb == LANES)
                        for (size_t l = 0; l < LANES; ++l) dd[l] = src[l];
                    else
                        for (size_t l = 0; l < kb; ++l) dd[l] = src[l];
                }
                for (size_t l = 0; l < LANES; ++l)
                    bl[l] = (bias && l < kb) ? bias[ob + k0 + l] : 0.0f;
                for (size_t j = 0; j < a; ++j) {
                    if (m == 2) at2(d + j * LANES, a * LANES, t + j * LANES, a * LANES);
                    else at4(d + j * LANES, a * LANES, t + j * LANES, a * LANES);
                }
                for (size_t i = 0; i < m; ++i) {
                    if (m == 2) at2(t + i * a * LANES, LANES, v + i * m * LANES, LANES);
                    else at4(t + i * a * LANES, LANES, v + i * m * LANES, LANES);
                }
                for (size_t i = 0; i < m; ++i) {
                    size_t oy = tyi * m + i;
                    if (oy < y0) continue;
                    if (oy >= y1) break;
                    for (size_t j = 0; j < m; ++j) {
                        size_t ox = txi * m + j;
                        if (ox >= p->ow) break;
                        float *y = v + (i * m + j) * LANES;
                        for (size_t l = 0; l < LANES; ++l) y[l] = lc_act(y[l] + bl[l], p->act);
                        if (layout == LC_LAYOUT_CHW) {
                            float *o = out + (ob + k0) * p->oh * p->ow + oy * p->ow + ox;
                            for (size_t l = 0; l < kb; ++l) o[l * p->oh * p->ow] = y[l];
                        } else {
                            float *o = out + (oy * p->ow + ox) * K + ob + k0;
                            if (kb == LANES)
                                for (size_t l = 0; l < LANES; ++l) o[l] = y[l];
                            else
                                for (size_t l = 0; l < kb; ++l) o[l] = y[l];
                        }
                    }
                }
            }
        }
    }
}

#define WINO_PRIMITIVE(M, layout, LAYOUT)                                                       \
    LC_INLINE void wino##M##_##layout##_body(const lc_conv_params *p, const float *in,          \
                                             const float *u, const float *bias, float *out,     \
                                             void *ws, size_t ob, size_t oe, size_t y0,         \
                                             size_t y1) {                                       \
        wino_body(p, in, u, bias, out, ws, ob, oe, y0, y1, M, LAYOUT);                          \
    }                                                                                           \
    LC_VARIANTS(wino##M##_##layout,                                                             \
                (const lc_conv_params *p, const float *in, const float *u, const float *bias,   \
                 float *out, void *ws, size_t ob, size_t oe, size_t y0, size_t y1),             \
                (p, in, u, bias, out, ws, ob, oe, y0, y1))                                      \
    int lc_winograd##M##x##M##_##layout##_applicable(const lc_conv_params *p) {                 \
        return wino_ok(p);                                                                      \
    }                                                                                           \
    size_t lc_winograd##M##x##M##_##layout##_workspace_bytes(const lc_conv_params *p) {         \
        return wino_ws(p, M);                                                                   \
    }                                                                                           \
    size_t lc_winograd##M##x##M##_##layout##_packed_bytes(const lc_conv_params *p) {            \
        return wino_packed(p, M);                                                               \
    }                                                                                           \
    void lc_winograd##M##x##M##_##layout##_pack(const lc_conv_params *p, const float *weight,   \
                                                float *packed) {                                \
        wino_pack(p, M, weight, packed);                                                        \
    }                                                                                           \
    void lc_winograd##M##x##M##_##layout##_run(                                                 \
        const lc_conv_params *p, const float *input, const float *packed, const float *bias,    \
        float *output, void *workspace, size_t oc_begin, size_t oc_end, size_t oy_begin,        \
        size_t oy_end) {                                                                        \
        LC_DISPATCH(p->isa, wino##M##_##layout,                                                 \
                    (p, input, packed, bias, output, workspace, oc_begin, oc_end, oy_begin,     \
                     oy_end));                                                                  \
    }

WINO_PRIMITIVE(2, chw, LC_LAYOUT_CHW)
WINO_PRIMITIVE(2, hwc, LC_LAYOUT_HWC)
WINO_PRIMITIVE(4, chw, LC_LAYOUT_CHW)
WINO_PRIMITIVE(4, hwc, LC_LAYOUT_HWC)
