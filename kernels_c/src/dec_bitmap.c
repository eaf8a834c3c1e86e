/* bitmap: one bit per code (non-zero or not), then the non-zero codes through a value code
 * (simple.rs bitmap_enc). */
#include "dec_internal.h"

static int bitmap_body(lc_bits *r, const size_t *shape, size_t ndim, int8_t *out,
                       size_t out_len, uint32_t *ws, size_t ws_bytes) {
    lc_huff h;
    size_t i, nnz = 0;
    uint32_t q;
    (void)shape, (void)ndim, (void)ws_bytes;
    /* 1 marks a non-zero, filled in below. */
    for (i = 0; i < out_len; ++i) {
        uint32_t b = lc_bits_get(r, 1);
        out[i] = (int8_t)b;
        nnz += b;
    }
    if (lc_bits_overrun(r)) return LC_DEC_E_CORRUPT;
    if (nnz == 0) return LC_DEC_OK;
    LC_DEC_TRY(lc_dec_value_decoder(&h, r, ws));
    for (i = 0; i < out_len; ++i) {
        if (out[i] == 0) continue;
        LC_DEC_TRY(lc_huff_get(&h, r, &q));
        if (q == 128) return LC_DEC_E_CORRUPT; /* a zero stored as a non-zero */
        out[i] = (int8_t)((int32_t)q - 128);
    }
    return lc_bits_overrun(r) ? LC_DEC_E_CORRUPT : LC_DEC_OK;
}

LC_DECODER(lc_decode_bitmap) {
    return lc_dec_run(bitmap_body, LC_CODEC_BITMAP, stream, len, shape, ndim, out, out_len,
                      workspace, workspace_bytes);
}
