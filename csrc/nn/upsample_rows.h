/* Upsampling rows (part of image_rows.h): nearest and bilinear, forward and backward. */

// x is (n, h, w, c), y is (n, out_h, out_w, c) with out = in * size; output rows [lo, hi) of n * out_h
static void upsample_nearest_forward_rows(void *ctx, idx_t lo, idx_t hi) {
    const fnn_upsample_args *a = ctx;
    const idx_t c = a->c, size_h = a->out_h / a->h, size_w = a->out_w / a->w;
    for (idx_t row = lo; row < hi; row++) {
        const float *x_row = a->in + (row / a->out_h * a->h + row % a->out_h / size_h) * a->w * c;
        float *y_row = a->out + row * a->out_w * c;
        for (idx_t ow = 0; ow < a->out_w; ow++) copy_span(y_row + ow * c, x_row + ow / size_w * c, c);
    }
}

// dy is (n, out_h, out_w, c), dx is (n, h, w, c); input rows [lo, hi) of n * h: each pixel sums its block
static void upsample_nearest_backward_rows(void *ctx, idx_t lo, idx_t hi) {
    const fnn_upsample_args *a = ctx;
    const idx_t c = a->c, size_h = a->out_h / a->h, size_w = a->out_w / a->w;
    for (idx_t row = lo; row < hi; row++) {
        float *dx_row = a->out + row * a->w * c;
        const float *dy_block = a->in + (row / a->h * a->out_h + row % a->h * size_h) * a->out_w * c;
        zero_span(dx_row, a->w * c);
        for (idx_t i = 0; i < size_h; i++)
            for (idx_t ow = 0; ow < a->out_w; ow++)
                add_span(dx_row + ow / size_w * c, dy_block + (i * a->out_w + ow) * c, c);
    }
}

/* Where output index o samples an axis of `in` cells resized to `out` (tf.image.resize's
   half-pixel centres): between cells lo and hi, lerp of the way to hi. */
static inline void bilinear_sample(idx_t o, idx_t in, idx_t out, idx_t *lo, idx_t *hi, float *lerp) {
    float scale = (float)in / (float)out;
    float at = ((float)o + 0.5f) * scale - 0.5f, below = floorf(at);
    *lo = FNN_MAX((idx_t)below, 0);
    *hi = FNN_MIN((idx_t)ceilf(at), in - 1);
    *lerp = at - below;
}

// x is (n, h, w, c), y is (n, out_h, out_w, c); output rows [lo, hi) of n * out_h
static void upsample_bilinear_forward_rows(void *ctx, idx_t lo, idx_t hi) {
    const fnn_upsample_args *a = ctx;
    const idx_t c = a->c;
    for (idx_t row = lo; row < hi; row++) {
        idx_t top, bottom, left, right;
        float ly, lx;
        bilinear_sample(row % a->out_h, a->h, a->out_h, &top, &bottom, &ly);
        const float *x_img = a->in + row / a->out_h * a->h * a->w * c;
        const float *x_top = x_img + top * a->w * c, *x_bottom = x_img + bottom * a->w * c;
        float *y_row = a->out + row * a->out_w * c;
        for (idx_t ow = 0; ow < a->out_w; ow++) {
            bilinear_sample(ow, a->w, a->out_w, &left, &right, &lx);
            const float *tl = x_top + left * c, *tr = x_top + right * c;
            const float *bl = x_bottom + left * c, *br = x_bottom + right * c;
            float *y_px = y_row + ow * c;
            for (idx_t i = 0; i < c; i++) {
                float upper = MADD(tr[i] - tl[i], lx, tl[i]), lower = MADD(br[i] - bl[i], lx, bl[i]);
                y_px[i] = MADD(lower - upper, ly, upper);
            }
        }
    }
}

/* dy is (n, out_h, out_w, c), dx is (n, h, w, c); input rows [lo, hi) of n * h. Each input row
   gathers the output rows that sample it, in output order, so no two threads write one row. */
static void upsample_bilinear_backward_rows(void *ctx, idx_t lo, idx_t hi) {
    const fnn_upsample_args *a = ctx;
    const idx_t c = a->c;
    for (idx_t row = lo; row < hi; row++) {
        idx_t n = row / a->h, ih = row % a->h;
        float *dx_row = a->out + row * a->w * c;
        zero_span(dx_row, a->w * c);
        for (idx_t oh = 0; oh < a->out_h; oh++) {
            idx_t top, bottom, left, right;
            float ly, lx;
            bilinear_sample(oh, a->h, a->out_h, &top, &bottom, &ly);
            if (top != ih && bottom != ih) continue;
            float wy = (top == ih ? 1.0f - ly : 0.0f) + (bottom == ih ? ly : 0.0f);
            const float *dy_row = a->in + (n * a->out_h + oh) * a->out_w * c;
            for (idx_t ow = 0; ow < a->out_w; ow++) {
                bilinear_sample(ow, a->w, a->out_w, &left, &right, &lx);
                axpy_span(dx_row + left * c, wy * (1.0f - lx), dy_row + ow * c, c);
                axpy_span(dx_row + right * c, wy * lx, dy_row + ow * c, c);
            }
        }
    }
}
