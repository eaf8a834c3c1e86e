/* Native C test of the layout transforms: round trip and element placement on odd shapes. */
#include <stdio.h>
#include <stdlib.h>
#include "leanconv_kernels.h"

static int check_shape(size_t c, size_t h, size_t w) {
    size_t n = c * h * w;
    float *x = malloc((n ? n : 1) * sizeof *x);
    float *y = malloc((n ? n : 1) * sizeof *y);
    float *z = malloc((n ? n : 1) * sizeof *z);
    int bad = 0;
    if (!x || !y || !z) { fprintf(stderr, "out of memory\n"); exit(2); }
    for (size_t i = 0; i < n; ++i) x[i] = (float)i;
    lc_chw_to_hwc_f32(x, y, c, h, w);
    for (size_t ci = 0; ci < c; ++ci)
        for (size_t p = 0; p < h * w; ++p)
            if (y[p * c + ci] != x[ci * h * w + p]) bad = 1;
    lc_hwc_to_chw_f32(y, z, c, h, w);
    for (size_t i = 0; i < n; ++i)
        if (z[i] != x[i]) bad = 1;
    if (bad) fprintf(stderr, "layout mismatch for c=%zu h=%zu w=%zu\n", c, h, w);
    free(x); free(y); free(z);
    return bad;
}

int main(void) {
    static const size_t dims[] = {0, 1, 2, 3, 7, 16, 17, 33};
    int failures = 0, cases = 0;
    for (size_t a = 0; a < sizeof dims / sizeof *dims; ++a)
        for (size_t b = 0; b < sizeof dims / sizeof *dims; ++b)
            for (size_t d = 0; d < sizeof dims / sizeof *dims; ++d) {
                failures += check_shape(dims[a], dims[b], dims[d]);
                ++cases;
            }
    printf("test_layout: %d passed, %d failed\n", cases - failures, failures);
    return failures != 0;
}
