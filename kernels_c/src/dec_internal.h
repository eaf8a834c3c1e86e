/* What the C decoders share: the LSB-first bit reader and the canonical Huffman decoder of
 * rust/core/src/codec/{bits,huffman}.rs, with the same semantics (reading past the end yields
 * zero bits and is reported as an overrun), so both sides accept and reject the same streams. */
#ifndef LC_DEC_INTERNAL_H
#define LC_DEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "lc_decode.h"

/* Longest Huffman code the decoders accept, and the entries of a table for it. */
#define LC_DEC_MAX_LEN 15
#define LC_DEC_TABLE_ENTRIES ((size_t)1 << LC_DEC_MAX_LEN)
/* Dictionary size cap of the pattern codec (simple.rs MAX_DICT). */
#define LC_DEC_MAX_DICT 8191
/* Longest vector of the block codecs (vector_len). */
#define LC_DEC_MAX_VECTOR 64

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;      /* next byte to fetch */
    uint64_t acc;    /* fetched bits not yet consumed, LSB first */
    unsigned nbits;  /* valid bits in acc */
    uint64_t past;   /* zero bytes fetched past the end */
} lc_bits;

static inline uint64_t lc_load_le64(const uint8_t *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

/* Tops the accumulator up to more than 56 bits: whole bytes from the input, zeros past it. */
static inline void lc_bits_refill(lc_bits *r) {
    if (r->len - r->pos >= 8 && r->nbits <= 56) {
        unsigned take = (63 - r->nbits) / 8;
        uint64_t v = lc_load_le64(r->data + r->pos);
        r->acc |= (v & (((uint64_t)1 << (take * 8)) - 1)) << r->nbits;
        r->pos += take;
        r->nbits += take * 8;
    } else {
        while (r->nbits <= 56) {
            uint64_t b = 0;
            if (r->pos < r->len)
                b = r->data[r->pos++];
            else
                r->past++;
            r->acc |= b << r->nbits;
            r->nbits += 8;
        }
    }
}

static inline void lc_bits_init(lc_bits *r, const uint8_t *data, size_t len) {
    r->data = data;
    r->len = len;
    r->pos = 0;
    r->acc = 0;
    r->nbits = 0;
    r->past = 0;
    lc_bits_refill(r);
}

/* The next n bits (n <= 32) without consuming them. */
static inline uint32_t lc_bits_peek(lc_bits *r, unsigned n) {
    if (r->nbits < n) lc_bits_refill(r);
    return (uint32_t)(r->acc & (((uint64_t)1 << n) - 1));
}

static inline void lc_bits_consume(lc_bits *r, unsigned n) {
    r->acc >>= n;
    r->nbits -= n;
}

static inline uint32_t lc_bits_get(lc_bits *r, unsigned n) {
    uint32_t v;
    if (n == 0) return 0;
    v = lc_bits_peek(r, n);
    lc_bits_consume(r, n);
    return v;
}

/* Whether more bits were consumed than the input holds. */
static inline int lc_bits_overrun(const lc_bits *r) {
    return r->past * 8 > r->nbits;
}

/* Bytes of input consumed so far, rounded up. */
static inline uint64_t lc_bits_bytes_consumed(const lc_bits *r) {
    uint64_t used = ((uint64_t)r->pos + r->past) * 8 - r->nbits;
    return (used + 7) / 8;
}

/* A canonical Huffman decoder: one lookup of `bits` bits gives (symbol << 5) | length; length
 * 0 marks a window no code starts. A single-symbol code is one 0 bit and has no table. */
typedef struct {
    const uint32_t *table;
    unsigned bits;
    int single;
    uint32_t single_sym;
} lc_huff;

static inline int lc_huff_get(const lc_huff *h, lc_bits *r, uint32_t *sym) {
    uint32_t e, l;
    if (h->single) {
        lc_bits_peek(r, 1);
        lc_bits_consume(r, 1);
        *sym = h->single_sym;
        return LC_DEC_OK;
    }
    e = h->table[lc_bits_peek(r, h->bits)];
    l = e & 31;
    if (l == 0) return LC_DEC_E_CORRUPT;
    lc_bits_consume(r, l);
    *sym = e >> 5;
    return LC_DEC_OK;
}

/* Code lengths of an alphabet of n symbols as huffman.rs write_lengths wrote them. */
int lc_dec_read_lengths(lc_bits *r, uint8_t *lens, size_t n);
/* Code lengths non-decreasing by symbol, as counts per length (read_sorted_lengths); *n gets
 * the number of symbols, at most max_symbols. */
int lc_dec_read_sorted_lengths(lc_bits *r, uint8_t *lens, size_t max_symbols, size_t *n);
/* The decoder of these lengths (at least one non-zero), its table in `table` (room for
 * LC_DEC_TABLE_ENTRIES). */
int lc_dec_huff_build(lc_huff *h, const uint8_t *lens, size_t n, uint32_t *table);
/* The value decoder over the 256 code values (lengths read from the stream, not all zero). */
int lc_dec_value_decoder(lc_huff *h, lc_bits *r, uint32_t *table);
/* Elias-gamma of v + 1 (huffman.rs get_gamma). */
int lc_dec_gamma(lc_bits *r, uint32_t *v);
/* Decodes out_len code values (symbol - 128), two per lookup where `pairs` (room for
 * LC_DEC_TABLE_ENTRIES, or NULL for none) is given and the run is long enough to pay for
 * building the pair table there. */
int lc_dec_values(const lc_huff *h, lc_bits *r, int8_t *out, size_t out_len, uint32_t *pairs);
/* The block codecs' vector length (simple.rs vector_len). */
size_t lc_dec_vector_len(const size_t *shape, size_t ndim);

/* The checks every decoder starts with: out_len is the product of the shape (LC_DEC_E_SIZE),
 * the workspace holds what the codec needs and is 4-byte aligned (LC_DEC_E_WORKSPACE). */
int lc_dec_check_args(int codec, const size_t *shape, size_t ndim, size_t out_len,
                      const void *workspace, size_t workspace_bytes);

/* srans's workspace for a tensor of this shape, and its decoder with the SIMD paths allowed
 * or not (lc_decode_srans allows them; the tests compare the two). */
size_t lc_dec_srans_workspace_bytes(const size_t *shape, size_t ndim);
int lc_dec_srans(const uint8_t *stream, size_t len, const size_t *shape, size_t ndim,
                 int8_t *out, size_t out_len, void *workspace, size_t workspace_bytes, int simd);

/* The part every bit-stream decoder shares: checks the shape and the workspace, runs `body`
 * over a reader of the stream, then refuses a truncated stream or trailing bytes. */
typedef int (*lc_dec_body)(lc_bits *r, const size_t *shape, size_t ndim, int8_t *out,
                           size_t out_len, uint32_t *ws, size_t ws_bytes);
int lc_dec_run(lc_dec_body body, int codec, const uint8_t *stream, size_t len,
               const size_t *shape, size_t ndim, int8_t *out, size_t out_len, void *workspace,
               size_t workspace_bytes);

#define LC_DEC_TRY(x)                       \
    do {                                    \
        int lc_dec_rc_ = (x);               \
        if (lc_dec_rc_ != LC_DEC_OK) return lc_dec_rc_; \
    } while (0)

#endif
