/* Native C test of every primitive in the table and of the GEMM, against a float64 reference,
 * for every instruction set this CPU (or emulator) can run, with output-channel and output-row
 * ranges split at unaligned points, bias and each activation. Workspaces and outputs are pre-filled with
 * NaN so reads of unwritten scratch and unwritten outputs show up as failures. */
#define _POSIX_C_SOURCE 200112L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lc_conv.h"

static unsigned long long rng_state = 88172645463325252ULL;
static float frand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) & 0xFFFFFF) / (float)0x1000000 * 2.0f - 1.0f;
}

static void *xalloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}
static void fill_nan(void *p, size_t bytes) { memset(p, 0xFF, bytes); }

static int failures = 0, checks = 0;

/* Float64 reference of one image; layout LC_LAYOUT_*; also sum |w||x| + |b| per output. */
static void reference(const lc_conv_params *p, int layout, const float *in, const float *w,
                      const float *bias, double *out, double *mag) {
    size_t cg = p->c / p->groups, kg = p->k / p->groups;
    for (size_t k = 0; k < p->k; ++k)
        for (size_t oy = 0; oy < p->oh; ++oy)
            for (size_t ox = 0; ox < p->ow; ++ox) {
                double s = bias ? bias[k] : 0.0, m = bias ? fabs(bias[k]) : 0.0;
                size_t g = k / kg;
                for (size_t ci = 0; ci < cg; ++ci)
                    for (size_t r = 0; r < p->kh; ++r)
                        for (size_t q = 0; q < p->kw; ++q) {
                            long iy = (long)(oy * p->sh + r * p->dh) - (long)p->pt;
                            long ix = (long)(ox * p->sw + q * p->dw) - (long)p->pl;
                            if (iy < 0 || ix < 0 || iy >= (long)p->h || ix >= (long)p->w) continue;
                            size_t c = g * cg + ci;
                            double xv = layout == LC_LAYOUT_CHW
                                            ? in[(c * p->h + (size_t)iy) * p->w + (size_t)ix]
                                            : in[((size_t)iy * p->w + (size_t)ix) * p->c + c];
                            double wv = w[((k * cg + ci) * p->kh + r) * p->kw + q];
                            s += xv * wv;
                            m += fabs(xv * wv);
                        }
                if (p->act == LC_ACT_RELU) s = s > 0 ? s : 0;
                if (p->act == LC_ACT_RELU6) s = s > 0 ? (s < 6 ? s : 6) : 0;
                size_t idx = layout == LC_LAYOUT_CHW ? (k * p->oh + oy) * p->ow + ox
                                                     : (oy * p->ow + ox) * p->k + k;
                out[idx] = s;
                mag[idx] = m;
            }
}

static void check_primitive(const lc_primitive *prim, lc_conv_params p, int isa, int act) {
    p.isa = isa;
    p.act = act;
    if (lc_conv_params_setup(&p) != 0 || !prim->applicable(&p)) return;
    size_t nin = p.c * p.h * p.w, nout = p.k * p.oh * p.ow;
    size_t nw = p.k * (p.c / p.groups) * p.kh * p.kw;
    float *in = xalloc(nin * 4), *w = xalloc(nw * 4), *b = xalloc(p.k * 4);
    float *out = xalloc(nout * 4);
    double *ref = xalloc(nout * 8), *mag = xalloc(nout * 8);
    for (size_t i = 0; i < nin; ++i) in[i] = frand();
    for (size_t i = 0; i < nw; ++i) w[i] = frand();
    for (size_t i = 0; i < p.k; ++i) b[i] = frand();
    size_t pb = prim->packed_bytes(&p), wb = prim->workspace_bytes(&p);
    float *packed = xalloc(pb);
    void *ws = xalloc(wb);
    fill_nan(packed, pb);
    prim->pack(&p, w, packed);
    reference(&p, prim->layout, in, w, b, ref, mag);
    /* whole, two unaligned channel halves, two unaligned row halves, then the four pieces of
     * both splits (each piece a separate call with a fresh NaN workspace) */
    size_t ks = p.k / 2 + (p.k > 2 ? 1 : 0), ys = p.oh / 2 + (p.oh > 2 ? 1 : 0);
    size_t ksplit[4] = {p.k, ks, p.k, ks}, ysplit[4] = {p.oh, p.oh, ys, ys};
    double tol = strcmp(prim->family, "winograd4x4") == 0 ? 1e-5 : 2e-6;
    for (int pass = 0; pass < 4; ++pass) {
        fill_nan(out, nout * 4);
        size_t kb[3] = {0, ksplit[pass], p.k}, yb[3] = {0, ysplit[pass], p.oh};
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                if (kb[i] >= kb[i + 1] || yb[j] >= yb[j + 1]) continue;
                fill_nan(ws, wb);
                prim->run(&p, in, packed, b, out, ws, kb[i], kb[i + 1], yb[j], yb[j + 1]);
            }
        double worst = 0;
        size_t bad = 0;
        for (size_t i = 0; i < nout; ++i) {
            double e = fabs((double)out[i] - ref[i]);
            double lim = tol * (mag[i] + 1e-3) * sqrt((double)(nw / p.k) + 1);
            if (!(e <= lim)) ++bad; /* NaN fails too */
            if (e / (mag[i] + 1e-3) > worst) worst = e / (mag[i] + 1e-3);
        }
        ++checks;
        if (bad) {
            ++failures;
            fprintf(stderr,
                    "FAIL %s isa=%d act=%d c=%zu h=%zu w=%zu k=%zu k%zux%zu s%zu pads(t,l,b,r)=%zu,%zu,"
                    "%zu,%zu d%zu g%zu split k=%zu y=%zu: %zu bad, worst rel %.3g\n",
                    prim->name, isa, act, p.c, p.h, p.w, p.k, p.kh, p.kw, p.sh, p.pt, p.pl, p.pb,
                    p.pr, p.dh, p.groups, ksplit[pass], ysplit[pass], bad, worst);
        }
    }
    free(in); free(w); free(b); free(out); free(ref); free(mag); free(packed); free(ws);
}

static void check_gemm(int isa, size_t m, size_t n, size_t k, int accumulate) {
    size_t lda = k + 3, ldb = n + 1, ldc = n + 2;
    float *a = xalloc(m * lda * 4), *b = xalloc(k * ldb * 4), *c = xalloc(m * ldc * 4);
    double *ref = xalloc(m * n * 8 + 8);
    for (size_t i = 0; i < m * lda; ++i) a[i] = frand();
    for (size_t i = 0; i < k * ldb; ++i) b[i] = frand();
    for (size_t i = 0; i < m * ldc; ++i) c[i] = accumulate ? frand() : NAN;
    for (size_t i = 0; i < m; ++i)
        for (size_t j = 0; j < n; ++j) {
            double s = accumulate ? c[i * ldc + j] : 0.0;
            for (size_t q = 0; q < k; ++q) s += (double)a[i * lda + q] * b[q * ldb + j];
            ref[i * n + j] = s;
        }
    size_t wb = lc_sgemm_workspace_bytes(isa, m, n, k);
    void *ws = xalloc(wb);
    fill_nan(ws, wb);
    lc_sgemm(isa, m, n, k, a, lda, b, ldb, c, ldc, accumulate, ws);
    size_t bad = 0;
    for (size_t i = 0; i < m; ++i)
        for (size_t j = 0; j < n; ++j)
            if (!(fabs(c[i * ldc + j] - ref[i * n + j]) <= 1e-5 * (double)(k + 1))) ++bad;
    /* padding columns of C untouched? (they were NaN or random; only check they stay finite
     * when they started finite) */
    ++checks;
    if (bad) {
        ++failures;
        fprintf(stderr, "FAIL gemm isa=%d m=%zu n=%zu k=%zu acc=%d: %zu bad\n", isa, m, n, k,
                accumulate, bad);
    }
    free(a); free(b); free(c); free(ref); free(ws);
}

/* GEMM with prepacked A (rows [m0, m1)) and with prepacked B (columns [n0, n1)). */
static void check_gemm_prepacked(int isa, size_t m, size_t n, size_t k, size_t lo, size_t hi_a,
                                 size_t hi_b) {
    float *a = xalloc(m * k * 4 + 4), *b = xalloc(k * n * 4 + 4), *c = xalloc(m * n * 4 + 4);
    float *ap = xalloc(lc_gemm_packed_a_floats(isa, m, k) * 4 + 4);
    float *bp = xalloc(lc_gemm_packed_b_floats(isa, k, n) * 4 + 4);
    size_t wb = lc_sgemm_workspace_bytes(isa, m, n, k);
    void *ws = xalloc(wb);
    for (size_t i = 0; i < m * k; ++i) a[i] = frand();
    for (size_t i = 0; i < k * n; ++i) b[i] = frand();
    /* A given transposed (column-major) and B given transposed, through the strides */
    float *at = xalloc(m * k * 4 + 4), *bt = xalloc(k * n * 4 + 4);
    for (size_t i = 0; i < m; ++i)
        for (size_t p = 0; p < k; ++p) at[p * m + i] = a[i * k + p];
    for (size_t p = 0; p < k; ++p)
        for (size_t j = 0; j < n; ++j) bt[j * k + p] = b[p * n + j];
    lc_gemm_pack_a(isa, m, k, at, 1, m, ap);
    lc_gemm_pack_b(isa, k, n, bt, 1, k, bp);
    size_t bad = 0;
    for (int which = 0; which < 2; ++which) {
        fill_nan(c, m * n * 4);
        fill_nan(ws, wb);
        size_t hi = which == 0 ? hi_a : hi_b;
        if (which == 0)
            lc_sgemm_pa(isa, lo, hi, n, k, ap, b, n, c + lo * n, n, 0, ws);
        else
            lc_sgemm_pb(isa, m, lo, hi, k, a, k, bp, c + lo, n, 0, ws);
        for (size_t i = 0; i < m; ++i)
            for (size_t j = 0; j < n; ++j) {
                int inside = which == 0 ? (i >= lo && i < hi) : (j >= lo && j < hi);
                double s = 0;
                for (size_t p = 0; p < k; ++p) s += (double)a[i * k + p] * b[p * n + j];
                float v = c[i * n + j];
                if (inside ? !(fabs(v - s) <= 1e-5 * (double)(k + 1)) : (v == v)) ++bad;
            }
    }
    ++checks;
    if (bad) {
        ++failures;
        fprintf(stderr, "FAIL prepacked gemm isa=%d m=%zu n=%zu k=%zu lo=%zu: %zu bad\n", isa, m, n,
                k, lo, bad);
    }
    free(a); free(b); free(c); free(ap); free(bp); free(ws); free(at); free(bt);
}

/* Channels, size, kernel, stride, dilation, groups, then the pads top, left, bottom, right. */
typedef struct { size_t c, h, w, k, kh, kw, s, d, g, pt, pl, pb, pr; } shape;

int main(void) {
    static const shape shapes[] = {
        {3, 5, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        {17, 9, 11, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        {16, 8, 8, 33, 3, 3, 1, 1, 1, 0, 0, 0, 0},
        {5, 1, 1, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0},
        {7, 2, 3, 5, 3, 3, 1, 1, 1, 2, 2, 2, 2},
        {6, 7, 6, 8, 3, 3, 2, 1, 1, 1, 1, 1, 1},
        {4, 6, 9, 6, 3, 3, 2, 1, 2, 0, 0, 0, 0},
        {8, 9, 9, 4, 3, 3, 1, 2, 1, 2, 2, 2, 2},
        {20, 6, 7, 24, 1, 1, 1, 1, 1, 0, 0, 0, 0},
        {9, 7, 5, 10, 1, 1, 2, 1, 1, 0, 0, 0, 0},
        {3, 11, 10, 2, 5, 5, 2, 1, 1, 2, 2, 2, 2},
        {18, 7, 9, 18, 3, 3, 1, 1, 18, 1, 1, 1, 1},
        {18, 8, 7, 18, 3, 3, 2, 1, 18, 1, 1, 1, 1},
        {21, 9, 6, 21, 5, 5, 1, 1, 21, 2, 2, 2, 2},
        {5, 6, 7, 5, 5, 5, 2, 1, 5, 0, 0, 0, 0},
        {3, 20, 21, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        {2, 3, 3, 40, 3, 3, 1, 1, 1, 0, 0, 0, 0},
        {35, 4, 5, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0},
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
        {4, 3, 2, 6, 3, 3, 1, 1, 2, 1, 1, 1, 1},
        {32, 10, 10, 36, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        /* wide rows: full 16-column register blocks of the direct kernel, strided and dilated */
        {8, 5, 40, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        {6, 4, 37, 8, 3, 3, 2, 1, 1, 1, 1, 1, 1},
        {4, 6, 34, 8, 3, 3, 1, 2, 2, 2, 2, 2, 2},
        {16, 3, 70, 16, 3, 3, 2, 1, 16, 1, 1, 1, 1},
        /* C*KH*KW = 576: im2col/im2row lower the output pixels in several blocks */
        {64, 12, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        {64, 23, 21, 7, 3, 3, 2, 1, 1, 1, 1, 1, 1},
        /* packed weights over LC_INDIRECT_B_BYTES: gemm1x1_hwc packs A (im2row reads in place
         * whatever the weights' size) */
        {64, 6, 6, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        {256, 3, 4, 70, 1, 1, 1, 1, 1, 0, 0, 0, 0},
        /* asymmetric pads (ONNX SAME_UPPER, TF padding): the begin pads offset the input, the
         * end pads only add output rows and columns */
        {5, 7, 9, 6, 3, 3, 1, 1, 1, 0, 1, 1, 0},     {17, 9, 11, 19, 3, 3, 1, 1, 1, 2, 0, 1, 2},
        {6, 8, 7, 4, 3, 3, 2, 1, 2, 1, 0, 2, 1},     {4, 7, 6, 6, 3, 2, 1, 2, 2, 3, 0, 0, 1},
        {16, 10, 10, 20, 3, 3, 1, 1, 1, 0, 0, 2, 2}, {7, 6, 5, 9, 5, 3, 1, 1, 1, 0, 2, 3, 0},
        {8, 5, 40, 9, 3, 3, 1, 1, 1, 0, 2, 1, 0},    {4, 6, 35, 8, 3, 3, 2, 1, 2, 2, 0, 0, 3},
        {64, 12, 12, 8, 3, 3, 1, 1, 1, 0, 1, 2, 1},  {64, 23, 21, 7, 3, 3, 2, 1, 1, 0, 0, 1, 1},
        {18, 8, 7, 18, 3, 3, 2, 1, 18, 0, 0, 1, 1},  {21, 9, 6, 21, 5, 5, 1, 1, 21, 1, 2, 3, 2},
        {12, 10, 11, 12, 5, 5, 2, 1, 12, 1, 1, 2, 2}, {10, 3, 4, 10, 3, 3, 1, 1, 10, 0, 2, 2, 0},
        /* depthwise vector paths: channels a multiple of 8 and not (HWC vectors of 8 plus a
         * scalar tail, below 8 all scalar), interior runs of whole 4-pixel blocks plus single
         * pixels (HWC) and of 8-column vectors plus an overlapping last one (CHW), rows narrower
         * than a vector, no padding, asymmetric pads, stride 2 */
        {24, 9, 13, 24, 3, 3, 1, 1, 24, 1, 1, 1, 1}, {19, 7, 20, 19, 3, 3, 2, 1, 19, 1, 1, 1, 1},
        {8, 6, 9, 8, 5, 5, 1, 1, 8, 2, 2, 2, 2},     {40, 11, 23, 40, 5, 5, 2, 1, 40, 2, 1, 2, 2},
        {16, 5, 4, 16, 3, 3, 1, 1, 16, 0, 0, 0, 0},  {7, 4, 30, 7, 3, 3, 2, 1, 7, 0, 1, 1, 0},
        {33, 12, 35, 33, 3, 3, 2, 1, 33, 1, 0, 0, 2}, {16, 9, 26, 16, 5, 5, 1, 1, 16, 0, 3, 4, 1},
        /* end pads wider than the kernel: the last output columns and rows read no input */
        {9, 5, 6, 9, 3, 3, 1, 1, 9, 0, 0, 4, 5},
    };
    int isas[3];
    int nisa = 0;
    isas[nisa++] = LC_ISA_SCALAR;
    if (lc_isa_resolve(LC_ISA_AVX2) == LC_ISA_AVX2) isas[nisa++] = LC_ISA_AVX2;
    if (lc_isa_resolve(LC_ISA_AUTO) != LC_ISA_SCALAR && lc_isa_resolve(LC_ISA_AUTO) != LC_ISA_AVX2)
        isas[nisa++] = lc_isa_resolve(LC_ISA_AUTO);
    printf("test_conv: %zu primitives; isas:", lc_primitive_count());
    for (int i = 0; i < nisa; ++i) printf(" %d", isas[i]);
    printf("\n");
    if (lc_primitive_count() < 16 || lc_primitive_get(lc_primitive_count()) != NULL) {
        fprintf(stderr, "FAIL primitive table\n");
        return 1;
    }
    for (int ii = 0; ii < nisa; ++ii) {
        int isa = isas[ii];
        static const size_t gm[][3] = {{1, 1, 1}, {7, 13, 5},   {8, 32, 16},  {37, 70, 300},
                                       {200, 9, 3}, {3, 2100, 20}, {65, 33, 513}, {5, 5, 0}};
        for (size_t i = 0; i < sizeof gm / sizeof *gm; ++i)
            for (int acc = 0; acc < 2; ++acc) check_gemm(isa, gm[i][0], gm[i][1], gm[i][2], acc);
        static const size_t pg[][6] = {{7, 13, 5, 0, 7, 13}, {37, 70, 300, 5, 30, 51},
                                       {200, 9, 3, 17, 200, 9}, {3, 1100, 20, 1, 3, 1099},
                                       {1, 1, 1, 0, 1, 1}, {20, 40, 0, 3, 19, 33}};
        for (size_t i = 0; i < sizeof pg / sizeof *pg; ++i)
            check_gemm_prepacked(isa, pg[i][0], pg[i][1], pg[i][2], pg[i][3], pg[i][4], pg[i][5]);
        for (size_t pi = 0; pi < lc_primitive_count(); ++pi) {
            const lc_primitive *prim = lc_primitive_get(pi);
            int covered = 0;
            for (size_t si = 0; si < sizeof shapes / sizeof *shapes; ++si) {
                const shape *s = &shapes[si];
                lc_conv_params p = {s->c, s->k, s->h, s->w, s->kh, s->kw, s->s, s->s, s->d, s->d,
                                    s->pt, s->pl, s->pb, s->pr, s->g, LC_ACT_NONE, 0, 0, isa};
                if (lc_conv_params_setup(&p) != 0 || !prim->applicable(&p)) continue;
                ++covered;
                for (int act = LC_ACT_NONE; act <= LC_ACT_RELU6; ++act)
                    check_primitive(prim, p, isa, act);
            }
            if (covered < 2) {
                ++failures;
                fprintf(stderr, "FAIL %s covered by only %d shapes\n", prim->name, covered);
            }
        }
    }
    /* invalid parameters are rejected by setup */
    lc_conv_params bad = {4, 4, 2, 2, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    if (lc_conv_params_setup(&bad) == 0) { ++failures; fprintf(stderr, "FAIL kernel > input\n"); }
    lc_conv_params bad2 = {6, 4, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, 0, 0, 0, 0};
    if (lc_conv_params_setup(&bad2) == 0) { ++failures; fprintf(stderr, "FAIL groups\n"); }
    /* one end pad makes a 3x3 kernel fit a 2x3 input: oh = (0 + 2 + 1 - 3) / 1 + 1 */
    lc_conv_params end = {1, 1, 2, 3, 3, 3, 1, 1, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0};
    if (lc_conv_params_setup(&end) != 0 || end.oh != 1 || end.ow != 1) {
        ++failures;
        fprintf(stderr, "FAIL end padding\n");
    }
    printf("test_conv: %d checks, %d failed\n", checks, failures);
    return failures != 0;
}
