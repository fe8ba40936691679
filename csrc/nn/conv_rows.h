/* Convolution rows (part of image_rows.h): the patch packing and its adjoint for conv.c's implicit
   GEMM, and the direct depthwise convolution. */

/* Output pixel m as (image, row, column). */
typedef struct {
    idx_t n, oh, ow;
} conv_pixel;

static inline conv_pixel pixel_at(const fnn_conv_shape *s, idx_t m) {
    conv_pixel p;
    p.ow = m % s->out_w;
    m /= s->out_w;
    p.oh = m % s->out_h;
    p.n = m / s->out_h;
    return p;
}

static inline void next_pixel(const fnn_conv_shape *s, conv_pixel *p) {
    if (++p->ow == s->out_w) {
        p->ow = 0;
        if (++p->oh == s->out_h) {
            p->oh = 0;
            p->n++;
        }
    }
}

/* One run of patch columns [col, col + len): channels from ch of tap t, which reads input pixel
   (oh * stride_h + dh, ow * stride_w + dw) for output pixel (oh, ow). Without groups or column
   dilation a run goes on through the next taps of the same kernel row, whose pixels follow in
   memory: it then spans `width` input columns. The runs of columns [k0, end) come one after
   another from run_at(k0) and next_run. */
typedef struct {
    idx_t col, len, t, ch, dh, dw, width;
    idx_t inside_lo, inside_hi; /* the output columns whose every input column is inside the image */
} patch_run;

static inline patch_run run_at(const fnn_conv_shape *s, idx_t cg, idx_t col, idx_t end) {
    patch_run run;
    run.col = col;
    run.t = col / cg;
    run.ch = col - run.t * cg;
    idx_t j = run.t % s->kw, reach = cg == s->c && s->dil_w == 1 ? (s->kw - j) * cg : cg;
    run.len = FNN_MIN(reach - run.ch, end - col);
    run.width = (run.ch + run.len - 1) / cg + 1;
    run.dh = run.t / s->kw * s->dil_h - s->pad_top;
    run.dw = j * s->dil_w - s->pad_left;
    inside_span(run.dw, s->stride_w, s->w - run.width + 1, s->out_w, &run.inside_lo, &run.inside_hi);
    return run;
}

static inline patch_run next_run(const fnn_conv_shape *s, idx_t cg, const patch_run *run, idx_t end) {
    return run_at(s, cg, run->col + run->len, end);
}

/* The output pixels [r, r + count) of a block, all in output row (n, oh) from column p.ow, meet the
   run's input row ih; [lo, hi) of their columns read only inside the image (none when ih is not). */
static inline void run_segment(const fnn_conv_shape *s, const patch_run *run, conv_pixel p, idx_t count, idx_t *ih,
                               idx_t *lo, idx_t *hi) {
    *ih = p.oh * s->stride_h + run->dh;
    *lo = FNN_MIN(FNN_MAX(run->inside_lo, p.ow), p.ow + count);
    *hi = FNN_MAX(FNN_MIN(run->inside_hi, p.ow + count), *lo);
}

/* The next output-row segment of a block: as many rows as remain in p's output row. */
static inline idx_t segment_rows(const fnn_conv_shape *s, conv_pixel p, idx_t rows_left) {
    return FNN_MIN(rows_left, s->out_w - p.ow);
}

static inline void skip_pixels(const fnn_conv_shape *s, conv_pixel *p, idx_t count) {
    p->ow += count;
    if (p->ow == s->out_w) {
        p->ow = 0;
        if (++p->oh == s->out_h) p->oh = 0, p->n++;
    }
}

/* dst row q (stride lda) = src + q * step for q < count, len floats each. Runs of a few floats (a
   first layer's one or three channels) go without the span loop's set-up. */
static inline void copy_rows(float *dst, idx_t lda, const float *src, idx_t step, idx_t count, idx_t len) {
    switch (len) {
    case 1:
        for (idx_t q = 0; q < count; q++) dst[q * lda] = src[q * step];
        return;
    case 3:
        for (idx_t q = 0; q < count; q++)
            for (int i = 0; i < 3; i++) dst[q * lda + i] = src[q * step + i];
        return;
    default:
        for (idx_t q = 0; q < count; q++) copy_span(dst + q * lda, src + q * step, len);
    }
}

/* dst row q (stride step) += src row q (stride ldp), len floats each, for q < count */
static inline void add_rows(float *dst, idx_t step, const float *src, idx_t ldp, idx_t count, idx_t len) {
    switch (len) {
    case 1:
        for (idx_t q = 0; q < count; q++) dst[q * step] += src[q * ldp];
        return;
    case 3:
        for (idx_t q = 0; q < count; q++)
            for (int i = 0; i < 3; i++) dst[q * step + i] += src[q * ldp + i];
        return;
    default:
        for (idx_t q = 0; q < count; q++) add_span(dst + q * step, src + q * ldp, len);
    }
}

/* The runs at the image's edge, some of whose input pixels are outside it, go a pixel (a piece of
   at most c channels) at a time; the run at output column ow starts at input column
   ow * stride_w + dw. */

/* patch = the run at output column ow, from image row x_row (NULL: outside the image), zero outside */
static inline void pack_edge(const fnn_conv_shape *s, const patch_run *run, const float *x_row, idx_t ow,
                             float *patch) {
    idx_t iw = ow * s->stride_w + run->dw, pos = run->ch;
    for (idx_t done = 0; done < run->len; iw++, pos = 0) {
        idx_t piece = FNN_MIN(s->c - pos, run->len - done);
        if (x_row && iw >= 0 && iw < s->w) copy_span(patch + done, x_row + iw * s->c + pos, piece);
        else zero_span(patch + done, piece);
        done += piece;
    }
}

/* image row x_row gains the run at output column ow, patch, where its pixels are inside the image */
static inline void scatter_edge(const fnn_conv_shape *s, const patch_run *run, float *x_row, idx_t ow,
                                const float *patch) {
    idx_t iw = ow * s->stride_w + run->dw, pos = run->ch;
    for (idx_t done = 0; done < run->len; iw++, pos = 0) {
        idx_t piece = FNN_MIN(s->c - pos, run->len - done);
        if (iw >= 0 && iw < s->w) add_span(x_row + iw * s->c + pos, patch + done, piece);
        done += piece;
    }
}

// a is (rows, lda): rows [m0, m0 + rows), columns [k0, k0 + cols) of the patch matrix of x
static void pack_patch_rows(const fnn_conv_shape *s, idx_t cg, idx_t k, const float *x, idx_t m0, idx_t rows,
                            idx_t k0, idx_t cols, float *a, idx_t lda) {
    const idx_t end = k0 + cols, real_end = FNN_MIN(end, k);
    /* one run at a time, down all the rows an output row at a time: along one, the run's input
       pixels are evenly spaced */
    for (patch_run run = run_at(s, cg, k0, real_end); run.col < real_end; run = next_run(s, cg, &run, real_end)) {
        conv_pixel p = pixel_at(s, m0);
        for (idx_t r = 0; r < rows;) {
            idx_t count = segment_rows(s, p, rows - r), ih, lo, hi;
            run_segment(s, &run, p, count, &ih, &lo, &hi);
            float *d = a + r * lda + run.col - k0;
            const float *x_row = NULL; /* NULL: the run's input row is outside the image */
            if (ih >= 0 && ih < s->h) x_row = x + (p.n * s->h + ih) * s->w * s->c;
            else lo = hi = p.ow + count;
            for (idx_t ow = p.ow; ow < lo; ow++) pack_edge(s, &run, x_row, ow, d + (ow - p.ow) * lda);
            if (hi > lo)
                copy_rows(d + (lo - p.ow) * lda, lda, x_row + (lo * s->stride_w + run.dw) * s->c + run.ch,
                          s->stride_w * s->c, hi - lo, run.len);
            for (idx_t ow = hi; ow < p.ow + count; ow++) pack_edge(s, &run, x_row, ow, d + (ow - p.ow) * lda);
            r += count;
            skip_pixels(s, &p, count);
        }
    }
    for (idx_t r = 0; r < rows; r++)
        for (idx_t q = FNN_MAX(k0, k); q < end; q++) a[r * lda + q - k0] = q == k ? 1.0f : 0.0f;
}

/* The adjoint of pack_patch_rows, restricted to image rows [r0, r1) of the n * h: each dx element
   gains its terms in (run, pixel) order within the block. dp is (rows, ldp). */
static void scatter_patch_rows(const fnn_conv_shape *s, idx_t cg, idx_t k, float *dx, idx_t m0, idx_t rows,
                               idx_t k0, idx_t cols, const float *dp, idx_t ldp, idx_t r0, idx_t r1) {
    const idx_t end = FNN_MIN(k0 + cols, k), step = s->stride_w * s->c;
    for (patch_run run = run_at(s, cg, k0, end); run.col < end; run = next_run(s, cg, &run, end)) {
        conv_pixel p = pixel_at(s, m0);
        for (idx_t r = 0; r < rows;) {
            idx_t count = segment_rows(s, p, rows - r), ih, lo, hi;
            run_segment(s, &run, p, count, &ih, &lo, &hi);
            idx_t row = p.n * s->h + ih;
            if (ih >= 0 && ih < s->h && row >= r0 && row < r1) {
                float *x_row = dx + row * s->w * s->c;
                const float *src = dp + r * ldp + run.col - k0;
                for (idx_t ow = p.ow; ow < lo; ow++) scatter_edge(s, &run, x_row, ow, src + (ow - p.ow) * ldp);
                add_rows(x_row + (lo * s->stride_w + run.dw) * s->c + run.ch, step, src + (lo - p.ow) * ldp, ldp,
                         hi - lo, run.len);
                for (idx_t ow = hi; ow < p.ow + count; ow++) scatter_edge(s, &run, x_row, ow, src + (ow - p.ow) * ldp);
            }
            r += count;
            skip_pixels(s, &p, count);
        }
    }
}

/* An input row (w, c) as the (w, f) row a depth multiplier m = f / c reads, channel ch * m + q
   holding channel ch: the row itself when m = 1, else widened into `wide`. */
static const float *widen_row(const float *x_row, idx_t w, idx_t c, idx_t f, float *wide) {
    if (f == c) return x_row;
    idx_t m = f / c;
    for (idx_t iw = 0; iw < w; iw++)
        for (idx_t ch = 0; ch < c; ch++)
            for (idx_t q = 0; q < m; q++) wide[iw * f + ch * m + q] = x_row[iw * c + ch];
    return wide;
}

// x is (n, h, w, c), w is (kh, kw, f), y is (n, out_h, out_w, f); output rows [lo, hi) of n * out_h
static void depthwise_forward_rows(void *ctx, idx_t lo, idx_t hi) {
    const fnn_depthwise_args *a = ctx;
    const fnn_conv_shape *s = a->s;
    const idx_t f = s->f, ow_n = s->out_w;
    float *wide = a->scratch + fnn_thread_id() * a->scratch_per_thread;
    for (idx_t row = lo; row < hi; row++) {
        idx_t n = row / s->out_h, oh = row % s->out_h;
        float *y_row = a->y + row * ow_n * f;
        for (idx_t ow = 0; ow < ow_n; ow++) {
            if (a->bias) copy_span(y_row + ow * f, a->bias, f);
            else zero_span(y_row + ow * f, f);
        }
        for (idx_t i = 0; i < s->kh; i++) {
            idx_t ih = oh * s->stride_h + i * s->dil_h - s->pad_top;
            if (ih < 0 || ih >= s->h) continue;
            const float *x_row = widen_row(a->x + (n * s->h + ih) * s->w * s->c, s->w, s->c, f, wide);
            for (idx_t j = 0; j < s->kw; j++) {
                const float *w_t = a->w + (i * s->kw + j) * f;
                idx_t offset = j * s->dil_w - s->pad_left, ow0, ow1;
                inside_span(offset, s->stride_w, s->w, ow_n, &ow0, &ow1);
                for (idx_t ow = ow0; ow < ow1; ow++)
                    madd_span(y_row + ow * f, x_row + (ow * s->stride_w + offset) * f, w_t, f);
            }
        }
        fnn_activate_span(a->act, a->alpha, ow_n * f, y_row, y_row);
    }
}

// dy is (n, out_h, out_w, f), w is (kh, kw, f), dx is (n, h, w, c); input rows [lo, hi) of n * h;
// dx = act(gradient + bias) with a bias (c,) or an activation
static void depthwise_backward_data_rows(void *ctx, idx_t lo, idx_t hi) {
    const fnn_depthwise_args *a = ctx;
    const fnn_conv_shape *s = a->s;
    const idx_t f = s->f, c = s->c, m = f / c, ow_n = s->out_w;
    float *wide = a->scratch + fnn_thread_id() * a->scratch_per_thread;
    for (idx_t row = lo; row < hi; row++) {
        idx_t n = row / s->h, ih = row % s->h;
        float *dx_row = a->dx + row * s->w * c;
        float *acc = m == 1 ? dx_row : wide; /* (w, f): the gradient of each widened channel */
        zero_span(acc, s->w * f);
        for (idx_t i = 0; i < s->kh; i++) {
            idx_t from = ih + s->pad_top - i * s->dil_h;  /* = oh * stride_h for the output row it meets */
            if (from < 0 || from % s->stride_h != 0 || from / s->stride_h >= s->out_h) continue;
            const float *dy_row = a->dy + (n * s->out_h + from / s->stride_h) * ow_n * f;
            for (idx_t j = 0; j < s->kw; j++) {
                const float *w_t = a->w + (i * s->kw + j) * f;
                idx_t offset = j * s->dil_w - s->pad_left, ow0, ow1;
                inside_span(offset, s->stride_w, s->w, ow_n, &ow0, &ow1);
                for (idx_t ow = ow0; ow < ow1; ow++)
                    madd_span(acc + (ow * s->stride_w + offset) * f, dy_row + ow * f, w_t, f);
            }
        }
        if (m > 1)
            for (idx_t iw = 0; iw < s->w; iw++)
                for (idx_t ch = 0; ch < c; ch++) {
                    float sum = 0.0f;
                    for (idx_t q = 0; q < m; q++) sum += acc[iw * f + ch * m + q];
                    dx_row[iw * c + ch] = sum;
                }
        for (idx_t iw = 0; a->bias && iw < s->w; iw++) add_span(dx_row + iw * c, a->bias, c);
        fnn_activate_span(a->act, a->alpha, s->w * c, dx_row, dx_row);
    }
}

/* Chunks [lo, hi) of a->chunks: chunk ch sums over its output rows of n * out_h, into its
   (kh * kw + 1, f) block of a->partial, each tap's x * dy and (last row) dy. */
static void depthwise_backward_filter_chunks(void *ctx, idx_t lo, idx_t hi) {
    const fnn_depthwise_args *a = ctx;
    const fnn_conv_shape *s = a->s;
    const idx_t f = s->f, ow_n = s->out_w, taps = s->kh * s->kw;
    float *wide = a->scratch + fnn_thread_id() * a->scratch_per_thread;
    for (idx_t ch = lo; ch < hi; ch++) {
        float *part = a->partial + ch * (taps + 1) * f;
        zero_span(part, (taps + 1) * f);
        idx_t rows = s->n * s->out_h;
        for (idx_t row = fnn_part_start(rows, a->chunks, ch); row < fnn_part_start(rows, a->chunks, ch + 1); row++) {
            idx_t n = row / s->out_h, oh = row % s->out_h;
            const float *dy_row = a->dy + row * ow_n * f;
            for (idx_t ow = 0; ow < ow_n; ow++) add_span(part + taps * f, dy_row + ow * f, f);
            for (idx_t i = 0; i < s->kh; i++) {
                idx_t ih = oh * s->stride_h + i * s->dil_h - s->pad_top;
                if (ih < 0 || ih >= s->h) continue;
                const float *x_row = widen_row(a->x + (n * s->h + ih) * s->w * s->c, s->w, s->c, f, wide);
                for (idx_t j = 0; j < s->kw; j++) {
                    float *dw_t = part + (i * s->kw + j) * f;
                    idx_t offset = j * s->dil_w - s->pad_left, ow0, ow1;
                    inside_span(offset, s->stride_w, s->w, ow_n, &ow0, &ow1);
                    for (idx_t ow = ow0; ow < ow1; ow++)
                        madd_span(dw_t, x_row + (ow * s->stride_w + offset) * f, dy_row + ow * f, f);
                }
            }
        }
    }
}
