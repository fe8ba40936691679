/* Max and average pooling, windowed and global, over NHWC images. The row bodies are image_rows.h's
   (pool_rows.h); this file splits them across threads by what they write. The backward of a
   windowed pool writes each input row from one task: an output row when windows of different
   output rows cannot overlap (stride >= pool along h), else a whole image, whose windows it visits
   in order. */
#include "image_kernels.h"

/* Rows of `row_work` floats each per thread, at least. */
static idx_t grain_of(idx_t row_work) { return FNN_MAX(1, FNN_ELEMENTWISE_GRAIN / FNN_MAX(row_work, 1)); }

static idx_t window_work(const fnn_pool_shape *s) { return s->out_w * s->c * s->pool_h * s->pool_w; }

// x is (n, h, w, c), y is (n, out_h, out_w, c)
void fnn_max_pool2d_forward(const fnn_pool_shape *s, const float *x, float *y) {
    fnn_pool_args a = {s, x, NULL, NULL, y, 0};
    fnn_parallel_for(s->n * s->out_h, grain_of(window_work(s)), fnn_image_kernels_active()->max_pool_forward_rows, &a);
}

static void pool_backward(fnn_pool_args *a, fnn_range_fn body) {
    const fnn_pool_shape *s = a->s;
    a->per_image = s->stride_h < s->pool_h;
    idx_t tasks = a->per_image ? s->n : s->n * s->out_h;
    fnn_parallel_for(tasks, grain_of(window_work(s) * (a->per_image ? s->out_h : 1)), body, a);
}

// x, dx are (n, h, w, c), y, dy are (n, out_h, out_w, c)
void fnn_max_pool2d_backward(const fnn_pool_shape *s, const float *x, const float *y, const float *dy, float *dx) {
    fnn_pool_args a = {s, x, y, dy, dx, 0};
    pool_backward(&a, fnn_image_kernels_active()->max_pool_backward_tasks);
}

void fnn_avg_pool2d_forward(const fnn_pool_shape *s, const float *x, float *y) {
    fnn_pool_args a = {s, x, NULL, NULL, y, 0};
    fnn_parallel_for(s->n * s->out_h, grain_of(window_work(s)), fnn_image_kernels_active()->avg_pool_forward_rows, &a);
}

// dy is (n, out_h, out_w, c), dx is (n, h, w, c)
void fnn_avg_pool2d_backward(const fnn_pool_shape *s, const float *dy, float *dx) {
    fnn_pool_args a = {s, NULL, NULL, dy, dx, 0};
    pool_backward(&a, fnn_image_kernels_active()->avg_pool_backward_tasks);
}

static void global_pool(idx_t n, idx_t pixels, idx_t c, const float *x, const float *y, const float *dy, float *out,
                        fnn_range_fn body) {
    fnn_global_pool_args a = {n, pixels, c, x, y, dy, out};
    fnn_parallel_for(n, grain_of(pixels * c), body, &a);
}

// x is (n, pixels, c), y is (n, c)
void fnn_global_avg_pool_forward(idx_t n, idx_t pixels, idx_t c, const float *x, float *y) {
    global_pool(n, pixels, c, x, NULL, NULL, y, fnn_image_kernels_active()->global_avg_pool_forward_images);
}

void fnn_global_avg_pool_backward(idx_t n, idx_t pixels, idx_t c, const float *dy, float *dx) {
    global_pool(n, pixels, c, NULL, NULL, dy, dx, fnn_image_kernels_active()->global_avg_pool_backward_images);
}

void fnn_global_max_pool_forward(idx_t n, idx_t pixels, idx_t c, const float *x, float *y) {
    global_pool(n, pixels, c, x, NULL, NULL, y, fnn_image_kernels_active()->global_max_pool_forward_images);
}

void fnn_global_max_pool_backward(idx_t n, idx_t pixels, idx_t c, const float *x, const float *y, const float *dy,
                                  float *dx) {
    global_pool(n, pixels, c, x, y, dy, dx, fnn_image_kernels_active()->global_max_pool_backward_images);
}
