/* dense: the smallest code (8 bits, offset by 128), the width (4 bits), then every code minus
 * the smallest in `width` bits (simple.rs dense_enc). */
#include "dec_internal.h"

static int dense_body(lc_bits *r, const size_t *shape, size_t ndim, int8_t *out,
                      size_t out_len, uint32_t *ws, size_t ws_bytes) {
    int32_t lo;
    unsigned width;
    size_t i;
    (void)shape, (void)ndim, (void)ws, (void)ws_bytes;
    if (out_len == 0) return LC_DEC_OK;
    lo = (int32_t)lc_bits_get(r, 8) - 128;
    width = lc_bits_get(r, 4);
    if (width > 8) return LC_DEC_E_CORRUPT;
    if (lo + (int32_t)(1u << width) - 1 <= 127) {
        /* No code can leave the int8 range. */
        for (i = 0; i < out_len; ++i) out[i] = (int8_t)(lo + (int32_t)lc_bits_get(r, width));
    } else {
        for (i = 0; i < out_len; ++i) {
            int32_t v = lo + (int32_t)lc_bits_get(r, width);
            if (v > 127) return LC_DEC_E_CORRUPT;
            out[i] = (int8_t)v;
        }
    }
    return lc_bits_overrun(r) ? LC_DEC_E_CORRUPT : LC_DEC_OK;
}

LC_DECODER(lc_decode_dense) {
    return lc_dec_run(dense_body, LC_CODEC_DENSE, stream, len, shape, ndim, out, out_len,
                      workspace, workspace_bytes);
}
