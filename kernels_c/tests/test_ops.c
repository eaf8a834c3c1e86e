/* Native C test of the op kernels (lc_ops.inc), called through the table, against float64
 * reference loops over odd shapes, for every instruction set this CPU (or emulator) can run,
 * with work-unit ranges split at unaligned points. Outputs are pre-filled with NaN so unwritten
 * elements fail. */
#define _POSIX_C_SOURCE 200112L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lc_ops.h"

static unsigned long long rng_state = 88172645463325252ULL;
static unsigned long long rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float frand(void) { return (float)((rnd() >> 40) & 0xFFFFFF) / (float)0x1000000 * 2.0f - 1.0f; }
static size_t urand(size_t lo, size_t hi) { return lo + (size_t)(rnd() >> 20) % (hi - lo + 1); }

static float *falloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}
static double *dalloc(size_t n) {
    double *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) exit(2);
    return p;
}
static void fill_nan(float *p, size_t n) { memset(p, 0xFF, n * sizeof *p); }

static int failures = 0, checks = 0;
static const int ISAS[] = {LC_ISA_SCALAR, LC_ISA_AVX2, LC_ISA_AVX512, LC_ISA_AUTO};
enum { NISA = sizeof ISAS / sizeof *ISAS };

static const lc_op *op_named(const char *name) {
    for (size_t i = 0; i < lc_op_count(); ++i)
        if (strcmp(lc_op_get(i)->name, name) == 0) return lc_op_get(i);
    fprintf(stderr, "no op kernel %s\n", name);
    exit(2);
}

/* Runs an op over its units in three calls split at unaligned points. */
static void run_split(const lc_op *op, const void *params, const float *const *in, float *out) {
    size_t u = op->units(params), a = u / 3, b = u - u / 4;
    op->run(params, in, out, 0, a);
    op->run(params, in, out, a, b);
    op->run(params, in, out, b, u);
}

/* Compares n outputs with the reference: |got - ref| <= atol + rtol |ref|, NaN fails. */
static void compare(const char *what, const float *got, const double *ref, size_t n, double atol,
                    double rtol) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; ++i) {
        double e = fabs((double)got[i] - ref[i]);
        int same_inf = isinf(ref[i]) && (double)got[i] == ref[i];
        if (!same_inf && !(e <= atol + rtol * fabs(ref[i]))) {
            if (!bad) first = i;
            ++bad;
        }
    }
    ++checks;
    if (bad) {
        ++failures;
        fprintf(stderr, "FAIL %s: %zu of %zu bad, first [%zu] got %.9g want %.9g\n", what, bad, n,
                first, (double)got[first], ref[first]);
    }
}

/* ---- activations ---- */

static double ref_act(double x, const lc_activation *a) {
    switch (a->kind) {
    case LC_ACT_RELU: return x > 0 ? x : 0;
    case LC_ACT_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case LC_ACT_CLIP: return x < a->alpha ? a->alpha : x > a->beta ? a->beta : x;
    case LC_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case LC_ACT_HARD_SIGMOID: {
        double v = a->alpha * x + a->beta;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case LC_ACT_HARD_SWISH: {
        double v = x + 3;
        return x * (v < 0 ? 0 : v > 6 ? 6 : v) / 6;
    }
    case LC_ACT_SILU: return x / (1.0 + exp(-x));
    case LC_ACT_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case LC_ACT_TANH: return tanh(x);
    case LC_ACT_LEAKY_RELU: return x >= 0 ? x : a->alpha * x;
    default: return x;
    }
}

static lc_activation random_act(int kind) {
    lc_activation a = {kind, 0.0f, 0.0f};
    if (kind == LC_ACT_CLIP) {
        a.alpha = frand() * 2.0f;
        a.beta = a.alpha + (frand() + 1.0f) * 3.0f;
    } else if (kind == LC_ACT_HARD_SIGMOID) {
        a.alpha = 0.2f + 0.1f * frand();
        a.beta = 0.5f + 0.2f * frand();
    } else if (kind == LC_ACT_LEAKY_RELU) {
        a.alpha = 0.01f + 0.3f * (frand() + 1.0f);
    }
    return a;
}

static void check_activations(void) {
    const lc_op *op = op_named("activation");
    size_t sizes[] = {1, 3, 17, 64, 1000, 4099};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; ++si)
        for (int kind = 0; kind < LC_ACT_COUNT; ++kind)
            for (int ii = 0; ii < NISA; ++ii)
                for (int in_place = 0; in_place < 2; ++in_place) {
                    size_t n = sizes[si];
                    float *x = falloc(n), *y = falloc(n);
                    double *ref = dalloc(n);
                    lc_activation a = random_act(kind);
                    /* wide values plus the tails: +-100, +-88.5 past exp's clamp, tiny ones */
                    for (size_t i = 0; i < n; ++i) x[i] = frand() * (i % 3 ? 12.0f : 1.0f);
                    const float special[] = {0.0f, -0.0f, 100.0f, -100.0f, 88.5f, -88.5f, 1e-6f,
                                             -1e-6f, 0.6249f, -0.6251f, 3.0f, -3.0f};
                    for (size_t i = 0; i < n && i < sizeof special / sizeof *special; ++i)
                        x[(i * 7) % n] = special[i];
                    for (size_t i = 0; i < n; ++i) ref[i] = ref_act(x[i], &a);
                    lc_unary_params p = {n, a, ISAS[ii]};
                    float *out = in_place ? x : y;
                    if (!in_place) fill_nan(y, n);
                    const float *in[1] = {x};
                    run_split(op, &p, in, out);
                    char what[96];
                    snprintf(what, sizeof what, "activation kind=%d n=%zu isa=%d in_place=%d", kind,
                             n, ISAS[ii], in_place);
                    compare(what, out, ref, n, 3e-7, 4e-6);
                    free(x); free(y); free(ref);
                }
}

/* ---- binary and affine ---- */

static double ref_binop(int op, double a, double b) {
    switch (op) {
    case LC_BINARY_ADD: return a + b;
    case LC_BINARY_SUB: return a - b;
    case LC_BINARY_MUL: return a * b;
    default: return a / b;
    }
}

static void check_binary_case(size_t c, size_t hw, int layout, int op, int bcast, int reversed,
                              int act_kind, int isa, int in_place) {
    const lc_op *k = op_named(layout == LC_LAYOUT_CHW ? "binary_chw" : "binary_hwc");
    size_t n = c * hw, ny = bcast == LC_BCAST_SAME ? n : bcast == LC_BCAST_SCALAR ? 1 : c;
    float *x = falloc(n), *y = falloc(ny), *out = falloc(n);
    double *ref = dalloc(n);
    for (size_t i = 0; i < n; ++i) x[i] = frand() * 4.0f;
    for (size_t i = 0; i < ny; ++i) y[i] = frand() * 4.0f;
    if (op == LC_BINARY_DIV) { /* keep divisors away from zero */
        float *d = reversed ? x : y;
        size_t nd = reversed ? n : ny;
        for (size_t i = 0; i < nd; ++i) d[i] = d[i] < 0 ? d[i] - 0.5f : d[i] + 0.5f;
    }
    lc_activation a = random_act(act_kind);
    for (size_t ch = 0; ch < c; ++ch)
        for (size_t q = 0; q < hw; ++q) {
            size_t i = layout == LC_LAYOUT_CHW ? ch * hw + q : q * c + ch;
            double yv = bcast == LC_BCAST_SAME ? y[i] : bcast == LC_BCAST_SCALAR ? y[0] : y[ch];
            double v = reversed ? ref_binop(op, yv, x[i]) : ref_binop(op, x[i], yv);
            ref[i] = ref_act((float)v, &a); /* the kernel rounds x op y to float first */
        }
    lc_binary_params p = {c, hw, op, bcast, reversed, a, isa};
    float *dst = in_place ? x : out;
    if (!in_place) fill_nan(out, n);
    const float *in[2] = {x, y};
    run_split(k, &p, in, dst);
    char what[160];
    snprintf(what, sizeof what, "%s c=%zu hw=%zu op=%d bcast=%d rev=%d act=%d isa=%d in_place=%d",
             k->name, c, hw, op, bcast, reversed, act_kind, isa, in_place);
    compare(what, dst, ref, n, 1e-6, 4e-6);
    free(x); free(y); free(out); free(ref);
}

static void check_affine_case(size_t c, size_t hw, int layout, int act_kind, int isa) {
    const lc_op *k = op_named(layout == LC_LAYOUT_CHW ? "affine_chw" : "affine_hwc");
    size_t n = c * hw;
    float *x = falloc(n), *s = falloc(c), *b = falloc(c), *out = falloc(n);
    double *ref = dalloc(n);
    for (size_t i = 0; i < n; ++i) x[i] = frand() * 4.0f;
    for (size_t i = 0; i < c; ++i) s[i] = frand() * 2.0f, b[i] = frand();
    lc_activation a = random_act(act_kind);
    for (size_t ch = 0; ch < c; ++ch)
        for (size_t q = 0; q < hw; ++q) {
            size_t i = layout == LC_LAYOUT_CHW ? ch * hw + q : q * c + ch;
            ref[i] = ref_act((float)((double)x[i] * s[ch] + b[ch]), &a);
        }
    lc_affine_params p = {c, hw, a, isa};
    fill_nan(out, n);
    const float *in[3] = {x, s, b};
    run_split(k, &p, in, out);
    char what[96];
    snprintf(what, sizeof what, "%s c=%zu hw=%zu act=%d isa=%d", k->name, c, hw, act_kind, isa);
    compare(what, out, ref, n, 1e-6, 4e-6);
    free(x); free(s); free(b); free(out); free(ref);
}

static void check_elementwise(void) {
    for (int t = 0; t < 60; ++t) {
        size_t c = urand(1, 37), hw = urand(1, 50);
        if (t % 7 == 0) c = 1;
        if (t % 5 == 0) hw = 1;
        int act_kind = (int)urand(0, LC_ACT_COUNT - 1);
        for (int ii = 0; ii < NISA; ++ii)
            for (int layout = 0; layout < 2; ++layout) {
                for (int op = 0; op < 4; ++op)
                    for (int bcast = 0; bcast < 3; ++bcast)
                        for (int rev = 0; rev < 2; ++rev)
                            check_binary_case(c, hw, layout, op, bcast, rev, act_kind, ISAS[ii],
                                              (op + bcast + rev + t) % 2);
                check_affine_case(c, hw, layout, act_kind, ISAS[ii]);
            }
    }
}

/* ---- pooling ---- */

static void ref_pool(const lc_pool_params *p, int layout, int is_max, const float *x, double *out) {
    for (size_t c = 0; c < p->c; ++c)
        for (size_t oy = 0; oy < p->oh; ++oy)
            for (size_t ox = 0; ox < p->ow; ++ox) {
                double acc = is_max ? -INFINITY : 0.0;
                size_t cnt = 0;
                for (size_t r = 0; r < p->kh; ++r)
                    for (size_t s = 0; s < p->kw; ++s) {
                        long iy = (long)(oy * p->sh + r * p->dh) - (long)p->pt;
                        long ix = (long)(ox * p->sw + s * p->dw) - (long)p->pl;
                        if (iy < 0 || ix < 0 || iy >= (long)p->h || ix >= (long)p->w) continue;
                        double v = layout == LC_LAYOUT_CHW
                                       ? x[(c * p->h + (size_t)iy) * p->w + (size_t)ix]
                                       : x[((size_t)iy * p->w + (size_t)ix) * p->c + c];
                        acc = is_max ? (v > acc ? v : acc) : acc + v;
                        ++cnt;
                    }
                if (!is_max) {
                    /* PyTorch's divisor: the window within the padded input, or the count */
                    long hs = (long)(oy * p->sh) - (long)p->pt, ws = (long)(ox * p->sw) - (long)p->pl;
                    long he = hs + (long)p->kh, we = ws + (long)p->kw;
                    if (he > (long)(p->h + p->pb)) he = (long)(p->h + p->pb);
                    if (we > (long)(p->w + p->pr)) we = (long)(p->w + p->pr);
                    double div = p->count_include_pad ? (double)((he - hs) * (we - ws)) : (double)cnt;
                    acc /= div;
                }
                size_t i = layout == LC_LAYOUT_CHW ? (c * p->oh + oy) * p->ow + ox
                                                   : (oy * p->ow + ox) * p->c + c;
                out[i] = acc;
            }
}

/* Output size along one axis, floor or ceil mode, PyTorch's rule (the last window starts
 * inside the input or the leading pad); 0 when no window fits. */
static size_t pool_out(size_t n, size_t k, size_t s, size_t d, size_t pa, size_t pb, int ceil_mode) {
    size_t ek = (k - 1) * d + 1, span = n + pa + pb;
    if (span < ek) return 0;
    size_t o = (span - ek + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (o - 1) * s >= n + pa) --o;
    return o;
}

/* Every window of every output position reaches at least one input pixel. */
static int windows_nonempty(size_t n, size_t o, size_t k, size_t s, size_t d, size_t pa) {
    for (size_t i = 0; i < o; ++i) {
        int any = 0;
        for (size_t r = 0; r < k; ++r) {
            long v = (long)(i * s + r * d) - (long)pa;
            if (v >= 0 && v < (long)n) any = 1;
        }
        if (!any) return 0;
    }
    return 1;
}

static void check_pool(void) {
    int done = 0;
    while (done < 300) {
        lc_pool_params p;
        memset(&p, 0, sizeof p);
        int is_max = done % 2 == 0;
        p.c = urand(1, 19);
        p.h = urand(1, 13);
        p.w = urand(1, 13);
        p.kh = urand(1, 5);
        p.kw = urand(1, 5);
        p.sh = urand(1, 3);
        p.sw = urand(1, 3);
        p.dh = is_max ? urand(1, 2) : 1;
        p.dw = is_max ? urand(1, 2) : 1;
        p.pt = urand(0, 4); p.pl = urand(0, 4); p.pb = urand(0, 4); p.pr = urand(0, 4);
        p.count_include_pad = (int)urand(0, 1);
        int ceil_mode = (int)urand(0, 1);
        p.oh = pool_out(p.h, p.kh, p.sh, p.dh, p.pt, p.pb, ceil_mode);
        p.ow = pool_out(p.w, p.kw, p.sw, p.dw, p.pl, p.pr, ceil_mode);
        int may_be_empty = !is_max && p.count_include_pad;
        if (!p.oh || !p.ow ||
            (!may_be_empty && (!windows_nonempty(p.h, p.oh, p.kh, p.sh, p.dh, p.pt) ||
                               !windows_nonempty(p.w, p.ow, p.kw, p.sw, p.dw, p.pl))))
            continue;
        ++done;
        size_t nin = p.c * p.h * p.w, nout = p.c * p.oh * p.ow;
        float *x = falloc(nin), *out = falloc(nout);
        double *ref = dalloc(nout);
        for (size_t i = 0; i < nin; ++i) x[i] = frand();
        for (int layout = 0; layout < 2; ++layout) {
            ref_pool(&p, layout, is_max, x, ref);
            char name[32];
            snprintf(name, sizeof name, "%s_%s", is_max ? "maxpool" : "avgpool",
                     layout == LC_LAYOUT_CHW ? "chw" : "hwc");
            const lc_op *k = op_named(name);
            for (int ii = 0; ii < NISA; ++ii) {
                p.isa = ISAS[ii];
                fill_nan(out, nout);
                const float *in[1] = {x};
                run_split(k, &p, in, out);
                char what[200];
                snprintf(what, sizeof what,
                         "%s isa=%d c=%zu %zux%zu -> %zux%zu k%zux%zu s%zu,%zu d%zu,%zu "
                         "pads t%zu l%zu b%zu r%zu cip=%d",
                         name, p.isa, p.c, p.h, p.w, p.oh, p.ow, p.kh, p.kw, p.sh, p.sw, p.dh,
                         p.dw, p.pt, p.pl, p.pb, p.pr, p.count_include_pad);
                compare(what, out, ref, nout, 1e-6, 1e-6);
            }
        }
        free(x); free(out); free(ref);
    }
}

static void check_global_pool(void) {
    for (int t = 0; t < 40; ++t) {
        size_t c = urand(1, 40), hw = t % 4 == 0 ? 1 : urand(1, 300);
        float *x = falloc(c * hw), *out = falloc(c);
        double *ref = dalloc(c);
        for (size_t i = 0; i < c * hw; ++i) x[i] = frand();
        for (int is_max = 0; is_max < 2; ++is_max)
            for (int layout = 0; layout < 2; ++layout) {
                for (size_t ch = 0; ch < c; ++ch) {
                    double acc = is_max ? -INFINITY : 0.0;
                    for (size_t q = 0; q < hw; ++q) {
                        double v = layout == LC_LAYOUT_CHW ? x[ch * hw + q] : x[q * c + ch];
                        acc = is_max ? (v > acc ? v : acc) : acc + v;
                    }
                    ref[ch] = is_max ? acc : acc / (double)hw;
                }
                char name[40];
                snprintf(name, sizeof name, "global_%s_%s", is_max ? "maxpool" : "avgpool",
                         layout == LC_LAYOUT_CHW ? "chw" : "hwc");
                const lc_op *k = op_named(name);
                for (int ii = 0; ii < NISA; ++ii) {
                    lc_global_pool_params p = {c, hw, ISAS[ii]};
                    fill_nan(out, c);
                    const float *in[1] = {x};
                    run_split(k, &p, in, out);
                    char what[96];
                    snprintf(what, sizeof what, "%s isa=%d c=%zu hw=%zu", name, ISAS[ii], c, hw);
                    compare(what, out, ref, c, 1e-6, 1e-5);
                }
            }
        free(x); free(out); free(ref);
    }
}

/* ---- data movement ---- */

static size_t idx(int layout, size_t c, size_t nc, size_t q, size_t hw) {
    return layout == LC_LAYOUT_CHW ? c * hw + q : q * nc + c;
}

static void check_data_movement(void) {
    for (int t = 0; t < 80; ++t)
        for (int layout = 0; layout < 2; ++layout) {
            const char *sfx = layout == LC_LAYOUT_CHW ? "chw" : "hwc";
            char name[40], what[160];
            size_t h = urand(1, 7), w = urand(1, 7), hw = h * w;
            /* copy channels: [so, so + n) of sc into [do, do + n) of dc; the rest untouched */
            size_t n = urand(1, 9), sc = n + urand(0, 5), dc = n + urand(0, 5);
            size_t so = urand(0, sc - n), dof = urand(0, dc - n);
            float *src = falloc(sc * hw), *dst = falloc(dc * hw);
            double *ref = dalloc(dc * hw);
            for (size_t i = 0; i < sc * hw; ++i) src[i] = frand();
            for (size_t i = 0; i < dc * hw; ++i) dst[i] = (float)i, ref[i] = (double)i;
            for (size_t c = 0; c < n; ++c)
                for (size_t q = 0; q < hw; ++q)
                    ref[idx(layout, dof + c, dc, q, hw)] = src[idx(layout, so + c, sc, q, hw)];
            lc_copy_params cp = {hw, n, sc, so, dc, dof};
            snprintf(name, sizeof name, "copy_channels_%s", sfx);
            const float *in1[1] = {src};
            run_split(op_named(name), &cp, in1, dst);
            snprintf(what, sizeof what, "%s hw=%zu n=%zu src %zu@%zu dst %zu@%zu", name, hw, n, sc,
                     so, dc, dof);
            compare(what, dst, ref, dc * hw, 0, 0);
            free(dst); free(ref);
            /* channel shuffle */
            size_t g = urand(1, 4), c = g * urand(1, 5);
            float *x = falloc(c * hw), *out = falloc(c * hw);
            ref = dalloc(c * hw);
            for (size_t i = 0; i < c * hw; ++i) x[i] = frand();
            for (size_t gi = 0; gi < g; ++gi)
                for (size_t k = 0; k < c / g; ++k)
                    for (size_t q = 0; q < hw; ++q)
                        ref[idx(layout, k * g + gi, c, q, hw)] = x[idx(layout, gi * (c / g) + k, c, q, hw)];
            lc_shuffle_params sp = {c, hw, g};
            snprintf(name, sizeof name, "channel_shuffle_%s", sfx);
            fill_nan(out, c * hw);
            const float *in2[1] = {x};
            run_split(op_named(name), &sp, in2, out);
            snprintf(what, sizeof what, "%s c=%zu g=%zu hw=%zu", name, c, g, hw);
            compare(what, out, ref, c * hw, 0, 0);
            free(out); free(ref);
            /* pad */
            for (int mode = 0; mode < 3; ++mode) {
                size_t lim_h = mode == LC_PAD_REFLECT ? h - 1 : 4, lim_w = mode == LC_PAD_REFLECT ? w - 1 : 4;
                lc_pad_params pp = {c, h, w, urand(0, lim_h), urand(0, lim_w), urand(0, lim_h),
                                    urand(0, lim_w), mode, frand()};
                size_t oh = h + pp.pt + pp.pb, ow = w + pp.pl + pp.pr;
                out = falloc(c * oh * ow);
                ref = dalloc(c * oh * ow);
                for (size_t ch = 0; ch < c; ++ch)
                    for (size_t oy = 0; oy < oh; ++oy)
                        for (size_t ox = 0; ox < ow; ++ox) {
                            long iy = (long)oy - (long)pp.pt, ix = (long)ox - (long)pp.pl;
                            long H = (long)h, W = (long)w;
                            double v;
                            if (mode == LC_PAD_EDGE) {
                                iy = iy < 0 ? 0 : iy >= H ? H - 1 : iy;
                                ix = ix < 0 ? 0 : ix >= W ? W - 1 : ix;
                            } else if (mode == LC_PAD_REFLECT) {
                                iy = iy < 0 ? -iy : iy >= H ? 2 * (H - 1) - iy : iy;
                                ix = ix < 0 ? -ix : ix >= W ? 2 * (W - 1) - ix : ix;
                            }
                            if (iy < 0 || ix < 0 || iy >= H || ix >= W)
                                v = pp.value;
                            else
                                v = x[idx(layout, ch, c, (size_t)iy * w + (size_t)ix, hw)];
                            ref[idx(layout, ch, c, oy * ow + ox, oh * ow)] = v;
                        }
                snprintf(name, sizeof name, "pad_%s", sfx);
                fill_nan(out, c * oh * ow);
                run_split(op_named(name), &pp, in2, out);
                snprintf(what, sizeof what, "%s mode=%d c=%zu %zux%zu pads %zu %zu %zu %zu", name,
                         mode, c, h, w, pp.pt, pp.pl, pp.pb, pp.pr);
                compare(what, out, ref, c * oh * ow, 0, 0);
                free(out); free(ref);
            }
            free(src); free(x);
        }
}

/* ---- softmax, layer-norm ---- */

static void check_norms(void) {
    for (int t = 0; t < 60; ++t)
        for (int layout = 0; layout < 2; ++layout)
            for (int ii = 0; ii < NISA; ++ii) {
                const char *sfx = layout == LC_LAYOUT_CHW ? "chw" : "hwc";
                size_t c = t % 6 == 0 ? 1 : urand(1, 40), hw = t % 5 == 0 ? 1 : urand(1, 150);
                float *x = falloc(c * hw), *g = falloc(c), *b = falloc(c), *out = falloc(c * hw);
                double *ref = dalloc(c * hw);
                float scale = t % 3 == 0 ? 50.0f : 3.0f;
                for (size_t i = 0; i < c * hw; ++i) x[i] = frand() * scale;
                for (size_t i = 0; i < c; ++i) g[i] = frand(), b[i] = frand();
                for (size_t q = 0; q < hw; ++q) {
                    double m = -INFINITY, s = 0;
                    for (size_t ch = 0; ch < c; ++ch) m = fmax(m, x[idx(layout, ch, c, q, hw)]);
                    for (size_t ch = 0; ch < c; ++ch) s += exp(x[idx(layout, ch, c, q, hw)] - m);
                    for (size_t ch = 0; ch < c; ++ch)
                        ref[idx(layout, ch, c, q, hw)] = exp(x[idx(layout, ch, c, q, hw)] - m) / s;
                }
                char name[40], what[120];
                snprintf(name, sizeof name, "softmax_%s", sfx);
                lc_softmax_params sp = {c, hw, ISAS[ii]};
                fill_nan(out, c * hw);
                const float *in[3] = {x, g, b};
                run_split(op_named(name), &sp, in, out);
                snprintf(what, sizeof what, "%s c=%zu hw=%zu isa=%d", name, c, hw, ISAS[ii]);
                compare(what, out, ref, c * hw, 1e-7, 1e-5);
                for (size_t q = 0; q < hw; ++q) {
                    double mean = 0, var = 0;
                    for (size_t ch = 0; ch < c; ++ch) mean += x[idx(layout, ch, c, q, hw)];
                    mean /= (double)c;
                    for (size_t ch = 0; ch < c; ++ch) {
                        double d = x[idx(layout, ch, c, q, hw)] - mean;
                        var += d * d;
                    }
                    var /= (double)c;
                    for (size_t ch = 0; ch < c; ++ch) {
                        size_t i = idx(layout, ch, c, q, hw);
                        ref[i] = (x[i] - mean) / sqrt(var + 1e-5) * g[ch] + b[ch];
                    }
                }
                snprintf(name, sizeof name, "layernorm_%s", sfx);
                lc_layernorm_params lp = {c, hw, 1e-5f, ISAS[ii]};
                fill_nan(out, c * hw);
                run_split(op_named(name), &lp, in, out);
                snprintf(what, sizeof what, "%s c=%zu hw=%zu isa=%d", name, c, hw, ISAS[ii]);
                compare(what, out, ref, c * hw, 2e-5, 2e-5);
                free(x); free(g); free(b); free(out); free(ref);
            }
}

/* ---- local response normalisation ---- */

static void check_lrn(void) {
    for (int t = 0; t < 60; ++t)
        for (int layout = 0; layout < 2; ++layout)
            for (int ii = 0; ii < NISA; ++ii) {
                const char *sfx = layout == LC_LAYOUT_CHW ? "chw" : "hwc";
                size_t c = t % 6 == 0 ? 1 : urand(1, 40), hw = t % 5 == 0 ? 1 : urand(1, 150);
                size_t before = urand(0, 4), after = t % 4 == 0 ? before : urand(0, 4);
                float alpha = frand() * 2.0f + 2.0f, bias = frand() + 1.5f;
                float beta = t % 2 == 0 ? 0.75f : frand() + 0.5f;
                float *x = falloc(c * hw), *out = falloc(c * hw);
                double *ref = dalloc(c * hw);
                for (size_t i = 0; i < c * hw; ++i) x[i] = frand() * (t % 3 == 0 ? 20.0f : 2.0f);
                lc_lrn_params p = {c, hw, before, after, alpha / (float)(before + 1 + after), beta, bias,
                                   ISAS[ii]};
                for (size_t q = 0; q < hw; ++q)
                    for (size_t k = 0; k < c; ++k) {
                        double s = 0;
                        for (size_t j = k >= before ? k - before : 0; j <= k + after && j < c; ++j) {
                            double v = x[idx(layout, j, c, q, hw)];
                            s += v * v;
                        }
                        size_t i = idx(layout, k, c, q, hw);
                        ref[i] = x[i] * pow((double)bias + (double)p.scale * s, -(double)beta);
                    }
                char name[40], what[160];
                snprintf(name, sizeof name, "lrn_%s", sfx);
                fill_nan(out, c * hw);
                const float *in[1] = {x};
                run_split(op_named(name), &p, in, out);
                snprintf(what, sizeof what, "%s c=%zu hw=%zu window=%zu+1+%zu beta=%g isa=%d", name, c, hw,
                         before, after, (double)beta, ISAS[ii]);
                compare(what, out, ref, c * hw, 1e-6, 1e-5);
                free(x); free(out); free(ref);
            }
}

/* ---- resize ---- */

/* The source coordinate in float, one rounding per operation, as PyTorch (and the kernel)
 * compute it: the reference checks the indexing and weights, not this rounding. */
static double ref_coord(size_t x, float r, size_t in, size_t out, int coord) {
    float hp = ((float)x + 0.5f) * r;
    hp = hp - 0.5f;
    switch (coord) {
    case LC_COORD_HALF_PIXEL: return hp;
    case LC_COORD_PYTORCH_HALF_PIXEL: return out > 1 ? hp : 0.0;
    case LC_COORD_ASYMMETRIC: return (float)x * r;
    default: return out > 1 ? (double)x * (double)(in - 1) / (double)(out - 1) : 0.0;
    }
}

static long ref_nearest(double v, size_t in, int mode) {
    double f = mode == LC_NEAREST_ROUND_PREFER_FLOOR ? ceil(v - 0.5)
               : mode == LC_NEAREST_ROUND_PREFER_CEIL ? floor(v + 0.5)
               : mode == LC_NEAREST_FLOOR ? floor(v) : ceil(v);
    return f < 0 ? 0 : f > (double)(in - 1) ? (long)in - 1 : (long)f;
}

static void check_resize(void) {
    for (int t = 0; t < 120; ++t)
        for (int layout = 0; layout < 2; ++layout) {
            lc_resize_params p;
            p.c = urand(1, 9);
            p.h = urand(1, 9);
            p.w = urand(1, 9);
            /* integer factors (exact coordinates) with nearest, any size with linear */
            p.mode = (int)urand(0, 1);
            if (p.mode == LC_RESIZE_NEAREST) {
                size_t fh = urand(1, 3), fw = urand(1, 3);
                p.oh = t % 2 ? p.h * fh : p.h;
                p.ow = t % 3 ? p.w * fw : p.w;
            } else {
                p.oh = urand(1, 17);
                p.ow = urand(1, 17);
            }
            p.rh = (float)p.h / (float)p.oh;
            p.rw = (float)p.w / (float)p.ow;
            p.coord = (int)urand(0, 3);
            p.nearest = (int)urand(0, 3);
            size_t nin = p.c * p.h * p.w, nout = p.c * p.oh * p.ow;
            float *x = falloc(nin), *out = falloc(nout);
            double *ref = dalloc(nout);
            for (size_t i = 0; i < nin; ++i) x[i] = frand();
            for (size_t c = 0; c < p.c; ++c)
                for (size_t oy = 0; oy < p.oh; ++oy)
                    for (size_t ox = 0; ox < p.ow; ++ox) {
                        double vy = ref_coord(oy, p.rh, p.h, p.oh, p.coord);
                        double vx = ref_coord(ox, p.rw, p.w, p.ow, p.coord);
                        double v;
                        if (p.mode == LC_RESIZE_NEAREST) {
                            long iy = ref_nearest(vy, p.h, p.nearest), ix = ref_nearest(vx, p.w, p.nearest);
                            v = x[idx(layout, c, p.c, (size_t)iy * p.w + (size_t)ix, p.h * p.w)];
                        } else {
                            vy = vy < 0 ? 0 : vy;
                            vx = vx < 0 ? 0 : vx;
                            size_t y0 = (size_t)vy, x0 = (size_t)vx;
                            if (y0 > p.h - 1) y0 = p.h - 1;
                            if (x0 > p.w - 1) x0 = p.w - 1;
                            size_t y1 = y0 + 1 < p.h ? y0 + 1 : y0, x1 = x0 + 1 < p.w ? x0 + 1 : x0;
                            double ly = y0 == y1 ? 0 : vy - y0, lx = x0 == x1 ? 0 : vx - x0;
#define X(yy, xx) x[idx(layout, c, p.c, (yy) * p.w + (xx), p.h * p.w)]
                            v = (1 - ly) * ((1 - lx) * X(y0, x0) + lx * X(y0, x1)) +
                                ly * ((1 - lx) * X(y1, x0) + lx * X(y1, x1));
#undef X
                        }
                        ref[idx(layout, c, p.c, oy * p.ow + ox, p.oh * p.ow)] = v;
                    }
            char name[32], what[160];
            snprintf(name, sizeof name, "resize_%s", layout == LC_LAYOUT_CHW ? "chw" : "hwc");
            for (int ii = 0; ii < NISA; ++ii) {
                p.isa = ISAS[ii];
                fill_nan(out, nout);
                const float *in[1] = {x};
                run_split(op_named(name), &p, in, out);
                snprintf(what, sizeof what, "%s mode=%d coord=%d nearest=%d c=%zu %zux%zu -> %zux%zu",
                         name, p.mode, p.coord, p.nearest, p.c, p.h, p.w, p.oh, p.ow);
                compare(what, out, ref, nout, 2e-6, 1e-5);
            }
            free(x); free(out); free(ref);
        }
}

/* ---- linear ---- */

static void check_linear(void) {
    const lc_op *k = op_named("linear");
    for (int t = 0; t < 60; ++t)
        for (int ii = 0; ii < NISA; ++ii) {
            size_t in_f = urand(1, 300), out_f = urand(1, 40);
            int with_bias = t % 3 != 0;
            lc_linear_params p = {in_f, out_f, random_act((int)urand(0, LC_ACT_COUNT - 1)), ISAS[ii]};
            float *x = falloc(in_f), *w = falloc(in_f * out_f), *b = falloc(out_f), *out = falloc(out_f);
            double *ref = dalloc(out_f);
            for (size_t i = 0; i < in_f; ++i) x[i] = frand();
            for (size_t i = 0; i < in_f * out_f; ++i) w[i] = frand();
            for (size_t i = 0; i < out_f; ++i) b[i] = frand();
            for (size_t j = 0; j < out_f; ++j) {
                double s = with_bias ? b[j] : 0;
                for (size_t i = 0; i < in_f; ++i) s += (double)x[i] * w[j * in_f + i];
                ref[j] = ref_act((float)s, &p.act);
            }
            fill_nan(out, out_f);
            const float *in[3] = {x, w, with_bias ? b : NULL};
            run_split(k, &p, in, out);
            char what[96];
            snprintf(what, sizeof what, "linear in=%zu out=%zu act=%d isa=%d", in_f, out_f, p.act.kind, ISAS[ii]);
            compare(what, out, ref, out_f, 2e-5, 2e-5);
            free(x); free(w); free(b); free(out); free(ref);
        }
}

/* ---- transposed convolution ---- */

/* float64 scatter: every input pixel times every tap added where it lands, then bias, act. */
static void ref_deconv(const lc_deconv_params *p, int layout, const float *x, const float *w,
                       const float *b, double *out) {
    size_t ig = p->c / p->groups, og = p->k / p->groups, n = p->k * p->oh * p->ow;
    for (size_t i = 0; i < n; ++i) out[i] = 0.0;
    for (size_t ci = 0; ci < p->c; ++ci)
        for (size_t iy = 0; iy < p->h; ++iy)
            for (size_t ix = 0; ix < p->w; ++ix) {
                double xv = layout == LC_LAYOUT_CHW ? x[(ci * p->h + iy) * p->w + ix]
                                                    : x[(iy * p->w + ix) * p->c + ci];
                for (size_t o = 0; o < og; ++o)
                    for (size_t ky = 0; ky < p->kh; ++ky)
                        for (size_t kx = 0; kx < p->kw; ++kx) {
                            long oy = (long)(iy * p->sh + ky * p->dh) - (long)p->pt;
                            long ox = (long)(ix * p->sw + kx * p->dw) - (long)p->pl;
                            if (oy < 0 || ox < 0 || oy >= (long)p->oh || ox >= (long)p->ow) continue;
                            size_t oc = ci / ig * og + o;
                            size_t i = layout == LC_LAYOUT_CHW
                                           ? (oc * p->oh + (size_t)oy) * p->ow + (size_t)ox
                                           : ((size_t)oy * p->ow + (size_t)ox) * p->k + oc;
                            out[i] += xv * w[((ci * og + o) * p->kh + ky) * p->kw + kx];
                        }
            }
    for (size_t i = 0; i < n; ++i) {
        size_t oc = layout == LC_LAYOUT_CHW ? i / (p->oh * p->ow) : i % p->k;
        out[i] = ref_act((float)(out[i] + (b ? b[oc] : 0.0)), &p->act);
    }
}

/* Output length of one axis; 0 when the pads crop everything. */
static size_t deconv_out(size_t n, size_t k, size_t s, size_t d, size_t pa, size_t pb, size_t op) {
    size_t full = (n - 1) * s + d * (k - 1) + op + 1;
    return full > pa + pb ? full - pa - pb : 0;
}

static void check_deconv(void) {
    int done = 0;
    while (done < 240) {
        lc_deconv_params p;
        memset(&p, 0, sizeof p);
        int shape = done % 4; /* dense, grouped, depthwise-transposed, channel multiplier */
        p.groups = shape == 0 ? 1 : urand(1, 4);
        size_t ig = shape >= 2 ? 1 : urand(1, 9), og = shape == 2 ? 1 : urand(1, 9);
        if (shape == 3) og = urand(2, 3);
        if (done % 10 == 1) ig = urand(10, 40), og = urand(10, 40); /* past one GEMM tile */
        p.c = p.groups * ig;
        p.k = p.groups * og;
        p.h = urand(1, 9); p.w = done % 10 == 1 ? urand(20, 70) : urand(1, 11);
        p.kh = urand(1, 4); p.kw = urand(1, 4);
        p.sh = urand(1, 3); p.sw = urand(1, 3);
        p.dh = urand(1, 2); p.dw = urand(1, 2);
        p.pt = urand(0, 3); p.pl = urand(0, 3);
        size_t pb = urand(0, 3), pr = urand(0, 3);
        /* PyTorch's rule: output_padding below the stride or below the dilation */
        size_t oph = urand(0, (p.sh > p.dh ? p.sh : p.dh) - 1);
        size_t opw = urand(0, (p.sw > p.dw ? p.sw : p.dw) - 1);
        p.oh = deconv_out(p.h, p.kh, p.sh, p.dh, p.pt, pb, oph);
        p.ow = deconv_out(p.w, p.kw, p.sw, p.dw, p.pl, pr, opw);
        if (!p.oh || !p.ow) continue;
        ++done;
        int with_bias = done % 3 != 0;
        p.act = random_act(done % 5 ? (int)urand(0, LC_ACT_COUNT - 1) : LC_ACT_NONE);
        size_t nin = p.c * p.h * p.w, nw = p.c * og * p.kh * p.kw, nout = p.k * p.oh * p.ow;
        float *x = falloc(nin), *w = falloc(nw), *b = falloc(p.k), *out = falloc(nout);
        double *ref = dalloc(nout);
        for (size_t i = 0; i < nin; ++i) x[i] = frand();
        for (size_t i = 0; i < nw; ++i) w[i] = frand();
        for (size_t i = 0; i < p.k; ++i) b[i] = frand();
        for (int layout = 0; layout < 2; ++layout) {
            ref_deconv(&p, layout, x, w, with_bias ? b : NULL, ref);
            const lc_op *k = op_named(layout == LC_LAYOUT_CHW ? "deconv_chw" : "deconv_hwc");
            for (int ii = 0; ii < NISA; ++ii) {
                p.isa = ISAS[ii];
                float *packed = falloc(lc_deconv_packed_bytes(&p, layout) / sizeof(float));
                size_t wsb = lc_deconv_workspace_bytes(&p, layout);
                float *ws = wsb ? falloc(wsb / sizeof(float) + 1) : NULL;
                lc_deconv_pack(&p, layout, w, packed);
                fill_nan(out, nout);
                const float *in[4] = {x, packed, with_bias ? b : NULL, ws};
                run_split(k, &p, in, out);
                char what[240];
                snprintf(what, sizeof what,
                         "%s isa=%d c=%zu k=%zu g=%zu %zux%zu -> %zux%zu k%zux%zu s%zu,%zu "
                         "d%zu,%zu pads t%zu l%zu b%zu r%zu op%zu,%zu act=%d bias=%d",
                         k->name, p.isa, p.c, p.k, p.groups, p.h, p.w, p.oh, p.ow, p.kh, p.kw,
                         p.sh, p.sw, p.dh, p.dw, p.pt, p.pl, pb, pr, oph, opw, p.act.kind,
                         with_bias);
                compare(what, out, ref, nout, 2e-5, 2e-5);
                free(packed); free(ws);
            }
        }
        free(x); free(w); free(b); free(out); free(ref);
    }
}

/* Every table entry: unique name, a known layout, a unit name. */
static void check_table(void) {
    for (size_t i = 0; i < lc_op_count(); ++i) {
        const lc_op *a = lc_op_get(i);
        ++checks;
        if (!a->name || !a->op || !a->unit || a->layout < -1 || a->layout > LC_LAYOUT_HWC) {
            ++failures;
            fprintf(stderr, "FAIL table entry %zu malformed\n", i);
        }
        for (size_t j = 0; j < i; ++j)
            if (strcmp(lc_op_get(j)->name, a->name) == 0) {
                ++failures;
                fprintf(stderr, "FAIL duplicate op kernel name %s\n", a->name);
            }
    }
    ++checks;
    if (lc_op_get(lc_op_count()) != NULL) {
        ++failures;
        fprintf(stderr, "FAIL lc_op_get past the end is not NULL\n");
    }
}

int main(void) {
    check_table();
    check_activations();
    check_elementwise();
    check_pool();
    check_global_pool();
    check_data_movement();
    check_norms();
    check_lrn();
    check_resize();
    check_linear();
    check_deconv();
    printf("test_ops: %d checks, %d failed\n", checks, failures);
    return failures != 0;
}
