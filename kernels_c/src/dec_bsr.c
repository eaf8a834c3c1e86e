/* bsr: one bit per vector of lc_dec_vector_len codes (non-zero or not), then the codes of the
 * non-zero vectors through a value code (simple.rs bsr_enc). */
#include <string.h>
#include "dec_internal.h"

static int bsr_body(lc_bits *r, const size_t *shape, size_t ndim, int8_t *out, size_t out_len,
                    uint32_t *ws, size_t ws_bytes) {
    lc_huff h;
    size_t v = lc_dec_vector_len(shape, ndim), at;
    int any = 0;
    (void)ws_bytes;
    /* A vector's first code marks it non-zero until its codes are decoded. */
    for (at = 0; at < out_len; at += v) {
        size_t len = out_len - at < v ? out_len - at : v;
        uint32_t b = lc_bits_get(r, 1);
        any |= b != 0;
        memset(out + at, 0, len);
        out[at] = (int8_t)b;
    }
    if (lc_bits_overrun(r)) return LC_DEC_E_CORRUPT;
    if (!any) return LC_DEC_OK;
    LC_DEC_TRY(lc_dec_value_decoder(&h, r, ws));
    for (at = 0; at < out_len; at += v) {
        size_t len = out_len - at < v ? out_len - at : v, i;
        if (out[at] == 0) continue;
        for (i = 0; i < len; ++i) {
            uint32_t q;
            LC_DEC_TRY(lc_huff_get(&h, r, &q));
            out[at + i] = (int8_t)((int32_t)q - 128);
        }
    }
    return lc_bits_overrun(r) ? LC_DEC_E_CORRUPT : LC_DEC_OK;
}

LC_DECODER(lc_decode_bsr) {
    return lc_dec_run(bsr_body, LC_CODEC_BSR, stream, len, shape, ndim, out, out_len, workspace,
                      workspace_bytes);
}
