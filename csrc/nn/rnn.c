/* Fused recurrent layers, forward and backward: SimpleRNN, LSTM and GRU (reset after or before the
   recurrent product), in Keras's weight layouts.

   Forward: the input projection of every timestep is one GEMM, x (steps*batch, in) @ kernel + bias,
   into the gate buffer; each step then does one product of the state by the recurrent kernel (GRU
   with the reset before the product needs a second, for the candidate) and one pass that applies the
   gate activations and updates the state (an LSTM with the default activations through the per-ISA
   nn/lstm_cell.c). Backward: the steps in reverse, each one pass that turns the state gradient into
   gate gradients (written over that step's gates) and one product by the transposed recurrent
   kernel; the kernel and recurrent-kernel gradients are then one GEMM each over all steps.

   Inside, buffers are time-major, (steps, batch, .) by input time, so a step's rows are contiguous and
   the GEMMs over all steps read them as plain matrices; x is copied time-major once (a batch of one
   already is). go_backwards walks input time downwards and reverses nothing.

   Threads (rnn_team.c): a call is a list of phases, each cut into the same pieces. With several
   rows a piece is a range of rows, and the call one phase after the recurrent kernel (backward: its
   transpose) is packed into micro-kernel panels: each piece runs its rows through every step, since
   a row's recurrence reads only its own state and gradients. One row: pieces are NR-wide blocks of
   units (NR = the micro-kernel's tile width), and the phases are packing, then one a step (two for
   GRU with the reset before the product). A forward piece is its units' columns of every gate's
   recurrent product and then the cell update of those units; the next step's products read every
   unit of the state, hence a phase a step. A backward piece is its units' part of the product by the
   transposed recurrent kernel for the step after (which needs every unit's gate gradients, hence the
   phase boundary) and then its units' gate gradients of the step. The per-step products drive the
   GEMM micro-kernel with fnn_sgemm's K blocks, so each row gets exactly the bits fnn_sgemm would give
   it, in whichever rows' tile it lies; a batch of one drives the one-row kernel, whose chains are the
   same. No sum is split between pieces: any thread count gives the same bits, and a row's forward
   never reads another row. */
#include <string.h>
#include "../fastnn.h"
#include "../gemm/gemm_internal.h"
#include "rnn_team.h"

/* Buffers in the workspace start on 64-byte boundaries. */
#define RNN_ALIGN_FLOATS 16
/* The widest micro-kernel tile: packed panels are sized for it whatever the SIMD path. */
#define RNN_MAX_NR 32
/* Multiply-adds of recurrent product per step below which a second thread is not worth its phase
   boundaries (~0.2 us each when both threads run). */
#define RNN_THREAD_MIN_MACS (1 << 14)

static idx_t gate_count(int cell) {
    return cell == FNN_RNN_LSTM ? 4 : cell == FNN_RNN_SIMPLE ? 1 : 3;
}

static idx_t round_up(idx_t x, idx_t to) { return (x + to - 1) / to * to; }

/* The workspace, carved by plan_workspace. Per-step buffers are (T, B, width) by input time. */
typedef struct {
    idx_t gu;          /* gate columns: gates * units */
    float *xt;         /* (T, B, I) x time-major (B > 1); the backward's dx before it is reordered */
    float *gates;      /* (T, B, gu): projection, then gate activations; the backward's gate gradients */
    float *pre;        /* (T, B, gu) pre-activations, only when an activation's backward reads its input */
    float *hprev;      /* (T, B, U) training: the state each step starts from */
    float *hdrop;      /* (T, B, U) recurrent dropout: that state times the mask, which the products read */
    float *cells;      /* (T, B, U) LSTM training: c after each step */
    float *cell_act;   /* (T, B, U) LSTM training: act(c) */
    float *extra;      /* (T, B, U) GRU training: reset_after h @ R_h + b_h, reset_before r * h */
    float *packed;     /* the recurrent kernel (backward: its transpose) in micro-kernel panels */
    float *row;        /* B == 1: (blocks, gates, NR) each unit block's gate columns side by side */
    float *step;       /* GRU: (B, 3U) reset_after's recurrent product; (B, U) reset_before's r * h or its gradient */
    float *h[2];       /* (B, U) state ping-pong (inference); h[0] takes the final state in training */
    float *c;          /* (B, U) LSTM cell state */
    float *first;      /* (B,) each row's first kept step (steps when none) */
    float *zeros;      /* (B, U) zeros: the cell state before the first step without c0 (backward) */
    float *dh[2];      /* (B, U) state-gradient ping-pong (backward) */
    float *dhdrop;     /* (B, U) recurrent dropout: the products' gradient of the dropped state (backward) */
    float *dc;         /* (B, U) LSTM cell-state gradient (backward) */
    float *tmp;        /* (B, gu + U) per-row scratch of the backward pass */
} rnn_buffers;

static int needs_input(int act) { return fnn_activation_backward_input(act) == FNN_NEEDS_X; }

static int keeps_pre(const fnn_rnn_desc *d) {
    return needs_input(d->act) || (d->cell != FNN_RNN_SIMPLE && needs_input(d->recurrent_act));
}

/* Carves base (NULL: only counts) into buffers; returns the floats used. */
static idx_t plan_workspace(const fnn_rnn_desc *d, int training, float *base, rnn_buffers *w) {
    const idx_t B = d->batch, T = d->steps, U = d->units, gu = gate_count(d->cell) * U;
    const int lstm = d->cell == FNN_RNN_LSTM, gru = d->cell >= FNN_RNN_GRU;
    idx_t used = 0;
    memset(w, 0, sizeof *w);
    w->gu = gu;
#define TAKE(field, floats)                                                                \
    do {                                                                                   \
        w->field = base ? base + used : NULL;                                              \
        used += round_up(floats, RNN_ALIGN_FLOATS);                                        \
    } while (0)
    if (B > 1) TAKE(xt, T * B * d->in);
    TAKE(gates, T * B * gu);
    TAKE(packed, round_up(U, RNN_MAX_NR) * gu);
    if (B == 1) TAKE(row, round_up(U, RNN_MAX_NR) * gate_count(d->cell));
    TAKE(h[0], B * U);
    TAKE(h[1], B * U);
    TAKE(first, B);
    if (lstm) TAKE(c, B * U);
    if (gru) TAKE(step, B * (d->cell == FNN_RNN_GRU ? gu : U));
    if (d->recurrent_dropout) TAKE(hdrop, T * B * U);
    if (training) {
        if (keeps_pre(d)) TAKE(pre, T * B * gu);
        TAKE(hprev, T * B * U);
        if (lstm) {
            TAKE(cells, T * B * U);
            TAKE(cell_act, T * B * U);
            TAKE(dc, B * U);
            TAKE(zeros, B * U);
        }
        if (gru) TAKE(extra, T * B * U);
        TAKE(dh[0], B * U);
        TAKE(dh[1], B * U);
        if (d->recurrent_dropout) TAKE(dhdrop, B * U);
        TAKE(tmp, B * (gu + U));
    }
#undef TAKE
    return used;
}

idx_t fnn_rnn_workspace_floats(const fnn_rnn_desc *d, int training) {
    rnn_buffers w;
    return plan_workspace(d, training, NULL, &w);
}

static idx_t time_of(const fnn_rnn_desc *d, idx_t s) { return d->go_backwards ? d->steps - 1 - s : s; }

/* ---- the per-step products ---- */

// a is (m, k) rows lda apart, panel is (k, NR) packed, c is (m, nr) rows ldc apart:
// c = [c +] a @ panel [+ bias], in fnn_sgemm's K blocks so each row gets fnn_sgemm's bits
static void panel_product(const fnn_gemm_config *cfg, idx_t m, idx_t k, const float *a, idx_t lda,
                          const float *panel, float *c, idx_t ldc, idx_t nr, int accumulate, const float *bias) {
    idx_t blocks = (k + cfg->kc - 1) / cfg->kc, k_step = (k + blocks - 1) / blocks;
    for (idx_t i = 0; i < m; i += cfg->mr) {
        idx_t mr = FNN_MIN(cfg->mr, m - i);
        for (idx_t pc = 0; pc < k; pc += k_step) {
            idx_t kc = FNN_MIN(k_step, k - pc);
            cfg->kernel(kc, a + i * lda + pc, lda, 1, panel + pc * cfg->nr, cfg->nr, c + i * ldc, ldc, mr, nr,
                        accumulate || pc > 0, pc + kc >= k ? bias : NULL);
        }
    }
}

// a is (1, k); panels are (k, NR), panel_stride apart, n columns in all; c is (n,):
// c = [c +] a @ panels [+ bias] through the one-row kernel, in the K blocks of panel_product
static void row_product(const fnn_gemm_config *cfg, idx_t k, const float *a, const float *panels, idx_t panel_stride,
                        float *c, idx_t n, int accumulate, const float *bias) {
    idx_t blocks = (k + cfg->kc - 1) / cfg->kc, k_step = (k + blocks - 1) / blocks;
    for (idx_t pc = 0; pc < k; pc += k_step) {
        idx_t kc = FNN_MIN(k_step, k - pc);
        cfg->row_kernel(kc, a + pc, 1, panels + pc * cfg->nr, cfg->nr, panel_stride, c, n, accumulate || pc > 0,
                        pc + kc >= k ? bias : NULL);
    }
}

// r is (U, gu); panel (g, ub), at (ub * gates + g) * U * NR, holds columns [g*U + ub*NR, +NR) of r as
// (U, NR), lanes past the gate zero: a unit block's gates lie side by side for the one-row kernel
static void pack_forward_panels(const fnn_gemm_config *cfg, idx_t U, idx_t gates, const float *r, idx_t ub0,
                                idx_t ub1, float *packed) {
    const idx_t NR = cfg->nr, gu = gates * U;
    for (idx_t g = 0; g < gates; g++)
        for (idx_t ub = ub0; ub < ub1; ub++) {
            float *panel = packed + (ub * gates + g) * U * NR;
            idx_t nr = FNN_MIN(NR, U - ub * NR);
            for (idx_t p = 0; p < U; p++) {
                memcpy(panel + p * NR, r + p * gu + g * U + ub * NR, nr * sizeof(float));
                memset(panel + p * NR + nr, 0, (NR - nr) * sizeof(float));
            }
        }
}

// r is (U, gu); panel ub holds columns [ub*NR, +NR) of r^T as (gu, NR), lanes past U zero
static void pack_backward_panels(const fnn_gemm_config *cfg, idx_t U, idx_t gu, const float *r, idx_t ub0, idx_t ub1,
                                 float *packed) {
    const idx_t NR = cfg->nr;
    for (idx_t ub = ub0; ub < ub1; ub++) {
        float *panel = packed + ub * gu * NR;
        idx_t nr = FNN_MIN(NR, U - ub * NR);
        for (idx_t p = 0; p < gu; p++)
            for (idx_t j = 0; j < NR; j++) panel[p * NR + j] = j < nr ? r[(ub * NR + j) * gu + p] : 0.0f;
    }
}

/* Everything a sequence run shares; each thread adds its unit range. */
typedef struct {
    const fnn_rnn_desc *d;
    const rnn_buffers *w;
    const fnn_gemm_config *cfg;
    fnn_tile_activation activate;  /* the GEMM epilogue's per-ISA activation: the gates run the widest vectors */
    const float *recurrent, *recurrent_bias;
    const uint8_t *mask;
    const float *recurrent_mask;   /* (B, U) recurrent dropout, or NULL */
    float *y;                      /* forward output, or NULL */
    idx_t y_batch, y_step;
    const float *dy;               /* backward output gradient, or NULL */
    idx_t dy_batch, dy_step;
    const float *c0;
    int training;
    int split_rows;                /* pieces are ranges of rows through the whole sequence (one phase) */
    idx_t pieces;                  /* a phase's pieces: ranges of rows, or of unit blocks */
} rnn_run;

/* One thread's view of one step: units [u0, u1) of rows [b0, b1). */
typedef struct {
    const rnn_run *r;
    idx_t s, t;                    /* step and its input time */
    idx_t b0, b1;                  /* rows */
    idx_t ub0, ub1, u0, u1;        /* unit blocks and units */
    const float *h_prev;           /* (B, U) */
    const float *h_in;             /* (B, U) what the recurrent products read: h_prev, or it dropped */
    float *h_next;                 /* (B, U) */
    const float *c_prev;           /* backward, LSTM: (B, U) */
    float *dh_in, *dh_out;         /* backward: gradient of this step's state and of the previous one */
} step_view;

static int kept(const step_view *v, idx_t b) { return !v->r->mask || v->r->mask[b * v->r->d->steps + v->t]; }

/* c (+)= a @ the recurrent kernel's columns of gate g, the view's units; a is (B, k) rows lda apart,
   c is the gate block's first column, rows ldc apart. */
static void recurrent_product(const step_view *v, idx_t g, const float *a, idx_t lda, idx_t k, float *c, idx_t ldc,
                              int accumulate, const float *bias) {
    const rnn_run *r = v->r;
    const fnn_gemm_config *cfg = r->cfg;
    const idx_t U = r->d->units, NR = cfg->nr, G = gate_count(r->d->cell);
    if (r->d->batch == 1) {
        /* one row: the one-row kernel over all the view's panels of the gate at once */
        row_product(cfg, k, a, r->w->packed + (v->ub0 * G + g) * U * NR, G * U * NR, c + v->u0, v->u1 - v->u0,
                    accumulate, bias ? bias + v->u0 : NULL);
        return;
    }
    for (idx_t ub = v->ub0; ub < v->ub1; ub++)
        panel_product(cfg, v->b1 - v->b0, k, a + v->b0 * lda, lda, r->w->packed + (ub * G + g) * U * NR,
                      c + v->b0 * ldc + ub * NR, ldc, FNN_MIN(NR, U - ub * NR), accumulate,
                      bias ? bias + ub * NR : NULL);
}

/* gates (B, gu) += a @ the recurrent kernel's columns of gates [0, count), the view's units. A row
   takes every gate in one call of the one-row kernel over the side-by-side panels (a call a gate
   of one block runs two vectors at a time, too few FMA chains), through w->row: the same sums in
   the same order. */
static void gate_products(const step_view *v, idx_t count, const float *a, float *gates) {
    const rnn_run *r = v->r;
    const idx_t U = r->d->units, NR = r->cfg->nr, gu = r->w->gu, G = gate_count(r->d->cell);
    if (r->d->batch > 1) {
        for (idx_t g = 0; g < count; g++) recurrent_product(v, g, a, U, U, gates + g * U, gu, 1, NULL);
        return;
    }
    float *row = r->w->row;
    for (idx_t ub = v->ub0; ub < v->ub1; ub++) {
        idx_t width = FNN_MIN(NR, U - ub * NR);
        for (idx_t g = 0; g < count; g++) {
            memcpy(row + (ub * G + g) * NR, gates + g * U + ub * NR, width * sizeof(float));
            memset(row + (ub * G + g) * NR + width, 0, (NR - width) * sizeof(float));
        }
        /* with fewer than every gate, the blocks' panels are not contiguous: a call a block */
        if (count < G)
            row_product(r->cfg, U, a, r->w->packed + ub * G * U * NR, U * NR, row + ub * G * NR, count * NR, 1, NULL);
    }
    if (count == G)
        row_product(r->cfg, U, a, r->w->packed + v->ub0 * G * U * NR, U * NR, row + v->ub0 * G * NR,
                    (v->ub1 - v->ub0) * G * NR, 1, NULL);
    for (idx_t ub = v->ub0; ub < v->ub1; ub++)
        for (idx_t g = 0; g < count; g++)
            memcpy(gates + g * U + ub * NR, row + (ub * G + g) * NR, FNN_MIN(NR, U - ub * NR) * sizeof(float));
}

static idx_t unit_blocks(const fnn_gemm_config *cfg, idx_t U) { return (U + cfg->nr - 1) / cfg->nr; }

/* How a call's steps are shared between threads. With several rows, a piece is a range of rows run
   through the whole sequence (the recurrent kernel packed before): a row's recurrence reads only its
   own state, so the pieces never wait for one another and no state moves between cores each step
   (split by units, every step's products read the units the other thread has just written, and a
   batch-32 LSTM step took as long on two threads as on one). Two pieces a thread, so that a thread
   kept waiting has half a share to take. One row: pieces are unit blocks, a phase a step; they are
   kept wide, since its cell pass costs a few calls per piece whatever the width. */
static void share_steps(const fnn_rnn_desc *d, const fnn_gemm_config *cfg, rnn_run *r) {
    idx_t macs = d->batch * d->units * gate_count(d->cell) * d->units;
    idx_t threads = macs >= RNN_THREAD_MIN_MACS ? fnn_get_num_threads() : 1;
    r->split_rows = d->batch > 1;
    r->pieces = r->split_rows ? FNN_MIN(d->batch, threads > 1 ? 2 * threads : 1)
                              : FNN_MIN(unit_blocks(cfg, d->units), threads);
}

/* Runs a call's phases on up to one thread per piece. */
static void run_team(const rnn_run *r, idx_t phases, rnn_piece_fn piece) {
    rnn_run_phases((int)FNN_MIN(r->pieces, fnn_get_num_threads()), phases, r->pieces, piece, (void *)r);
}

// part p of n equal parts of [0, count): [lo, hi)
static void part_of(idx_t count, idx_t n, idx_t p, idx_t *lo, idx_t *hi) {
    *lo = count / n * p + FNN_MIN(p, count % n);
    *hi = *lo + count / n + (p < count % n);
}

/* Piece p's part of step s: its rows (every unit), or its unit blocks [ub0, ub1) (every row). */
static step_view piece_view(const rnn_run *r, idx_t s, idx_t p) {
    const idx_t NR = r->cfg->nr, U = r->d->units, blocks = unit_blocks(r->cfg, U);
    step_view v = {.r = r, .s = s, .t = time_of(r->d, s), .b0 = 0, .b1 = r->d->batch, .ub0 = 0, .ub1 = blocks};
    if (r->split_rows)
        part_of(r->d->batch, r->pieces, p, &v.b0, &v.b1);
    else
        part_of(blocks, r->pieces, p, &v.ub0, &v.ub1);
    v.u0 = v.ub0 * NR;
    v.u1 = FNN_MIN(v.ub1 * NR, U);
    return v;
}

/* ---- forward ---- */

/* Activations of gate g's columns [u0, u1) of the view's rows, in place. */
static void activate_gate(const step_view *v, idx_t g, int act, float alpha) {
    const rnn_run *r = v->r;
    const idx_t B = r->d->batch, gu = r->w->gu;
    r->activate(act, alpha, r->w->gates + (v->t * B + v->b0) * gu + g * r->d->units + v->u0, gu, v->b1 - v->b0,
                v->u1 - v->u0);
}

/* Pre-activations of gate g's columns [u0, u1), kept for the backward. */
static void keep_pre(const step_view *v, idx_t g) {
    const rnn_run *r = v->r;
    if (!r->w->pre) return;
    const idx_t B = r->d->batch, gu = r->w->gu;
    for (idx_t b = v->b0; b < v->b1; b++) {
        idx_t at = (v->t * B + b) * gu + g * r->d->units + v->u0;
        memcpy(r->w->pre + at, r->w->gates + at, (v->u1 - v->u0) * sizeof(float));
    }
}

/* The end of a row's step, shared by every cell: a masked row carries its state (the masked-step
   select); the output is the state, or for a masked step the previous output (the carried state
   once the row has had a kept step, else zeros; zeros always with zero_output_for_mask). */
static void finish_row(const step_view *v, idx_t b, int keep) {
    const rnn_run *r = v->r;
    const fnn_rnn_desc *d = r->d;
    const idx_t U = d->units, width = v->u1 - v->u0;
    float *h = v->h_next + b * U + v->u0;
    if (!keep) memcpy(h, v->h_prev + b * U + v->u0, width * sizeof(float));
    if (r->y && (d->return_sequences || v->s == d->steps - 1)) {
        float *y = r->y + b * r->y_batch + (d->return_sequences ? v->s * r->y_step : 0) + v->u0;
        if (keep || (!d->zero_output_for_mask && (float)v->s >= r->w->first[b]))
            memcpy(y, h, width * sizeof(float));
        else
            memset(y, 0, width * sizeof(float));
    }
}

/* Keras's default activations, sigmoid gates and a tanh candidate (and LSTM cell output): a row's
   forward is one loop over its units instead of a pass a gate, and the derivatives come from the
   stored outputs, y (1 - y) and 1 - y^2, so its gate gradients are one loop too. */
static int default_activations(const fnn_rnn_desc *d) {
    return d->act == FNN_ACTIVATION_TANH && d->recurrent_act == FNN_ACTIVATION_SIGMOID;
}

// step rows of gates (B, 4U) are i, f, c, o; c (B, U) is updated in place
static void lstm_cell_forward(const step_view *v) {
    const rnn_run *r = v->r;
    const fnn_rnn_desc *d = r->d;
    const rnn_buffers *w = r->w;
    const idx_t B = d->batch, U = d->units;
    const int fast = default_activations(d);
    for (idx_t g = 0; g < 4 && !fast; g++) {
        keep_pre(v, g);
        activate_gate(v, g, g == 2 ? d->act : d->recurrent_act, g == 2 ? d->alpha : d->recurrent_alpha);
    }
    for (idx_t b = v->b0; b < v->b1; b++) {
        idx_t row = v->t * B + b;
        float *gate_i = w->gates + row * 4 * U, *gate_f = gate_i + U, *gate_c = gate_f + U, *gate_o = gate_c + U;
        float *c = w->c + b * U, *h = v->h_next + b * U;
        int keep = kept(v, b);
        if (keep && fast) {
            /* a masked row's gates are never read: its gradients are zeros */
            fnn_lstm_cell_forward(v->u1 - v->u0, gate_i + v->u0, U, c + v->u0,
                                  r->training ? w->cell_act + row * U + v->u0 : NULL, h + v->u0);
        } else if (keep) {
            for (idx_t u = v->u0; u < v->u1; u++) c[u] = gate_f[u] * c[u] + gate_i[u] * gate_c[u];
            /* act(c) goes where the backward reads it (training) or straight into h */
            float *c_act = r->training ? w->cell_act + row * U : h;
            memcpy(c_act + v->u0, c + v->u0, (v->u1 - v->u0) * sizeof(float));
            r->activate(d->act, d->alpha, c_act + v->u0, U, 1, v->u1 - v->u0);
            for (idx_t u = v->u0; u < v->u1; u++) h[u] = gate_o[u] * c_act[u];
        }
        if (r->training) memcpy(w->cells + row * U + v->u0, c + v->u0, (v->u1 - v->u0) * sizeof(float));
        finish_row(v, b, keep);
    }
}

// step rows of gates (B, U)
static void simple_cell_forward(const step_view *v) {
    const rnn_run *r = v->r;
    const idx_t B = r->d->batch, U = r->d->units;
    keep_pre(v, 0);
    activate_gate(v, 0, r->d->act, r->d->alpha);
    for (idx_t b = v->b0; b < v->b1; b++) {
        int keep = kept(v, b);
        if (keep)
            memcpy(v->h_next + b * U + v->u0, r->w->gates + (v->t * B + b) * U + v->u0, (v->u1 - v->u0) * sizeof(float));
        finish_row(v, b, keep);
    }
}

/* GRU: h = z * h_prev + (1 - z) * hh, Keras's blend (PyTorch's with its gates renamed); units [u0, u1). */
static void gru_blend(const step_view *v) {
    const rnn_run *r = v->r;
    const idx_t B = r->d->batch, U = r->d->units;
    for (idx_t b = v->b0; b < v->b1; b++) {
        const float *gate_z = r->w->gates + (v->t * B + b) * 3 * U, *gate_h = gate_z + 2 * U;
        const float *h_prev = v->h_prev + b * U;
        float *h = v->h_next + b * U;
        int keep = kept(v, b);
        if (keep)
            for (idx_t u = v->u0; u < v->u1; u++) h[u] = gate_z[u] * h_prev[u] + (1.0f - gate_z[u]) * gate_h[u];
        finish_row(v, b, keep);
    }
}

// reset_after: step rows of gates (B, 3U) z, r, h from the input; w->step rows (3U,) h_prev @ R + recurrent bias
static void gru_cell_forward(const step_view *v) {
    const rnn_run *r = v->r;
    const fnn_rnn_desc *d = r->d;
    const rnn_buffers *w = r->w;
    const idx_t B = d->batch, U = d->units;
    for (idx_t b = v->b0; b < v->b1; b++) {
        float *gate_z = w->gates + (v->t * B + b) * 3 * U;
        const float *rec = w->step + b * 3 * U;
        for (idx_t u = v->u0; u < v->u1; u++) {
            gate_z[u] += rec[u];
            gate_z[U + u] += rec[U + u];
        }
    }
    for (idx_t g = 0; g < 2; g++) {
        keep_pre(v, g);
        activate_gate(v, g, d->recurrent_act, d->recurrent_alpha);
    }
    for (idx_t b = v->b0; b < v->b1; b++) {
        idx_t row = v->t * B + b;
        float *gate_r = w->gates + row * 3 * U + U, *gate_h = gate_r + U;
        const float *rec_h = w->step + b * 3 * U + 2 * U;
        for (idx_t u = v->u0; u < v->u1; u++) gate_h[u] += gate_r[u] * rec_h[u];
        if (r->training) memcpy(w->extra + row * U + v->u0, rec_h + v->u0, (v->u1 - v->u0) * sizeof(float));
    }
    keep_pre(v, 2);
    activate_gate(v, 2, d->act, d->alpha);
    gru_blend(v);
}

/* reset_before, first half: z and r, and r * h_prev (dropped, with recurrent dropout) for the
   candidate's product (zeros on masked rows, whose candidate is dropped). rh is (B, U). */
static void gru_before_gates_forward(const step_view *v, float *rh) {
    const rnn_run *r = v->r;
    const fnn_rnn_desc *d = r->d;
    const idx_t B = d->batch, U = d->units;
    for (idx_t g = 0; g < 2; g++) {
        keep_pre(v, g);
        activate_gate(v, g, d->recurrent_act, d->recurrent_alpha);
    }
    for (idx_t b = v->b0; b < v->b1; b++) {
        const float *gate_r = r->w->gates + (v->t * B + b) * 3 * U + U, *h_in = v->h_in + b * U;
        float *rh_b = rh + b * U;
        int keep = kept(v, b);
        for (idx_t u = v->u0; u < v->u1; u++) rh_b[u] = keep ? gate_r[u] * h_in[u] : 0.0f;
    }
}

// h (B, U) times the recurrent mask (B, U) into out (B, U), rows [b0, b1) and units [u0, u1)
static void drop_state(const rnn_run *r, idx_t b0, idx_t b1, idx_t u0, idx_t u1, const float *h, float *out) {
    const idx_t U = r->d->units;
    for (idx_t b = b0; b < b1; b++)
        for (idx_t u = u0; u < u1; u++) out[b * U + u] = h[b * U + u] * r->recurrent_mask[b * U + u];
}

/* Phase 0 packs the recurrent kernel; then step s is phase 1 + s (GRU reset before: 1 + 2s, the
   products that r needs, and 2 + 2s, the candidate's). */
static idx_t forward_phases(const fnn_rnn_desc *d) {
    return 1 + d->steps * (d->cell == FNN_RNN_GRU_RESET_BEFORE ? 2 : 1);
}

static void forward_step(const rnn_run *r, idx_t phase, idx_t piece) {
    const fnn_rnn_desc *d = r->d;
    const rnn_buffers *w = r->w;
    const idx_t B = d->batch, T = d->steps, U = d->units, gu = w->gu, G = gate_count(d->cell);
    const int before = d->cell == FNN_RNN_GRU_RESET_BEFORE;
    const idx_t s = before ? (phase - 1) / 2 : phase - 1;
    const int candidate_part = before && (phase - 1) % 2;
    step_view v = piece_view(r, s, piece);
    /* training keeps every step's starting state where the weight gradient's GEMM reads it */
    v.h_prev = r->training ? w->hprev + v.t * B * U : w->h[s & 1];
    v.h_next = !r->training ? w->h[(s + 1) & 1] : s + 1 < T ? w->hprev + time_of(d, s + 1) * B * U : w->h[0];
    v.h_in = w->hdrop ? w->hdrop + v.t * B * U : v.h_prev;
    float *gates_t = w->gates + v.t * B * gu;
    switch (d->cell) {
    case FNN_RNN_LSTM:
    case FNN_RNN_SIMPLE:
        gate_products(&v, G, v.h_in, gates_t);
        if (d->cell == FNN_RNN_LSTM) lstm_cell_forward(&v); else simple_cell_forward(&v);
        break;
    case FNN_RNN_GRU:
        for (idx_t g = 0; g < 3; g++)
            recurrent_product(&v, g, v.h_in, U, U, w->step + g * U, gu, 0,
                              r->recurrent_bias ? r->recurrent_bias + g * U : NULL);
        gru_cell_forward(&v);
        break;
    default: {  /* reset before: the candidate's product needs r of every unit first */
        float *rh = r->training ? w->extra + v.t * B * U : w->step;
        if (!candidate_part) {
            gate_products(&v, 2, v.h_in, gates_t);
            gru_before_gates_forward(&v, rh);
            return;
        }
        recurrent_product(&v, 2, rh, U, U, gates_t + 2 * U, gu, 1, NULL);
        keep_pre(&v, 2);
        activate_gate(&v, 2, d->act, d->alpha);
        gru_blend(&v);
    }
    }
    /* the next step's products read the new state dropped: these units of it */
    if (w->hdrop && s + 1 < T) drop_state(r, v.b0, v.b1, v.u0, v.u1, v.h_next, w->hdrop + time_of(d, s + 1) * B * U);
}

/* Split by rows, the one phase: the piece's rows through every step's phases. */
static void forward_piece(void *ctx, idx_t phase, idx_t piece) {
    const rnn_run *r = ctx;
    if (r->split_rows) {
        for (idx_t step_phase = 1; step_phase < forward_phases(r->d); step_phase++) forward_step(r, step_phase, piece);
    } else if (phase == 0) {
        step_view v = piece_view(r, 0, piece);
        pack_forward_panels(r->cfg, r->d->units, gate_count(r->d->cell), r->recurrent, v.ub0, v.ub1, r->w->packed);
    } else {
        forward_step(r, phase, piece);
    }
}

// x is (B, T, I), xt is (T, B, I)
static void to_time_major(idx_t B, idx_t T, idx_t I, const float *x, float *xt) {
    for (idx_t t = 0; t < T; t++)
        for (idx_t b = 0; b < B; b++) memcpy(xt + (t * B + b) * I, x + (b * T + t) * I, I * sizeof(float));
}

/* Each row's first kept step (steps when none), as a float: whether a masked step's output was the
   carried state. */
static void first_kept_steps(const fnn_rnn_desc *d, const uint8_t *mask, float *first) {
    for (idx_t b = 0; b < d->batch; b++) {
        idx_t s = 0;
        while (mask && s < d->steps && !mask[b * d->steps + time_of(d, s)]) s++;
        first[b] = (float)s;
    }
}

int fnn_rnn_forward(const fnn_rnn_desc *d, const float *x, const float *kernel, const float *recurrent,
                    const float *bias, const uint8_t *mask, const float *recurrent_mask, const float *h0,
                    const float *c0, float *y, idx_t y_batch, idx_t y_step, float *h_out, float *c_out,
                    float *workspace, int training) {
    const idx_t B = d->batch, T = d->steps, U = d->units, I = d->in;
    rnn_buffers w;
    plan_workspace(d, training, workspace, &w);
    const idx_t gu = w.gu;
    if (B <= 0 || T <= 0) return 0;
    const float *x_rows = x;
    if (B > 1) {
        to_time_major(B, T, I, x, w.xt);
        x_rows = w.xt;
    }
    if (fnn_sgemm(0, 0, T * B, gu, I, x_rows, I, kernel, gu, w.gates, gu, 0, bias, FNN_ACTIVATION_LINEAR, 0.0f))
        return -1;
    float *h_start = training ? w.hprev + time_of(d, 0) * B * U : w.h[0];
    if (h0) memcpy(h_start, h0, B * U * sizeof(float)); else memset(h_start, 0, B * U * sizeof(float));
    if (w.c) { if (c0) memcpy(w.c, c0, B * U * sizeof(float)); else memset(w.c, 0, B * U * sizeof(float)); }
    first_kept_steps(d, mask, w.first);
    rnn_run run = {.d = d, .w = &w, .cfg = fnn_gemm_active_config(), .recurrent = recurrent,
                   .recurrent_bias = d->cell == FNN_RNN_GRU && bias ? bias + gu : NULL, .mask = mask,
                   .recurrent_mask = recurrent_mask, .y = y, .y_batch = y_batch, .y_step = y_step,
                   .training = training};
    share_steps(d, run.cfg, &run);
    run.activate = run.cfg->activate;
    if (w.hdrop) drop_state(&run, 0, B, 0, U, h_start, w.hdrop + time_of(d, 0) * B * U);
    if (run.split_rows)
        pack_forward_panels(run.cfg, U, gate_count(d->cell), recurrent, 0, unit_blocks(run.cfg, U), w.packed);
    run_team(&run, run.split_rows ? 1 : forward_phases(d), forward_piece);
    if (h_out) memcpy(h_out, training ? w.h[0] : w.h[T & 1], B * U * sizeof(float));
    if (c_out && w.c) memcpy(c_out, w.c, B * U * sizeof(float));
    return 0;
}

/* ---- backward ---- */

/* dx = dy * act'(.) over n values: act's backward reads x (the kept pre-activations) or y. dx may be
   y or dy itself. */
static void activation_grad(int act, float alpha, idx_t n, const float *x, const float *y, const float *dy, float *dx) {
    fnn_activation_backward(act, alpha, 1, n, x, y, dy, dx);
}

static const float *pre_at(const rnn_buffers *w, idx_t at) { return w->pre ? w->pre + at : NULL; }

/* The gradient reaching row b's state (units [u0, u1)) after step s: what the later steps sent back,
   plus the step's output gradient when that output is the state (kept, or carried once the row has
   had a kept step; a zero output passes nothing). Written into dh_in's row, which the pass then reads. */
static float *state_grad(const step_view *v, idx_t b, int keep) {
    const rnn_run *r = v->r;
    const fnn_rnn_desc *d = r->d;
    float *dh = v->dh_in + b * d->units;
    int output_is_state = keep || (!d->zero_output_for_mask && (float)v->s >= r->w->first[b]);
    if (r->dy && output_is_state && (d->return_sequences || v->s == d->steps - 1)) {
        const float *dy = r->dy + b * r->dy_batch + (d->return_sequences ? v->s * r->dy_step : 0);
        for (idx_t u = v->u0; u < v->u1; u++) dh[u] += dy[u];
    }
    return dh;
}

/* A masked row's step: no gate gradient, and the state gradient passes to the step before (the
   recurrent product then adds zero to it). */
static void carry_grad(const step_view *v, idx_t b, const float *dh) {
    const rnn_run *r = v->r;
    const idx_t U = r->d->units, gu = r->w->gu, width = v->u1 - v->u0;
    float *dgates = r->w->gates + (v->t * r->d->batch + b) * gu;
    for (idx_t g = 0; g < gu / U; g++) memset(dgates + g * U + v->u0, 0, width * sizeof(float));
    memcpy(v->dh_out + b * U + v->u0, dh + v->u0, width * sizeof(float));
}

// n units of one row, any activations: the gradients of the gate values (before their activations'
// derivatives) into dgates (gate g at g * gate_stride), given d_cell = dc through the cell output; dc is carried back
static void lstm_value_grads(idx_t n, const float *FNN_RESTRICT gate_i, const float *FNN_RESTRICT gate_c,
                             const float *FNN_RESTRICT gate_f, const float *FNN_RESTRICT c_act,
                             const float *FNN_RESTRICT c_prev, const float *FNN_RESTRICT dh,
                             const float *FNN_RESTRICT d_cell, float *FNN_RESTRICT dc, float *FNN_RESTRICT dgates,
                             idx_t gate_stride) {
    for (idx_t u = 0; u < n; u++) {
        float dc_u = dc[u] + d_cell[u];
        dgates[u] = dc_u * gate_c[u];
        dgates[gate_stride + u] = dc_u * c_prev[u];
        dgates[2 * gate_stride + u] = dc_u * gate_i[u];
        dgates[3 * gate_stride + u] = dh[u] * c_act[u];
        dc[u] = dc_u * gate_f[u];
    }
}

// gates rows (4U,) i, f, c, o become their pre-activation gradients; dc (B, U) is carried back
static void lstm_cell_backward(const step_view *v) {
    const rnn_run *r = v->r;
    const fnn_rnn_desc *d = r->d;
    const rnn_buffers *w = r->w;
    const idx_t B = d->batch, U = d->units, u0 = v->u0, width = v->u1 - v->u0;
    const int fast = default_activations(d);
    for (idx_t b = v->b0; b < v->b1; b++) {
        idx_t row = v->t * B + b, at = row * 4 * U;
        int keep = kept(v, b);
        const float *dh = state_grad(v, b, keep);
        if (!keep) {
            carry_grad(v, b, dh);
            continue;
        }
        float *gate_i = w->gates + at, *gate_f = gate_i + U, *gate_c = gate_f + U, *gate_o = gate_c + U;
        float *dgates = w->tmp + b * 5 * U, *d_cell = dgates + 4 * U;
        float *dc = w->dc + b * U;
        const float *c_prev = v->c_prev + b * U, *c_act = w->cell_act + row * U;
        memset(v->dh_out + b * U + u0, 0, width * sizeof(float));
        if (fast) {
            fnn_lstm_cell_backward(width, gate_i + u0, U, c_act + u0, c_prev + u0, dh + u0, dc + u0);
            continue;
        }
        for (idx_t u = u0; u < v->u1; u++) d_cell[u] = dh[u] * gate_o[u];
        activation_grad(d->act, d->alpha, width, w->cells + row * U + u0, c_act + u0, d_cell + u0, d_cell + u0);
        lstm_value_grads(width, gate_i + u0, gate_c + u0, gate_f + u0, c_act + u0, c_prev + u0, dh + u0, d_cell + u0,
                         dc + u0, dgates + u0, U);
        for (idx_t g = 0; g < 4; g++) {
            int act = g == 2 ? d->act : d->recurrent_act;
            float alpha = g == 2 ? d->alpha : d->recurrent_alpha;
            idx_t col = g * U + u0;
            activation_grad(act, alpha, width, pre_at(w, at + col), w->gates + at + col, dgates + col,
                            w->gates + at + col);
        }
    }
}

// gates rows (U,) become their pre-activation gradients
static void simple_cell_backward(const step_view *v) {
    const rnn_run *r = v->r;
    const fnn_rnn_desc *d = r->d;
    const rnn_buffers *w = r->w;
    const idx_t B = d->batch, U = d->units, u0 = v->u0, width = v->u1 - v->u0;
    for (idx_t b = v->b0; b < v->b1; b++) {
        idx_t at = (v->t * B + b) * U + u0;
        int keep = kept(v, b);
        const float *dh = state_grad(v, b, keep);
        if (!keep) {
            carry_grad(v, b, dh);
            continue;
        }
        activation_grad(d->act, d->alpha, width, pre_at(w, at), w->gates + at, dh + u0, w->gates + at);
        memset(v->dh_out + b * U + u0, 0, width * sizeof(float));
    }
}

/* GRU, both forms, from a kept row's state gradient dh: the candidate's pre-activation gradient (into
   its gate slot), z's (into its slot) and the direct part dh * z of the previous state's gradient
   (into dh_out, which the products then add to). */
static void gru_blend_grad(const step_view *v, idx_t b, const float *dh) {
    const rnn_run *r = v->r;
    const fnn_rnn_desc *d = r->d;
    const rnn_buffers *w = r->w;
    const idx_t U = d->units, u0 = v->u0, width = v->u1 - v->u0, at = (v->t * d->batch + b) * 3 * U;
    float *gate_z = w->gates + at, *gate_h = gate_z + 2 * U;
    float *dz = w->tmp + b * 4 * U, *dhh = dz + U, *dh_prev = v->dh_out + b * U;
    const float *h_prev = w->hprev + (v->t * d->batch + b) * U;
    if (default_activations(d)) {
        for (idx_t u = u0; u < v->u1; u++) {
            float z = gate_z[u], hh = gate_h[u], dh_u = dh[u];
            float dz_u = dh_u * (h_prev[u] - hh), dhh_u = dh_u * (1.0f - z);
            dh_prev[u] = dh_u * z;
            gate_h[u] = dhh_u * (1.0f - hh * hh);
            gate_z[u] = dz_u * z * (1.0f - z);
        }
        return;
    }
    for (idx_t u = u0; u < v->u1; u++) {
        dz[u] = dh[u] * (h_prev[u] - gate_h[u]);
        dhh[u] = dh[u] * (1.0f - gate_z[u]);
        dh_prev[u] = dh[u] * gate_z[u];
    }
    activation_grad(d->act, d->alpha, width, pre_at(w, at + 2 * U + u0), gate_h + u0, dhh + u0, gate_h + u0);
    activation_grad(d->recurrent_act, d->recurrent_alpha, width, pre_at(w, at + u0), gate_z + u0, dz + u0, gate_z + u0);
}

/* r's pre-activation gradient from the gradient dr of its value (in tmp), into r's gate slot. */
static void gru_reset_grad(const step_view *v, idx_t b) {
    const rnn_run *r = v->r;
    const fnn_rnn_desc *d = r->d;
    const idx_t U = d->units, u0 = v->u0, at = (v->t * d->batch + b) * 3 * U + U + u0;
    float *gate_r = r->w->gates + at;
    const float *dr = r->w->tmp + b * 4 * U + 2 * U + u0;
    if (default_activations(d)) {
        for (idx_t u = 0; u < v->u1 - u0; u++) gate_r[u] = dr[u] * gate_r[u] * (1.0f - gate_r[u]);
        return;
    }
    activation_grad(d->recurrent_act, d->recurrent_alpha, v->u1 - u0, pre_at(r->w, at), gate_r, dr, gate_r);
}

// reset_after: gates rows (3U,) z, r, h become gradients; extra rows (h @ R_h + b_h) become theirs
static void gru_cell_backward(const step_view *v) {
    const rnn_run *r = v->r;
    const rnn_buffers *w = r->w;
    const idx_t B = r->d->batch, U = r->d->units;
    for (idx_t b = v->b0; b < v->b1; b++) {
        idx_t row = v->t * B + b;
        int keep = kept(v, b);
        const float *dh = state_grad(v, b, keep);
        float *rec_h = w->extra + row * U;
        if (!keep) {
            carry_grad(v, b, dh);
            memset(rec_h + v->u0, 0, (v->u1 - v->u0) * sizeof(float));
            continue;
        }
        gru_blend_grad(v, b, dh);
        const float *gate_r = w->gates + row * 3 * U + U, *dpre_h = gate_r + U;
        float *dr = w->tmp + b * 4 * U + 2 * U;
        for (idx_t u = v->u0; u < v->u1; u++) {
            dr[u] = dpre_h[u] * rec_h[u];
            rec_h[u] = dpre_h[u] * gate_r[u];
        }
        gru_reset_grad(v, b);
    }
}

/* reset_before, first half: z's and the candidate's gradients, and the direct part of dh_out. */
static void gru_before_blend_backward(const step_view *v) {
    for (idx_t b = v->b0; b < v->b1; b++) {
        int keep = kept(v, b);
        const float *dh = state_grad(v, b, keep);
        if (keep) gru_blend_grad(v, b, dh); else carry_grad(v, b, dh);
    }
}

/* What the recurrent products read at row `row` of the steps: the state, or it dropped. */
static const float *state_read(const rnn_buffers *w, idx_t row, idx_t U) {
    return (w->hdrop ? w->hdrop : w->hprev) + row * U;
}

/* Second half, given drh = dcandidate @ R_h^T (B, U): r's gradient and r * drh (times the recurrent
   mask) into dh_out. */
static void gru_before_reset_backward(const step_view *v, const float *drh) {
    const rnn_run *r = v->r;
    const rnn_buffers *w = r->w;
    const idx_t B = r->d->batch, U = r->d->units;
    for (idx_t b = v->b0; b < v->b1; b++) {
        if (!kept(v, b)) continue;
        idx_t row = v->t * B + b;
        const float *gate_r = w->gates + row * 3 * U + U, *h_in = state_read(w, row, U), *drh_b = drh + b * U;
        float *dh_prev = v->dh_out + b * U, *dr = w->tmp + b * 4 * U + 2 * U;
        for (idx_t u = v->u0; u < v->u1; u++) dr[u] = drh_b[u] * h_in[u];
        if (r->recurrent_mask) {
            const float *keep = r->recurrent_mask + b * U;
            for (idx_t u = v->u0; u < v->u1; u++) dh_prev[u] += drh_b[u] * gate_r[u] * keep[u];
        } else {
            for (idx_t u = v->u0; u < v->u1; u++) dh_prev[u] += drh_b[u] * gate_r[u];
        }
        gru_reset_grad(v, b);
    }
}

/* dh_out's units += a (B, k) @ rows [k_first, k_first + k) of the transposed recurrent kernel. */
static void backward_product(const step_view *v, const float *a, idx_t lda, idx_t k_first, idx_t k, float *c,
                             int accumulate) {
    const rnn_run *r = v->r;
    const idx_t NR = r->cfg->nr, U = r->d->units, gu = r->w->gu;
    for (idx_t ub = v->ub0; ub < v->ub1; ub++)
        panel_product(r->cfg, v->b1 - v->b0, k, a + v->b0 * lda, lda, r->w->packed + (ub * gu + k_first) * NR,
                      c + v->b0 * U + ub * NR, U, FNN_MIN(NR, U - ub * NR), accumulate, NULL);
}

/* With recurrent dropout the products went to dhdrop (the gradient of the dropped state): these units
   of it, times the mask, join dh_out. */
static void add_dropped_grad(const step_view *v) {
    const rnn_run *r = v->r;
    const idx_t U = r->d->units;
    if (!r->w->dhdrop) return;
    for (idx_t b = v->b0; b < v->b1; b++)
        for (idx_t u = v->u0; u < v->u1; u++)
            v->dh_out[b * U + u] += r->w->dhdrop[b * U + u] * r->recurrent_mask[b * U + u];
}

/* Step s's state gradient and, LSTM, the cell state it started from, for piece `piece`'s units. */
static step_view backward_view(const rnn_run *r, idx_t s, idx_t piece) {
    const fnn_rnn_desc *d = r->d;
    const rnn_buffers *w = r->w;
    const idx_t T = d->steps;
    step_view v = piece_view(r, s, piece);
    v.dh_in = w->dh[(T - 1 - s) & 1];
    v.dh_out = w->dh[(T - s) & 1];
    /* the cell state before step s: the one after step s - 1, or c0 */
    v.c_prev = s > 0 && w->cells ? w->cells + time_of(d, s - 1) * d->batch * d->units : r->c0 ? r->c0 : w->zeros;
    return v;
}

/* The end of step s's backward for these units: the products by the transposed recurrent kernel of
   every unit's gate gradients add to the previous state's gradient (with recurrent dropout through
   dhdrop). */
static void backward_products(const step_view *v) {
    const rnn_run *r = v->r;
    const rnn_buffers *w = r->w;
    const idx_t B = r->d->batch, U = r->d->units, gu = w->gu;
    const float *dgates_t = w->gates + v->t * B * gu;
    float *product = w->dhdrop ? w->dhdrop : v->dh_out;
    int onto = !w->dhdrop;
    backward_product(v, dgates_t, gu, 0, r->d->cell >= FNN_RNN_GRU ? 2 * U : gu, product, onto);
    if (r->d->cell == FNN_RNN_GRU) backward_product(v, w->extra + v->t * B * U, U, 2 * U, U, product, 1);
    add_dropped_grad(v);
}

/* Phase 0 packs the transposed recurrent kernel; then from the last step down, step s is phase
   T - s: step s + 1's products (their inputs, every unit's gate gradients, done in the phase
   before), then step s's gate gradients; phase T + 1 does step 0's products. GRU reset before: two
   phases a step, the second the candidate's product and r's gradient. */
static idx_t backward_phases(const fnn_rnn_desc *d) {
    return 2 + d->steps * (d->cell == FNN_RNN_GRU_RESET_BEFORE ? 2 : 1);
}

static void backward_step(const rnn_run *r, idx_t phase, idx_t piece) {
    const fnn_rnn_desc *d = r->d;
    const rnn_buffers *w = r->w;
    const idx_t T = d->steps, U = d->units, gu = w->gu;
    const idx_t per_step = d->cell == FNN_RNN_GRU_RESET_BEFORE ? 2 : 1, s = T - 1 - (phase - 1) / per_step;
    const int second_part = (phase - 1) % per_step;
    if (!second_part && s + 1 < T) {
        step_view after = backward_view(r, s + 1, piece);
        backward_products(&after);
    }
    if (s < 0) return;
    step_view v = backward_view(r, s, piece);
    switch (d->cell) {
    case FNN_RNN_LSTM: lstm_cell_backward(&v); break;
    case FNN_RNN_SIMPLE: simple_cell_backward(&v); break;
    case FNN_RNN_GRU: gru_cell_backward(&v); break;
    default:
        if (!second_part) {
            gru_before_blend_backward(&v);
        } else {
            backward_product(&v, w->gates + v.t * d->batch * gu + 2 * U, gu, 2 * U, U, w->step, 0);
            gru_before_reset_backward(&v, w->step);
        }
    }
}

/* Split by rows, the one phase: the piece's rows through every step's phases. */
static void backward_piece(void *ctx, idx_t phase, idx_t piece) {
    const rnn_run *r = ctx;
    if (r->split_rows) {
        for (idx_t step_phase = 1; step_phase < backward_phases(r->d); step_phase++)
            backward_step(r, step_phase, piece);
    } else if (phase == 0) {
        step_view v = piece_view(r, 0, piece);
        pack_backward_panels(r->cfg, r->d->units, r->w->gu, r->recurrent, v.ub0, v.ub1, r->w->packed);
    } else {
        backward_step(r, phase, piece);
    }
}

/* The weight gradients after the loop: each one GEMM (two for the GRU's two recurrent products) over
   all steps, and the bias sums. xt is x time-major; dx comes out time-major into dx_rows. */
static int weight_grads(const fnn_rnn_desc *d, const rnn_buffers *w, const float *xt, const float *kernel,
                        float *dx_rows, float *dkernel, float *drecurrent, float *dbias) {
    const idx_t TB = d->batch * d->steps, U = d->units, I = d->in, gu = w->gu;
    const float *h_in = state_read(w, 0, U);  /* every step's state as the products read it */
    int status = 0;
    if (dkernel) status |= fnn_sgemm(1, 0, I, gu, TB, xt, I, w->gates, gu, dkernel, gu, 0, NULL, 0, 0.0f);
    if (drecurrent) {
        if (d->cell < FNN_RNN_GRU) {
            status |= fnn_sgemm(1, 0, U, gu, TB, h_in, U, w->gates, gu, drecurrent, gu, 0, NULL, 0, 0.0f);
        } else {
            /* z and r see h_prev; the candidate sees h_prev (reset after: gradient in extra) or r * h_prev
               (reset before: r * h_prev in extra, gradient in the gate buffer) */
            status |= fnn_sgemm(1, 0, U, 2 * U, TB, h_in, U, w->gates, gu, drecurrent, gu, 0, NULL, 0, 0.0f);
            if (d->cell == FNN_RNN_GRU)
                status |= fnn_sgemm(1, 0, U, U, TB, h_in, U, w->extra, U, drecurrent + 2 * U, gu, 0, NULL, 0, 0.0f);
            else
                status |= fnn_sgemm(1, 0, U, U, TB, w->extra, U, w->gates + 2 * U, gu, drecurrent + 2 * U, gu, 0,
                                    NULL, 0, 0.0f);
        }
    }
    if (dbias) {
        fnn_bias_grad(TB, gu, w->gates, dbias);
        if (d->cell == FNN_RNN_GRU) {
            /* the recurrent bias: z and r as the input bias, the candidate's from its recurrent product */
            memcpy(dbias + gu, dbias, 2 * U * sizeof(float));
            fnn_bias_grad(TB, U, w->extra, dbias + gu + 2 * U);
        }
    }
    if (dx_rows) status |= fnn_sgemm(0, 1, TB, I, gu, w->gates, gu, kernel, gu, dx_rows, I, 0, NULL, 0, 0.0f);
    return status;
}

int fnn_rnn_backward(const fnn_rnn_desc *d, const float *x, const float *kernel, const float *recurrent,
                     const uint8_t *mask, const float *recurrent_mask, const float *c0, const float *dy,
                     idx_t dy_batch, idx_t dy_step, const float *dh_out, const float *dc_out, float *workspace,
                     float *dx, float *dkernel, float *drecurrent, float *dbias, float *dh0, float *dc0) {
    const idx_t B = d->batch, T = d->steps, U = d->units, I = d->in;
    rnn_buffers w;
    plan_workspace(d, 1, workspace, &w);
    if (B <= 0 || T <= 0) return 0;
    if (dh_out) memcpy(w.dh[0], dh_out, B * U * sizeof(float)); else memset(w.dh[0], 0, B * U * sizeof(float));
    if (w.dc) { if (dc_out) memcpy(w.dc, dc_out, B * U * sizeof(float)); else memset(w.dc, 0, B * U * sizeof(float)); }
    if (w.zeros) memset(w.zeros, 0, B * U * sizeof(float));
    rnn_run run = {.d = d, .w = &w, .cfg = fnn_gemm_active_config(), .recurrent = recurrent, .mask = mask,
                   .recurrent_mask = recurrent_mask, .dy = dy, .dy_batch = dy_batch, .dy_step = dy_step, .c0 = c0,
                   .training = 1};
    share_steps(d, run.cfg, &run);
    if (run.split_rows) pack_backward_panels(run.cfg, U, w.gu, recurrent, 0, unit_blocks(run.cfg, U), w.packed);
    run_team(&run, run.split_rows ? 1 : backward_phases(d), backward_piece);
    if (dh0) memcpy(dh0, w.dh[T & 1], B * U * sizeof(float));
    if (dc0 && w.dc) memcpy(dc0, w.dc, B * U * sizeof(float));
    /* x time-major is still in the workspace (a batch of one is x itself); dx is made time-major in
       its place, then put back in x's order */
    const float *xt = B > 1 ? w.xt : x;
    int status = weight_grads(d, &w, xt, kernel, NULL, dkernel, drecurrent, dbias);
    if (dx && status == 0) {
        status = weight_grads(d, &w, NULL, kernel, B > 1 ? w.xt : dx, NULL, NULL, NULL);
        if (B > 1)
            for (idx_t t = 0; t < T; t++)
                for (idx_t b = 0; b < B; b++) memcpy(dx + (b * T + t) * I, w.xt + (t * B + b) * I, I * sizeof(float));
    }
    return status ? -1 : 0;
}
