/* The image kernels that need vector code (patch packing, depthwise convolution, pooling, batch
   normalization, upsampling): the argument blocks their drivers fill, and the table of row bodies
   that each instruction set provides. image_rows.h holds the bodies; image_scalar.c, image_avx2.c
   and image_avx512.c compile it once each with their own flags, and fnn_image_kernels_active()
   picks the table of the running SIMD path. The drivers (conv.c, depthwise.c, pool.c, norm.c,
   upsample.c) split the rows across threads and never see an instruction set. */
#ifndef FNN_IMAGE_KERNELS_H
#define FNN_IMAGE_KERNELS_H

#include "../fastnn.h"

/* A depthwise convolution (groups == c) in the fnn_conv_shape terms; scratch holds, per thread,
   the rows that depth_multiplier > 1 widens, and partial the filter gradient's chunk sums. */
typedef struct {
    const fnn_conv_shape *s;
    const float *x, *w, *bias, *dy;
    float *y, *dx;
    int act;
    float alpha;
    float *scratch;
    idx_t scratch_per_thread;
    idx_t chunks;   /* filter gradient: output rows split into this many chunks ... */
    float *partial; /* ... each summing into its own (kh * kw + 1, f) block, the last row db */
} fnn_depthwise_args;

typedef struct {
    const fnn_pool_shape *s;
    const float *x, *y, *dy;
    float *out;     /* y forward, dx backward */
    int per_image;  /* backward: a task is a whole image (windows overlap along h), else an output row */
} fnn_pool_args;

typedef struct {
    idx_t n, pixels, c;
    const float *x, *y, *dy;
    float *out;
} fnn_global_pool_args;

/* Batch normalization over (rows, c, inner) in FNN_REDUCE_CHUNKS fixed chunks of rows: inner is 1 for
   channels last, else the run of values each channel has in a row (axis=1 of (N, C, L)). */
typedef struct {
    idx_t rows, c, inner;
    const float *x, *dy;
    const float *center;   /* per-channel value taken from x first (a shift, or the mean) */
    const float *scale, *offset, *x_coef; /* per-channel coefficients of the elementwise passes */
    double *sums;          /* (FNN_REDUCE_CHUNKS, 2, c): two per-channel sums for each chunk */
    float *out;
} fnn_norm_args;

typedef struct {
    idx_t n, h, w, c, out_h, out_w;
    const float *in;
    float *out;
} fnn_upsample_args;

typedef struct {
    /* Rows [m0, m0 + rows) (output pixels in n, oh, ow order) and columns [k0, k0 + cols) of the
       patch matrix of x into a, row r at a + r * lda. Column kk < k is channel kk % cg of tap
       kk / cg (tap t is kernel row t / kw, column t % kw); column k is the constant 1 (the filter
       gradient's bias column) and columns past it are 0. x points at the group's first channel. */
    void (*pack_patch_rows)(const fnn_conv_shape *s, idx_t cg, idx_t k, const float *x, idx_t m0, idx_t rows,
                            idx_t k0, idx_t cols, float *a, idx_t lda);
    /* The adjoint: the input pixel of each (row, column < k) gains dp[r * ldp + column - k0], but
       only in image rows [r0, r1) of the n * h rows (dx points at the group's first channel). Each
       dx element gains its terms in (tap, row) order: the same order for the same block of rows. */
    void (*scatter_patch_rows)(const fnn_conv_shape *s, idx_t cg, idx_t k, float *dx, idx_t m0, idx_t rows,
                               idx_t k0, idx_t cols, const float *dp, idx_t ldp, idx_t r0, idx_t r1);
    /* Bodies for fnn_parallel_for over (ctx, lo, hi): */
    fnn_range_fn depthwise_forward_rows;         /* output rows of n * out_h */
    fnn_range_fn depthwise_backward_data_rows;   /* input rows of n * h */
    fnn_range_fn depthwise_backward_filter_chunks;
    fnn_range_fn max_pool_forward_rows;          /* output rows */
    fnn_range_fn max_pool_backward_tasks;        /* see pool.c: output rows or whole images */
    fnn_range_fn avg_pool_forward_rows;
    fnn_range_fn avg_pool_backward_tasks;
    fnn_range_fn global_avg_pool_forward_images, global_avg_pool_backward_images;
    fnn_range_fn global_max_pool_forward_images, global_max_pool_backward_images;
    fnn_range_fn norm_sums_chunks;               /* chunk sums of (x - shift) and its square */
    fnn_range_fn norm_backward_sums_chunks;      /* chunk sums of dy and dy * (x - mean) */
    fnn_range_fn norm_affine_chunks;             /* out = scale * (x - center) + offset */
    fnn_range_fn norm_backward_data_chunks;      /* out = scale * dy + x_coef * (x - center) + offset */
    fnn_range_fn upsample_nearest_forward_rows, upsample_nearest_backward_rows;   /* output, input rows */
    fnn_range_fn upsample_bilinear_forward_rows, upsample_bilinear_backward_rows; /* output, input rows */
} fnn_image_kernels;

extern const fnn_image_kernels fnn_image_kernels_scalar;
#ifdef FASTNN_X86
extern const fnn_image_kernels fnn_image_kernels_avx2;
extern const fnn_image_kernels fnn_image_kernels_avx512;
#endif

const fnn_image_kernels *fnn_image_kernels_active(void);

/* The depthwise convolution (groups == c), which fnn_conv2d_* hand over to (depthwise.c): the same
   contracts, on a direct kernel, since one input channel per group leaves no GEMM to run. */
idx_t fnn_depthwise_conv2d_scratch_floats(const fnn_conv_shape *s, int pass, int threads);
int fnn_depthwise_conv2d_forward(const fnn_conv_shape *s, const float *x, const float *w, const float *bias,
                                 int act, float alpha, float *y, float *scratch, idx_t scratch_floats);
int fnn_depthwise_conv2d_backward_data(const fnn_conv_shape *s, const float *dy, const float *w,
                                       const float *bias, int act, float alpha, float *dx, float *scratch,
                                       idx_t scratch_floats);
int fnn_depthwise_conv2d_backward_filter(const fnn_conv_shape *s, const float *x, const float *dy, float *dw,
                                         float *db, float *scratch, idx_t scratch_floats);

/* Row [lo, hi) of n items split into `parts` contiguous parts: where part `i` starts. */
static inline idx_t fnn_part_start(idx_t n, idx_t parts, idx_t i) {
    return n / parts * i + FNN_MIN(i, n % parts);
}

#endif
