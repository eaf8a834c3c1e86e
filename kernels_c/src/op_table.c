/* The op kernel table (lc_ops.inc): each entry's untyped units/run go through a thunk that
 * casts the parameters to the kernel's own struct. */
#include "lc_internal.h"
#include "lc_ops.h"

#define LC_OP(id, op, params, layout, unit)                                                    \
    static size_t units_##id(const void *p) { return lc_op_##id##_units((const params *)p); }  \
    static void run_##id(const void *p, const float *const *in, float *out, size_t b,          \
                         size_t e) {                                                           \
        lc_op_##id((const params *)p, in, out, b, e);                                          \
    }
#include "lc_ops.inc"
#undef LC_OP

static const lc_op OPS[] = {
#define LC_OP(id, op, params, layout, unit) {#id, op, layout, unit, units_##id, run_##id},
#include "lc_ops.inc"
#undef LC_OP
};

size_t lc_op_count(void) { return sizeof OPS / sizeof *OPS; }

const lc_op *lc_op_get(size_t index) { return index < lc_op_count() ? &OPS[index] : NULL; }
