/* Deterministic reductions: bias gradients (column sums) and sums of squares.

   Neither result may depend on the thread count, so threads only ever split independent outputs
   (column blocks) or fixed slices whose partial sums are added in slice order. */
#include "fastnn.h"

/* Columns one task sums at once: its float64 accumulators stay in L1. */
#define COLUMN_BLOCK 256
/* Independent float64 accumulators per slice: they let gcc vectorise the sum without reordering it. */
#define LANES 8

// dy is (rows, cols), out is (cols,); each column is summed over rows in row order
void fnn_bias_grad(idx_t rows, idx_t cols, const float *FNN_RESTRICT dy, float *FNN_RESTRICT out) {
    idx_t blocks = (cols + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(blocks > 1 && rows * cols > FNN_ELEMENTWISE_PARALLEL_MIN)
    for (idx_t blk = 0; blk < blocks; blk++) {
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

// x is (n,); FNN_REDUCE_CHUNKS slices, LANES float64 accumulators each, added in a fixed order
double fnn_sum_squares(idx_t n, const float *FNN_RESTRICT x) {
    double partial[FNN_REDUCE_CHUNKS];
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(n > FNN_ELEMENTWISE_PARALLEL_MIN)
    for (int c = 0; c < FNN_REDUCE_CHUNKS; c++) {
        idx_t i = n / FNN_REDUCE_CHUNKS * c + FNN_MIN(c, n % FNN_REDUCE_CHUNKS);
        idx_t end = i + n / FNN_REDUCE_CHUNKS + (c < n % FNN_REDUCE_CHUNKS);
        double lane[LANES] = {0.0};
        for (; i + LANES <= end; i += LANES)
            for (int k = 0; k < LANES; k++) lane[k] += (double)x[i + k] * x[i + k];
        for (int k = 0; i < end; i++, k++) lane[k] += (double)x[i] * x[i];
        double sum = 0.0;
        for (int k = 0; k < LANES; k++) sum += lane[k];
        partial[c] = sum;
    }
    double total = 0.0;
    for (int c = 0; c < FNN_REDUCE_CHUNKS; c++) total += partial[c];
    return total;
}
