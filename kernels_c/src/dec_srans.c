/* srans: static-context rANS with 1, 8 or 32 interleaved states (rust/core/src/codec/srans).
 *
 * A stream is the byte 0 for an all-zero tensor; else the format byte 5, then the table bits
 * (the header, the class tables, the position map, the side tables) up to the next byte, the
 * side words (each row's kind and smallest magnitude, on one state whose final value is the
 * main stream's first) and the main words (the final states, then the words in decoding
 * order). Decoding is the Rust decoder step for step: the same frequencies rebuilt from the
 * same log-scale values, the same lookup tables, the same checks, so both accept and refuse
 * the same streams.
 *
 * The codes of alphabets of at most 16 symbols (and their pairs) decode to symbols that each
 * row then turns into its codes with one lookup; larger alphabets decode to relative values,
 * restored to codes row by row. Symbols decode into the tail of `out` and expand forward
 * into place (a row's symbols never lie before its codes); pair symbols, which come in class
 * order, decode into the workspace.
 *
 * With AVX2 (x86-64, detected at run time) the main stream decodes eight states at a time and
 * rows expand sixteen symbols at a time, as the Rust decoder's AVX2 path does; on aarch64 rows
 * expand with NEON. */
#include <string.h>
#include "dec_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SR_AVX2 1
#include <immintrin.h>
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#define SR_NEON 1
#include <arm_neon.h>
#endif

#define SR_FORMAT 5
#define SR_MAX_CLASSES 16
#define SR_MAX_P 12
/* Symbols of a class table: 2 maxrel + 1, maxrel <= 128. */
#define SR_MAX_NSYM 257
#define SR_MAX_MIN 128
#define SR_RANS_L ((uint32_t)1 << 16)
#define SR_MAX_OCTAVES 32
#define SR_MAX_POSITIONAL 64
#define SR_MAX_LANES 32
#define SR_PAIR_SYMBOLS 256

/* The workspace: every class's lookup table one after another, with eight entries of slack
 * (the side tables use its start before them), the class tables' frequencies, then per row its kind, its smallest
 * magnitude and a live row's class, then the pair symbols (half a code each). */
#define SR_LUT_WORDS (((size_t)SR_MAX_CLASSES << SR_MAX_P) + 8)
#define SR_FIXED_BYTES ((SR_LUT_WORDS + (size_t)SR_MAX_CLASSES * SR_MAX_NSYM) * sizeof(uint32_t))

/* Rows of a tensor of n codes with rows on: its output channels where it has two or more
 * dimensions, else one row (format.rs rows_of). */
static size_t sr_rows_of(size_t n, const size_t *shape, size_t ndim) {
    return ndim >= 2 && shape[0] > 0 && n > 0 ? shape[0] : 1;
}

size_t lc_dec_srans_workspace_bytes(const size_t *shape, size_t ndim) {
    size_t n = 1, i, rows, extra;
    for (i = 0; i < ndim; ++i) {
        if (shape[i] != 0 && n > SIZE_MAX / shape[i]) return SIZE_MAX;
        n *= shape[i];
    }
    rows = sr_rows_of(n, shape, ndim);
    if (rows > (SIZE_MAX - SR_FIXED_BYTES) / 4) return SIZE_MAX;
    extra = SR_FIXED_BYTES + 3 * rows + 1;
    return n / 2 > SIZE_MAX - extra ? SIZE_MAX : extra + n / 2;
}

/* ---- Tables (format.rs, knots.rs, table.rs) ---------------------------------------------- */

static int64_t sr_unzigzag(uint32_t z) {
    return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

/* n log-scale values as write_table wrote them (-1: absent), each below 32 octaves. */
static int sr_read_table(lc_bits *r, size_t n, uint32_t s, int32_t *us) {
    int64_t prev = 0;
    size_t i;
    for (i = 0; i < n; ++i) {
        uint32_t t;
        LC_DEC_TRY(lc_dec_gamma(r, &t));
        if (t == 1) {
            us[i] = -1;
        } else {
            int64_t u = prev + sr_unzigzag(t == 0 ? 0 : t - 1);
            if (u < 0 || u >= (int64_t)(SR_MAX_OCTAVES * s)) return LC_DEC_E_CORRUPT;
            prev = u;
            us[i] = (int32_t)u;
        }
    }
    return LC_DEC_OK;
}

static const size_t SR_GRID[16] = {0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192};

/* The knot positions from first to last at `spread` (knots.rs positions); returns their
 * count (at most 17). */
static size_t sr_positions(size_t first, size_t last, unsigned spread, size_t *at) {
    size_t k = 0, g;
    for (g = 0; g < 16 && first + (SR_GRID[g] << spread) < last; ++g)
        at[k++] = first + (SR_GRID[g] << spread);
    at[k++] = last;
    return k;
}

static int32_t sr_clamp_value(int64_t u, uint32_t s) {
    int64_t top = (int64_t)(SR_MAX_OCTAVES * s) - 1;
    return (int32_t)(u < 0 ? 0 : u > top ? top : u);
}

/* A knot table over nsym symbols (signed: 0, +1, -1, ...), expanded to its log-scale values
 * (Knots::read, then Knots::expand). */
static int sr_read_knots(lc_bits *r, size_t nsym, uint32_t s, int signed_, int32_t *us) {
    uint32_t g0, g1, z, masked;
    size_t first, last, end, at[17], nk, k, i;
    unsigned spread = 0;
    int32_t values[17], curve[SR_MAX_NSYM];
    int64_t off = 0;
    LC_DEC_TRY(lc_dec_gamma(r, &g0));
    LC_DEC_TRY(lc_dec_gamma(r, &g1));
    first = g0;
    last = first + g1;
    end = signed_ ? nsym / 2 : (nsym > 0 ? nsym - 1 : 0);
    if (last > end) return LC_DEC_E_CORRUPT;
    if (!signed_) spread = lc_bits_get(r, 2);
    nk = sr_positions(first, last, spread, at);
    LC_DEC_TRY(sr_read_table(r, nk, s, values));
    for (k = 0; k < nk; ++k)
        if (values[k] < 0) return LC_DEC_E_CORRUPT;
    masked = 0;
    if (signed_) {
        LC_DEC_TRY(lc_dec_gamma(r, &z));
        off = sr_unzigzag(z);
        if ((off < 0 ? -off : off) >= (int64_t)(SR_MAX_OCTAVES * s)) return LC_DEC_E_CORRUPT;
        LC_DEC_TRY(lc_dec_gamma(r, &masked));
        {
            size_t lo = first > 1 ? first : 1;
            size_t most = last + 1 > lo ? last + 1 - lo : 0;
            if (masked > most) return LC_DEC_E_CORRUPT;
        }
    }
    /* The curve: linear between knots, rounded to the nearest step (knots.rs curve). */
    curve[at[0]] = values[0];
    for (k = 1; k < nk; ++k) {
        size_t a = at[k - 1], b = at[k];
        int64_t ua = values[k - 1], ub = values[k], den = (int64_t)(b - a);
        for (i = 0; i < b - a; ++i) {
            int64_t num = (ub - ua) * (int64_t)(i + 1), q = 2 * num + den, d = 2 * den;
            int64_t fl = q / d - (q % d != 0 && q < 0);
            curve[a + 1 + i] = (int32_t)(ua + fl);
        }
    }
    for (i = 0; i < nsym; ++i) us[i] = -1;
    for (i = first; i <= last; ++i) {
        if (!signed_ || i == 0) {
            us[i] = curve[i];
        } else {
            us[2 * i - 1] = curve[i];
            us[2 * i] = sr_clamp_value((int64_t)curve[i] + off, s);
        }
    }
    if (masked > 0) {
        size_t from = 2 * (last + 1 - masked) - 1;
        for (i = 0; i < 2 * (size_t)masked; ++i)
            if (lc_bits_get(r, 1) == 1) us[from + i] = -1;
    }
    return LC_DEC_OK;
}

/* A table as Sent::write wrote it: a flag bit, then knots or values. */
static int sr_read_sent(lc_bits *r, size_t nsym, uint32_t s, int signed_, int32_t *us) {
    if (lc_bits_get(r, 1) == 1) return sr_read_knots(r, nsym, s, signed_, us);
    return sr_read_table(r, nsym, s, us);
}

/* 2^(k/8) in 16-bit fixed point (table.rs MANT). */
static const uint64_t SR_MANT[8] = {65536, 71468, 77936, 84990, 92682, 101070, 110218, 120194};

static uint64_t sr_weight(uint32_t u, uint32_t s) {
    uint32_t octave, step;
    if (u > SR_MAX_OCTAVES * s - 1) u = SR_MAX_OCTAVES * s - 1;
    octave = u / s;
    step = u % s;
    if (step == 0) return SR_MANT[0] << (SR_MAX_OCTAVES - octave);
    return SR_MANT[(s - step) * (8 / s)] << (SR_MAX_OCTAVES - octave - 1);
}

/* Frequencies summing to 2^p from log-scale values (table.rs normalize). */
static int sr_normalize(const int32_t *us, size_t n, uint32_t s, unsigned p, uint32_t *freq) {
    uint64_t total = (uint64_t)1 << p, present = 0, sum = 0, budget, got = 0;
    size_t i, best = 0;
    for (i = 0; i < n; ++i) {
        if (us[i] < 0) continue;
        present++;
        sum += sr_weight((uint32_t)us[i], s);
    }
    if (present == 0 || present > total) return LC_DEC_E_CORRUPT;
    budget = total - present;
    for (i = 0; i < n; ++i) {
        freq[i] = us[i] < 0 ? 0 : 1 + (uint32_t)(sr_weight((uint32_t)us[i], s) * budget / sum);
        got += freq[i];
        if (freq[i] > freq[best]) best = i;
    }
    freq[best] += (uint32_t)(total - got);
    return LC_DEC_OK;
}

/* The pair table of a class table of nsym symbols (table.rs pair_table). */
static void sr_pair_table(const uint32_t *f1, size_t nsym, unsigned p, uint32_t *freq) {
    uint64_t total = (uint64_t)1 << p, tiny = 0, got = 0, w[SR_PAIR_SYMBOLS];
    uint64_t half = (uint64_t)1 << (2 * p - 1);
    size_t i, best = 0;
    for (i = 0; i < SR_PAIR_SYMBOLS; ++i) {
        uint64_t a = i % 16 < nsym ? f1[i % 16] : 0, b = i / 16 < nsym ? f1[i / 16] : 0;
        uint64_t sh;
        w[i] = a * b;
        sh = (w[i] * total + half) >> (2 * p);
        if (w[i] > 0 && sh <= 1) tiny++;
    }
    for (i = 0; i < SR_PAIR_SYMBOLS; ++i) {
        uint64_t sh = (w[i] * (total - tiny) + half) >> (2 * p);
        freq[i] = w[i] > 0 ? (uint32_t)(sh > 1 ? sh : 1) : 0;
        got += freq[i];
        if (freq[i] > freq[best]) best = i;
    }
    if (got <= total || freq[best] > got - total) {
        freq[best] = (uint32_t)(freq[best] + total - got);
    } else {
        while (got > total)
            for (i = 0; i < SR_PAIR_SYMBOLS; ++i)
                if (got > total && freq[i] > 1) {
                    freq[i]--;
                    got--;
                }
    }
}

static int8_t sr_value_of_sym(size_t sym) {
    return (int8_t)(sym % 2 == 1 ? (int32_t)((sym + 1) / 2) : -(int32_t)(sym / 2));
}

/* Entries a lookup table is written with past its end (sr_fill_lut). */
#define SR_LUT_SLACK 8

/* The lookup table of a table summing to 2^p: (freq - 1) << 20 | (slot - start) << 8 | the
 * output byte (the symbol, or with `values` its relative value) for each slot, eight entries
 * at a time: a symbol's last eight run into the next symbol's slots (their slot field may
 * carry into the frequency's), which that symbol then overwrites, and at most SR_LUT_SLACK
 * entries past the table (tables are rebuilt on every
 * decode, so filling them is part of its time). */
static void sr_fill_lut(const uint32_t *freq, size_t nsym, int values, uint32_t *lut) {
    size_t sym, at = 0, k, j;
    for (sym = 0; sym < nsym; ++sym) {
        uint32_t f = freq[sym];
        uint32_t byte = values ? (uint8_t)sr_value_of_sym(sym) : (uint8_t)sym;
        uint32_t e = (f > 0 ? f - 1 : 0) << 20 | byte;
        for (k = 0; k < f; k += SR_LUT_SLACK)
            for (j = 0; j < SR_LUT_SLACK; ++j) lut[at + k + j] = e | (uint32_t)(k + j) << 8;
        at += f;
    }
}

/* ---- rANS ---------------------------------------------------------------------------------- */

static uint16_t sr_load16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Word i of a word stream of nwords words, clamped to the last (0 in a stream of none): a
 * corrupt stream may run past its end, and the final checks report it. */
static uint16_t sr_word(const uint8_t *words, size_t nwords, size_t i) {
    if (nwords == 0) return 0;
    return sr_load16(words + 2 * (i < nwords ? i : nwords - 1));
}

static uint32_t sr_state(const uint8_t *words, size_t nwords, size_t l) {
    return (uint32_t)sr_word(words, nwords, 2 * l) << 16 | sr_word(words, nwords, 2 * l + 1);
}

/* One decoding step of state *x with lookup table `lut` of 2^p entries and word w: the
 * output byte; *need says whether w was taken. */
static inline uint8_t sr_step(uint32_t *x, const uint32_t *lut, unsigned p, uint32_t w,
                             uint32_t *need) {
    uint32_t e = lut[*x & (((uint32_t)1 << p) - 1)];
    uint32_t y = ((e >> 20) + 1) * (*x >> p) + ((e >> 8) & 0xFFF);
    uint32_t nd = y < SR_RANS_L, m = 0u - nd;
    *x = (y & ~m) | (((y << 16) | w) & m);
    *need = nd;
    return (uint8_t)e;
}

/* The live rows the main stream codes: symbols per row, each row's class (in stream order),
 * the lookup tables one after another, and with tables by position the class of each
 * position and the table offset of position i % rowlen at i (rowlen + 32 entries). */
typedef struct {
    unsigned p;
    size_t rowlen;
    const uint8_t *classes;
    const uint32_t *luts;
    const uint8_t *posmap;
    const int32_t *pos_off;
} sr_rows;

/* Decodes out[from..end) from states st (lanes of them), symbol j on state j % lanes, the
 * table of each by its row's class or its position in the row. */
static void sr_scalar(int8_t *out, size_t from, size_t end, const sr_rows *rows, uint32_t *st,
                      size_t lanes, const uint8_t *words, size_t nwords, size_t *pos) {
    size_t rowlen = rows->rowlen > 0 ? rows->rowlen : 1, lane = from % lanes;
    size_t r = from / rowlen, c = from % rowlen, i = from, at = *pos;
    unsigned p = rows->p;
    while (i < end) {
        size_t seg = rowlen - c, k;
        uint32_t need;
        if (seg > end - i) seg = end - i;
        if (rows->posmap) {
            for (k = 0; k < seg; ++k) {
                const uint32_t *lut = rows->luts + ((size_t)rows->posmap[c + k] << p);
                out[i + k] = (int8_t)sr_step(&st[lane], lut, p, sr_word(words, nwords, at), &need);
                at += need;
                if (++lane == lanes) lane = 0;
            }
        } else {
            const uint32_t *lut = rows->luts + ((size_t)rows->classes[r] << p);
            if (at + seg <= nwords) {
                /* Every word this segment may read is in the stream. */
                for (k = 0; k < seg; ++k) {
                    out[i + k] = (int8_t)sr_step(&st[lane], lut, p, sr_load16(words + 2 * at),
                                                 &need);
                    at += need;
                    if (++lane == lanes) lane = 0;
                }
            } else {
                for (k = 0; k < seg; ++k) {
                    out[i + k] =
                        (int8_t)sr_step(&st[lane], lut, p, sr_word(words, nwords, at), &need);
                    at += need;
                    if (++lane == lanes) lane = 0;
                }
            }
        }
        i += seg;
        c += seg;
        if (c == rowlen) {
            c = 0;
            r++;
        }
    }
    *pos = at;
}

#ifdef SR_AVX2
/* For a mask of lanes that read a word: lane i takes the word at the count of reading lanes
 * below it. */
static const uint8_t SR_PERM[256][8] = {
    {0,0,0,0,0,0,0,0}, {0,1,1,1,1,1,1,1}, {0,0,1,1,1,1,1,1}, {0,1,2,2,2,2,2,2}, {0,0,0,1,1,1,1,1},
    {0,1,1,2,2,2,2,2}, {0,0,1,2,2,2,2,2}, {0,1,2,3,3,3,3,3}, {0,0,0,0,1,1,1,1}, {0,1,1,1,2,2,2,2},
    {0,0,1,1,2,2,2,2}, {0,1,2,2,3,3,3,3}, {0,0,0,1,2,2,2,2}, {0,1,1,2,3,3,3,3}, {0,0,1,2,3,3,3,3},
    {0,1,2,3,4,4,4,4}, {0,0,0,0,0,1,1,1}, {0,1,1,1,1,2,2,2}, {0,0,1,1,1,2,2,2}, {0,1,2,2,2,3,3,3},
    {0,0,0,1,1,2,2,2}, {0,1,1,2,2,3,3,3}, {0,0,1,2,2,3,3,3}, {0,1,2,3,3,4,4,4}, {0,0,0,0,1,2,2,2},
    {0,1,1,1,2,3,3,3}, {0,0,1,1,2,3,3,3}, {0,1,2,2,3,4,4,4}, {0,0,0,1,2,3,3,3}, {0,1,1,2,3,4,4,4},
    {0,0,1,2,3,4,4,4}, {0,1,2,3,4,5,5,5}, {0,0,0,0,0,0,1,1}, {0,1,1,1,1,1,2,2}, {0,0,1,1,1,1,2,2},
    {0,1,2,2,2,2,3,3}, {0,0,0,1,1,1,2,2}, {0,1,1,2,2,2,3,3}, {0,0,1,2,2,2,3,3}, {0,1,2,3,3,3,4,4},
    {0,0,0,0,1,1,2,2}, {0,1,1,1,2,2,3,3}, {0,0,1,1,2,2,3,3}, {0,1,2,2,3,3,4,4}, {0,0,0,1,2,2,3,3},
    {0,1,1,2,3,3,4,4}, {0,0,1,2,3,3,4,4}, {0,1,2,3,4,4,5,5}, {0,0,0,0,0,1,2,2}, {0,1,1,1,1,2,3,3},
    {0,0,1,1,1,2,3,3}, {0,1,2,2,2,3,4,4}, {0,0,0,1,1,2,3,3}, {0,1,1,2,2,3,4,4}, {0,0,1,2,2,3,4,4},
    {0,1,2,3,3,4,5,5}, {0,0,0,0,1,2,3,3}, {0,1,1,1,2,3,4,4}, {0,0,1,1,2,3,4,4}, {0,1,2,2,3,4,5,5},
    {0,0,0,1,2,3,4,4}, {0,1,1,2,3,4,5,5}, {0,0,1,2,3,4,5,5}, {0,1,2,3,4,5,6,6}, {0,0,0,0,0,0,0,1},
    {0,1,1,1,1,1,1,2}, {0,0,1,1,1,1,1,2}, {0,1,2,2,2,2,2,3}, {0,0,0,1,1,1,1,2}, {0,1,1,2,2,2,2,3},
    {0,0,1,2,2,2,2,3}, {0,1,2,3,3,3,3,4}, {0,0,0,0,1,1,1,2}, {0,1,1,1,2,2,2,3}, {0,0,1,1,2,2,2,3},
    {0,1,2,2,3,3,3,4}, {0,0,0,1,2,2,2,3}, {0,1,1,2,3,3,3,4}, {0,0,1,2,3,3,3,4}, {0,1,2,3,4,4,4,5},
    {0,0,0,0,0,1,1,2}, {0,1,1,1,1,2,2,3}, {0,0,1,1,1,2,2,3}, {0,1,2,2,2,3,3,4}, {0,0,0,1,1,2,2,3},
    {0,1,1,2,2,3,3,4}, {0,0,1,2,2,3,3,4}, {0,1,2,3,3,4,4,5}, {0,0,0,0,1,2,2,3}, {0,1,1,1,2,3,3,4},
    {0,0,1,1,2,3,3,4}, {0,1,2,2,3,4,4,5}, {0,0,0,1,2,3,3,4}, {0,1,1,2,3,4,4,5}, {0,0,1,2,3,4,4,5},
    {0,1,2,3,4,5,5,6}, {0,0,0,0,0,0,1,2}, {0,1,1,1,1,1,2,3}, {0,0,1,1,1,1,2,3}, {0,1,2,2,2,2,3,4},
    {0,0,0,1,1,1,2,3}, {0,1,1,2,2,2,3,4}, {0,0,1,2,2,2,3,4}, {0,1,2,3,3,3,4,5}, {0,0,0,0,1,1,2,3},
    {0,1,1,1,2,2,3,4}, {0,0,1,1,2,2,3,4}, {0,1,2,2,3,3,4,5}, {0,0,0,1,2,2,3,4}, {0,1,1,2,3,3,4,5},
    {0,0,1,2,3,3,4,5}, {0,1,2,3,4,4,5,6}, {0,0,0,0,0,1,2,3}, {0,1,1,1,1,2,3,4}, {0,0,1,1,1,2,3,4},
    {0,1,2,2,2,3,4,5}, {0,0,0,1,1,2,3,4}, {0,1,1,2,2,3,4,5}, {0,0,1,2,2,3,4,5}, {0,1,2,3,3,4,5,6},
    {0,0,0,0,1,2,3,4}, {0,1,1,1,2,3,4,5}, {0,0,1,1,2,3,4,5}, {0,1,2,2,3,4,5,6}, {0,0,0,1,2,3,4,5},
    {0,1,1,2,3,4,5,6}, {0,0,1,2,3,4,5,6}, {0,1,2,3,4,5,6,7}, {0,0,0,0,0,0,0,0}, {0,1,1,1,1,1,1,1},
    {0,0,1,1,1,1,1,1}, {0,1,2,2,2,2,2,2}, {0,0,0,1,1,1,1,1}, {0,1,1,2,2,2,2,2}, {0,0,1,2,2,2,2,2},
    {0,1,2,3,3,3,3,3}, {0,0,0,0,1,1,1,1}, {0,1,1,1,2,2,2,2}, {0,0,1,1,2,2,2,2}, {0,1,2,2,3,3,3,3},
    {0,0,0,1,2,2,2,2}, {0,1,1,2,3,3,3,3}, {0,0,1,2,3,3,3,3}, {0,1,2,3,4,4,4,4}, {0,0,0,0,0,1,1,1},
    {0,1,1,1,1,2,2,2}, {0,0,1,1,1,2,2,2}, {0,1,2,2,2,3,3,3}, {0,0,0,1,1,2,2,2}, {0,1,1,2,2,3,3,3},
    {0,0,1,2,2,3,3,3}, {0,1,2,3,3,4,4,4}, {0,0,0,0,1,2,2,2}, {0,1,1,1,2,3,3,3}, {0,0,1,1,2,3,3,3},
    {0,1,2,2,3,4,4,4}, {0,0,0,1,2,3,3,3}, {0,1,1,2,3,4,4,4}, {0,0,1,2,3,4,4,4}, {0,1,2,3,4,5,5,5},
    {0,0,0,0,0,0,1,1}, {0,1,1,1,1,1,2,2}, {0,0,1,1,1,1,2,2}, {0,1,2,2,2,2,3,3}, {0,0,0,1,1,1,2,2},
    {0,1,1,2,2,2,3,3}, {0,0,1,2,2,2,3,3}, {0,1,2,3,3,3,4,4}, {0,0,0,0,1,1,2,2}, {0,1,1,1,2,2,3,3},
    {0,0,1,1,2,2,3,3}, {0,1,2,2,3,3,4,4}, {0,0,0,1,2,2,3,3}, {0,1,1,2,3,3,4,4}, {0,0,1,2,3,3,4,4},
    {0,1,2,3,4,4,5,5}, {0,0,0,0,0,1,2,2}, {0,1,1,1,1,2,3,3}, {0,0,1,1,1,2,3,3}, {0,1,2,2,2,3,4,4},
    {0,0,0,1,1,2,3,3}, {0,1,1,2,2,3,4,4}, {0,0,1,2,2,3,4,4}, {0,1,2,3,3,4,5,5}, {0,0,0,0,1,2,3,3},
    {0,1,1,1,2,3,4,4}, {0,0,1,1,2,3,4,4}, {0,1,2,2,3,4,5,5}, {0,0,0,1,2,3,4,4}, {0,1,1,2,3,4,5,5},
    {0,0,1,2,3,4,5,5}, {0,1,2,3,4,5,6,6}, {0,0,0,0,0,0,0,1}, {0,1,1,1,1,1,1,2}, {0,0,1,1,1,1,1,2},
    {0,1,2,2,2,2,2,3}, {0,0,0,1,1,1,1,2}, {0,1,1,2,2,2,2,3}, {0,0,1,2,2,2,2,3}, {0,1,2,3,3,3,3,4},
    {0,0,0,0,1,1,1,2}, {0,1,1,1,2,2,2,3}, {0,0,1,1,2,2,2,3}, {0,1,2,2,3,3,3,4}, {0,0,0,1,2,2,2,3},
    {0,1,1,2,3,3,3,4}, {0,0,1,2,3,3,3,4}, {0,1,2,3,4,4,4,5}, {0,0,0,0,0,1,1,2}, {0,1,1,1,1,2,2,3},
    {0,0,1,1,1,2,2,3}, {0,1,2,2,2,3,3,4}, {0,0,0,1,1,2,2,3}, {0,1,1,2,2,3,3,4}, {0,0,1,2,2,3,3,4},
    {0,1,2,3,3,4,4,5}, {0,0,0,0,1,2,2,3}, {0,1,1,1,2,3,3,4}, {0,0,1,1,2,3,3,4}, {0,1,2,2,3,4,4,5},
    {0,0,0,1,2,3,3,4}, {0,1,1,2,3,4,4,5}, {0,0,1,2,3,4,4,5}, {0,1,2,3,4,5,5,6}, {0,0,0,0,0,0,1,2},
    {0,1,1,1,1,1,2,3}, {0,0,1,1,1,1,2,3}, {0,1,2,2,2,2,3,4}, {0,0,0,1,1,1,2,3}, {0,1,1,2,2,2,3,4},
    {0,0,1,2,2,2,3,4}, {0,1,2,3,3,3,4,5}, {0,0,0,0,1,1,2,3}, {0,1,1,1,2,2,3,4}, {0,0,1,1,2,2,3,4},
    {0,1,2,2,3,3,4,5}, {0,0,0,1,2,2,3,4}, {0,1,1,2,3,3,4,5}, {0,0,1,2,3,3,4,5}, {0,1,2,3,4,4,5,6},
    {0,0,0,0,0,1,2,3}, {0,1,1,1,1,2,3,4}, {0,0,1,1,1,2,3,4}, {0,1,2,2,2,3,4,5}, {0,0,0,1,1,2,3,4},
    {0,1,1,2,2,3,4,5}, {0,0,1,2,2,3,4,5}, {0,1,2,3,3,4,5,6}, {0,0,0,0,1,2,3,4}, {0,1,1,1,2,3,4,5},
    {0,0,1,1,2,3,4,5}, {0,1,2,2,3,4,5,6}, {0,0,0,1,2,3,4,5}, {0,1,1,2,3,4,5,6}, {0,0,1,2,3,4,5,6},
    {0,1,2,3,4,5,6,7},
};

/* lut[idx] for the eight lanes of idx, by scalar loads (vpgatherdd is microcoded on some
 * x86 cores with AVX2, where eight loads are faster). */
__attribute__((target("avx2"))) static inline __m256i sr_gather(const uint32_t *lut,
                                                                 __m256i idx) {
    __m128i lo = _mm256_castsi256_si128(idx), hi = _mm256_extracti128_si256(idx, 1);
    uint64_t a = (uint64_t)_mm_cvtsi128_si64(lo), b = (uint64_t)_mm_extract_epi64(lo, 1);
    uint64_t c = (uint64_t)_mm_cvtsi128_si64(hi), d = (uint64_t)_mm_extract_epi64(hi, 1);
    __m128i v0 = _mm_cvtsi32_si128((int)lut[(uint32_t)a]);
    __m128i v1 = _mm_cvtsi32_si128((int)lut[(uint32_t)c]);
    v0 = _mm_insert_epi32(v0, (int)lut[a >> 32], 1);
    v1 = _mm_insert_epi32(v1, (int)lut[c >> 32], 1);
    v0 = _mm_insert_epi32(v0, (int)lut[(uint32_t)b], 2);
    v1 = _mm_insert_epi32(v1, (int)lut[(uint32_t)d], 2);
    v0 = _mm_insert_epi32(v0, (int)lut[b >> 32], 3);
    v1 = _mm_insert_epi32(v1, (int)lut[d >> 32], 3);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(v0), v1, 1);
}

/* Whole rounds of 8 V codes (V vectors of eight states) while the words allow, as the Rust
 * decoder's AVX2 loop (simd.rs decode); returns the codes decoded, the scalar loop finishes
 * the rest. Each round first settles the table offset of every lane, so the vector loop has
 * no branches. */
__attribute__((target("avx2,popcnt"), always_inline)) static inline size_t sr_avx2(
    int8_t *out, size_t len, const sr_rows *rows, uint32_t *st, const size_t V,
    const uint8_t *words, size_t nwords, size_t *pos) {
    size_t n = 8 * V, v, j = 0, at = *pos, col = 0, r0 = 0, rowlen = rows->rowlen;
    size_t left = rowlen;
    unsigned p = rows->p;
    const uint32_t *luts = rows->luts;
    __m256i x[4], e[4];
    __m256i low12 = _mm256_set1_epi32(0xFFF), slot_mask = _mm256_set1_epi32((1 << p) - 1);
    __m128i pshift = _mm_cvtsi32_si128((int)p);
    __m256i one = _mm256_set1_epi32(1), word_max = _mm256_set1_epi32(0xFFFF);
    __m256i lane0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), ff = _mm256_set1_epi32(0xFF);
    int32_t offs[32];
    int64_t offs_class = -1;
    for (v = 0; v < V; ++v) x[v] = _mm256_loadu_si256((const __m256i *)(st + 8 * v));
#define SR_CLASS_OFF(r) ((int32_t)((uint32_t)rows->classes[r] << p))
    while (j + n <= len && at + n <= nwords) {
        const int32_t *offp;
        if (rows->posmap) {
            offp = rows->pos_off + col;
        } else {
            if (left >= n || (rowlen >= n && SR_CLASS_OFF(r0) == SR_CLASS_OFF(r0 + 1))) {
                if (offs_class != SR_CLASS_OFF(r0)) {
                    size_t k;
                    offs_class = SR_CLASS_OFF(r0);
                    for (k = 0; k < n; ++k) offs[k] = (int32_t)offs_class;
                }
            } else if (rowlen >= n) {
                __m256i off0 = _mm256_set1_epi32(SR_CLASS_OFF(r0));
                __m256i off1 = _mm256_set1_epi32(SR_CLASS_OFF(r0 + 1));
                __m256i left_v = _mm256_set1_epi32((int)left);
                for (v = 0; v < V; ++v) {
                    __m256i lanes = _mm256_add_epi32(lane0, _mm256_set1_epi32(8 * (int)v));
                    __m256i off = _mm256_blendv_epi8(off1, off0, _mm256_cmpgt_epi32(left_v, lanes));
                    _mm256_storeu_si256((__m256i *)(offs + 8 * v), off);
                }
                offs_class = -1;
            } else {
                size_t r = r0, l = left, k;
                for (k = 0; k < n; ++k) {
                    if (l == 0) {
                        r++;
                        l = rowlen;
                    }
                    offs[k] = SR_CLASS_OFF(r);
                    l--;
                }
                offs_class = -1;
            }
            offp = offs;
        }
        for (v = 0; v < V; ++v) {
            __m256i xv = x[v];
            __m256i slot = _mm256_and_si256(xv, slot_mask);
            __m256i off = _mm256_loadu_si256((const __m256i *)(offp + 8 * v));
            __m256i ev = sr_gather(luts, _mm256_add_epi32(slot, off));
            __m256i o = _mm256_and_si256(_mm256_srli_epi32(ev, 8), low12);
            __m256i f = _mm256_add_epi32(_mm256_srli_epi32(ev, 20), one);
            __m256i y = _mm256_add_epi32(_mm256_mullo_epi32(f, _mm256_srl_epi32(xv, pshift)), o);
            __m256i need = _mm256_cmpeq_epi32(_mm256_min_epu32(y, word_max), y);
            int m = _mm256_movemask_ps(_mm256_castsi256_ps(need));
            __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(words + 2 * at)));
            __m256i perm = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)SR_PERM[m]));
            w = _mm256_permutevar8x32_epi32(w, perm);
            x[v] = _mm256_blendv_epi8(y, _mm256_or_si256(_mm256_slli_epi32(y, 16), w), need);
            at += (size_t)__builtin_popcount((unsigned)m);
            e[v] = ev;
        }
        /* The low byte of every lane, in order. */
        if (V == 4) {
            __m256i a = _mm256_packus_epi32(_mm256_and_si256(e[0], ff), _mm256_and_si256(e[1], ff));
            __m256i b = _mm256_packus_epi32(_mm256_and_si256(e[2], ff), _mm256_and_si256(e[3], ff));
            __m256i c = _mm256_packus_epi16(a, b);
            c = _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(out + j), c);
        } else {
            for (v = 0; v < V; ++v) {
                __m256i a = _mm256_packus_epi32(_mm256_and_si256(e[v], ff), _mm256_setzero_si256());
                __m256i c = _mm256_packus_epi16(a, a);
                c = _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4));
                _mm_storel_epi64((__m128i *)(out + j + 8 * v), _mm256_castsi256_si128(c));
            }
        }
        j += n;
        col = (col + n) % rowlen;
        if (left > n) {
            left -= n;
        } else {
            size_t past = n - left;
            r0 += 1 + past / rowlen;
            left = rowlen - past % rowlen;
        }
    }
#undef SR_CLASS_OFF
    for (v = 0; v < V; ++v) _mm256_storeu_si256((__m256i *)(st + 8 * v), x[v]);
    *pos = at;
    return j;
}

/* sr_avx2 with one vector of eight states and with four, each compiled for its V. */
__attribute__((target("avx2,popcnt"))) static size_t sr_avx2_v1(int8_t *out, size_t len,
                                                                 const sr_rows *rows,
                                                                 uint32_t *st,
                                                                 const uint8_t *words,
                                                                 size_t nwords, size_t *pos) {
    return sr_avx2(out, len, rows, st, 1, words, nwords, pos);
}

__attribute__((target("avx2,popcnt"))) static size_t sr_avx2_v4(int8_t *out, size_t len,
                                                                 const sr_rows *rows,
                                                                 uint32_t *st,
                                                                 const uint8_t *words,
                                                                 size_t nwords, size_t *pos) {
    return sr_avx2(out, len, rows, st, 4, words, nwords, pos);
}

static int sr_has_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
}
#endif

/* The main stream: its states, its words and how far they are read, its tail (the last
 * symbols, on one state whose words the states end with), and whether SIMD may be used. */
typedef struct {
    uint32_t st[SR_MAX_LANES];
    size_t lanes;
    const uint8_t *words;
    size_t nwords;
    size_t pos;
    size_t tail;
    int simd;
} sr_main;

/* Decodes the live rows' nsyms symbols (or codes) into out and checks that the stream ends
 * where it should (decode.rs Main::decode). */
static int sr_main_decode(sr_main *m, int8_t *out, size_t nsyms, const sr_rows *rows) {
    size_t bulk, done = 0, l, at = 2;
    uint8_t payload[2 * SR_MAX_LANES];
    uint32_t x;
    if (m->tail > nsyms) return LC_DEC_E_CORRUPT;
    bulk = nsyms - m->tail;
#ifdef SR_AVX2
    if (m->simd && (m->lanes == 8 || m->lanes == 32) && rows->rowlen > 0 && sr_has_avx2())
        done = m->lanes == 8
                   ? sr_avx2_v1(out, bulk, rows, m->st, m->words, m->nwords, &m->pos)
                   : sr_avx2_v4(out, bulk, rows, m->st, m->words, m->nwords, &m->pos);
#endif
    sr_scalar(out, done, bulk, rows, m->st, m->lanes, m->words, m->nwords, &m->pos);
    if (m->pos != m->nwords) return LC_DEC_E_CORRUPT;
    if (m->tail == 0) {
        for (l = 0; l < m->lanes; ++l)
            if (m->st[l] != SR_RANS_L) return LC_DEC_E_CORRUPT;
        return LC_DEC_OK;
    }
    /* Each state ended at RANS_L plus one word of the tail's stream. */
    for (l = 0; l < m->lanes; ++l) {
        uint32_t w = m->st[l] - SR_RANS_L;
        if (m->st[l] < SR_RANS_L || w > 0xFFFF) return LC_DEC_E_CORRUPT;
        payload[2 * l] = (uint8_t)w;
        payload[2 * l + 1] = (uint8_t)(w >> 8);
    }
    x = sr_state(payload, m->lanes, 0);
    sr_scalar(out, bulk, nsyms, rows, &x, 1, payload, m->lanes, &at);
    if (x != SR_RANS_L || at > m->lanes) return LC_DEC_E_CORRUPT;
    for (l = 2 * at; l < 2 * m->lanes; ++l)
        if (payload[l] != 0) return LC_DEC_E_CORRUPT;
    return LC_DEC_OK;
}

/* ---- Rows to codes ------------------------------------------------------------------------ */

/* A row's codes of its 16 symbols, values[k] + sign(values[k]) (m - 1) (wrapping), and the
 * mask of those that leave int8. */
static uint32_t sr_row_codes(const int8_t *values, int32_t m, int8_t *codes) {
    uint32_t bad = 0, k;
    for (k = 0; k < 16; ++k) {
        int32_t r = values[k], q = r + ((r > 0) - (r < 0)) * (m - 1);
        bad |= (uint32_t)(q < -128 || q > 127) << k;
        codes[k] = (int8_t)(uint8_t)(uint32_t)q;
    }
    return bad;
}

#ifdef SR_AVX2
/* A row's symbols (per = 1) or pair symbols a + 16 b (per = 2) to their codes, 16 symbols at
 * a time (simd.rs expand_row); returns the symbols done. */
__attribute__((target("avx2"))) static size_t sr_expand_avx2(const int8_t *src, int8_t *dst,
                                                             size_t width, size_t per,
                                                             const int8_t *codes) {
    __m128i table = _mm_loadu_si128((const __m128i *)codes), low4 = _mm_set1_epi8(15);
    size_t i = 0;
    for (; i + 16 <= width; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i a = _mm_shuffle_epi8(table, _mm_and_si128(v, low4));
        if (per == 1) {
            _mm_storeu_si128((__m128i *)(dst + i), a);
        } else {
            __m128i b = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(v, 4), low4));
            _mm_storeu_si128((__m128i *)(dst + 2 * i), _mm_unpacklo_epi8(a, b));
            _mm_storeu_si128((__m128i *)(dst + 2 * i + 16), _mm_unpackhi_epi8(a, b));
        }
    }
    return i;
}
#endif

#ifdef SR_NEON
/* sr_expand_avx2 with NEON table lookups. */
static size_t sr_expand_neon(const int8_t *src, int8_t *dst, size_t width, size_t per,
                             const int8_t *codes) {
    int8x16_t table = vld1q_s8(codes);
    uint8x16_t low4 = vdupq_n_u8(15);
    size_t i = 0;
    for (; i + 16 <= width; i += 16) {
        uint8x16_t s = vreinterpretq_u8_s8(vld1q_s8(src + i));
        int8x16_t a = vqtbl1q_s8(table, vandq_u8(s, low4));
        if (per == 1) {
            vst1q_s8(dst + i, a);
        } else {
            int8x16x2_t ab;
            ab.val[0] = a;
            ab.val[1] = vqtbl1q_s8(table, vshrq_n_u8(s, 4));
            vst2q_s8(dst + 2 * i, ab);
        }
    }
    return i;
}
#endif

/* One row's `width` symbols (per = 1) or pair symbols (per = 2) to its codes through `codes`.
 * src may lie at or after dst (symbols expanding in place): each block of symbols is read
 * before the codes at or after it are written. */
static void sr_expand_row(const int8_t *src, int8_t *dst, size_t width, size_t per,
                          const int8_t *codes, int simd) {
    size_t i = 0;
    (void)simd;
#ifdef SR_AVX2
    if (simd) i = sr_expand_avx2(src, dst, width, per, codes);
#endif
#ifdef SR_NEON
    if (simd) i = sr_expand_neon(src, dst, width, per, codes);
#endif
    if (per == 1) {
        for (; i < width; ++i) dst[i] = codes[src[i] & 15];
    } else {
        for (; i < width; ++i) {
            uint8_t s = (uint8_t)src[i];
            dst[2 * i] = codes[s & 15];
            dst[2 * i + 1] = codes[s >> 4];
        }
    }
}

/* Whether any of a row's symbols (or pair halves) is one of `bad`. */
static int sr_hits(const int8_t *syms, size_t width, uint32_t bad) {
    size_t i;
    uint32_t hit = 0;
    for (i = 0; i < width; ++i) {
        uint8_t s = (uint8_t)syms[i];
        hit |= (bad >> (s & 15)) | (bad >> (s >> 4));
    }
    return hit & 1;
}

/* The tensor's decoder state after the tables and the side stream. */
typedef struct {
    size_t n, rows, rowlen, live, nsym;
    const uint8_t *kinds, *mins;
    uint8_t *classes;
    int pairs, simd;
} sr_tensor;

/* Alphabets of at most 16 symbols (decode.rs decode_expanded): the live rows' symbols, then
 * every row's codes from them. Single symbols decode into the tail of out in row order; pair
 * symbols into `pair_syms` in class order (stable). */
static int sr_decode_expanded(const sr_tensor *t, sr_rows *rows, sr_main *m, int8_t *out,
                              int8_t *pair_syms) {
    size_t per = t->pairs ? 2 : 1, width = t->rowlen / per, nsyms = t->live * width;
    size_t next[SR_MAX_CLASSES + 2] = {0}, start[SR_MAX_CLASSES + 2], zero = 0, row, k, place = 0;
    int8_t values[16], codes[16];
    int32_t last_m = -1;
    uint32_t bad = 0;
    int8_t *syms = t->pairs ? pair_syms : out + (t->n - nsyms);
    for (k = 0; k < 16; ++k) values[k] = k < t->nsym ? sr_value_of_sym(k) : 0;
    if (t->pairs) {
        /* Live rows in class order, stable: a counting sort over the kinds; start[kind] is
         * where the next row of that kind goes (zero rows counted first). */
        for (row = 0; row < t->rows; ++row) next[t->kinds[row] + 1]++;
        for (k = 1; k < SR_MAX_CLASSES + 2; ++k) next[k] += next[k - 1];
        zero = next[1];
        memcpy(start, next, sizeof next);
        for (row = 0; row < t->rows; ++row)
            if (t->kinds[row] > 0)
                t->classes[next[t->kinds[row]]++ - zero] = (uint8_t)(t->kinds[row] - 1);
    }
    rows->rowlen = width;
    LC_DEC_TRY(sr_main_decode(m, syms, nsyms, rows));
    if (t->n == 0) return LC_DEC_OK;
    for (row = 0; row < t->rows; ++row) {
        uint8_t kind = t->kinds[row];
        const int8_t *src;
        int8_t *dst = out + row * t->rowlen;
        if (kind == 0) {
            memset(dst, 0, t->rowlen);
            continue;
        }
        if (t->pairs) src = syms + (start[kind]++ - zero) * width;
        else src = syms + place++ * width;
        if (t->mins[row] != last_m) {
            /* Rows share few minimums: the codes of the last one are kept. */
            last_m = t->mins[row];
            bad = sr_row_codes(values, last_m, codes);
        }
        if (bad != 0 && sr_hits(src, width, bad)) return LC_DEC_E_CORRUPT;
        sr_expand_row(src, dst, width, per, codes, t->simd);
    }
    return LC_DEC_OK;
}

/* Alphabets over 16 symbols (decode.rs decode_codes): the live rows' relative values, into
 * the tail of out where some rows are zero, then each row moved into place and its codes
 * restored, q = r + sign(r) (m - 1). */
static int sr_decode_codes(const sr_tensor *t, sr_rows *rows, sr_main *m, int8_t *out) {
    size_t nlive = t->live * t->rowlen, row, place = 0, i;
    int8_t *live = out + (t->n - nlive);
    LC_DEC_TRY(sr_main_decode(m, live, nlive, rows));
    for (row = 0; row < t->rows && t->rowlen > 0; ++row) {
        int8_t *dst = out + row * t->rowlen;
        int8_t d, flipped = 0;
        if (t->kinds[row] == 0) {
            memset(dst, 0, t->rowlen);
            continue;
        }
        if (live != out) memmove(dst, live + place * t->rowlen, t->rowlen);
        place++;
        if (t->mins[row] <= 1) continue;
        d = (int8_t)(t->mins[row] - 1);
        for (i = 0; i < t->rowlen; ++i) {
            int8_t r = dst[i], s = (int8_t)((r > 0) - (r < 0));
            int8_t q = (int8_t)(uint8_t)((uint32_t)(uint8_t)r + (uint32_t)(uint8_t)(s * d));
            /* Overflow flips the sign of a non-zero value. */
            flipped |= (int8_t)(q ^ r);
            dst[i] = q;
        }
        if (flipped < 0) return LC_DEC_E_CORRUPT;
    }
    return LC_DEC_OK;
}

/* Each row's kind and smallest magnitude from the side stream at the start of side[0..len)
 * (decode.rs decode_side); *first gets its final state (the main stream's first), *used its
 * length in bytes. */
static int sr_decode_side(const uint8_t *side, size_t len, const uint32_t *kind_lut,
                          const uint32_t *min_lut, unsigned p, const sr_tensor *t,
                          uint8_t *kinds, uint8_t *mins, uint32_t *first, size_t *used) {
    size_t nside = len / 2, pos = 2, row;
    uint32_t x, need;
    if (nside < 2) return LC_DEC_E_CORRUPT;
    x = sr_state(side, nside, 0);
    for (row = 0; row < t->rows; ++row) {
        uint8_t kind = sr_step(&x, kind_lut, p, sr_word(side, nside, pos), &need), mm = 0;
        pos += need;
        if (kind > 0) {
            if (!min_lut) return LC_DEC_E_CORRUPT;
            mm = (uint8_t)(sr_step(&x, min_lut, p, sr_word(side, nside, pos), &need) + 1);
            pos += need;
        }
        kinds[row] = kind;
        mins[row] = mm;
    }
    if (pos > nside || x < SR_RANS_L) return LC_DEC_E_CORRUPT;
    *first = x;
    *used = 2 * pos;
    return LC_DEC_OK;
}

static const size_t SR_LANES[4] = {1, 8, 32, 0};
static const unsigned SR_PS[4] = {12, 11, 10, 0};
static const uint32_t SR_STEPS[4] = {2, 4, 8, 0};

/* Bits of a position's class among n tables (model.rs class_bits). */
static unsigned sr_class_bits(size_t n) {
    unsigned b = 0;
    while (n > 1 && ((size_t)1 << b) < n) b++;
    return b;
}

int lc_dec_srans(const uint8_t *stream, size_t len, const size_t *shape, size_t ndim,
                 int8_t *out, size_t out_len, void *workspace, size_t workspace_bytes,
                 int simd) {
    lc_bits r;
    sr_tensor t;
    sr_rows rows;
    sr_main m;
    size_t lanes, ntables, maxrel, maxmin, rows_on, nkinds, c, k, cur, stored, row;
    unsigned p;
    uint32_t s, tail = 0;
    uint32_t *luts = (uint32_t *)workspace, *freqs = luts + SR_LUT_WORDS;
    uint32_t kind_freq[SR_MAX_CLASSES + 1], min_freq[SR_MAX_MIN], first = 0;
    int32_t us[SR_MAX_NSYM], pos_off[SR_MAX_POSITIONAL + 32];
    uint8_t posmap[SR_MAX_POSITIONAL], *bytes;
    int have_mins = 0, positional;
    LC_DEC_TRY(lc_dec_check_args(LC_CODEC_SRANS, shape, ndim, out_len, workspace,
                                 workspace_bytes));
    if (len == 0) return LC_DEC_E_CORRUPT;
    if (stream[0] == 0) {
        if (len != 1) return LC_DEC_E_CORRUPT;
        memset(out, 0, out_len);
        return LC_DEC_OK;
    }
    if (stream[0] != SR_FORMAT) return LC_DEC_E_CORRUPT;
    /* The header (format.rs Header::read, check). */
    lc_bits_init(&r, stream + 1, len - 1);
    lanes = SR_LANES[lc_bits_get(&r, 2)];
    p = SR_PS[lc_bits_get(&r, 2)];
    s = SR_STEPS[lc_bits_get(&r, 2)];
    ntables = lc_bits_get(&r, 4) + 1;
    rows_on = lc_bits_get(&r, 2);
    maxrel = lc_bits_get(&r, 8);
    maxmin = lc_bits_get(&r, 8);
    t.pairs = lc_bits_get(&r, 1) == 1;
    if (lanes > 1) LC_DEC_TRY(lc_dec_gamma(&r, &tail));
    if (p == 0 || lanes == 0 || s == 0 || rows_on > 2 || maxrel > 128 || maxmin < 1 ||
        maxmin > 128)
        return LC_DEC_E_CORRUPT;
    t.n = out_len;
    t.nsym = 2 * maxrel + 1;
    t.rows = rows_on > 0 ? sr_rows_of(out_len, shape, ndim) : 1;
    t.rowlen = out_len / t.rows;
    /* The class tables. */
    for (c = 0; c < ntables; ++c) {
        LC_DEC_TRY(sr_read_sent(&r, t.nsym, s, 1, us));
        LC_DEC_TRY(sr_normalize(us, t.nsym, s, p, freqs + c * SR_MAX_NSYM));
    }
    positional = rows_on == 2;
    if (t.pairs && (t.nsym > 16 || positional || t.rowlen % 2 != 0 || t.rowlen == 0))
        return LC_DEC_E_CORRUPT;
    if (positional) {
        if (t.rowlen < 2 || t.rowlen > SR_MAX_POSITIONAL) return LC_DEC_E_CORRUPT;
        for (k = 0; k < t.rowlen; ++k) {
            uint32_t cl = lc_bits_get(&r, sr_class_bits(ntables));
            if (cl >= ntables) return LC_DEC_E_CORRUPT;
            posmap[k] = (uint8_t)cl;
        }
    }
    /* Row kinds: 0 all zero, else 1 + the row's class (always 1 with tables by position). */
    nkinds = positional ? 2 : ntables + 1;
    if (rows_on > 0) {
        LC_DEC_TRY(sr_read_sent(&r, nkinds, s, 0, us));
        LC_DEC_TRY(sr_normalize(us, nkinds, s, p, kind_freq));
        for (k = 1; k < nkinds; ++k) have_mins |= kind_freq[k] > 0;
        if (have_mins) {
            LC_DEC_TRY(sr_read_sent(&r, maxmin, s, 0, us));
            LC_DEC_TRY(sr_normalize(us, maxmin, s, p, min_freq));
        }
    }
    if (lc_bits_overrun(&r)) return LC_DEC_E_CORRUPT;
    cur = 1 + (size_t)lc_bits_bytes_consumed(&r);
    /* The side stream: each row's kind and smallest magnitude. */
    bytes = (uint8_t *)(freqs + (size_t)SR_MAX_CLASSES * SR_MAX_NSYM);
    t.kinds = bytes;
    t.mins = bytes + t.rows;
    t.classes = bytes + 2 * t.rows;
    if (rows_on > 0) {
        size_t used;
        uint32_t *kind_lut = luts, *min_lut = luts + ((size_t)1 << p) + SR_LUT_SLACK;
        sr_fill_lut(kind_freq, nkinds, 0, kind_lut);
        if (have_mins) sr_fill_lut(min_freq, maxmin, 0, min_lut);
        LC_DEC_TRY(sr_decode_side(stream + cur, len - cur, kind_lut, have_mins ? min_lut : NULL,
                                  p, &t, bytes, bytes + t.rows, &first, &used));
        cur += used;
    } else {
        bytes[0] = 1;
        bytes[1] = (uint8_t)maxmin;
    }
    /* The main stream. */
    stored = lanes - (rows_on > 0);
    if ((len - cur) % 2 != 0 || len - cur < 4 * stored) return LC_DEC_E_CORRUPT;
    m.lanes = lanes;
    m.words = stream + cur;
    m.nwords = (len - cur) / 2;
    m.pos = 2 * stored;
    m.tail = tail;
    k = 0;
    if (rows_on > 0) m.st[k++] = first;
    for (c = 0; c < stored; ++c) m.st[k++] = sr_state(m.words, m.nwords, c);
    t.live = 0;
    for (row = 0; row < t.rows; ++row) {
        if (t.kinds[row] >= nkinds) return LC_DEC_E_CORRUPT;
        if (t.kinds[row] > 0) t.classes[t.live++] = (uint8_t)(t.kinds[row] - 1);
    }
    for (k = 0; k < t.rowlen + 32 && positional; ++k)
        pos_off[k] = (int32_t)((uint32_t)posmap[k % t.rowlen] << p);
    /* The lookup tables, one after another (the SIMD path gathers across them). */
    for (c = 0; c < ntables; ++c) {
        uint32_t *lut = luts + (c << p);
        if (t.pairs) {
            uint32_t pair[SR_PAIR_SYMBOLS];
            sr_pair_table(freqs + c * SR_MAX_NSYM, t.nsym, p, pair);
            sr_fill_lut(pair, SR_PAIR_SYMBOLS, 0, lut);
        } else {
            sr_fill_lut(freqs + c * SR_MAX_NSYM, t.nsym, t.nsym > 16, lut);
        }
    }
    t.simd = simd;
#ifdef SR_AVX2
    t.simd = simd && sr_has_avx2();
#endif
    m.simd = t.simd;
    rows.p = p;
    rows.rowlen = t.rowlen;
    rows.classes = t.classes;
    rows.luts = luts;
    rows.posmap = positional ? posmap : NULL;
    rows.pos_off = pos_off;
    if (t.pairs || t.nsym <= 16)
        return sr_decode_expanded(&t, &rows, &m, out, (int8_t *)(t.classes + t.rows));
    return sr_decode_codes(&t, &rows, &m, out);
}

LC_DECODER(lc_decode_srans) {
    return lc_dec_srans(stream, len, shape, ndim, out, out_len, workspace, workspace_bytes, 1);
}
