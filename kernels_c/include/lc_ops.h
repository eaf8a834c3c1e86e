/* leanconv op kernels besides convolution: C99, no allocation, no mutable globals.
 *
 * One image per call (the caller loops over the batch), in CHW or HWC (lc_conv.h's
 * LC_LAYOUT_*). Every kernel has the same shape,
 *     void lc_op_<id>(const <params> *p, const float *const *inputs, float *output,
 *                     size_t begin, size_t end);
 * and computes work units [begin, end) of lc_op_<id>_units(p) (rows, channels or elements,
 * named in the table): calls over disjoint unit ranges may run concurrently. Every kernel is
 * one entry of lc_ops.inc; lc_op_get() exposes the table to Rust, tests and the planner.
 * Callers (rust/core/src/ops) check every size and parameter first: the kernels trust their
 * arguments. */
#ifndef LC_OPS_H
#define LC_OPS_H

#include <stddef.h>

#include "lc_conv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Activations, usable alone (lc_op_activation) and as a fused epilogue (lc_act.h). Codes 0-2
 * are lc_conv.h's LC_ACT_NONE, LC_ACT_RELU and LC_ACT_RELU6. */
enum {
    LC_ACT_CLIP = 3,         /* min(max(x, alpha), beta) */
    LC_ACT_SIGMOID = 4,      /* 1 / (1 + exp(-x)) */
    LC_ACT_HARD_SIGMOID = 5, /* min(max(alpha * x + beta, 0), 1) */
    LC_ACT_HARD_SWISH = 6,   /* x * min(max(x + 3, 0), 6) / 6 */
    LC_ACT_SILU = 7,         /* x * sigmoid(x) */
    LC_ACT_GELU = 8,         /* x * (1 + erf(x / sqrt(2))) / 2 */
    LC_ACT_TANH = 9,
    LC_ACT_LEAKY_RELU = 10,  /* x >= 0 ? x : alpha * x */
    LC_ACT_COUNT = 11
};

typedef struct lc_activation {
    int kind;          /* LC_ACT_* */
    float alpha, beta; /* parameters of clip, hard-sigmoid and leaky ReLU */
} lc_activation;

/* ---- element-wise ---- */

/* output[i] = act(input[i]) for elements [begin, end); output may equal input. */
typedef struct lc_unary_params {
    size_t n;
    lc_activation act;
    int isa;
} lc_unary_params;

enum { LC_BINARY_ADD = 0, LC_BINARY_SUB = 1, LC_BINARY_MUL = 2, LC_BINARY_DIV = 3 };
/* Shapes of the second operand against the first (one image of c channels, hw pixels). */
enum { LC_BCAST_SAME = 0, LC_BCAST_SCALAR = 1, LC_BCAST_CHANNEL = 2 };

/* output = act(x op y) (or act(y op x) when reversed), x = inputs[0] of c*hw elements,
 * y = inputs[1] of c*hw, 1 or c elements (bcast). Units: rows (CHW: c rows of hw; HWC: hw rows
 * of c). output may equal x, or y when bcast is LC_BCAST_SAME. */
typedef struct lc_binary_params {
    size_t c, hw;
    int op, bcast, reversed;
    lc_activation act;
    int isa;
} lc_binary_params;

/* Batch-norm as a per-channel affine map: output = act(x * scale[ch] + shift[ch]);
 * inputs: x, scale (c), shift (c). Units: rows as for lc_binary_params. output may equal x. */
typedef struct lc_affine_params {
    size_t c, hw;
    lc_activation act;
    int isa;
} lc_affine_params;

/* ---- pooling ---- */

/* Max and average pooling of one image. The output size (oh, ow) is the caller's (floor or
 * ceil mode); a window that runs past the padded input is cut at it, as PyTorch does: the
 * average's divisor with count_include_pad counts the window within the padded input (pads
 * included, the overrun past the bottom/right pad not), without it only the input pixels.
 * Every window must hold at least one input pixel, except average pooling's with
 * count_include_pad (a window all in the padding is 0). Units: CHW channels, HWC output rows. */
typedef struct lc_pool_params {
    size_t c, h, w, oh, ow;
    size_t kh, kw, sh, sw, dh, dw;
    size_t pt, pl, pb, pr; /* pads: top, left, bottom, right */
    int count_include_pad;
    int isa;
} lc_pool_params;

/* Global average / max over each channel's h*w pixels: output has c elements. Units: channels. */
typedef struct lc_global_pool_params {
    size_t c, hw;
    int isa;
} lc_global_pool_params;

/* ---- data movement ---- */

/* Copies channels [src_off, src_off + n) of an image of src_c channels into channels
 * [dst_off, dst_off + n) of an image of dst_c channels (hw pixels each): concat writes into its
 * slice of the output, slice reads one out. inputs: src; output: the whole destination image.
 * Units: CHW channels copied, HWC pixels. */
typedef struct lc_copy_params {
    size_t hw, n, src_c, src_off, dst_c, dst_off;
} lc_copy_params;

/* Channel shuffle: channels viewed as (groups, c / groups), transposed to (c / groups,
 * groups): output channel k * groups + g is input channel g * (c / groups) + k. Units: CHW
 * output channels, HWC pixels. */
typedef struct lc_shuffle_params {
    size_t c, hw, groups;
} lc_shuffle_params;

enum { LC_PAD_CONSTANT = 0, LC_PAD_REFLECT = 1, LC_PAD_EDGE = 2 };
/* Pads one image by (pt, pl, pb, pr): output (h + pt + pb) x (w + pl + pr). Reflect needs
 * pads < the dimension (mirror without repeating the edge), edge repeats it. Units: CHW
 * channels, HWC output rows. */
typedef struct lc_pad_params {
    size_t c, h, w, pt, pl, pb, pr;
    int mode;
    float value;
} lc_pad_params;

/* ---- normalisation ---- */

/* Softmax over the c channels of each pixel, max-subtracted. Units: pixels. */
typedef struct lc_softmax_params {
    size_t c, hw;
    int isa;
} lc_softmax_params;

/* Layer-norm over the c channels of each pixel: (x - mean) / sqrt(var + eps) * gamma + beta,
 * inputs: x, gamma (c), beta (c). Units: pixels. */
typedef struct lc_layernorm_params {
    size_t c, hw;
    float eps;
    int isa;
} lc_layernorm_params;

/* Local response normalisation across channels (ONNX LRN, PyTorch's local_response_norm):
 * output[k] = x[k] * (bias + scale * sum_{j = k - before}^{k + after} x[j]^2) ^ -beta over the
 * channels j inside [0, c), with scale = alpha / size (size = before + 1 + after). PyTorch's
 * window has before = size / 2, after = (size - 1) / 2; ONNX's the other way round (the two
 * agree for odd sizes). output must not overlap x. Units: CHW channels, HWC pixels. */
typedef struct lc_lrn_params {
    size_t c, hw, before, after;
    float scale, beta, bias;
    int isa;
} lc_lrn_params;

/* ---- resize ---- */

enum { LC_RESIZE_NEAREST = 0, LC_RESIZE_LINEAR = 1 };
/* Coordinate transforms (ONNX's names): the input coordinate of output coordinate x, with r
 * the input length per output pixel (in / out, or 1 / the scale factor the graph gives),
 * multiplied in float as PyTorch does. */
enum {
    LC_COORD_HALF_PIXEL = 0,         /* (x + 0.5) * r - 0.5 */
    LC_COORD_PYTORCH_HALF_PIXEL = 1, /* the same, or 0 when the output has length 1 */
    LC_COORD_ASYMMETRIC = 2,         /* x * r */
    LC_COORD_ALIGN_CORNERS = 3       /* x * (in - 1) / (out - 1), 0 when out is 1 */
};
/* Nearest rounding of the input coordinate (ONNX's nearest_mode). PyTorch's "nearest" is
 * asymmetric + floor, "nearest-exact" half_pixel + round_prefer_ceil. */
enum {
    LC_NEAREST_ROUND_PREFER_FLOOR = 0,
    LC_NEAREST_ROUND_PREFER_CEIL = 1,
    LC_NEAREST_FLOOR = 2,
    LC_NEAREST_CEIL = 3
};
/* Resize of one image to oh x ow. Linear: bilinear between the two nearest pixels, the
 * coordinate clamped to [0, in - 1] (PyTorch's and ONNX Runtime's edge rule). Units: CHW
 * channels, HWC output rows. */
typedef struct lc_resize_params {
    size_t c, h, w, oh, ow;
    float rh, rw; /* input length per output pixel along h and w */
    int mode, coord, nearest;
    int isa;
} lc_resize_params;

/* ---- linear ---- */

/* Fully connected over one row of in_f features: output[j] = act(bias[j] + sum_p x[p] *
 * weight[j][p]), weight in PyTorch's [out_f][in_f] layout; inputs: x, weight, bias (may be
 * NULL). Each weight row is read once per call: a matrix-vector product, the whole cost at
 * batch 1. Units: output features. */
typedef struct lc_linear_params {
    size_t in_f, out_f;
    lc_activation act;
    int isa;
} lc_linear_params;

/* ---- transposed convolution ---- */

/* Transposed convolution (PyTorch's ConvTranspose2d, ONNX ConvTranspose) of one image: input
 * channel ci (group g = ci / (c / groups)) at (iy, ix) adds x * weight[ci][o][ky][kx] to output
 * channel g * (k / groups) + o at (iy*sh + ky*dh - pt, ix*sw + kx*dw - pl), for the positions
 * inside the oh x ow output; weight in PyTorch's (c, k / groups, kh, kw) layout. The output
 * size, (in - 1)*stride - pad_begin - pad_end + dilation*(kernel - 1) + output_padding + 1 per
 * axis, is the caller's: the bottom/right pads and output_padding only change oh and ow.
 * inputs: x, the weights packed by lc_deconv_pack for the kernel's layout and isa, bias (k, may
 * be NULL), and a workspace of lc_deconv_workspace_bytes, 64-byte aligned, that the kernel
 * writes (passed as an input only because the table's signature has no other slot; may be
 * NULL when the size is 0): concurrent calls each need their own. Units: output rows (every
 * output channel of them). */
typedef struct lc_deconv_params {
    size_t c, k;          /* input and output channels (multiples of groups) */
    size_t h, w, oh, ow;  /* input and output size */
    size_t kh, kw, sh, sw, dh, dw;
    size_t pt, pl;        /* top and left pads: output (0, 0) is the full result's (pt, pl) */
    size_t groups;
    lc_activation act;    /* fused after the bias */
    int isa;              /* packing and running must use the same */
} lc_deconv_params;

size_t lc_deconv_packed_bytes(const lc_deconv_params *p, int layout);
void lc_deconv_pack(const lc_deconv_params *p, int layout, const float *weight, float *packed);
size_t lc_deconv_workspace_bytes(const lc_deconv_params *p, int layout);

/* The op kernel table (lc_ops.inc). */
typedef struct lc_op {
    const char *name;   /* unique, e.g. "maxpool_hwc" */
    const char *op;     /* the graph op it computes, e.g. "maxpool" */
    int layout;         /* LC_LAYOUT_*, or -1 when the kernel does not depend on the layout */
    const char *unit;   /* what a work unit is: "element", "row", "channel", "output_row" */
    size_t (*units)(const void *params);
    void (*run)(const void *params, const float *const *inputs, float *output, size_t begin,
                size_t end);
} lc_op;

size_t lc_op_count(void);
const lc_op *lc_op_get(size_t index); /* NULL when out of range */

/* Typed entry points, one per table entry. */
#define LC_OP(id, op, params, layout, unit)                                                    \
    size_t lc_op_##id##_units(const params *p);                                                \
    void lc_op_##id(const params *p, const float *const *inputs, float *output, size_t begin,  \
                    size_t end);
#include "lc_ops.inc"
#undef LC_OP

#ifdef __cplusplus
}
#endif

#endif /* LC_OPS_H */
