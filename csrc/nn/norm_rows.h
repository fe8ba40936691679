/* Batch normalization rows (part of image_rows.h): per-chunk channel sums and the elementwise
   passes, over (rows, c) in FNN_REDUCE_CHUNKS fixed chunks of rows. */

/* Channels and rows summed in float before the float64 chunk sums take them: the float partials
   stay in registers, and sixteen terms keep float's rounding far below the statistics' accuracy. */
#define NORM_CHANNEL_BLOCK 64
#define NORM_ROW_BLOCK 16

/* The rows of chunks [lo, hi). */
static inline void chunks_rows(const fnn_norm_args *a, idx_t lo, idx_t hi, idx_t *r0, idx_t *r1) {
    *r0 = fnn_part_start(a->rows, FNN_REDUCE_CHUNKS, lo);
    *r1 = fnn_part_start(a->rows, FNN_REDUCE_CHUNKS, hi);
}

/* sums[chunk] = (sum of u, sum of u * v) per channel over the chunk's rows, where u = x - center
   and v = u (statistics), or u = dy and v = x - center (backward). */
static inline void chunk_sums(const fnn_norm_args *a, idx_t chunk, const float *u_src, int backward) {
    const idx_t c = a->c;
    idx_t r0, r1;
    chunks_rows(a, chunk, chunk + 1, &r0, &r1);
    double *s1 = a->sums + chunk * 2 * c, *s2 = s1 + c;
    for (idx_t i = 0; i < c; i++) s1[i] = s2[i] = 0.0;
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

// x, out are (rows, c): out = scale * (x - center) + offset, chunks [lo, hi)
static void norm_affine_chunks(void *ctx, idx_t lo, idx_t hi) {
    const fnn_norm_args *a = ctx;
    const idx_t c = a->c;
    idx_t r0, r1;
    chunks_rows(a, lo, hi, &r0, &r1);
    for (idx_t r = r0; r < r1; r++) {
        const float *FNN_RESTRICT x_r = a->x + r * c;
        float *FNN_RESTRICT out_r = a->out + r * c;
        for (idx_t i = 0; i < c; i++) out_r[i] = MADD(x_r[i] - a->center[i], a->scale[i], a->offset[i]);
    }
}

// x, dy, out are (rows, c): out = scale * dy + x_coef * (x - center) + offset, chunks [lo, hi)
static void norm_backward_data_chunks(void *ctx, idx_t lo, idx_t hi) {
    const fnn_norm_args *a = ctx;
    const idx_t c = a->c;
    idx_t r0, r1;
    chunks_rows(a, lo, hi, &r0, &r1);
    for (idx_t r = r0; r < r1; r++) {
        const float *FNN_RESTRICT x_r = a->x + r * c, *FNN_RESTRICT dy_r = a->dy + r * c;
        float *FNN_RESTRICT out_r = a->out + r * c;
        for (idx_t i = 0; i < c; i++)
            out_r[i] = MADD(dy_r[i], a->scale[i], MADD(x_r[i] - a->center[i], a->x_coef[i], a->offset[i]));
    }
}
