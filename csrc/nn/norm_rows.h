/* Batch normalization rows (part of image_rows.h): per-chunk channel sums and the elementwise
   passes, over (rows, c, inner) in FNN_REDUCE_CHUNKS fixed chunks of rows. With inner == 1 (channels
   last) the loops run along the channels; otherwise along each channel's contiguous run of inner
   values, with the channel's coefficients held in registers. */

/* Channels and rows summed in float before the float64 chunk sums take them: the float partials
   stay in registers, and sixteen terms keep float's rounding far below the statistics' accuracy. */
#define NORM_CHANNEL_BLOCK 64
#define NORM_ROW_BLOCK 16
#define NORM_LANES 16

/* The rows of chunks [lo, hi). */
static inline void chunks_rows(const fnn_norm_args *a, idx_t lo, idx_t hi, idx_t *r0, idx_t *r1) {
    *r0 = fnn_part_start(a->rows, FNN_REDUCE_CHUNKS, lo);
    *r1 = fnn_part_start(a->rows, FNN_REDUCE_CHUNKS, hi);
}

/* One channel's run of n values (x_run, u_run) added to *s1 and *s2 as chunk_sums says: in blocks of
   NORM_CHANNEL_BLOCK values over NORM_LANES float lanes, each block's lanes added in lane order. */
static inline void run_sums(const float *x_run, const float *u_run, float center, idx_t n, int backward, double *s1,
                            double *s2) {
    for (idx_t i0 = 0; i0 < n; i0 += NORM_CHANNEL_BLOCK) {
        idx_t width = FNN_MIN(NORM_CHANNEL_BLOCK, n - i0);
        float l1[NORM_LANES] = {0.0f}, l2[NORM_LANES] = {0.0f};
        for (idx_t i = 0; i < width; i += NORM_LANES) {
            idx_t lanes = FNN_MIN(NORM_LANES, width - i);
            for (idx_t j = 0; j < lanes; j++) {
                float v = x_run[i0 + i + j] - center, u = backward ? u_run[i0 + i + j] : v;
                l1[j] += u;
                l2[j] = MADD(u, v, l2[j]);
            }
        }
        for (idx_t j = 0; j < NORM_LANES; j++) {
            *s1 += l1[j];
            *s2 += l2[j];
        }
    }
}

/* sums[chunk] = (sum of u, sum of u * v) per channel over the chunk's rows, where u = x - center
   and v = u (statistics), or u = dy and v = x - center (backward). */
static inline void chunk_sums(const fnn_norm_args *a, idx_t chunk, const float *u_src, int backward) {
    const idx_t c = a->c, inner = a->inner;
    idx_t r0, r1;
    chunks_rows(a, chunk, chunk + 1, &r0, &r1);
    double *s1 = a->sums + chunk * 2 * c, *s2 = s1 + c;
    for (idx_t i = 0; i < c; i++) s1[i] = s2[i] = 0.0;
    if (inner > 1) {
        for (idx_t r = r0; r < r1; r++)
            for (idx_t ch = 0; ch < c; ch++) {
                idx_t at = (r * c + ch) * inner;
                run_sums(a->x + at, u_src + at, a->center[ch], inner, backward, s1 + ch, s2 + ch);
            }
        return;
    }
    for (idx_t c0 = 0; c0 < c; c0 += NORM_CHANNEL_BLOCK) {
        idx_t width = FNN_MIN(NORM_CHANNEL_BLOCK, c - c0);
        const float *center = a->center + c0;
        for (idx_t rb = r0; rb < r1; rb += NORM_ROW_BLOCK) {
            float b1[NORM_CHANNEL_BLOCK] = {0.0f}, b2[NORM_CHANNEL_BLOCK] = {0.0f};
            for (idx_t r = rb; r < FNN_MIN(rb + NORM_ROW_BLOCK, r1); r++) {
                const float *u_r = u_src + r * c + c0, *x_r = a->x + r * c + c0;
                for (idx_t i = 0; i < width; i++) {
                    float v = x_r[i] - center[i], u = backward ? u_r[i] : v;
                    b1[i] += u;
                    b2[i] = MADD(u, v, b2[i]);
                }
            }
            for (idx_t i = 0; i < width; i++) {
                s1[c0 + i] += b1[i];
                s2[c0 + i] += b2[i];
            }
        }
    }
}

// x is (rows, c): chunks [lo, hi) of the sums of x - center and of its square
static void norm_sums_chunks(void *ctx, idx_t lo, idx_t hi) {
    const fnn_norm_args *a = ctx;
    for (idx_t chunk = lo; chunk < hi; chunk++) chunk_sums(a, chunk, a->x, 0);
}

// x, dy are (rows, c): chunks [lo, hi) of the sums of dy and of dy * (x - center)
static void norm_backward_sums_chunks(void *ctx, idx_t lo, idx_t hi) {
    const fnn_norm_args *a = ctx;
    for (idx_t chunk = lo; chunk < hi; chunk++) chunk_sums(a, chunk, a->dy, 1);
}

// x, out are (rows, c, inner): out = scale * (x - center) + offset, chunks [lo, hi)
static void norm_affine_chunks(void *ctx, idx_t lo, idx_t hi) {
    const fnn_norm_args *a = ctx;
    const idx_t c = a->c, inner = a->inner;
    idx_t r0, r1;
    chunks_rows(a, lo, hi, &r0, &r1);
    if (inner > 1) {
        for (idx_t r = r0; r < r1; r++)
            for (idx_t ch = 0; ch < c; ch++) {
                const float *FNN_RESTRICT x_run = a->x + (r * c + ch) * inner;
                float *FNN_RESTRICT out_run = a->out + (r * c + ch) * inner;
                const float center = a->center[ch], scale = a->scale[ch], offset = a->offset[ch];
                for (idx_t i = 0; i < inner; i++) out_run[i] = MADD(x_run[i] - center, scale, offset);
            }
        return;
    }
    for (idx_t r = r0; r < r1; r++) {
        const float *FNN_RESTRICT x_r = a->x + r * c;
        float *FNN_RESTRICT out_r = a->out + r * c;
        for (idx_t i = 0; i < c; i++) out_r[i] = MADD(x_r[i] - a->center[i], a->scale[i], a->offset[i]);
    }
}

// x, dy, out are (rows, c, inner): out = scale * dy + x_coef * (x - center) + offset, chunks [lo, hi)
static void norm_backward_data_chunks(void *ctx, idx_t lo, idx_t hi) {
    const fnn_norm_args *a = ctx;
    const idx_t c = a->c, inner = a->inner;
    idx_t r0, r1;
    chunks_rows(a, lo, hi, &r0, &r1);
    if (inner > 1) {
        for (idx_t r = r0; r < r1; r++)
            for (idx_t ch = 0; ch < c; ch++) {
                idx_t at = (r * c + ch) * inner;
                const float *FNN_RESTRICT x_run = a->x + at, *FNN_RESTRICT dy_run = a->dy + at;
                float *FNN_RESTRICT out_run = a->out + at;
                const float center = a->center[ch], scale = a->scale[ch], x_coef = a->x_coef[ch];
                const float offset = a->offset[ch];
                for (idx_t i = 0; i < inner; i++)
                    out_run[i] = MADD(dy_run[i], scale, MADD(x_run[i] - center, x_coef, offset));
            }
        return;
    }
    for (idx_t r = r0; r < r1; r++) {
        const float *FNN_RESTRICT x_r = a->x + r * c, *FNN_RESTRICT dy_r = a->dy + r * c;
        float *FNN_RESTRICT out_r = a->out + r * c;
        for (idx_t i = 0; i < c; i++)
            out_r[i] = MADD(dy_r[i], a->scale[i], MADD(x_r[i] - a->center[i], a->x_coef[i], a->offset[i]));
    }
}
