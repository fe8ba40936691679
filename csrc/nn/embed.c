/* Embedding lookup and its gradient.

   The gradient of a gather is a scatter-add, kept sparse: the distinct ids touched, and for each the
   sum of its positions' output gradients, so a step costs the batch's size, never the vocabulary's.
   The sum of an id runs over its positions in increasing order (positions are sorted by a stable
   radix sort on the id), and each id's row is summed by one thread: the bits depend neither on the
   thread count nor on how the work is cut. */
#include <string.h>
#include "../fastnn.h"

struct gather_args {
    idx_t dim;
    const int64_t *ids;
    const float *table;
    float *out;
    const int64_t *order, *starts;
    const float *dy;
};

// ids is (n,), table is (rows, dim), out is (n, dim); positions [lo, hi)
static void gather_rows(void *ctx, idx_t lo, idx_t hi) {
    const struct gather_args *a = ctx;
    for (idx_t i = lo; i < hi; i++) memcpy(a->out + i * a->dim, a->table + a->ids[i] * a->dim, a->dim * sizeof(float));
}

static idx_t rows_grain(idx_t dim) { return FNN_MAX(FNN_ELEMENTWISE_GRAIN / FNN_MAX(dim, 1), 1); }

void fnn_embedding_gather(idx_t n, idx_t dim, const int64_t *ids, const float *table, float *out) {
    struct gather_args args = {.dim = dim, .ids = ids, .table = table, .out = out};
    fnn_parallel_for(n, rows_grain(dim), gather_rows, &args);
}

// dy is (n, dim); out row k (of the distinct ids) = sum over j in [starts[k], starts[k+1]) of dy[order[j]]
static void sum_rows(void *ctx, idx_t lo, idx_t hi) {
    const struct gather_args *a = ctx;
    const idx_t dim = a->dim;
    for (idx_t k = lo; k < hi; k++) {
        float *out_k = a->out + k * dim;
        memcpy(out_k, a->dy + a->order[a->starts[k]] * dim, dim * sizeof(float));
        for (idx_t j = a->starts[k] + 1; j < a->starts[k + 1]; j++) {
            const float *dy_j = a->dy + a->order[j] * dim;
            for (idx_t u = 0; u < dim; u++) out_k[u] += dy_j[u];
        }
    }
}

/* Positions 0..n-1 ordered by ids[position], equal ids in position order: a least-significant-digit
   radix sort, 8 bits a pass over as many bytes as the largest id has. keys and order get the sorted
   ids and positions; spare_keys, spare_order are as large. */
static void sort_positions(idx_t n, const int64_t *ids, int64_t *keys, int64_t *order, int64_t *spare_keys,
                           int64_t *spare_order) {
    int64_t largest = 0;
    for (idx_t i = 0; i < n; i++) {
        keys[i] = ids[i];
        order[i] = i;
        largest = ids[i] > largest ? ids[i] : largest;
    }
    for (int shift = 0; shift < 64 && (largest >> shift) > 0; shift += 8) {
        idx_t count[257] = {0};
        for (idx_t i = 0; i < n; i++) count[((keys[i] >> shift) & 255) + 1]++;
        for (int digit = 0; digit < 256; digit++) count[digit + 1] += count[digit];
        for (idx_t i = 0; i < n; i++) {
            idx_t to = count[(keys[i] >> shift) & 255]++;
            spare_keys[to] = keys[i];
            spare_order[to] = order[i];
        }
        memcpy(keys, spare_keys, n * sizeof(int64_t));
        memcpy(order, spare_order, n * sizeof(int64_t));
    }
}

idx_t fnn_embedding_backward(idx_t n, idx_t dim, const int64_t *ids, const float *dy, int64_t *scratch,
                             int64_t *rows_out, float *grads_out) {
    if (n <= 0) return 0;
    int64_t *keys = scratch, *order = scratch + n, *starts = scratch + 2 * n;
    /* the spare halves of the sort reuse starts and rows_out, free until the runs are found */
    sort_positions(n, ids, keys, order, starts, rows_out);
    idx_t distinct = 0;
    for (idx_t j = 0; j < n; j++) {
        if (j == 0 || keys[j] != keys[j - 1]) {
            starts[distinct] = j;
            rows_out[distinct++] = keys[j];
        }
    }
    starts[distinct] = n;
    struct gather_args args = {.dim = dim, .out = grads_out, .order = order, .starts = starts, .dy = dy};
    fnn_parallel_for(distinct, FNN_MAX(rows_grain(dim) * distinct / n, 1), sum_rows, &args);
    return distinct;
}
