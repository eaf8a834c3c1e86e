/* Layout transforms CHW <-> HWC. A transpose of a (C, H*W) matrix, done in square tiles so
 * that both the reads and the writes stay within a few cache lines. */
#include "leanconv_kernels.h"

enum { TILE = 16 };

/* dst[j*rows + i] = src[i*cols + j] for a (rows x cols) row-major src. */
static void transpose_f32(const float *src, float *dst, size_t rows, size_t cols) {
    for (size_t i0 = 0; i0 < rows; i0 += TILE) {
        size_t i1 = i0 + TILE < rows ? i0 + TILE : rows;
        for (size_t j0 = 0; j0 < cols; j0 += TILE) {
            size_t j1 = j0 + TILE < cols ? j0 + TILE : cols;
            for (size_t i = i0; i < i1; ++i)
                for (size_t j = j0; j < j1; ++j)
                    dst[j * rows + i] = src[i * cols + j];
        }
    }
}

void lc_chw_to_hwc_f32(const float *src, float *dst, size_t c, size_t h, size_t w) {
    transpose_f32(src, dst, c, h * w);
}

void lc_hwc_to_chw_f32(const float *src, float *dst, size_t c, size_t h, size_t w) {
    transpose_f32(src, dst, h * w, c);
}
