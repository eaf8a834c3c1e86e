/* csr: Deep Compression's relative-index CSR (simple.rs csr_enc): the number of entries
 * (gamma), the value and skip codes' lengths, then per entry its skip (zeros before it, a
 * filler of 15 zeros being an entry of code 0) and its code. */
#include <string.h>
#include "dec_internal.h"

static int csr_body(lc_bits *r, const size_t *shape, size_t ndim, int8_t *out, size_t out_len,
                    uint32_t *ws, size_t ws_bytes) {
    lc_huff values, skips;
    uint8_t slens[16];
    uint32_t count, e, s, q;
    size_t pos = 0, k;
    int any = 0;
    (void)shape, (void)ndim, (void)ws_bytes;
    LC_DEC_TRY(lc_dec_gamma(r, &count));
    memset(out, 0, out_len);
    if (count == 0) return lc_bits_overrun(r) ? LC_DEC_E_CORRUPT : LC_DEC_OK;
    if (count > out_len) return LC_DEC_E_CORRUPT;
    LC_DEC_TRY(lc_dec_value_decoder(&values, r, ws));
    LC_DEC_TRY(lc_dec_read_lengths(r, slens, 16));
    for (k = 0; k < 16; ++k) any |= slens[k] != 0;
    if (!any) return LC_DEC_E_CORRUPT;
    LC_DEC_TRY(lc_dec_huff_build(&skips, slens, 16, ws + LC_DEC_TABLE_ENTRIES));
    for (e = 0; e < count; ++e) {
        LC_DEC_TRY(lc_huff_get(&skips, r, &s));
        LC_DEC_TRY(lc_huff_get(&values, r, &q));
        pos += s;
        if (pos >= out_len) return LC_DEC_E_CORRUPT;
        out[pos++] = (int8_t)((int32_t)q - 128);
    }
    return lc_bits_overrun(r) ? LC_DEC_E_CORRUPT : LC_DEC_OK;
}

LC_DECODER(lc_decode_csr) {
    return lc_dec_run(csr_body, LC_CODEC_CSR, stream, len, shape, ndim, out, out_len, workspace,
                      workspace_bytes);
}
