/* Activation functions. Every elementwise forward is activation_math.h's loop, the same code the GEMM
   epilogue runs; the backwards follow in the order of the enumeration, softmax (a row op) last.

   Each kernel is a range function over elements [lo, hi) (softmax: rows) that fnn_parallel_for runs
   inline for small inputs or split over threads for large ones; its arguments come in one act_args.

   Every kernel may run in place (y == x, dx == dy): element i is read before it is written, and
   softmax reads a whole row before writing it. No pointer is restrict for that reason; gcc still
   vectorises every loop (vmath.h has no libm calls and no branches), behind a run-time overlap check.

   Like every elementwise family, this file is compiled once per instruction set, inside
   csrc/isa/elementwise_<isa>.c, which renames its public functions per build. */
#include <math.h>
#include <string.h>
#include "fastnn.h"
#include "stream_store.h"
#include "vmath.h"

/* exp, log1p and the normal CDF cost ~5-15x a load and a compare even vectorised, so those loops pay
   for a second thread sooner. */
#define CHEAP_GRAIN FNN_ELEMENTWISE_GRAIN
#define COSTLY_GRAIN (FNN_ELEMENTWISE_GRAIN / 4)

/* What every activation kernel may read: forward reads x and writes out (= y); backward reads dy and
   x or y and writes out (= dx); an input the kernel does not read is NULL. cols is the row length
   (softmax only), n the inputs' length; stream says out is written with streaming stores, prefetch
   that the inputs are prefetched ahead (stream_store.h). */
struct act_args {
    const float *x, *y, *dy;
    float *out;
    float alpha, dot;  /* dot: softmax's backward, the row's <y, dy> */
    idx_t cols, n;
    int act, stream, prefetch;
};

/* An elementwise kernel's span: elements [i, i + n) of its inputs, written to out[0, n). */
typedef void (*act_span_fn)(const struct act_args *a, idx_t i, idx_t n, float *out);

/* Elements [i, i + n) by span into out[0, n), with the inputs prefetched ahead of each piece when
   a->prefetch. */
static void run_pieces(const struct act_args *a, idx_t i, idx_t n, float *out, act_span_fn span) {
    if (!a->prefetch) {
        span(a, i, n, out);
        return;
    }
    const float *inputs[3] = {a->x, a->y, a->dy};
    for (idx_t done = 0; done < n; done += FNN_PREFETCH_PIECE) {
        idx_t piece = FNN_MIN(FNN_PREFETCH_PIECE, n - done);
        fnn_prefetch_arrays(inputs, 3, i + done, piece, a->n);
        span(a, i + done, piece, out + done);
    }
}

/* Elements [lo, hi) of a->out by span: in place, or with streaming stores for a large output, the
   head up to a line boundary stored plainly, then line-aligned blocks computed into an L1 buffer
   and streamed out (the caller fences). Where the spans are cut changes no value (vmath.h). */
static void run_spans(const struct act_args *a, idx_t lo, idx_t hi, act_span_fn span) {
    if (!a->stream) {
        run_pieces(a, lo, hi - lo, a->out + lo, span);
        return;
    }
    idx_t head = FNN_MIN(fnn_stream_misalignment(a->out + lo), hi - lo);
    span(a, lo, head, a->out + lo);
    float block[FNN_STREAM_BLOCK] __attribute__((aligned(64)));
    for (idx_t i = lo + head; i < hi; i += FNN_STREAM_BLOCK) {
        idx_t n = FNN_MIN(FNN_STREAM_BLOCK, hi - i);
        run_pieces(a, i, n, block, span);
        fnn_stream_copy(a->out + i, block, n);
    }
}

// x is (n,) at element i, y is out: every elementwise forward is activation_math.h's loop
static void forward_span(const struct act_args *a, idx_t i, idx_t n, float *y) {
    fnn_activate_span(a->act, a->alpha, n, a->x + i, y);
}

static void elementwise_forward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    run_spans(a, lo, hi, forward_span);
    if (a->stream) fnn_stream_fence();
}


// y, dy, dx are (n,); the derivative at 0 is taken as 0
static void relu_backward(const struct act_args *a, idx_t i, idx_t n, float *dx) {
    const float *y = a->y + i, *dy = a->dy + i;
    for (idx_t j = 0; j < n; j++) {
        float y_j = y[j], dy_j = dy[j];
        dx[j] = y_j > 0.0f ? dy_j : 0.0f;
    }
}

// x, dy, dx are (n,)
static void leaky_relu_backward(const struct act_args *a, idx_t i, idx_t n, float *dx) {
    const float *x = a->x + i, *dy = a->dy + i;
    float slope = a->alpha;
    for (idx_t j = 0; j < n; j++) {
        float x_j = x[j], dy_j = dy[j], pos = x_j > 0.0f ? dy_j : 0.0f, neg = x_j > 0.0f ? 0.0f : dy_j;
        dx[j] = pos + slope * neg;
    }
}

// y, dy, dx are (n,); for x <= 0, d/dx alpha*(e^x - 1) = alpha*e^x = y + alpha (needs alpha >= 0)
static void elu_backward(const struct act_args *a, idx_t i, idx_t n, float *dx) {
    const float *y = a->y + i, *dy = a->dy + i;
    float alpha = a->alpha;
    for (idx_t j = 0; j < n; j++) {
        float y_j = y[j], dy_j = dy[j], pos = y_j > 0.0f ? dy_j : 0.0f, neg = y_j > 0.0f ? 0.0f : dy_j;
        dx[j] = pos + neg * ((y_j > 0.0f ? 0.0f : y_j) + alpha);
    }
}

// x, dy, dx are (n,); d/dx x*Phi(x) = Phi(x) + x*phi(x)
static void gelu_backward(const struct act_args *a, idx_t i, idx_t n, float *dx) {
    const float *x = a->x + i, *dy = a->dy + i;
    for (idx_t j = 0; j < n; j++) {
        float e2 = vm_gaussf(x[j]);
        dx[j] = dy[j] * (vm_normal_cdf(x[j], e2) + x[j] * (VM_INV_SQRT_2PI * e2));
    }
}

// x, dy, dx are (n,); d/dx x*s(x) = s + x*s*(1-s)
static void silu_backward(const struct act_args *a, idx_t i, idx_t n, float *dx) {
    const float *x = a->x + i, *dy = a->dy + i;
    for (idx_t j = 0; j < n; j++) {
        float s = vm_sigmoidf(x[j]);
        dx[j] = dy[j] * s * (1.0f + x[j] * (1.0f - s));
    }
}

// y, dy, dx are (n,)
static void sigmoid_backward(const struct act_args *a, idx_t i, idx_t n, float *dx) {
    const float *y = a->y + i, *dy = a->dy + i;
    for (idx_t j = 0; j < n; j++) dx[j] = dy[j] * y[j] * (1.0f - y[j]);
}

// y, dy, dx are (n,)
static void tanh_backward(const struct act_args *a, idx_t i, idx_t n, float *dx) {
    const float *y = a->y + i, *dy = a->dy + i;
    for (idx_t j = 0; j < n; j++) dx[j] = dy[j] * (1.0f - y[j] * y[j]);
}

// x, dy, dx are (n,)
static void softplus_backward(const struct act_args *a, idx_t i, idx_t n, float *dx) {
    const float *x = a->x + i, *dy = a->dy + i;
    for (idx_t j = 0; j < n; j++) dx[j] = dy[j] * vm_sigmoidf(x[j]);
}

/* Asks for the row after the current one while this one is computed: a softmax row is read from
   memory by its first pass and then worked on in L1, so without this the memory sits idle during
   the exps (the backward's second pass) and the hardware prefetcher, which follows the streaming
   pass, does not look a row ahead. */
static inline void prefetch_row(const float *row, idx_t cols) {
    for (idx_t j = 0; j < cols; j += 64 / sizeof(float)) __builtin_prefetch(row + j, 0, 3);
}

/* Rows shorter than NARROW_COLS are mostly a loop's set-up and scalar tail: they go NARROW_ROWS at a
   time instead. The forward reduces the block column by column, so each row's max and float64 sum
   (left to right) are independent chains that run side by side; each pass over the block's elements
   is one flat loop, with a row's value (its max, 1/sum or dot) spread over its elements first; the
   backward streams its output as the other elementwise kernels do. 16M floats, 2 threads, against
   the row-at-a-time loops: forward 1.9x (10 columns) to 1.35x (31), backward 1.2x (10) to 1.1x (31);
   from 32 columns on, a row's own loops run as fast. */
#define NARROW_ROWS 64
#define NARROW_COLS 32

/* per[k] = value[r] for element k = r * cols + j of rows [0, rows) */
static inline void spread_rows(const float *value, idx_t rows, idx_t cols, float *per) {
    for (idx_t r = 0; r < rows; r++)
        for (idx_t j = 0; j < cols; j++) per[r * cols + j] = value[r];
}

/* max[r] = the largest of row r of x (rows, cols); as vm_max_f32, a NaN may or may not win */
static inline void rows_max(const float *x, idx_t rows, idx_t cols, float *max) {
    for (idx_t r = 0; r < rows; r++) max[r] = -INFINITY;
    for (idx_t j = 0; j < cols; j++)
        for (idx_t r = 0; r < rows; r++) max[r] = x[r * cols + j] > max[r] ? x[r * cols + j] : max[r];
}

/* sum[r] = the sum of row r of x (rows, cols) in float64, left to right */
static inline void rows_sum_f64(const float *x, idx_t rows, idx_t cols, double *sum) {
    for (idx_t r = 0; r < rows; r++) sum[r] = 0.0;
    for (idx_t j = 0; j < cols; j++)
        for (idx_t r = 0; r < rows; r++) sum[r] += x[r * cols + j];
}

// softmax_forward for cols < NARROW_COLS, rows [lo, hi) in blocks of NARROW_ROWS
static void softmax_forward_narrow(const struct act_args *a, idx_t lo, idx_t hi) {
    idx_t cols = a->cols;
    float row_value[NARROW_ROWS], per[NARROW_ROWS * NARROW_COLS];
    double row_sum[NARROW_ROWS];
    for (idx_t r0 = lo; r0 < hi; r0 += NARROW_ROWS) {
        idx_t rows = FNN_MIN(NARROW_ROWS, hi - r0), n = rows * cols;
        const float *x = a->x + r0 * cols;
        float *y = a->out + r0 * cols;
        rows_max(x, rows, cols, row_value);
        spread_rows(row_value, rows, cols, per);
        for (idx_t k = 0; k < n; k++) y[k] = vm_exp_negf(x[k] - per[k]);
        rows_sum_f64(y, rows, cols, row_sum);
        for (idx_t r = 0; r < rows; r++) row_value[r] = (float)(1.0 / row_sum[r]);
        spread_rows(row_value, rows, cols, per);
        for (idx_t k = 0; k < n; k++) y[k] *= per[k];
    }
}

// x, y are (rows, cols), rows [lo, hi); each row of y = exp(x_row - max) / sum, the sum in float64
static void softmax_forward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    idx_t cols = a->cols;
    if (cols < NARROW_COLS) {
        softmax_forward_narrow(a, lo, hi);
        return;
    }
    for (idx_t r = lo; r < hi; r++) {
        const float *x_r = a->x + r * cols;
        float *y_r = a->out + r * cols;
        if (r + 1 < hi) prefetch_row(x_r + cols, cols);
        float max = vm_max_f32(x_r, cols);
        for (idx_t j = 0; j < cols; j++) y_r[j] = vm_exp_negf(x_r[j] - max);
        float inv = (float)(1.0 / vm_sum_f64(y_r, cols));
        for (idx_t j = 0; j < cols; j++) y_r[j] *= inv;
    }
}

// y, dy are (n,) at element i of the row, dx is (n,): dx = y * (dy - dot)
static void softmax_backward_span(const struct act_args *a, idx_t i, idx_t n, float *dx) {
    const float *y = a->y + i, *dy = a->dy + i;
    float dot = a->dot;
    for (idx_t j = 0; j < n; j++) dx[j] = y[j] * (dy[j] - dot);
}

// softmax_backward for cols < NARROW_COLS, rows [lo, hi) in blocks of NARROW_ROWS
static void softmax_backward_narrow(const struct act_args *a, idx_t lo, idx_t hi) {
    idx_t cols = a->cols;
    float row_dot[NARROW_ROWS], per[NARROW_ROWS * NARROW_COLS];
    float block[NARROW_ROWS * NARROW_COLS] __attribute__((aligned(64)));
    for (idx_t r0 = lo; r0 < hi; r0 += NARROW_ROWS) {
        idx_t rows = FNN_MIN(NARROW_ROWS, hi - r0), n = rows * cols;
        const float *y = a->y + r0 * cols, *dy = a->dy + r0 * cols;
        float *dx = a->out + r0 * cols, *out = a->stream ? block : dx;
        for (idx_t r = 0; r < rows; r++) row_dot[r] = vm_dot_f32(y + r * cols, dy + r * cols, cols);
        spread_rows(row_dot, rows, cols, per);
        for (idx_t k = 0; k < n; k++) out[k] = y[k] * (dy[k] - per[k]);
        if (a->stream) {
            idx_t head = FNN_MIN(fnn_stream_misalignment(dx), n);
            memcpy(dx, block, (size_t)head * sizeof(float));
            fnn_stream_copy(dx + head, block + head, n - head);
        }
    }
    if (a->stream) fnn_stream_fence();
}

// y, dy, dx are (rows, cols), rows [lo, hi); dx_row = y_row * (dy_row - <y_row, dy_row>), the dot in float32
static void softmax_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    idx_t cols = a->cols;
    if (cols < NARROW_COLS) {
        softmax_backward_narrow(a, lo, hi);
        return;
    }
    struct act_args row = *a;
    for (idx_t r = lo; r < hi; r++) {
        row.y = a->y + r * cols;
        row.dy = a->dy + r * cols;
        row.out = a->out + r * cols;
        if (r + 1 < hi) {
            prefetch_row(row.y + cols, cols);
            prefetch_row(row.dy + cols, cols);
        }
        row.dot = vm_dot_f32(row.y, row.dy, cols);
        run_spans(&row, 0, cols, softmax_backward_span);
    }
    if (a->stream) fnn_stream_fence();
}

/* Each elementwise activation's backward span. */
static const act_span_fn BACKWARD_SPANS[FNN_ACTIVATION_COUNT] = {
    [FNN_ACTIVATION_RELU] = relu_backward, [FNN_ACTIVATION_LEAKY_RELU] = leaky_relu_backward,
    [FNN_ACTIVATION_ELU] = elu_backward, [FNN_ACTIVATION_GELU] = gelu_backward,
    [FNN_ACTIVATION_SILU] = silu_backward, [FNN_ACTIVATION_SIGMOID] = sigmoid_backward,
    [FNN_ACTIVATION_TANH] = tanh_backward, [FNN_ACTIVATION_SOFTPLUS] = softplus_backward,
};

static void elementwise_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    run_spans(a, lo, hi, BACKWARD_SPANS[a->act]);
    if (a->stream) fnn_stream_fence();
}

/* The least work (elements) worth a thread for each activation's forward and backward, and whether
   the backward reads y (else x) besides dy. Linear is a memcpy (or nothing, in place) and has no
   entry. */
#define READS_X 0
#define READS_Y 1
static const struct {
    idx_t forward, backward;
    int backward_reads;
} GRAINS[FNN_ACTIVATION_COUNT] = {
    [FNN_ACTIVATION_RELU] = {CHEAP_GRAIN, CHEAP_GRAIN, READS_Y},
    [FNN_ACTIVATION_LEAKY_RELU] = {CHEAP_GRAIN, CHEAP_GRAIN, READS_X},
    [FNN_ACTIVATION_ELU] = {COSTLY_GRAIN, CHEAP_GRAIN, READS_Y},
    [FNN_ACTIVATION_GELU] = {COSTLY_GRAIN, COSTLY_GRAIN, READS_X},
    [FNN_ACTIVATION_SILU] = {COSTLY_GRAIN, COSTLY_GRAIN, READS_X},
    [FNN_ACTIVATION_SIGMOID] = {COSTLY_GRAIN, CHEAP_GRAIN, READS_Y},
    [FNN_ACTIVATION_TANH] = {COSTLY_GRAIN, CHEAP_GRAIN, READS_Y},
    [FNN_ACTIVATION_SOFTPLUS] = {COSTLY_GRAIN, COSTLY_GRAIN, READS_X},
    [FNN_ACTIVATION_SOFTMAX] = {COSTLY_GRAIN, CHEAP_GRAIN, READS_Y},
};

/* Whether out is written with streaming stores: a large output that is not one of the inputs (in
   place, the read has already brought its lines in); for softmax only the backward (the forward
   rescales each row in its output), in rows long enough that few of their lines are split between
   the plain head and the streamed body. With the inputs prefetched and blocks of 256 floats,
   streaming pays for the exp-based forwards as well (16M floats, streamed / plain, 2 threads: sigmoid
   and tanh 1.14-1.19x, gelu 1.15-1.18x, silu 1.18-1.21x, elu 1.21-1.26x, softplus 1.18-1.21x;
   1 thread 1.04-1.28x), where 2048-float blocks without the prefetch measured 0.91-1.05x. */
static int streams(int act, int backward, idx_t rows, idx_t cols, const float *out, const float *in,
                   const float *other) {
    if (out == in || out == other) return 0;
    if (act == FNN_ACTIVATION_SOFTMAX && (!backward || (cols >= NARROW_COLS && cols < 256))) return 0;
    return rows * cols >= fnn_stream_min_floats();
}

/* Whether an elementwise kernel prefetches its inputs ahead: softmax prefetches whole rows itself,
   and the costly backwards (gelu, silu, softplus: an exp and a division on two inputs) are bound by
   their arithmetic, where the prefetches' own instructions cost more than they save (gelu 0.86-0.98x,
   measured on 16M floats at 2 threads). */
static int prefetches(int act, int backward, idx_t n) {
    if (act == FNN_ACTIVATION_SOFTMAX || (backward && GRAINS[act].backward == COSTLY_GRAIN)) return 0;
    return n >= fnn_prefetch_min_floats();
}

/* Runs one range function over n elements, or over rows for softmax (whose grain counts elements). */
static void run(int act, fnn_range_fn body, idx_t grain, idx_t rows, idx_t cols, struct act_args *args) {
    if (act == FNN_ACTIVATION_SOFTMAX)
        fnn_parallel_for(rows, FNN_MAX(grain / cols, 1), body, args);
    else
        fnn_parallel_for(rows * cols, grain, body, args);
}

void fnn_activation_forward(int act, float alpha, idx_t rows, idx_t cols, const float *x, float *y) {
    idx_t n = rows * cols;
    if (n == 0) return;
    if (act == FNN_ACTIVATION_LINEAR) {
        if (x != y) memcpy(y, x, (size_t)n * sizeof(float));
        return;
    }
    struct act_args args = {.x = x, .out = y, .alpha = alpha, .cols = cols, .n = n, .act = act,
                            .stream = streams(act, 0, rows, cols, y, x, x),
                            .prefetch = prefetches(act, 0, n)};
    run(act, act == FNN_ACTIVATION_SOFTMAX ? softmax_forward : elementwise_forward, GRAINS[act].forward, rows, cols,
        &args);
}

void fnn_activation_backward(int act, float alpha, idx_t rows, idx_t cols,
                             const float *x, const float *y, const float *dy, float *dx) {
    idx_t n = rows * cols;
    if (n == 0) return;
    if (act == FNN_ACTIVATION_LINEAR) {
        if (dy != dx) memcpy(dx, dy, (size_t)n * sizeof(float));
        return;
    }
    int reads_y = GRAINS[act].backward_reads == READS_Y;
    struct act_args args = {.x = reads_y ? NULL : x, .y = reads_y ? y : NULL, .dy = dy, .out = dx, .alpha = alpha,
                            .cols = cols, .n = n, .act = act,
                            .stream = streams(act, 1, rows, cols, dx, dy, reads_y ? y : x),
                            .prefetch = prefetches(act, 1, n)};
    run(act, act == FNN_ACTIVATION_SOFTMAX ? softmax_backward : elementwise_backward, GRAINS[act].backward, rows,
        cols, &args);
}
