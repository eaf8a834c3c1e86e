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
