/* Pooling rows (part of image_rows.h): max and average windows, and global pooling, forward and
   backward. */

/* Channels a window's backward routes at once: its per-channel state stays in L1. */
#define POOL_CHANNEL_BLOCK 64

/* The window of output pixel (oh, ow), clipped to the image: rows [h0, h1), columns [w0, w1). */
typedef struct {
    idx_t h0, h1, w0, w1;
} pool_window;

static inline pool_window window_at(const fnn_pool_shape *s, idx_t oh, idx_t ow) {
    pool_window win;
    idx_t top = oh * s->stride_h - s->pad_top, left = ow * s->stride_w - s->pad_left;
    win.h0 = FNN_MAX(top, 0);
    win.h1 = FNN_MIN(top + s->pool_h, s->h);
    win.w0 = FNN_MAX(left, 0);
    win.w1 = FNN_MIN(left + s->pool_w, s->w);
    return win;
}

/* y = max(y, x) along a span; NaN wins, so a window holding NaN pools to NaN. */
static inline void max_span(float *FNN_RESTRICT y, const float *FNN_RESTRICT x, idx_t n) {
    for (idx_t i = 0; i < n; i++) {
        float v = x[i], m = y[i];
        y[i] = (v > m || v != v) ? v : m;
    }
}

/* x is (n, h, w, c), y is (n, out_h, out_w, c); output rows [lo, hi) of n * out_h: each window's
   maximum, or its mean over the cells inside the image. */
static inline void pool_forward_rows(const fnn_pool_args *a, idx_t lo, idx_t hi, const int is_max) {
    const fnn_pool_shape *s = a->s;
    const idx_t c = s->c;
    for (idx_t row = lo; row < hi; row++) {
        const float *x_img = a->x + row / s->out_h * s->h * s->w * c;
        for (idx_t ow = 0; ow < s->out_w; ow++) {
            pool_window win = window_at(s, row % s->out_h, ow);
            float *y_px = a->out + (row * s->out_w + ow) * c;
            if (is_max) copy_span(y_px, x_img + (win.h0 * s->w + win.w0) * c, c);
            else zero_span(y_px, c);
            for (idx_t ih = win.h0; ih < win.h1; ih++)
                for (idx_t iw = win.w0; iw < win.w1; iw++) {
                    if (is_max) max_span(y_px, x_img + (ih * s->w + iw) * c, c);
                    else add_span(y_px, x_img + (ih * s->w + iw) * c, c);
                }
            if (!is_max) {
                float inv = 1.0f / (float)((win.h1 - win.h0) * (win.w1 - win.w0));
                for (idx_t i = 0; i < c; i++) y_px[i] *= inv;
            }
        }
    }
}

static void max_pool_forward_rows(void *ctx, idx_t lo, idx_t hi) { pool_forward_rows(ctx, lo, hi, 1); }

static void avg_pool_forward_rows(void *ctx, idx_t lo, idx_t hi) { pool_forward_rows(ctx, lo, hi, 0); }

/* dx of one image gains each channel's dy at the first cell of the window whose x equals the
   pooled y (the first NaN when y is NaN). */
static void route_window_max(const fnn_pool_shape *s, pool_window win, const float *x_img, const float *y_px,
                             const float *dy_px, float *dx_img) {
    for (idx_t c0 = 0; c0 < s->c; c0 += POOL_CHANNEL_BLOCK) {
        idx_t width = FNN_MIN(POOL_CHANNEL_BLOCK, s->c - c0);
        int open[POOL_CHANNEL_BLOCK];
        for (idx_t i = 0; i < width; i++) open[i] = 1;
        for (idx_t ih = win.h0; ih < win.h1; ih++)
            for (idx_t iw = win.w0; iw < win.w1; iw++) {
                const float *x_px = x_img + (ih * s->w + iw) * s->c + c0;
                float *dx_px = dx_img + (ih * s->w + iw) * s->c + c0;
                const float *y_c = y_px + c0, *dy_c = dy_px + c0;
                for (idx_t i = 0; i < width; i++) {
                    int hit = open[i] & ((x_px[i] == y_c[i]) | ((x_px[i] != x_px[i]) & (y_c[i] != y_c[i])));
                    dx_px[i] += hit ? dy_c[i] : 0.0f;
                    open[i] &= !hit;
                }
            }
    }
}

/* A backward task: whole image when a->per_image (windows of different output rows overlap), else
   one output row, which owns the input rows from its window's top to the next row's. Returns the
   task's image, its output rows [oh0, oh1) and the input rows [h0, h1) it zeroes and writes. */
static idx_t pool_task(const fnn_pool_args *a, idx_t task, idx_t *oh0, idx_t *oh1, idx_t *h0, idx_t *h1) {
    const fnn_pool_shape *s = a->s;
    if (a->per_image) {
        *oh0 = 0, *oh1 = s->out_h, *h0 = 0, *h1 = s->h;
        return task;
    }
    idx_t oh = task % s->out_h;
    *oh0 = oh, *oh1 = oh + 1;
    *h0 = oh == 0 ? 0 : FNN_MIN(FNN_MAX(oh * s->stride_h - s->pad_top, 0), s->h);
    *h1 = oh == s->out_h - 1 ? s->h : FNN_MIN(FNN_MAX((oh + 1) * s->stride_h - s->pad_top, 0), s->h);
    return task / s->out_h;
}

// x, dx are (n, h, w, c), y, dy are (n, out_h, out_w, c); tasks [lo, hi) (see pool_task)
static void max_pool_backward_tasks(void *ctx, idx_t lo, idx_t hi) {
    const fnn_pool_args *a = ctx;
    const fnn_pool_shape *s = a->s;
    const idx_t image = s->h * s->w * s->c, out_image = s->out_h * s->out_w * s->c;
    for (idx_t task = lo; task < hi; task++) {
        idx_t oh0, oh1, h0, h1, n = pool_task(a, task, &oh0, &oh1, &h0, &h1);
        float *dx_img = a->out + n * image;
        zero_span(dx_img + h0 * s->w * s->c, (h1 - h0) * s->w * s->c);
        for (idx_t oh = oh0; oh < oh1; oh++)
            for (idx_t ow = 0; ow < s->out_w; ow++) {
                idx_t at = n * out_image + (oh * s->out_w + ow) * s->c;
                route_window_max(s, window_at(s, oh, ow), a->x + n * image, a->y + at, a->dy + at, dx_img);
            }
    }
}

// dy is (n, out_h, out_w, c), dx is (n, h, w, c); tasks [lo, hi) (see pool_task)
static void avg_pool_backward_tasks(void *ctx, idx_t lo, idx_t hi) {
    const fnn_pool_args *a = ctx;
    const fnn_pool_shape *s = a->s;
    const idx_t c = s->c, image = s->h * s->w * c;
    for (idx_t task = lo; task < hi; task++) {
        idx_t oh0, oh1, h0, h1, n = pool_task(a, task, &oh0, &oh1, &h0, &h1);
        float *dx_img = a->out + n * image;
        zero_span(dx_img + h0 * s->w * c, (h1 - h0) * s->w * c);
        for (idx_t oh = oh0; oh < oh1; oh++)
            for (idx_t ow = 0; ow < s->out_w; ow++) {
                pool_window win = window_at(s, oh, ow);
                const float *dy_px = a->dy + ((n * s->out_h + oh) * s->out_w + ow) * c;
                float inv = 1.0f / (float)((win.h1 - win.h0) * (win.w1 - win.w0));
                for (idx_t ih = win.h0; ih < win.h1; ih++)
                    for (idx_t iw = win.w0; iw < win.w1; iw++) axpy_span(dx_img + (ih * s->w + iw) * c, inv, dy_px, c);
            }
    }
}

// x is (n, pixels, c), y is (n, c): images [lo, hi), each channel summed in float64 in pixel order
static void global_avg_pool_forward_images(void *ctx, idx_t lo, idx_t hi) {
    const fnn_global_pool_args *a = ctx;
    for (idx_t n = lo; n < hi; n++)
        for (idx_t c0 = 0; c0 < a->c; c0 += POOL_CHANNEL_BLOCK) {
            idx_t width = FNN_MIN(POOL_CHANNEL_BLOCK, a->c - c0);
            double sum[POOL_CHANNEL_BLOCK];
            for (idx_t i = 0; i < width; i++) sum[i] = 0.0;
            for (idx_t p = 0; p < a->pixels; p++) {
                const float *x_px = a->x + (n * a->pixels + p) * a->c + c0;
                for (idx_t i = 0; i < width; i++) sum[i] += x_px[i];
            }
            for (idx_t i = 0; i < width; i++) a->out[n * a->c + c0 + i] = (float)(sum[i] / (double)a->pixels);
        }
}

// dy is (n, c), dx is (n, pixels, c): every pixel gets dy / pixels
static void global_avg_pool_backward_images(void *ctx, idx_t lo, idx_t hi) {
    const fnn_global_pool_args *a = ctx;
    float inv = 1.0f / (float)a->pixels;
    for (idx_t n = lo; n < hi; n++) {
        float *dx_img = a->out + n * a->pixels * a->c;
        for (idx_t i = 0; i < a->c; i++) dx_img[i] = a->dy[n * a->c + i] * inv;
        for (idx_t p = 1; p < a->pixels; p++) copy_span(dx_img + p * a->c, dx_img, a->c);
    }
}

// x is (n, pixels, c), y is (n, c)
static void global_max_pool_forward_images(void *ctx, idx_t lo, idx_t hi) {
    const fnn_global_pool_args *a = ctx;
    for (idx_t n = lo; n < hi; n++) {
        const float *x_img = a->x + n * a->pixels * a->c;
        float *y_n = a->out + n * a->c;
        copy_span(y_n, x_img, a->c);
        for (idx_t p = 1; p < a->pixels; p++) max_span(y_n, x_img + p * a->c, a->c);
    }
}

// x, dx are (n, pixels, c), y, dy are (n, c): the image is one window
static void global_max_pool_backward_images(void *ctx, idx_t lo, idx_t hi) {
    const fnn_global_pool_args *a = ctx;
    fnn_pool_shape whole = {1, 1, a->pixels, a->c, 1, 1, 1, a->pixels, 1, 1, 0, 0};
    pool_window win = {0, 1, 0, a->pixels};
    for (idx_t n = lo; n < hi; n++) {
        float *dx_img = a->out + n * a->pixels * a->c;
        zero_span(dx_img, a->pixels * a->c);
        route_window_max(&whole, win, a->x + n * a->pixels * a->c, a->y + n * a->c, a->dy + n * a->c, dx_img);
    }
}
