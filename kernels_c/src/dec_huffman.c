/* huffman: the value code's lengths, then every code through it (simple.rs huffman_enc). */
#include "dec_internal.h"

static int huffman_body(lc_bits *r, const size_t *shape, size_t ndim, int8_t *out,
                        size_t out_len, uint32_t *ws, size_t ws_bytes) {
    lc_huff h;
    (void)shape, (void)ndim, (void)ws_bytes;
    if (out_len == 0) return LC_DEC_OK;
    LC_DEC_TRY(lc_dec_value_decoder(&h, r, ws));
    LC_DEC_TRY(lc_dec_values(&h, r, out, out_len, ws + LC_DEC_TABLE_ENTRIES));
    return lc_bits_overrun(r) ? LC_DEC_E_CORRUPT : LC_DEC_OK;
}

LC_DECODER(lc_decode_huffman) {
    return lc_dec_run(huffman_body, LC_CODEC_HUFFMAN, stream, len, shape, ndim, out, out_len,
                      workspace, workspace_bytes);
}
