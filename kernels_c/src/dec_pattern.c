/* pattern: Wen & Gregg's pattern dictionary (simple.rs pattern_enc): the dictionary size d and
 * the escape's rank (gammas), the id code's lengths by rank (sorted), the value code's lengths,
 * the d dictionary vectors' codes, then per vector its rank: a dictionary entry, or the escape
 * followed by the vector's own codes. The last vector may be partial (padded when encoded). */
#include <string.h>
#include "dec_internal.h"

static int pattern_body(lc_bits *r, const size_t *shape, size_t ndim, int8_t *out,
                        size_t out_len, uint32_t *ws, size_t ws_bytes) {
    size_t v = lc_dec_vector_len(shape, ndim), nvec, nlens, at;
    uint32_t d, esc, sym;
    uint8_t *lens = (uint8_t *)(ws + 2 * LC_DEC_TABLE_ENTRIES);
    int8_t *dict = (int8_t *)lens + LC_DEC_MAX_DICT + 1, tmp[LC_DEC_MAX_VECTOR];
    lc_huff ids, values;
    (void)ws_bytes;
    if (out_len == 0) return LC_DEC_OK;
    nvec = out_len / v + (out_len % v != 0);
    LC_DEC_TRY(lc_dec_gamma(r, &d));
    LC_DEC_TRY(lc_dec_gamma(r, &esc));
    if (d > (nvec < LC_DEC_MAX_DICT ? nvec : LC_DEC_MAX_DICT) || esc > d)
        return LC_DEC_E_CORRUPT;
    LC_DEC_TRY(lc_dec_read_sorted_lengths(r, lens, (size_t)d + 1, &nlens));
    if (nlens < d || nlens == 0) return LC_DEC_E_CORRUPT;
    LC_DEC_TRY(lc_dec_huff_build(&ids, lens, nlens, ws));
    LC_DEC_TRY(lc_dec_value_decoder(&values, r, ws + LC_DEC_TABLE_ENTRIES));
    LC_DEC_TRY(lc_dec_values(&values, r, dict, (size_t)d * v, NULL));
    if (lc_bits_overrun(r)) return LC_DEC_E_CORRUPT;
    for (at = 0; at < out_len; at += v) {
        size_t len = out_len - at < v ? out_len - at : v;
        LC_DEC_TRY(lc_huff_get(&ids, r, &sym));
        if (sym == esc) {
            LC_DEC_TRY(lc_dec_values(&values, r, tmp, v, NULL));
            memcpy(out + at, tmp, len);
        } else {
            uint32_t id = sym < esc ? sym : sym - 1;
            if (id >= d) return LC_DEC_E_CORRUPT;
            memcpy(out + at, dict + (size_t)id * v, len);
        }
    }
    return lc_bits_overrun(r) ? LC_DEC_E_CORRUPT : LC_DEC_OK;
}

LC_DECODER(lc_decode_pattern) {
    return lc_dec_run(pattern_body, LC_CODEC_PATTERN, stream, len, shape, ndim, out, out_len,
                      workspace, workspace_bytes);
}
