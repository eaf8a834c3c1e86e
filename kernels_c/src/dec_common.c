/* The decoders' shared parts (Huffman tables, Elias-gamma, the stream checks every bit-stream
 * codec ends with) and the codec table that lc_decode dispatches on. */
#include <string.h>
#include "dec_internal.h"

int lc_dec_read_lengths(lc_bits *r, uint8_t *lens, size_t n) {
    size_t lo, span, i;
    memset(lens, 0, n);
    if (lc_bits_get(r, 1) == 0) return LC_DEC_OK;
    lo = lc_bits_get(r, 16);
    span = lc_bits_get(r, 16);
    if (lo + span >= n) return LC_DEC_E_CORRUPT;
    for (i = lo; i <= lo + span; ++i) lens[i] = (uint8_t)lc_bits_get(r, 4);
    return lc_bits_overrun(r) ? LC_DEC_E_CORRUPT : LC_DEC_OK;
}

int lc_dec_read_sorted_lengths(lc_bits *r, uint8_t *lens, size_t max_symbols, size_t *n) {
    size_t len = 0;
    uint8_t l;
    for (l = 1; l < 16; ++l) {
        uint32_t c;
        LC_DEC_TRY(lc_dec_gamma(r, &c));
        if (c > max_symbols || len + c > max_symbols) return LC_DEC_E_CORRUPT;
        memset(lens + len, l, c);
        len += c;
    }
    *n = len;
    return lc_bits_overrun(r) ? LC_DEC_E_CORRUPT : LC_DEC_OK;
}

static uint32_t reverse_bits(uint32_t v, unsigned n) {
    uint32_t out = 0;
    unsigned i;
    for (i = 0; i < n; ++i) out |= ((v >> i) & 1u) << (n - 1 - i);
    return out;
}

int lc_dec_huff_build(lc_huff *h, const uint8_t *lens, size_t n, uint32_t *table) {
    uint32_t count[LC_DEC_MAX_LEN + 2] = {0}, next[LC_DEC_MAX_LEN + 2] = {0}, code = 0;
    uint64_t kraft = 0;
    unsigned max = 0, bits;
    size_t s, used = 0, last = 0, size;
    for (s = 0; s < n; ++s)
        if (lens[s] > max) max = lens[s];
    if (max > LC_DEC_MAX_LEN) return LC_DEC_E_CORRUPT;
    for (s = 0; s < n; ++s) {
        count[lens[s]]++;
        if (lens[s] > 0) {
            kraft += (uint64_t)1 << (max - lens[s]);
            used++;
            last = s;
        }
    }
    count[0] = 0;
    for (bits = 1; bits <= max; ++bits) {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    if (max > 0 && kraft > ((uint64_t)1 << max)) return LC_DEC_E_CORRUPT;
    h->single = used == 1;
    h->single_sym = (uint32_t)last;
    h->table = table;
    h->bits = max;
    if (h->single) return LC_DEC_OK;
    size = (size_t)1 << max;
    memset(table, 0, size * sizeof *table);
    for (s = 0; s < n; ++s) {
        unsigned l = lens[s];
        size_t i;
        if (l == 0) continue;
        for (i = reverse_bits(next[l]++, l); i < size; i += (size_t)1 << l)
            table[i] = (uint32_t)s << 5 | l;
    }
    return LC_DEC_OK;
}

int lc_dec_value_decoder(lc_huff *h, lc_bits *r, uint32_t *table) {
    uint8_t lens[256];
    size_t s;
    int any = 0;
    LC_DEC_TRY(lc_dec_read_lengths(r, lens, 256));
    for (s = 0; s < 256; ++s) any |= lens[s] != 0;
    if (!any) return LC_DEC_E_CORRUPT;
    return lc_dec_huff_build(h, lens, 256, table);
}

int lc_dec_gamma(lc_bits *r, uint32_t *v) {
    unsigned n = 0;
    uint64_t x;
    while (lc_bits_get(r, 1) == 0) {
        n++;
        if (n > 32 || lc_bits_overrun(r)) return LC_DEC_E_CORRUPT;
    }
    x = (uint64_t)1 << n | (n > 0 ? lc_bits_get(r, n) : 0);
    if (x - 1 > UINT32_MAX) return LC_DEC_E_CORRUPT;
    *v = (uint32_t)(x - 1);
    return LC_DEC_OK;
}

static int8_t unsym(uint32_t s) {
    return (int8_t)((int32_t)s - 128);
}

int lc_dec_values(const lc_huff *h, lc_bits *r, int8_t *out, size_t out_len, uint32_t *pairs) {
    size_t i = 0;
    uint32_t sym;
    if (pairs && !h->single && out_len / 4 >= ((size_t)1 << h->bits)) {
        /* Every window's first code and, when it fits the window too, its second. */
        size_t size = (size_t)1 << h->bits, mask = size - 1, w;
        for (w = 0; w < size; ++w) {
            uint32_t e = h->table[w], l = e & 31, e2, l2;
            if (l == 0) {
                pairs[w] = 0;
                continue;
            }
            e2 = h->table[(w >> l) & mask];
            l2 = e2 & 31;
            pairs[w] = l2 > 0 && l + l2 <= h->bits
                           ? 2u << 24 | (l + l2) << 16 | (e2 >> 5) << 8 | e >> 5
                           : 1u << 24 | l << 16 | e >> 5;
        }
        while (i + 2 <= out_len) {
            uint32_t e = pairs[lc_bits_peek(r, h->bits)], k = e >> 24;
            if (k == 0) return LC_DEC_E_CORRUPT;
            /* The second byte of a single is overwritten by the next lookup. */
            out[i] = unsym(e & 0xFF);
            out[i + 1] = unsym((e >> 8) & 0xFF);
            lc_bits_consume(r, (e >> 16) & 31);
            i += k;
        }
    }
    for (; i < out_len; ++i) {
        LC_DEC_TRY(lc_huff_get(h, r, &sym));
        out[i] = unsym(sym);
    }
    return LC_DEC_OK;
}

size_t lc_dec_vector_len(const size_t *shape, size_t ndim) {
    if (ndim == 4) {
        size_t k = shape[3] != 0 && shape[2] > SIZE_MAX / shape[3] ? SIZE_MAX : shape[2] * shape[3];
        if (k >= 2 && k <= LC_DEC_MAX_VECTOR) return k;
    }
    return 4;
}

/* The product of the shape, 0 with *ok cleared when it overflows. */
static size_t numel(const size_t *shape, size_t ndim, int *ok) {
    size_t n = 1, i;
    *ok = 1;
    for (i = 0; i < ndim; ++i) {
        if (shape[i] != 0 && n > SIZE_MAX / shape[i]) {
            *ok = 0;
            return 0;
        }
        n *= shape[i];
    }
    return n;
}

/* The codec table: id, name, decoder, Huffman tables in the workspace, whether it keeps a
 * pattern dictionary there too, and the workspace of a codec that sizes its own. */
static const struct {
    int id;
    const char *name;
    lc_decode_fn decode;
    unsigned tables;
    int dictionary;
    size_t (*workspace)(const size_t *shape, size_t ndim);
} CODECS[] = {
    {LC_CODEC_DENSE, "dense", lc_decode_dense, 0, 0, NULL},
    {LC_CODEC_HUFFMAN, "huffman", lc_decode_huffman, 2, 0, NULL},
    {LC_CODEC_CSR, "csr", lc_decode_csr, 2, 0, NULL},
    {LC_CODEC_BITMAP, "bitmap", lc_decode_bitmap, 1, 0, NULL},
    {LC_CODEC_BSR, "bsr", lc_decode_bsr, 1, 0, NULL},
    {LC_CODEC_PATTERN, "pattern", lc_decode_pattern, 2, 1, NULL},
    {LC_CODEC_SRANS, "srans", lc_decode_srans, 0, 0, lc_dec_srans_workspace_bytes},
};
#define NCODECS (sizeof CODECS / sizeof *CODECS)

size_t lc_decode_workspace_bytes(int codec, const size_t *shape, size_t ndim) {
    size_t c, bytes, n, v, nvec;
    int ok;
    for (c = 0; c < NCODECS && CODECS[c].id != codec; ++c) {}
    if (c == NCODECS) return 0;
    if (CODECS[c].workspace) return CODECS[c].workspace(shape, ndim);
    bytes = CODECS[c].tables * LC_DEC_TABLE_ENTRIES * sizeof(uint32_t);
    if (!CODECS[c].dictionary) return bytes;
    /* The id lengths (one per dictionary entry and the escape), then the dictionary. */
    n = numel(shape, ndim, &ok);
    v = lc_dec_vector_len(shape, ndim);
    nvec = n / v + (n % v != 0);
    return bytes + LC_DEC_MAX_DICT + 1 + (nvec < LC_DEC_MAX_DICT ? nvec : LC_DEC_MAX_DICT) * v;
}

int lc_dec_check_args(int codec, const size_t *shape, size_t ndim, size_t out_len,
                      const void *workspace, size_t workspace_bytes) {
    int ok;
    size_t need;
    if (numel(shape, ndim, &ok) != out_len || !ok) return LC_DEC_E_SIZE;
    need = lc_decode_workspace_bytes(codec, shape, ndim);
    if (need > workspace_bytes || (need > 0 && (uintptr_t)workspace % 4 != 0))
        return LC_DEC_E_WORKSPACE;
    return LC_DEC_OK;
}

int lc_dec_run(lc_dec_body body, int codec, const uint8_t *stream, size_t len,
               const size_t *shape, size_t ndim, int8_t *out, size_t out_len, void *workspace,
               size_t workspace_bytes) {
    lc_bits r;
    LC_DEC_TRY(lc_dec_check_args(codec, shape, ndim, out_len, workspace, workspace_bytes));
    lc_bits_init(&r, stream, len);
    LC_DEC_TRY(body(&r, shape, ndim, out, out_len, (uint32_t *)workspace, workspace_bytes));
    if (lc_bits_overrun(&r) || lc_bits_bytes_consumed(&r) != len) return LC_DEC_E_CORRUPT;
    return LC_DEC_OK;
}

int lc_decode(int codec, const uint8_t *stream, size_t len, const size_t *shape, size_t ndim,
              int8_t *out, size_t out_len, void *workspace, size_t workspace_bytes) {
    size_t c;
    for (c = 0; c < NCODECS; ++c)
        if (CODECS[c].id == codec)
            return CODECS[c].decode(stream, len, shape, ndim, out, out_len, workspace,
                                    workspace_bytes);
    return LC_DEC_E_CODEC;
}

int lc_codec_id(const char *name) {
    size_t c;
    for (c = 0; c < NCODECS; ++c)
        if (strcmp(CODECS[c].name, name) == 0) return CODECS[c].id;
    return LC_DEC_E_CODEC;
}
