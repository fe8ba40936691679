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
/* The thread count kernels may use, clamped to [1, FNN_MAX_THREADS]; 1 in a child forked after a
   kernel may have started threads (fnn_forked_single_thread() is then 1). */
#define FNN_MAX_THREADS 256
void fnn_set_num_threads(int n);
int fnn_get_num_threads(void);
int fnn_forked_single_thread(void);
int fnn_openmp_enabled(void);
int fnn_cpu_has_avx512_vnni(void); /* the AVX-512 path plus vpdpbusd (CPUID 7.0 ECX bit 11) */
/* A cache level that holds data: total bytes, ways, line bytes and sets (all 0 when unknown). */
typedef struct {
    idx_t size, ways, line, sets;
} fnn_cache_level;
enum fnn_cache_source { FNN_CACHES_UNKNOWN = 0, FNN_CACHES_CPUID = 1, FNN_CACHES_SYSFS = 2 };
/* caches[0..2] = the L1, L2 and L3 data caches of one core (CPUID leaf 4 or 0x8000001D, else Linux
   sysfs); returns where they came from (FNN_CACHES_UNKNOWN leaves them all 0). */
int fnn_cpu_caches(fnn_cache_level caches[3]);
/* Kernel outputs of at least this many floats are written with streaming stores (stream_store.h):
   four times a core's L2 (8 MiB when unknown), past which they would not wait in the caches of the
   threads that compute them for the next op. The L3 is not counted: a VM reports the host's, which
   other tenants share. */
idx_t fnn_stream_min_floats(void);
/* Sets that threshold (tests stream small arrays, benchmarks compare both stores); n <= 0 restores
   the one derived from the caches. */
void fnn_stream_set_min_floats(idx_t n);
/* Kernels whose inputs hold at least this many floats prefetch them ahead (stream_store.h): one
   core's L2 (2 MiB when unknown), past which they come from memory or a shared L3. */
idx_t fnn_prefetch_min_floats(void);
/* Sets that threshold (tests and benchmarks compare both); n <= 0 restores the derived one. */
void fnn_prefetch_set_min_floats(idx_t n);

/* ---- GEMM (gemm/) ---- */
/* c is (m, n) row-major with row stride ldc.
   a is (m, k) row-major (lda >= k), or when trans_a it is stored (k, m) (lda >= m).
   b is (k, n) row-major (ldb >= n), or when trans_b it is stored (n, k) (ldb >= k).
   c = act(op(a) @ op(b) + bias), or with accumulate c = act(c + op(a) @ op(b) + bias).
   bias is (n,) or NULL; act is an elementwise enum fnn_activation, alpha its parameter.
   Each element is computed in the one order of gemm/gemm_internal.h, so its bits do not depend on m,
   its row's position, the thread count or the path taken (batch invariance).
   Returns 0, or -1 (c untouched) when pack memory could not be had. */
int fnn_sgemm(int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
               const float *a, idx_t lda, const float *b, idx_t ldb,
               float *c, idx_t ldc, int accumulate, const float *bias, int act, float alpha);

/* The micro-kernel of the GEMM in use (*kernel, its name), its register tile and cache blocks (blocks =
   {mr, nr, mc, kc, nc}) and the caches they were derived from (as fnn_cpu_caches, whose source it
   returns). */
int fnn_gemm_blocking_info(const char **kernel, idx_t blocks[5], fnn_cache_level caches[3]);
/* GFLOP/s of the active SIMD path's register-only multiply-add loop run on `threads` threads at once
   (best of a few runs of ~50 ms): the ceiling every GEMM benchmark is read against. */
double fnn_gemm_peak_gflops(int threads);

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
/* Calls body over [0, n) split into contiguous ranges of at least grain items, a few per thread taken
   as threads come free; with one thread, or fewer than 2 * grain items, it calls body(ctx, 0, n)
   inline and opens no OpenMP region. body must not care how [0, n) is cut (elementwise work, or whole fixed chunks). */
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
enum fnn_loss {
    FNN_LOSS_MSE = 0, FNN_LOSS_MAE, FNN_LOSS_HUBER, FNN_LOSS_BCE, FNN_LOSS_BCE_LOGITS, FNN_LOSS_POISSON,
    FNN_LOSS_LOG_COSH, FNN_LOSS_MSLE, FNN_LOSS_MAPE, FNN_LOSS_HINGE, FNN_LOSS_SQUARED_HINGE, FNN_LOSS_KLD,
    FNN_LOSS_FOCAL, FNN_LOSS_FOCAL_LOGITS,
    /* fnn_loss_rowwise */
    FNN_LOSS_COSINE, FNN_LOSS_CATEGORICAL_HINGE
};
/* What some losses take besides the arrays: Huber's delta; binary focal crossentropy's gamma and the
   class weights of positive and negative targets (alpha and 1 - alpha, or 1 and 1 unbalanced). */
struct fnn_loss_options { float delta, gamma, alpha_pos, alpha_neg; };
/* loss_r is the mean over cols of an elementwise loss (the sum for FNN_LOSS_KLD), MSE to FOCAL_LOGITS
   (hinge targets already in {-1, 1}). options may be NULL unless the loss reads it. */
double fnn_loss_pointwise(int loss, idx_t rows, idx_t cols, const float *t, const float *p,
                          const float *sample_weight, float *grad, const struct fnn_loss_options *options);
/* loss_r from whole rows: FNN_LOSS_COSINE -cos(t_r, p_r), FNN_LOSS_CATEGORICAL_HINGE
   max(max_c (1 - t) p - sum_c t p + 1, 0). */
double fnn_loss_rowwise(int loss, idx_t rows, idx_t cols, const float *t, const float *p,
                        const float *sample_weight, float *grad);
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
                     double beta1, double beta2, double eps, double step, double grad_scale, double decay);
/* Nadam (Keras 3): u_product = prod_{i=1..step} beta1 (1 - 0.5 * 0.96^i), which the caller keeps. */
void fnn_nadam_update(idx_t n, float *p, const float *g, float *m, float *v, double lr, double beta1,
                      double beta2, double eps, double step, double u_product, double grad_scale);
/* Adamax (Keras 3): u = max(beta2 u, |g|), p -= lr m / ((1 - beta1^step) (u + eps)). */
void fnn_adamax_update(idx_t n, float *p, const float *g, float *m, float *u, double lr, double beta1,
                       double beta2, double eps, double step, double grad_scale);
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

/* The LSTM cell pass with Keras's default activations, one row's n units (nn/lstm_cell.c, per ISA).
   gates holds the row's gates i, f, c, o, n floats each at gates + g * units. Forward: pre-activations
   become sigmoid(i), sigmoid(f), tanh(c), sigmoid(o); c (n,) becomes f c + i g; h (n,) = o tanh(c) and
   c_act (n,) = tanh(c) unless NULL. Backward: the gate values become their pre-activation gradients,
   given c_act and c_prev (n,) of the step and the state gradient dh (n,); dc (n,), the cell-state
   gradient from the step after, becomes the one to the step before. */
void fnn_lstm_cell_forward(idx_t n, float *gates, idx_t units, float *c, float *c_act, float *h);
void fnn_lstm_cell_backward(idx_t n, float *gates, idx_t units, const float *c_act, const float *c_prev,
                            const float *dh, float *dc);

/* ---- embedding (nn/embed.c) ---- */
// ids is (n,), every id in [0, rows of table); table is (rows, dim); out is (n, dim)
void fnn_embedding_gather(idx_t n, idx_t dim, const int64_t *ids, const float *table, float *out);
/* The gather's gradient, sparse: ids is (n,) (every id >= 0), dy is (n, dim). The distinct ids go to
   rows_out (capacity n) in increasing order, and row k of grads_out (capacity (n, dim)) gets the sum of
   dy's rows whose id is rows_out[k], added in position order. scratch holds 3 n + 1 int64. Returns
   the number of distinct ids. */
idx_t fnn_embedding_backward(idx_t n, idx_t dim, const int64_t *ids, const float *dy, int64_t *scratch,
                             int64_t *rows_out, float *grads_out);

/* ---- preprocessing layers (nn/preprocess.c, nn/augment.c) ---- */
/* Per-feature kernels: x, out, dy, dx are (outer, mid, inner), the statistics (mid,), applied to every
   outer and inner position. Each may run in place (out == x, dx == dy). */
/* out = (x - mean) / max(sqrt(variance), eps), or with invert out = x * max(sqrt(variance), eps) + mean. */
void fnn_normalize_forward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *mean,
                           const float *variance, float eps, int invert, float *out);
/* dx = dy / max(sqrt(variance), eps), or with invert dx = dy * max(sqrt(variance), eps). */
void fnn_normalize_backward(idx_t outer, idx_t mid, idx_t inner, const float *variance, float eps, int invert,
                            const float *dy, float *dx);
/* out = x * scale + offset. */
void fnn_rescale_forward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *scale,
                         const float *offset, float *out);
/* dx = dy * scale. */
void fnn_rescale_backward(idx_t outer, idx_t mid, idx_t inner, const float *scale, const float *dy, float *dx);
/* out = fill where x is NaN, else x. */
void fnn_impute_forward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *fill, float *out);
/* dx = 0 where x is NaN, else dy. */
void fnn_impute_backward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *dy, float *dx);
/* tokens is (n, width) UCS-4 code points (numpy's fixed-width unicode: a token ends at its last non-zero
   code point); out (n,) = the 64-bit FNV-1a hash of each token's UTF-8 bytes, started from basis
   (0xCBF29CE484222325 for plain FNV-1a). */
void fnn_fnv1a_utf8(idx_t n, idx_t width, const uint32_t *tokens, uint64_t basis, uint64_t *out);

/* Image kernels: images are channels-last float32. */
enum fnn_fill_mode { FNN_FILL_REFLECT = 0, FNN_FILL_WRAP, FNN_FILL_CONSTANT, FNN_FILL_NEAREST };
enum fnn_interpolation { FNN_INTERPOLATION_NEAREST = 0, FNN_INTERPOLATION_BILINEAR };
/* x is (n, in_h, in_w, c), transforms is (n, 6) finite values, fill is (c,), out is (n, out_h, out_w, c).
   Output pixel (row i, column j) of image k reads x[k] at column t0*j + t1*i + t2 and row t3*j + t4*i + t5
   (t = transforms[k], Keras's affine_transform without the projective terms); points outside the image
   follow fill_mode (reflect about the pixel edges, periodic wrap, the nearest edge pixel, or fill);
   interpolation is nearest or bilinear. */
void fnn_affine_sample(idx_t n, idx_t in_h, idx_t in_w, idx_t c, const float *x, const float *transforms,
                       idx_t out_h, idx_t out_w, int interpolation, int fill_mode, const float *fill, float *out);
/* dout is (n, out_h, out_w, c), dx is (n, in_h, in_w, c): the adjoint of fnn_affine_sample (the
   gradient of x; fill points take none). */
void fnn_affine_sample_backward(idx_t n, idx_t in_h, idx_t in_w, idx_t c, const float *transforms, idx_t out_h,
                                idx_t out_w, int interpolation, int fill_mode, const float *dout, float *dx);
/* x, out are (n, h, w, c), flips (n,) ORs FNN_FLIP_COLUMNS (mirror left-right) and FNN_FLIP_ROWS
   (upside down); out must not overlap x. A flip is its own adjoint: the backward is this call on dy. */
enum { FNN_FLIP_COLUMNS = 1, FNN_FLIP_ROWS = 2 };
void fnn_flip_images(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const int32_t *flips, float *out);
/* x is (n, h, w, c), offsets (n, 2) the (row, column) of each window, which lies inside its image;
   out is (n, out_h, out_w, c). */
void fnn_crop_images(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const int64_t *offsets, idx_t out_h,
                     idx_t out_w, float *out);
/* dout is (n, out_h, out_w, c), dx (n, h, w, c): dout inside each window, 0 elsewhere. */
void fnn_crop_images_backward(idx_t n, idx_t h, idx_t w, idx_t c, const int64_t *offsets, idx_t out_h, idx_t out_w,
                              const float *dout, float *dx);
/* x, out are (n, h, w, c), factors (n,); means (n, c) receives each image's channel means (summed in
   float64 in sums, (n, c) scratch): out = clip((x - mean) * factor + mean, lo, hi). */
void fnn_contrast_forward(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const float *factors, float lo,
                          float hi, double *sums, float *means, float *out);
/* dy, dx are (n, h, w, c); x, factors, means as in the forward; sums (n, c) scratch: the gradient of x,
   through the clip and the means. */
void fnn_contrast_backward(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const float *factors,
                           const float *means, float lo, float hi, const float *dy, double *sums, float *dx);
/* ---- convolutional networks (nn/): images are NHWC, forward and backward side by side ---- */

/* A convolution's geometry. x is (n, h, w, c), the kernel (kh, kw, c / groups, f), y (n, out_h,
   out_w, f). Tap (i, j) of output pixel (oh, ow) reads input pixel (oh * stride_h + i * dil_h -
   pad_top, ow * stride_w + j * dil_w - pad_left), zeros outside the image; the channels of group g,
   [g * c / groups, (g + 1) * c / groups), meet the filters [g * f / groups, (g + 1) * f / groups).
   A 1-D convolution is h = kh = out_h = 1; a depthwise one is groups = c (the Keras depthwise
   kernel (kh, kw, c, depth_multiplier) is this kernel with f = c * depth_multiplier). Every size
   is at least 1 and pads are >= 0; any combination is memory-safe. */
typedef struct {
    idx_t n, h, w, c, f, kh, kw, out_h, out_w;
    idx_t stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, groups;
} fnn_conv_shape;

enum fnn_conv_pass { FNN_CONV_FORWARD = 0, FNN_CONV_BACKWARD_DATA = 1, FNN_CONV_BACKWARD_FILTER = 2 };

/* Floats of scratch memory a pass needs with up to `threads` threads, on any SIMD path. A kernel
   given less runs on as many threads as its scratch allows, and returns -1 (outputs untouched) when
   that is none. */
idx_t fnn_conv2d_scratch_floats(const fnn_conv_shape *s, int pass, int threads);

/* y = act(conv(x, w) + bias); bias (f,) or NULL; act an elementwise enum fnn_activation. Returns 0
   or -1 (scratch too small). Batch invariant: an image's output does not depend on its batch. */
int fnn_conv2d_forward(const fnn_conv_shape *s, const float *x, const float *w, const float *bias, int act,
                       float alpha, float *y, float *scratch, idx_t scratch_floats);
/* dx (n, h, w, c) = the gradient of conv(x, w) with respect to x for dy (n, out_h, out_w, f), i.e. the
   transposed convolution of dy; with bias (c,) or act: dx = act(that + bias), the forward of a
   transposed convolution. */
int fnn_conv2d_backward_data(const fnn_conv_shape *s, const float *dy, const float *w, const float *bias,
                             int act, float alpha, float *dx, float *scratch, idx_t scratch_floats);
/* dw (kh, kw, c / groups, f) and db (f,): the gradients of conv(x, w) + b for dy; either may be NULL. */
int fnn_conv2d_backward_filter(const fnn_conv_shape *s, const float *x, const float *dy, float *dw, float *db,
                               float *scratch, idx_t scratch_floats);
/* The naive loops with the same contracts (float sums in tap, channel order): the test oracles. */
void fnn_conv2d_forward_ref(const fnn_conv_shape *s, const float *x, const float *w, const float *bias, int act,
                            float alpha, float *y);
void fnn_conv2d_backward_data_ref(const fnn_conv_shape *s, const float *dy, const float *w, const float *bias,
                                  int act, float alpha, float *dx);
void fnn_conv2d_backward_filter_ref(const fnn_conv_shape *s, const float *x, const float *dy, float *dw, float *db);

/* Pooling windows: x is (n, h, w, c), y (n, out_h, out_w, c). Window (oh, ow) covers input rows
   [oh * stride_h - pad_top, + pool_h) and columns likewise, clipped to the image; every window holds
   at least one input cell. */
typedef struct {
    idx_t n, h, w, c, out_h, out_w;
    idx_t pool_h, pool_w, stride_h, stride_w, pad_top, pad_left;
} fnn_pool_shape;

/* y = the window maximum (NaN when the window holds one). */
void fnn_max_pool2d_forward(const fnn_pool_shape *s, const float *x, float *y);
/* dx (n, h, w, c) = dy routed to each window's first maximal cell, recomputed from x and y. */
void fnn_max_pool2d_backward(const fnn_pool_shape *s, const float *x, const float *y, const float *dy, float *dx);
/* y = the window mean over its cells inside the image (Keras excludes the padding). */
void fnn_avg_pool2d_forward(const fnn_pool_shape *s, const float *x, float *y);
void fnn_avg_pool2d_backward(const fnn_pool_shape *s, const float *dy, float *dx);
/* Global pooling: x, dx are (n, pixels, c), y, dy (n, c). */
void fnn_global_avg_pool_forward(idx_t n, idx_t pixels, idx_t c, const float *x, float *y);
void fnn_global_avg_pool_backward(idx_t n, idx_t pixels, idx_t c, const float *dy, float *dx);
void fnn_global_max_pool_forward(idx_t n, idx_t pixels, idx_t c, const float *x, float *y);
void fnn_global_max_pool_backward(idx_t n, idx_t pixels, idx_t c, const float *x, const float *y, const float *dy,
                                  float *dx);

/* Batch normalization of x (rows, c >= 1, inner >= 1) per channel (the middle axis: inner = 1 for
   channels last, the size of the axes after the channels otherwise), over rows * inner values each;
   gamma and beta (c,) or NULL (1 and 0). Floats of scratch each call needs: */
idx_t fnn_batch_norm_scratch_floats(idx_t c);
/* Training forward, two passes: the batch mean and biased variance (fixed chunks added in order),
   then y = gamma * (x - mean) * invstd + beta with invstd = 1 / sqrt(var + eps). Writes mean and
   invstd (c,) for the backward; moving_mean and moving_var (c,), unless NULL, become
   momentum * moving + (1 - momentum) * batch statistic. */
void fnn_batch_norm_forward_train(idx_t rows, idx_t c, idx_t inner, const float *x, const float *gamma,
                                  const float *beta, float eps, float *y, float *mean, float *invstd,
                                  float *moving_mean, float *moving_var, float momentum, float *scratch);
/* Training backward, two passes: dgamma = sum dy * xhat, dbeta = sum dy (each NULL to skip), then
   dx = gamma * invstd * (dy - dbeta / n - xhat * dgamma / n), n = rows * inner. */
void fnn_batch_norm_backward(idx_t rows, idx_t c, idx_t inner, const float *x, const float *dy, const float *gamma,
                             const float *mean, const float *invstd, float *dx, float *dgamma, float *dbeta,
                             float *scratch);
/* Inference: y = gamma * (x - mean) / sqrt(var + eps) + beta with the moving statistics. */
void fnn_batch_norm_forward_infer(idx_t rows, idx_t c, idx_t inner, const float *x, const float *gamma,
                                  const float *beta, const float *mean, const float *var, float eps, float *y,
                                  float *scratch);
/* Folds an inference batch normalization of f channels into the layer before it: w is (outer, f,
   inner) and its channel axis is scaled by gamma / sqrt(var + eps); b (f,) becomes
   (b - mean) * scale + beta. */
void fnn_batch_norm_fold(idx_t outer, idx_t f, idx_t inner, float *w, float *b, const float *gamma,
                         const float *beta, const float *mean, const float *var, float eps);

/* Layer normalization of each row of x (rows >= 1, c >= 1) over its c values, in float64:
   y = gamma * (x - mean) * invstd + beta, invstd = 1 / sqrt(biased var + eps); gamma and beta (c,) or
   NULL (1 and 0). Writes each row's mean and invstd (rows,) for the backward. */
void fnn_layer_norm_forward(idx_t rows, idx_t c, const float *x, const float *gamma, const float *beta, float eps,
                            float *y, float *mean, float *invstd);
/* dx = invstd * (g - mean(g) - xhat * mean(g * xhat)) per row with g = dy * gamma; dgamma = column
   sums of dy * xhat, dbeta = column sums of dy (over rows, in row order). Each output NULL to skip. */
void fnn_layer_norm_backward(idx_t rows, idx_t c, const float *x, const float *dy, const float *gamma,
                             const float *mean, const float *invstd, float *dx, float *dgamma, float *dbeta);

/* Keras's ReLU layer (nn/relu.c), elementwise over n values: y = min(x, max_value) where x > threshold,
   negative_slope * (x - threshold) elsewhere (max_value may be +inf); the backward reads x. y may be x,
   dx may be dy. */
void fnn_relu_forward(idx_t n, const float *x, float *y, float negative_slope, float max_value, float threshold);
void fnn_relu_backward(idx_t n, const float *x, const float *dy, float *dx, float negative_slope, float max_value,
                       float threshold);

/* Upsampling: x is (n, h, w, c), y (n, out_h, out_w, c). Nearest: out = (h * size_h, w * size_w),
   each input pixel repeated. Bilinear: half-pixel centres as tf.image.resize (Keras UpSampling2D). */
void fnn_upsample_nearest_forward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t size_h, idx_t size_w, const float *x,
                                  float *y);
void fnn_upsample_nearest_backward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t size_h, idx_t size_w, const float *dy,
                                   float *dx);
void fnn_upsample_bilinear_forward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t out_h, idx_t out_w, const float *x,
                                   float *y);
void fnn_upsample_bilinear_backward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t out_h, idx_t out_w, const float *dy,
                                    float *dx);

/* ---- int8 inference (quant/) ----
   u8 activations x s8 weights -> exact int32 sums, on every SIMD path the same integers (AVX-512 VNNI
   vpdpbusd; AVX2 vpmaddubsw for 7-bit activations, else int16 widening; portable loops). */
#define FNN_QGEMM_PANEL 16      /* columns per packed panel of B */
#define FNN_QGEMM_MAX_K 65536   /* 65536 * 255 * 127 < 2^31: no int32 sum can overflow */
/* Bytes of the packed form of a (k, n) int8 matrix. */
idx_t fnn_qgemm_packed_size(idx_t k, idx_t n);
// b is (k, n) int8 row-major (row stride ldb), packed is fnn_qgemm_packed_size(k, n) bytes
void fnn_qgemm_pack_b(idx_t k, idx_t n, const int8_t *b, idx_t ldb, int8_t *packed);
// a is (m, k) u8 (row stride lda, readable to round_up(k, 4)), packed is B (k, n) packed, c is (m, n) int32
// (ldc). a_7bit: every a value is <= 127 (lets AVX2 use vpmaddubsw). k <= FNN_QGEMM_MAX_K.
void fnn_qgemm_u8s8(idx_t m, idx_t n, idx_t k, const uint8_t *a, idx_t lda, const int8_t *packed, int32_t *c,
                    idx_t ldc, int a_7bit);
/* The micro-kernel the int8 GEMM uses on the SIMD path in force. */
const char *fnn_qgemm_kernel_name(void);
// a is (m, k) u8 (lda), b is (k, n) int8 row-major (ldb), c is (m, n) int32 (ldc): the naive oracle
void fnn_qgemm_u8s8_ref(idx_t m, idx_t n, idx_t k, const uint8_t *a, idx_t lda, const int8_t *b, idx_t ldb,
                        int32_t *c, idx_t ldc);
// x is (m, k), q is (m, round_up(k, 4)) u8 (padding zeroed), scale and zero_point are (m,): each row
// quantized to [0, levels] over [min(x, 0), max(x, 0)], q = clamp(rint(x / scale) + zero_point); a row
// holding NaN or infinity gets scale NaN
void fnn_quantize_rows_u8(idx_t m, idx_t k, const float *x, int levels, uint8_t *q, float *scale,
                          int32_t *zero_point);
// x is (m, k), packed is W (k, n) int8 packed, col_sums (column sums of W) and w_scale are (n,), bias is (n,)
// or NULL, y is (m, n); q (m, round_up(k, 4)) u8, row_scale (m,) and row_zero (m,) int32 are scratch.
// y = act(row_scale * w_scale * (q @ W - row_zero * col_sums) + bias), rows quantized to 7 bits with
// reduce_range, else 8. act is elementwise (not softmax).
void fnn_qdense_forward(idx_t m, idx_t n, idx_t k, const float *x, const int8_t *packed, const int32_t *col_sums,
                        const float *w_scale, const float *bias, int act, float alpha, int reduce_range, float *y,
                        uint8_t *q, float *row_scale, int32_t *row_zero);
/* Output pixels per block of the int8 convolution (the rows its scratch holds). */
idx_t fnn_qconv2d_block_rows(const fnn_conv_shape *s);
// x is (n, h, w, c), packed is the kernel (kh * kw * c, f) int8 packed, col_sums and w_scale are (f,), bias
// is (f,) or NULL, y is (n, out_h, out_w, f); scratch for B = fnn_qconv2d_block_rows(s) rows: patches (B,
// kh * kw * c) floats, q (B, round_up(kh * kw * c, 4)) u8, row_scale (B,) and row_zero (B,) int32. Each
// output pixel is fnn_qdense_forward of its patch (quantized on its own); groups must be 1.
void fnn_qconv2d_forward(const fnn_conv_shape *s, const float *x, const int8_t *packed, const int32_t *col_sums,
                         const float *w_scale, const float *bias, int act, float alpha, int reduce_range, float *y,
                         float *patches, uint8_t *q, float *row_scale, int32_t *row_zero);
/* Floats of workspace fnn_qrnn_forward needs. */
idx_t fnn_qrnn_workspace_floats(const fnn_rnn_desc *d);
// x is (batch, steps, in); kernel (in, G*U) and recurrent (U, G*U) are int8 packed, with their column sums
// and scales (G*U,); bias is LSTM (4U,), GRU (2, 3U) (input then recurrent bias) or NULL. The int8 LSTM or
// GRU (reset_after) forward: inputs and states quantized per row, cell math in float32; masks, h0, c0, y
// (strides y_batch, y_step), h_out and c_out as fnn_rnn_forward (no recurrent dropout).
void fnn_qrnn_forward(const fnn_rnn_desc *d, const float *x, const int8_t *kernel, const int32_t *kernel_sums,
                      const float *kernel_scale, const int8_t *recurrent, const int32_t *recurrent_sums,
                      const float *recurrent_scale, const float *bias, const uint8_t *mask, const float *h0,
                      const float *c0, float *y, idx_t y_batch, idx_t y_step, float *h_out, float *c_out,
                      int reduce_range, float *workspace);

#endif
