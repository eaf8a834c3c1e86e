/* Data movement: channel copies (concat into a slice, slice out of one), channel shuffle and
 * padding. Plain copies: no ISA variants (memcpy and contiguous loops). */
#include "lc_internal.h"
#include "lc_ops.h"

size_t lc_op_copy_channels_chw_units(const lc_copy_params *p) { return p->n; }
size_t lc_op_copy_channels_hwc_units(const lc_copy_params *p) { return p->hw; }

void lc_op_copy_channels_chw(const lc_copy_params *p, const float *const *inputs, float *output,
                             size_t begin, size_t end) {
    if (end > begin)
        memcpy(output + (p->dst_off + begin) * p->hw, inputs[0] + (p->src_off + begin) * p->hw,
               (end - begin) * p->hw * sizeof(float));
}

void lc_op_copy_channels_hwc(const lc_copy_params *p, const float *const *inputs, float *output,
                             size_t begin, size_t end) {
    for (size_t q = begin; q < end; ++q)
        memcpy(output + q * p->dst_c + p->dst_off, inputs[0] + q * p->src_c + p->src_off,
               p->n * sizeof(float));
}

size_t lc_op_channel_shuffle_chw_units(const lc_shuffle_params *p) { return p->c; }
size_t lc_op_channel_shuffle_hwc_units(const lc_shuffle_params *p) { return p->hw; }

/* Input channel of output channel j. */
LC_INLINE size_t shuffle_src(const lc_shuffle_params *p, size_t j) {
    size_t per = p->c / p->groups;
    return (j % p->groups) * per + j / p->groups;
}

void lc_op_channel_shuffle_chw(const lc_shuffle_params *p, const float *const *inputs,
                               float *output, size_t begin, size_t end) {
    for (size_t j = begin; j < end; ++j)
        memcpy(output + j * p->hw, inputs[0] + shuffle_src(p, j) * p->hw, p->hw * sizeof(float));
}

void lc_op_channel_shuffle_hwc(const lc_shuffle_params *p, const float *const *inputs,
                               float *output, size_t begin, size_t end) {
    for (size_t q = begin; q < end; ++q) {
        const float *x = inputs[0] + q * p->c;
        float *o = output + q * p->c;
        for (size_t j = 0; j < p->c; ++j) o[j] = x[shuffle_src(p, j)];
    }
}

/* Source index of padded position o along an axis of n (pad `before`), or -1 for the constant. */
LC_INLINE ptrdiff_t pad_src(ptrdiff_t o, size_t before, size_t n, int mode) {
    ptrdiff_t i = o - (ptrdiff_t)before, last = (ptrdiff_t)n - 1;
    if (i >= 0 && i <= last) return i;
    if (mode == LC_PAD_CONSTANT) return -1;
    if (mode == LC_PAD_EDGE) return i < 0 ? 0 : last;
    return i < 0 ? -i : 2 * last - i; /* reflect: pads < n keep this inside */
}

size_t lc_op_pad_chw_units(const lc_pad_params *p) { return p->c; }
size_t lc_op_pad_hwc_units(const lc_pad_params *p) { return p->h + p->pt + p->pb; }

void lc_op_pad_chw(const lc_pad_params *p, const float *const *inputs, float *output,
                   size_t begin, size_t end) {
    size_t oh = p->h + p->pt + p->pb, ow = p->w + p->pl + p->pr;
    for (size_t c = begin; c < end; ++c)
        for (size_t oy = 0; oy < oh; ++oy) {
            float *o = output + (c * oh + oy) * ow;
            ptrdiff_t iy = pad_src((ptrdiff_t)oy, p->pt, p->h, p->mode);
            if (iy < 0) {
                for (size_t x = 0; x < ow; ++x) o[x] = p->value;
                continue;
            }
            const float *row = inputs[0] + (c * p->h + (size_t)iy) * p->w;
            for (size_t x = 0; x < p->pl; ++x) {
                ptrdiff_t ix = pad_src((ptrdiff_t)x, p->pl, p->w, p->mode);
                o[x] = ix < 0 ? p->value : row[ix];
            }
            memcpy(o + p->pl, row, p->w * sizeof(float));
            for (size_t x = p->pl + p->w; x < ow; ++x) {
                ptrdiff_t ix = pad_src((ptrdiff_t)x, p->pl, p->w, p->mode);
                o[x] = ix < 0 ? p->value : row[ix];
            }
        }
}

void lc_op_pad_hwc(const lc_pad_params *p, const float *const *inputs, float *output,
                   size_t begin, size_t end) {
    size_t ow = p->w + p->pl + p->pr, nc = p->c;
    for (size_t oy = begin; oy < end; ++oy) {
        ptrdiff_t iy = pad_src((ptrdiff_t)oy, p->pt, p->h, p->mode);
        for (size_t x = 0; x < ow; ++x) {
            float *o = output + (oy * ow + x) * nc;
            ptrdiff_t ix = pad_src((ptrdiff_t)x, p->pl, p->w, p->mode);
            if (iy < 0 || ix < 0)
                for (size_t c = 0; c < nc; ++c) o[c] = p->value;
            else
                memcpy(o, inputs[0] + ((size_t)iy * p->w + (size_t)ix) * nc, nc * sizeof(float));
        }
    }
}
