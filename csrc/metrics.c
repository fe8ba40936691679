/* Accuracy-type metric counts in one pass: the weighted number of hits and the total weight of a batch,
   summed over rows in row order in float64 (single-threaded: a metric's batch is small, and the order
   fixes the bits). A row's hit follows Keras/NumPy exactly, NaN included: argmax takes the first
   maximum (or the first NaN), comparisons with NaN are false. */
#include "fastnn.h"

// x is (n,), n >= 1; NumPy's argmax: the first maximum, or the first NaN
static idx_t argmax_row(const float *x, idx_t n) {
    float best = x[0];
    idx_t at = 0;
    if (best != best) return 0;
    for (idx_t j = 1; j < n; j++) {
        if (x[j] != x[j]) return j;
        if (x[j] > best) {
            best = x[j];
            at = j;
        }
    }
    return at;
}

// t, p are (rows, cols): the fraction of a row's values where t == (p > threshold)
static double binary_hit(const float *t_r, const float *p_r, idx_t cols, float threshold) {
    idx_t hits = 0;
    for (idx_t j = 0; j < cols; j++) hits += t_r[j] == (p_r[j] > threshold ? 1.0f : 0.0f);
    return (double)hits / (double)cols;
}

// p_r is (cols,), label in [0, cols): fewer than k values exceed the label's score (ties count as in)
static double top_k_hit(const float *p_r, idx_t cols, idx_t label, idx_t k) {
    float target = p_r[label];
    idx_t above = 0;
    for (idx_t j = 0; j < cols; j++) above += p_r[j] > target;
    return above < k ? 1.0 : 0.0;
}

void fnn_accuracy_counts(int kind, idx_t rows, idx_t cols, const float *t, const int64_t *labels,
                         const float *p, const float *sample_weight, float threshold, idx_t k, double *counts) {
    double hits = 0.0, total = 0.0;
    for (idx_t r = 0; r < rows; r++) {
        const float *p_r = p + r * cols;
        const float *t_r = t ? t + r * cols : NULL;
        double hit;
        switch (kind) {
        case FNN_ACCURACY_BINARY: hit = binary_hit(t_r, p_r, cols, threshold); break;
        case FNN_ACCURACY_CATEGORICAL: hit = argmax_row(t_r, cols) == argmax_row(p_r, cols); break;
        case FNN_ACCURACY_SPARSE_CATEGORICAL: hit = labels[r] == (int64_t)argmax_row(p_r, cols); break;
        case FNN_ACCURACY_TOP_K: hit = top_k_hit(p_r, cols, argmax_row(t_r, cols), k); break;
        default: hit = top_k_hit(p_r, cols, (idx_t)labels[r], k); break;
        }
        if (sample_weight) {
            hits += sample_weight[r] * hit;
            total += sample_weight[r];
        } else {
            hits += hit;
        }
    }
    counts[0] = hits;
    counts[1] = sample_weight ? total : (double)rows;
}
