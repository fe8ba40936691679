/* Every fastnn kernel, with the shapes it expects. Kernels trust their inputs: the Python/Cython
   boundary validates shapes, dtypes and contiguity before calling in. */
#ifndef FASTNN_H
#define FASTNN_H

#include "common.h"
#include "activation_math.h"  /* enum fnn_activation */

/* ---- CPU features and threads (cpu.c) ---- */
enum fnn_simd { FNN_SIMD_SCALAR = 0, FNN_SIMD_AVX2 = 1, FNN_SIMD_AVX512 = 2 };
int fnn_cpu_supports(int simd);   /* 1 when this CPU and OS can run that path */
int fnn_simd_best(void);           /* the fastest supported path */
void fnn_simd_set(int simd);       /* caller has checked fnn_cpu_supports */
int fnn_simd_get(void);
void fnn_set_num_threads(int n);
int fnn_get_num_threads(void);
int fnn_openmp_enabled(void);

/* ---- GEMM (gemm/) ---- */
/* c is (m, n) row-major with row stride ldc.
   a is (m, k) row-major (lda >= k), or when trans_a it is stored (k, m) (lda >= m).
   b is (k, n) row-major (ldb >= n), or when trans_b it is stored (n, k) (ldb >= k).
   c = act(op(a) @ op(b) + bias), or with accumulate c = act(c + op(a) @ op(b) + bias).
   bias is (n,) or NULL; act is an elementwise enum fnn_activation, alpha its parameter.
   Returns 0, or -1 (c untouched) when pack memory could not be had. */
int fnn_sgemm(int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
               const float *a, idx_t lda, const float *b, idx_t ldb,
               float *c, idx_t ldc, int accumulate, const float *bias, int act, float alpha);

/* The naive triple loop with the same contract: the test oracle for the blocked driver. */
void fnn_sgemm_ref(int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
                   const float *a, idx_t lda, const float *b, idx_t ldb,
                   float *c, idx_t ldc, int accumulate, const float *bias, int act, float alpha);

/* ---- dense layer (dense.c) ---- */
/* x is (batch, in), w is (in, out), y, dy, dz are (batch, out). With act (an activation whose backward
   reads only y, fnn_activation_backward_input) dz = dy * act'(y) is written; then dw (in, out) = x^T dz, db (out,) = column sums of dz, dx (batch, in)
   = dz w^T, each skipped when its pointer is NULL (dz is only written, and only needed, with act).
   Returns 0, or -1 when GEMM pack memory could not be had. */
int fnn_dense_backward(idx_t batch, idx_t in, idx_t out, const float *x, const float *w, const float *y,
                       const float *dy, float *dz, int act, float alpha, float *dw, float *db, float *dx);

/* ---- activations, losses, optimizers, reductions, metrics (activations.c, losses.c, optim.c,
   reduce.c, metrics.c) ----
   Each family is compiled once per instruction set (csrc/isa/elementwise_<isa>.c) and every entry
   point below goes to the build of the SIMD path in force (elementwise.c). The AVX2 and AVX-512
   builds fuse multiply-adds, so their results may differ from the scalar path's by an ulp or two;
   within a path they are bitwise identical for any thread count. */
#include <stdint.h>

/* Elementwise kernels give each thread at least this many elements (fewer for transcendental ones),
   so they run on one thread below twice that. */
#define FNN_ELEMENTWISE_GRAIN 32768
/* Reductions (loss sums, norms) add FNN_REDUCE_CHUNKS fixed slices in order, so their bits do not
   depend on the thread count. */
#define FNN_REDUCE_CHUNKS 64

/* Work on items [lo, hi) of a kernel whose arguments ctx holds (parallel.c). */
typedef void (*fnn_range_fn)(void *ctx, idx_t lo, idx_t hi);
/* Calls body over [0, n) split into contiguous ranges of at least grain items, one per thread; with
   one thread, or fewer than 2 * grain items, it calls body(ctx, 0, n) inline and opens no OpenMP
   region. body must not care how [0, n) is cut (elementwise work, or whole fixed chunks). */
void fnn_parallel_for(idx_t n, idx_t grain, fnn_range_fn body, void *ctx);
/* The grain, in chunks, for FNN_REDUCE_CHUNKS chunks that hold `work` units together: enough
   chunks that a thread gets at least min_work units. */
static inline idx_t fnn_chunk_grain(idx_t work, idx_t min_work) {
    if (work <= 0) return FNN_REDUCE_CHUNKS;
    idx_t grain = (min_work * FNN_REDUCE_CHUNKS + work - 1) / work;
    return grain < 1 ? 1 : grain;
}

/* Which array an activation's backward reads besides dy. */
enum fnn_backward_input { FNN_NEEDS_NOTHING = 0, FNN_NEEDS_X = 1, FNN_NEEDS_Y = 2 };
int fnn_activation_backward_input(int act);

/* x, y are (rows, cols); elementwise activations see rows * cols values, softmax normalises each row.
   alpha is leaky_relu's negative slope or elu's alpha. y may be x itself (in place). */
void fnn_activation_forward(int act, float alpha, idx_t rows, idx_t cols, const float *x, float *y);
/* x, y, dy, dx are (rows, cols); dx = dy * act'(x). Reads only the input named by
   fnn_activation_backward_input (the other may be NULL). dx may be dy itself. */
void fnn_activation_backward(int act, float alpha, idx_t rows, idx_t cols,
                             const float *x, const float *y, const float *dy, float *dx);

/* dy is (rows, cols), out is (cols,): column sums, each summed over rows in order (float64). */
void fnn_bias_grad(idx_t rows, idx_t cols, const float *dy, float *out);
/* x is (n,): the sum of squares in float64, in fixed chunks. */
double fnn_sum_squares(idx_t n, const float *x);

/* Losses: t (targets) and p (predictions) are (rows, cols), sample_weight is (rows,) or NULL, grad is
   (rows, cols) and may be p itself. Each returns Keras's sum_over_batch_size loss
   sum_r w_r * loss_r / rows and writes d loss / d p into grad. */
enum fnn_loss { FNN_LOSS_MSE = 0, FNN_LOSS_MAE, FNN_LOSS_HUBER, FNN_LOSS_BCE, FNN_LOSS_BCE_LOGITS };
/* loss_r is the mean over cols of an elementwise loss (delta: Huber's threshold). */
double fnn_loss_pointwise(int loss, idx_t rows, idx_t cols, const float *t, const float *p,
                          const float *sample_weight, float *grad, float delta);
/* loss_r = -sum_c t_rc log q_rc, q = p normalised per row and clipped (or softmax(p) with from_logits). */
double fnn_loss_categorical(idx_t rows, idx_t cols, const float *t, const float *p,
                            const float *sample_weight, float *grad, int from_logits);
/* labels is (rows,), every label in [0, cols): the categorical loss against one-hot targets. */
double fnn_loss_sparse_categorical(idx_t rows, idx_t cols, const int64_t *labels, const float *p,
                                   const float *sample_weight, float *grad, int from_logits);

/* Optimizer updates (Keras 3 formulas), in place over n parameters: p, g and every state array are
   (n,). g is scaled by grad_scale first. State pointers a configuration does not use may be NULL. */
void fnn_sgd_update(idx_t n, float *p, const float *g, float *velocity, double lr, double momentum,
                    int nesterov, double grad_scale);
void fnn_adam_update(idx_t n, float *p, const float *g, float *m, float *v, float *vhat, double lr,
                     double beta1, double beta2, double eps, double step, double grad_scale);
void fnn_rmsprop_update(idx_t n, float *p, const float *g, float *velocity, float *momentum_buf,
                        float *average_grad, double lr, double rho, double momentum, double eps,
                        int centered, double grad_scale);
void fnn_adagrad_update(idx_t n, float *p, const float *g, float *accumulator, double lr, double eps,
                        double grad_scale);
/* Accuracy metrics (metrics.c): t and p are (rows, cols), labels (rows,) int64, sample_weight (rows,)
   or NULL. counts[0] = sum_r w_r * hit_r and counts[1] = sum_r w_r (rows when unweighted), in row
   order in float64. hit_r is: BINARY the fraction of the row where t == (p > threshold); CATEGORICAL
   argmax t_r == argmax p_r; SPARSE_CATEGORICAL labels_r == argmax p_r; TOP_K / SPARSE_TOP_K fewer
   than k values of p_r exceed p_r[label], label = argmax t_r or labels_r (every label in [0, cols)).
   Arrays a kind does not read may be NULL; cols >= 1. */
enum fnn_accuracy {
    FNN_ACCURACY_BINARY = 0, FNN_ACCURACY_CATEGORICAL, FNN_ACCURACY_SPARSE_CATEGORICAL, FNN_ACCURACY_TOP_K,
    FNN_ACCURACY_SPARSE_TOP_K
};
void fnn_accuracy_counts(int kind, idx_t rows, idx_t cols, const float *t, const int64_t *labels,
                         const float *p, const float *sample_weight, float threshold, idx_t k, double *counts);

/* p is (n,): p -= p * factor (decoupled weight decay). */
void fnn_decay_weights(idx_t n, float *p, double factor);
/* x is (n,): clipped in place to [-limit, limit] (NaN stays NaN). */
void fnn_clip_values(idx_t n, float *x, float limit);

/* ---- recurrent layers (nn/rnn.c) ---- */
/* Keras's cells and weight layouts: kernel (in, gates*units), recurrent (units, gates*units), gates
   LSTM i, f, c, o (bias (4u,)); GRU z, r, h (reset_after: bias (2, 3u), input then recurrent bias;
   reset_before: bias (3u,)); SimpleRNN one gate (bias (u,)). */
enum fnn_rnn_cell { FNN_RNN_SIMPLE = 0, FNN_RNN_LSTM = 1, FNN_RNN_GRU = 2, FNN_RNN_GRU_RESET_BEFORE = 3 };

typedef struct {
    int cell;                     /* enum fnn_rnn_cell */
    idx_t batch, steps, in, units;
    int act, recurrent_act;       /* elementwise enum fnn_activation codes */
    float alpha, recurrent_alpha; /* their parameters (leaky_relu slope, elu alpha) */
    int return_sequences;         /* y holds every step's output, else only the last */
    int go_backwards;             /* step s reads input time steps-1-s; outputs stay in step order */
    int zero_output_for_mask;     /* a masked step outputs zeros, not the previous output */
    int recurrent_dropout;        /* the recurrent products read the state times a (batch, units) mask */
} fnn_rnn_desc;

/* Floats of workspace fnn_rnn_forward needs; with training, also what fnn_rnn_backward reads and
   its own scratch. */
idx_t fnn_rnn_workspace_floats(const fnn_rnn_desc *d, int training);

/* x is (batch, steps, in) contiguous; mask is (batch, steps) bytes or NULL (every step kept); h0, c0
   are (batch, units) or NULL (zeros); c0 and c_out only for LSTM. Step s's output of row b goes to
   y + b * y_batch + s * y_step when return_sequences, else the last output to y + b * y_batch
   (strides in floats, either sign; y may be NULL). h_out, c_out (batch, units) get the final states.
   A masked step carries the states and outputs the previous output (zeros before the first kept
   step, or always with zero_output_for_mask), as Keras does. With d->recurrent_dropout,
   recurrent_mask (batch, units) multiplies the state wherever a recurrent product reads it (Keras's
   recurrent dropout, one mask for the whole sequence); the carried state and the GRU's blend keep
   the state itself. With training the workspace keeps what fnn_rnn_backward reads. Returns 0, or -1
   when GEMM pack memory could not be had. */
int fnn_rnn_forward(const fnn_rnn_desc *d, const float *x, const float *kernel, const float *recurrent,
                    const float *bias, const uint8_t *mask, const float *recurrent_mask, const float *h0,
                    const float *c0, float *y, idx_t y_batch, idx_t y_step, float *h_out, float *c_out,
                    float *workspace, int training);

/* The gradients of fnn_rnn_forward (run with training on the same d, x, weights, masks, c0 and this
   workspace, which the backward consumes). dy is laid out as y (NULL: no output gradient); dh_out,
   dc_out (batch, units) are the final states' gradients or NULL. Writes every gradient whose pointer
   is not NULL: dx (batch, steps, in), dkernel, drecurrent, dbias in the weights' shapes, dh0, dc0
   (batch, units). Returns 0, or -1 when GEMM pack memory could not be had. */
int fnn_rnn_backward(const fnn_rnn_desc *d, const float *x, const float *kernel, const float *recurrent,
                     const uint8_t *mask, const float *recurrent_mask, const float *c0, const float *dy,
                     idx_t dy_batch, idx_t dy_step, const float *dh_out, const float *dc_out, float *workspace,
                     float *dx, float *dkernel, float *drecurrent, float *dbias, float *dh0, float *dc0);

/* ---- embedding (nn/embed.c) ---- */
// ids is (n,), every id in [0, rows of table); table is (rows, dim); out is (n, dim)
void fnn_embedding_gather(idx_t n, idx_t dim, const int64_t *ids, const float *table, float *out);
/* The gather's gradient, sparse: ids is (n,) (every id >= 0), dy is (n, dim). The distinct ids go to
   rows_out (capacity n) in increasing order, and row k of grads_out (capacity (n, dim)) gets the sum of
   dy's rows whose id is rows_out[k], added in position order. scratch holds 3 n + 1 int64. Returns
   the number of distinct ids. */
idx_t fnn_embedding_backward(idx_t n, idx_t dim, const int64_t *ids, const float *dy, int64_t *scratch,
                             int64_t *rows_out, float *grads_out);

#endif
