/* The row bodies of the image kernels, compiled once per instruction set: image_<isa>.c sets its
   target, names its table IMAGE_KERNELS_NAME and includes this file. Every inner loop runs along
   the channel axis, contiguous in NHWC, so gcc vectorises it with that file's instruction set. */
#include <math.h>
#include <string.h>
#include "image_kernels.h"

/* gcc would turn the short copy loops below into calls of memmove, which cost more than the copy
   itself for the few floats of a narrow channel run. */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

/* a * b + c: one rounding where the path has FMA, two on the portable one. */
#ifdef __FMA__
#define MADD(a, b, c) fmaf((a), (b), (c))
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

static inline void copy_span(float *FNN_RESTRICT dst, const float *FNN_RESTRICT src, idx_t n) {
    for (idx_t i = 0; i < n; i++) dst[i] = src[i];
}

static inline void zero_span(float *dst, idx_t n) {
    for (idx_t i = 0; i < n; i++) dst[i] = 0.0f;
}

static inline void add_span(float *FNN_RESTRICT dst, const float *FNN_RESTRICT src, idx_t n) {
    for (idx_t i = 0; i < n; i++) dst[i] += src[i];
}

// dst[i] += a[i] * b[i]
static inline void madd_span(float *FNN_RESTRICT dst, const float *FNN_RESTRICT a, const float *FNN_RESTRICT b,
                             idx_t n) {
    for (idx_t i = 0; i < n; i++) dst[i] = MADD(a[i], b[i], dst[i]);
}

// dst[i] += k * src[i]
static inline void axpy_span(float *FNN_RESTRICT dst, float k, const float *FNN_RESTRICT src, idx_t n) {
    for (idx_t i = 0; i < n; i++) dst[i] = MADD(k, src[i], dst[i]);
}

/* The outputs [lo, hi) of a strided sweep whose input index o * stride + offset lies in [0, in). */
static inline void inside_span(idx_t offset, idx_t stride, idx_t in, idx_t out, idx_t *lo, idx_t *hi) {
    *lo = offset >= 0 ? 0 : (stride - 1 - offset) / stride;
    *hi = in - 1 - offset < 0 ? 0 : FNN_MIN(out, (in - 1 - offset) / stride + 1);
    if (*hi < *lo) *hi = *lo;
}

#include "conv_rows.h"
#include "pool_rows.h"
#include "norm_rows.h"
#include "upsample_rows.h"

const fnn_image_kernels IMAGE_KERNELS_NAME = {
    pack_patch_rows, scatter_patch_rows,
    depthwise_forward_rows, depthwise_backward_data_rows, depthwise_backward_filter_chunks,
    max_pool_forward_rows, max_pool_backward_tasks, avg_pool_forward_rows, avg_pool_backward_tasks,
    global_avg_pool_forward_images, global_avg_pool_backward_images,
    global_max_pool_forward_images, global_max_pool_backward_images,
    norm_sums_chunks, norm_backward_sums_chunks, norm_affine_chunks, norm_backward_data_chunks,
    upsample_nearest_forward_rows, upsample_nearest_backward_rows,
    upsample_bilinear_forward_rows, upsample_bilinear_backward_rows,
};
