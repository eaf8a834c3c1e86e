/* C decoders of leanconv's weight codecs, byte-compatible with the Rust encoders
 * (rust/core/src/codec): a stream written by codec C for a tensor of shape S decodes here into
 * the same int8 codes as the Rust decoder gives, and a stream the Rust decoder rejects is
 * rejected here too.
 *
 * The container (.lcz) names each tensor's codec in its JSON header; streams carry no codec
 * id, so the caller passes it (lc_codec_id maps the name to the codec table's id). Decoding
 * yields int8 codes; dequantising them with the tensor's scales is the caller's step.
 *
 * No allocation and no globals: the Huffman tables, the pattern dictionary and srans's lookup
 * tables and row kinds live in a caller-given workspace of lc_decode_workspace_bytes() bytes
 * (4-byte aligned). Every decoder
 * takes untrusted bytes: it never reads past stream[len - 1], never writes past
 * out[out_len - 1], and returns a negative LC_DEC_E_* code on anything malformed. */
#ifndef LC_DECODE_H
#define LC_DECODE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    LC_DEC_OK = 0,
    LC_DEC_E_CORRUPT = -1,   /* the stream is malformed, truncated or has trailing bytes */
    LC_DEC_E_SIZE = -2,      /* out_len is not the product of the shape */
    LC_DEC_E_WORKSPACE = -3, /* workspace too small or not 4-byte aligned */
    LC_DEC_E_CODEC = -4      /* a codec id these decoders do not know */
};

/* The codec table's ids (rust/core/src/codec/mod.rs, CODECS). */
enum {
    LC_CODEC_DENSE = 1,
    LC_CODEC_HUFFMAN = 2,
    LC_CODEC_CSR = 3,
    LC_CODEC_BITMAP = 4,
    LC_CODEC_BSR = 5,
    LC_CODEC_PATTERN = 6,
    LC_CODEC_SRANS = 8
};

/* Every decoder's signature: the stream, the tensor's shape, the codes to fill (out_len must
 * be the product of the shape), and the workspace. */
typedef int (*lc_decode_fn)(const uint8_t *stream, size_t len, const size_t *shape,
                            size_t ndim, int8_t *out, size_t out_len, void *workspace,
                            size_t workspace_bytes);

/* The decoder of each codec, of signature lc_decode_fn. */
#define LC_DECODER(name)                                                                   \
    int name(const uint8_t *stream, size_t len, const size_t *shape, size_t ndim,           \
             int8_t *out, size_t out_len, void *workspace, size_t workspace_bytes)
LC_DECODER(lc_decode_dense);
LC_DECODER(lc_decode_huffman);
LC_DECODER(lc_decode_csr);
LC_DECODER(lc_decode_bitmap);
LC_DECODER(lc_decode_bsr);
LC_DECODER(lc_decode_pattern);
LC_DECODER(lc_decode_srans);

/* Decodes with the codec of id `codec` (LC_DEC_E_CODEC for one not in the table). */
int lc_decode(int codec, const uint8_t *stream, size_t len, const size_t *shape, size_t ndim,
              int8_t *out, size_t out_len, void *workspace, size_t workspace_bytes);

/* Bytes of workspace that codec `codec` needs for a tensor of this shape (0 for an unknown
 * codec or one that needs none). */
size_t lc_decode_workspace_bytes(int codec, const size_t *shape, size_t ndim);

/* The id of the codec called `name` (as the container names it), or LC_DEC_E_CODEC. */
int lc_codec_id(const char *name);

#ifdef __cplusplus
}
#endif

#endif
