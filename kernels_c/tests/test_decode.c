/* The C decoders on the corpus of Rust-encoded streams (dec_corpus.inc, kept current by
 * rust/core/tests/c_decoders.rs): each decodes exactly, and every single-byte corruption of
 * each is refused or decoded, inside its buffers (streams of up to LONG_STREAM bytes with
 * each of the 255 other values of every byte, longer ones with its eight bit flips). The buffers are allocated to their exact
 * sizes, so that AddressSanitizer (the san_ build) sees any access past them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lc_decode.h"

struct dec_case {
    const char *name;
    int codec;
    const size_t *shape;
    size_t ndim;
    const uint8_t *stream;
    size_t len;
    const int8_t *codes;
    size_t n;
};

#include "dec_corpus.inc"

static void *alloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* Streams longer than this are corrupted by bit flips only (their tensors take milliseconds
 * to decode under the sanitizers and qemu). */
#define LONG_STREAM 1024

/* Exact decode of the case, then every byte replaced by each of the 255 other values (or
 * its eight bit flips). */
static int check_case(const struct dec_case *c) {
    size_t ws_bytes = lc_decode_workspace_bytes(c->codec, c->shape, c->ndim), at;
    uint8_t *stream = alloc(c->len);
    int8_t *out = alloc(c->n);
    void *ws = alloc(ws_bytes);
    int bad = 0, rc;
    memcpy(stream, c->stream, c->len);
    rc = lc_decode(c->codec, stream, c->len, c->shape, c->ndim, out, c->n, ws, ws_bytes);
    if (rc != LC_DEC_OK || memcmp(out, c->codes, c->n) != 0) {
        fprintf(stderr, "%s: %zu-byte stream did not decode exactly (rc %d)\n", c->name, c->len,
                rc);
        bad = 1;
    }
    for (at = 0; at < c->len; ++at) {
        unsigned v;
        for (v = 1; v < 256; v = c->len > LONG_STREAM ? 2 * v : v + 1) {
            stream[at] = (uint8_t)(c->stream[at] ^ v);
            rc = lc_decode(c->codec, stream, c->len, c->shape, c->ndim, out, c->n, ws, ws_bytes);
            if (rc != LC_DEC_OK && rc != LC_DEC_E_CORRUPT) {
                fprintf(stderr, "%s: byte %zu ^ %u gave rc %d\n", c->name, at, v, rc);
                bad = 1;
            }
        }
        stream[at] = c->stream[at];
    }
    /* Truncated streams are refused (long ones cut every 61 bytes and near the end). */
    for (at = 0; at < c->len; at += c->len > LONG_STREAM && at + 64 < c->len ? 61 : 1) {
        rc = lc_decode(c->codec, stream, at, c->shape, c->ndim, out, c->n, ws, ws_bytes);
        if (rc != LC_DEC_E_CORRUPT && !(rc == LC_DEC_OK && memcmp(out, c->codes, c->n) == 0)) {
            fprintf(stderr, "%s: stream cut to %zu bytes gave rc %d\n", c->name, at, rc);
            bad = 1;
        }
    }
    free(stream);
    free(out);
    free(ws);
    return bad;
}

int main(void) {
    size_t i, ncases = sizeof CORPUS / sizeof *CORPUS;
    int failures = 0;
    for (i = 0; i < ncases; ++i) failures += check_case(&CORPUS[i]);
    if (lc_codec_id("nope") != LC_DEC_E_CODEC) failures++;
    printf("test_decode: %d passed, %d failed\n", (int)ncases - failures, failures);
    return failures != 0;
}
