/* Deterministic reductions: bias gradients (column sums) and sums of squares.

   Neither result may depend on the thread count, so threads only ever split independent outputs
   (column blocks) or fixed slices whose partial sums are added in slice order. */
#include "fastnn.h"

/* Columns one task sums at once: its float64 accumulators stay in L1. */
#define COLUMN_BLOCK 256
/* Independent float64 accumulators per slice: they let gcc vectorise the sum without reordering it. */
#define LANES 8

struct bias_grad_args {
    idx_t rows, cols;
    const float *dy;
    float *out;
};

// dy is (rows, cols), out is (cols,), column blocks [lo, hi); each column is summed over rows in row order
static void bias_grad_blocks(void *ctx, idx_t lo, idx_t hi) {
    const struct bias_grad_args *a = ctx;
    idx_t rows = a->rows, cols = a->cols;
    const float *FNN_RESTRICT dy = a->dy;
    float *FNN_RESTRICT out = a->out;
    for (idx_t blk = lo; blk < hi; blk++) {
        idx_t j0 = blk * COLUMN_BLOCK, width = FNN_MIN(COLUMN_BLOCK, cols - j0);
        double acc[COLUMN_BLOCK];
        for (idx_t j = 0; j < width; j++) acc[j] = 0.0;
        for (idx_t r = 0; r < rows; r++) {
            const float *dy_r = dy + r * cols + j0;
            for (idx_t j = 0; j < width; j++) acc[j] += dy_r[j];
        }
        for (idx_t j = 0; j < width; j++) out[j0 + j] = (float)acc[j];
    }
}

void fnn_bias_grad(idx_t rows, idx_t cols, const float *dy, float *out) {
    struct bias_grad_args args = {rows, cols, dy, out};
    idx_t blocks = (cols + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
    idx_t block_elements = FNN_MAX(rows * COLUMN_BLOCK, 1);
    fnn_parallel_for(blocks, FNN_MAX(FNN_ELEMENTWISE_GRAIN / block_elements, 1), bias_grad_blocks, &args);
}

struct sum_squares_args {
    idx_t n;
    const float *x;
    double *partial;
};

// x is (n,), chunks [lo, hi) of FNN_REDUCE_CHUNKS; LANES float64 accumulators per chunk
static void sum_squares_chunks(void *ctx, idx_t lo, idx_t hi) {
    const struct sum_squares_args *a = ctx;
    idx_t n = a->n;
    const float *FNN_RESTRICT x = a->x;
    for (idx_t c = lo; c < hi; c++) {
        idx_t i = n / FNN_REDUCE_CHUNKS * c + FNN_MIN(c, n % FNN_REDUCE_CHUNKS);
        idx_t end = i + n / FNN_REDUCE_CHUNKS + (c < n % FNN_REDUCE_CHUNKS);
        double lane[LANES] = {0.0};
        for (; i + LANES <= end; i += LANES)
            for (int k = 0; k < LANES; k++) lane[k] += (double)x[i + k] * x[i + k];
        for (int k = 0; i < end; i++, k++) lane[k] += (double)x[i] * x[i];
        double sum = 0.0;
        for (int k = 0; k < LANES; k++) sum += lane[k];
        a->partial[c] = sum;
    }
}

// x is (n,); the chunk sums are added in chunk order
double fnn_sum_squares(idx_t n, const float *x) {
    double partial[FNN_REDUCE_CHUNKS];
    struct sum_squares_args args = {n, x, partial};
    fnn_parallel_for(FNN_REDUCE_CHUNKS, fnn_chunk_grain(n, FNN_ELEMENTWISE_GRAIN), sum_squares_chunks, &args);
    double total = 0.0;
    for (int c = 0; c < FNN_REDUCE_CHUNKS; c++) total += partial[c];
    return total;
}
