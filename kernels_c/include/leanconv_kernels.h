/* leanconv portable C kernels: C99, no allocation, no globals.
 * Every function takes its buffers from the caller; sizes are in elements unless named _bytes.
 * Callers (rust/core/src/conv) check shapes before calling: these functions trust their
 * arguments. */
#ifndef LEANCONV_KERNELS_H
#define LEANCONV_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Layout transforms for one image. CHW: channel-major (PyTorch's NCHW without N);
 * HWC: channel-minor (NHWC without N). src and dst must not overlap. */
void lc_chw_to_hwc_f32(const float *src, float *dst, size_t c, size_t h, size_t w);
void lc_hwc_to_chw_f32(const float *src, float *dst, size_t c, size_t h, size_t w);

#ifdef __cplusplus
}
#endif

#endif /* LEANCONV_KERNELS_H */
