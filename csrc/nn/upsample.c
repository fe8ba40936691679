/* UpSampling2D's kernels, nearest and bilinear, split across threads by the rows they write: the
   forward by output rows, the backward by input rows, each of which gathers the output rows that
   sample it. The row bodies are image_rows.h's (upsample_rows.h). */
#include "image_kernels.h"

static void run_rows(idx_t rows, idx_t row_floats, fnn_upsample_args *a, fnn_range_fn body) {
    fnn_parallel_for(rows, FNN_MAX(1, FNN_ELEMENTWISE_GRAIN / FNN_MAX(row_floats, 1)), body, a);
}

// x is (n, h, w, c), y is (n, h * size_h, w * size_w, c)
void fnn_upsample_nearest_forward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t size_h, idx_t size_w, const float *x,
                                  float *y) {
    fnn_upsample_args a = {n, h, w, c, h * size_h, w * size_w, x, y};
    run_rows(n * a.out_h, a.out_w * c, &a, fnn_image_kernels_active()->upsample_nearest_forward_rows);
}

// dy is (n, h * size_h, w * size_w, c), dx is (n, h, w, c)
void fnn_upsample_nearest_backward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t size_h, idx_t size_w, const float *dy,
                                   float *dx) {
    fnn_upsample_args a = {n, h, w, c, h * size_h, w * size_w, dy, dx};
    run_rows(n * h, size_h * a.out_w * c, &a, fnn_image_kernels_active()->upsample_nearest_backward_rows);
}

// x is (n, h, w, c), y is (n, out_h, out_w, c)
void fnn_upsample_bilinear_forward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t out_h, idx_t out_w, const float *x,
                                   float *y) {
    fnn_upsample_args a = {n, h, w, c, out_h, out_w, x, y};
    run_rows(n * out_h, 4 * out_w * c, &a, fnn_image_kernels_active()->upsample_bilinear_forward_rows);
}

// dy is (n, out_h, out_w, c), dx is (n, h, w, c)
void fnn_upsample_bilinear_backward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t out_h, idx_t out_w, const float *dy,
                                    float *dx) {
    fnn_upsample_args a = {n, h, w, c, out_h, out_w, dy, dx};
    run_rows(n * h, 2 * (out_h / h + 2) * out_w * c, &a, fnn_image_kernels_active()->upsample_bilinear_backward_rows);
}
