/* Fused recurrent layers, forward and backward: SimpleRNN, LSTM and GRU (reset after or before the
   recurrent product), in Keras's weight layouts.

   Forward: the input projection of every timestep is one GEMM, x (batch*steps, in) @ kernel + bias,
   into the gate buffer; each step then does one GEMM of the state by the recurrent kernel (GRU with
   the reset before the product needs a second, for the candidate) and one pass over the batch rows
   that applies the gate activations and updates the state. Backward: the steps in reverse, each one
   pass that turns the state gradient into gate gradients (written over that step's gates) and one
   GEMM by the transposed recurrent kernel; the kernel and recurrent-kernel gradients are then one
   GEMM each over all steps.

   Buffers are (batch, steps, .) in input-time order, the order of x's rows, so the GEMMs over all
   steps read them as plain matrices; a step's rows are steps * width apart. go_backwards walks input
   time downwards and reverses nothing.

   Threads split the GEMMs over their outputs (fnn_sgemm) and the passes over batch rows, so no result
   depends on the thread count, and a row's forward never reads another row: a sequence's output does
   not depend on the batch it is in as long as fnn_sgemm's rows do not. */
#include <string.h>
#include "../fastnn.h"
#include "../gemm/gemm_internal.h"

/* Gate elements a thread should have before a step's pass goes parallel (each costs an exp or two). */
#define RNN_PASS_MIN_ELEMENTS 4096
/* Buffers in the workspace start on 64-byte boundaries. */
#define RNN_ALIGN_FLOATS 16

static idx_t gate_count(int cell) {
    return cell == FNN_RNN_LSTM ? 4 : cell == FNN_RNN_SIMPLE ? 1 : 3;
}

/* The workspace, carved by plan_workspace. Per-step buffers are (batch, steps, width); state and
   scratch buffers are (batch, width). */
typedef struct {
    idx_t gu;          /* gate columns: gates * units */
    float *gates;      /* (B, T, gu): projection, then gate activations; the backward's gate gradients */
    float *pre;        /* (B, T, gu) pre-activations, only when an activation's backward reads its input */
    float *hprev;      /* (B, T, U) the state h each step starts from (training) */
    float *cells;      /* (B, T, U) LSTM: c after each step (training) */
    float *cell_act;   /* (B, T, U) LSTM: act(c) (training) */
    float *extra;      /* (B, T, U) GRU: reset_after h @ R_h + b_h, reset_before r * h (training) */
    float *step;       /* GRU: (B, 3U) reset_after's recurrent product, (B, U) reset_before's r * h */
    float *h[2];       /* (B, U) state ping-pong: a step reads one and writes the other */
    float *c;          /* (B, U) LSTM cell state */
    float *seen;       /* (B,) 1 once the row has had a kept step */
    float *rt;         /* (gu, U) the recurrent kernel transposed (backward) */
    float *dh[2];      /* (B, U) state-gradient ping-pong (backward) */
    float *dc;         /* (B, U) LSTM cell-state gradient (backward) */
    float *tmp;        /* (B, gu + U) per-row scratch of the backward pass */
    float *first;      /* (B,) step of each row's first kept step (backward) */
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
#define TAKE(field, floats)                                                    \
    do {                                                                       \
        w->field = base ? base + used : NULL;                                  \
        used += ((floats) + RNN_ALIGN_FLOATS - 1) / RNN_ALIGN_FLOATS * RNN_ALIGN_FLOATS; \
    } while (0)
    TAKE(gates, B * T * gu);
    TAKE(h[0], B * U);
    TAKE(h[1], B * U);
    TAKE(seen, B);
    if (lstm) TAKE(c, B * U);
    if (gru) TAKE(step, B * (d->cell == FNN_RNN_GRU ? gu : U));
    if (training) {
        if (keeps_pre(d)) TAKE(pre, B * T * gu);
        TAKE(hprev, B * T * U);
        if (lstm) {
            TAKE(cells, B * T * U);
            TAKE(cell_act, B * T * U);
            TAKE(dc, B * U);
        }
        if (gru) TAKE(extra, B * T * U);
        TAKE(rt, gu * U);
        TAKE(dh[0], B * U);
        TAKE(dh[1], B * U);
        TAKE(tmp, B * (gu + U));
        TAKE(first, B);
    }
#undef TAKE
    return used;
}

idx_t fnn_rnn_workspace_floats(const fnn_rnn_desc *d, int training) {
    rnn_buffers w;
    return plan_workspace(d, training, NULL, &w);
}

/* The per-ISA activation of the GEMM epilogue (a tile in place), so the gates run the widest vectors. */
static fnn_tile_activation tile_activation(void) {
#ifdef FASTNN_X86
    switch (fnn_simd_get()) {
    case FNN_SIMD_AVX512: return fnn_gemm_avx512_config.activate;
    case FNN_SIMD_AVX2: return fnn_gemm_avx2_config.activate;
    }
#endif
    return fnn_gemm_scalar_config.activate;
}

static idx_t time_of(const fnn_rnn_desc *d, idx_t s) { return d->go_backwards ? d->steps - 1 - s : s; }

/* What one step's pass over rows [lo, hi) needs. */
typedef struct {
    const fnn_rnn_desc *d;
    const rnn_buffers *w;
    const uint8_t *mask;
    idx_t s, t, t_next;           /* step, its input time, the next step's input time (-1: last) */
    const float *h_prev;          /* (B, U) */
    float *h_next;                /* (B, U) */
    const float *c_prev;          /* backward, LSTM: (B, U) rows c_stride apart */
    idx_t c_stride;
    float *y;                     /* output of this step for row 0, or NULL */
    idx_t y_batch;
    const float *dy;              /* backward: this step's output gradient for row 0, or NULL */
    idx_t dy_batch;
    float *dh_in, *dh_out;        /* backward: (B, U) gradient of this step's state, of the previous */
    fnn_tile_activation activate;
    int training;
} step_pass;

static int kept(const step_pass *p, idx_t b) { return !p->mask || p->mask[b * p->d->steps + p->t]; }

/* Activations of gate columns [col, col + width) of rows [lo, hi) of this step, in place. */
static void activate_gates(const step_pass *p, idx_t lo, idx_t hi, idx_t col, idx_t width, int act, float alpha) {
    const idx_t T = p->d->steps, gu = p->w->gu;
    p->activate(act, alpha, p->w->gates + (lo * T + p->t) * gu + col, T * gu, hi - lo, width);
}

/* Pre-activations of columns [col, col + width) of rows [lo, hi), kept for the backward. */
static void keep_pre(const step_pass *p, idx_t lo, idx_t hi, idx_t col, idx_t width) {
    if (!p->w->pre) return;
    const idx_t T = p->d->steps, gu = p->w->gu;
    for (idx_t b = lo; b < hi; b++) {
        idx_t at = (b * T + p->t) * gu + col;
        memcpy(p->w->pre + at, p->w->gates + at, width * sizeof(float));
    }
}

/* The end of a row's step, shared by every cell: a masked row carries its state (the masked-step
   select); the new state is recorded for the next step's backward; the output is the state, or
   for a masked step the previous output (the carried state once the row has had a kept step, else
   zeros; zeros always with zero_output_for_mask). */
static void finish_row(const step_pass *p, idx_t b, int keep) {
    const fnn_rnn_desc *d = p->d;
    const idx_t U = d->units;
    const float *h_prev = p->h_prev + b * U;
    float *h = p->h_next + b * U;
    if (keep)
        p->w->seen[b] = 1.0f;
    else
        memcpy(h, h_prev, U * sizeof(float));
    if (p->training && p->t_next >= 0) memcpy(p->w->hprev + (b * d->steps + p->t_next) * U, h, U * sizeof(float));
    if (p->y) {
        float *y = p->y + b * p->y_batch;
        if (keep || (p->w->seen[b] != 0.0f && !d->zero_output_for_mask))
            memcpy(y, h, U * sizeof(float));
        else
            memset(y, 0, U * sizeof(float));
    }
}

// gates rows are (4U,) i, f, c, o; h_prev, h_next, c are (B, U)
static void lstm_forward_rows(void *ctx, idx_t lo, idx_t hi) {
    const step_pass *p = ctx;
    const fnn_rnn_desc *d = p->d;
    const rnn_buffers *w = p->w;
    const idx_t T = d->steps, U = d->units;
    keep_pre(p, lo, hi, 0, 4 * U);
    activate_gates(p, lo, hi, 0, 2 * U, d->recurrent_act, d->recurrent_alpha);
    activate_gates(p, lo, hi, 2 * U, U, d->act, d->alpha);
    activate_gates(p, lo, hi, 3 * U, U, d->recurrent_act, d->recurrent_alpha);
    for (idx_t b = lo; b < hi; b++) {
        idx_t row = b * T + p->t;
        const float *gate_i = w->gates + row * 4 * U, *gate_f = gate_i + U, *gate_c = gate_f + U, *gate_o = gate_c + U;
        float *c = w->c + b * U, *h = p->h_next + b * U;
        int keep = kept(p, b);
        if (keep) {
            for (idx_t u = 0; u < U; u++) c[u] = gate_f[u] * c[u] + gate_i[u] * gate_c[u];
            /* act(c) goes where the backward reads it (training) or straight into h */
            float *c_act = p->training ? w->cell_act + row * U : h;
            memcpy(c_act, c, U * sizeof(float));
            p->activate(d->act, d->alpha, c_act, U, 1, U);
            for (idx_t u = 0; u < U; u++) h[u] = gate_o[u] * c_act[u];
        }
        if (p->training) memcpy(w->cells + row * U, c, U * sizeof(float));
        finish_row(p, b, keep);
    }
}

// gates rows are (U,); h_prev, h_next are (B, U)
static void simple_forward_rows(void *ctx, idx_t lo, idx_t hi) {
    const step_pass *p = ctx;
    const fnn_rnn_desc *d = p->d;
    const idx_t T = d->steps, U = d->units;
    keep_pre(p, lo, hi, 0, U);
    activate_gates(p, lo, hi, 0, U, d->act, d->alpha);
    for (idx_t b = lo; b < hi; b++) {
        int keep = kept(p, b);
        if (keep) memcpy(p->h_next + b * U, p->w->gates + (b * T + p->t) * U, U * sizeof(float));
        finish_row(p, b, keep);
    }
}

/* GRU: h = z * h_prev + (1 - z) * hh, Keras's blend (PyTorch's with its gates renamed). */
static void gru_blend(idx_t U, const float *z, const float *hh, const float *h_prev, float *h) {
    for (idx_t u = 0; u < U; u++) h[u] = z[u] * h_prev[u] + (1.0f - z[u]) * hh[u];
}

// gates rows are (3U,) z, r, h from the input; step rows (3U,) are h_prev @ R + recurrent bias
static void gru_forward_rows(void *ctx, idx_t lo, idx_t hi) {
    const step_pass *p = ctx;
    const fnn_rnn_desc *d = p->d;
    const rnn_buffers *w = p->w;
    const idx_t T = d->steps, U = d->units;
    for (idx_t b = lo; b < hi; b++) {
        float *gate_z = w->gates + (b * T + p->t) * 3 * U;
        const float *rec = w->step + b * 3 * U;
        for (idx_t u = 0; u < 2 * U; u++) gate_z[u] += rec[u];
    }
    keep_pre(p, lo, hi, 0, 2 * U);
    activate_gates(p, lo, hi, 0, 2 * U, d->recurrent_act, d->recurrent_alpha);
    for (idx_t b = lo; b < hi; b++) {
        idx_t row = b * T + p->t;
        float *gate_z = w->gates + row * 3 * U, *gate_r = gate_z + U, *gate_h = gate_r + U;
        const float *rec_h = w->step + b * 3 * U + 2 * U;
        for (idx_t u = 0; u < U; u++) gate_h[u] += gate_r[u] * rec_h[u];
        if (p->training) memcpy(w->extra + row * U, rec_h, U * sizeof(float));
    }
    keep_pre(p, lo, hi, 2 * U, U);
    activate_gates(p, lo, hi, 2 * U, U, d->act, d->alpha);
    for (idx_t b = lo; b < hi; b++) {
        const float *gate_z = w->gates + (b * T + p->t) * 3 * U;
        int keep = kept(p, b);
        if (keep) gru_blend(U, gate_z, gate_z + 2 * U, p->h_prev + b * U, p->h_next + b * U);
        finish_row(p, b, keep);
    }
}

/* GRU with the reset before the product, first half: z and r, and r * h_prev for the candidate's
   GEMM (zeros on masked rows, whose candidate is dropped). */
static void gru_before_gates_rows(void *ctx, idx_t lo, idx_t hi) {
    const step_pass *p = ctx;
    const fnn_rnn_desc *d = p->d;
    const rnn_buffers *w = p->w;
    const idx_t T = d->steps, U = d->units;
    keep_pre(p, lo, hi, 0, 2 * U);
    activate_gates(p, lo, hi, 0, 2 * U, d->recurrent_act, d->recurrent_alpha);
    for (idx_t b = lo; b < hi; b++) {
        idx_t row = b * T + p->t;
        const float *gate_r = w->gates + row * 3 * U + U, *h_prev = p->h_prev + b * U;
        float *rh = p->training ? w->extra + row * U : w->step + b * U;
        if (kept(p, b))
            for (idx_t u = 0; u < U; u++) rh[u] = gate_r[u] * h_prev[u];
        else
            memset(rh, 0, U * sizeof(float));
    }
}

/* Second half: the candidate (its recurrent product already added) and the blend. */
static void gru_before_state_rows(void *ctx, idx_t lo, idx_t hi) {
    const step_pass *p = ctx;
    const fnn_rnn_desc *d = p->d;
    const idx_t T = d->steps, U = d->units;
    keep_pre(p, lo, hi, 2 * U, U);
    activate_gates(p, lo, hi, 2 * U, U, d->act, d->alpha);
    for (idx_t b = lo; b < hi; b++) {
        const float *gate_z = p->w->gates + (b * T + p->t) * 3 * U;
        int keep = kept(p, b);
        if (keep) gru_blend(U, gate_z, gate_z + 2 * U, p->h_prev + b * U, p->h_next + b * U);
        finish_row(p, b, keep);
    }
}

static void run_pass(const step_pass *p, fnn_range_fn body) {
    idx_t grain = (RNN_PASS_MIN_ELEMENTS + p->w->gu - 1) / p->w->gu;
    fnn_parallel_for(p->d->batch, grain, body, (void *)p);
}

int fnn_rnn_forward(const fnn_rnn_desc *d, const float *x, const float *kernel, const float *recurrent,
                    const float *bias, const uint8_t *mask, const float *h0, const float *c0,
                    float *y, idx_t y_batch, idx_t y_step, float *h_out, float *c_out, float *workspace,
                    int training) {
    const idx_t B = d->batch, T = d->steps, U = d->units, I = d->in;
    rnn_buffers w;
    plan_workspace(d, training, workspace, &w);
    const idx_t gu = w.gu;
    const int reset_after = d->cell == FNN_RNN_GRU;
    if (B <= 0 || T <= 0) return 0;
    int status = fnn_sgemm(0, 0, B * T, gu, I, x, I, kernel, gu, w.gates, gu, 0, bias, FNN_ACTIVATION_LINEAR, 0.0f);
    const float *recurrent_bias = reset_after && bias ? bias + gu : NULL;
    if (h0) memcpy(w.h[0], h0, B * U * sizeof(float)); else memset(w.h[0], 0, B * U * sizeof(float));
    if (w.c) { if (c0) memcpy(w.c, c0, B * U * sizeof(float)); else memset(w.c, 0, B * U * sizeof(float)); }
    memset(w.seen, 0, B * sizeof(float));
    if (training)
        for (idx_t b = 0; b < B; b++) memcpy(w.hprev + (b * T + time_of(d, 0)) * U, w.h[0] + b * U, U * sizeof(float));
    step_pass p = {.d = d, .w = &w, .mask = mask, .y_batch = y_batch,
                   .activate = tile_activation(), .training = training};
    for (idx_t s = 0; s < T && status == 0; s++) {
        p.s = s;
        p.t = time_of(d, s);
        p.t_next = s + 1 < T ? time_of(d, s + 1) : -1;
        p.h_prev = w.h[s & 1];
        p.h_next = w.h[(s + 1) & 1];
        p.y = y && (d->return_sequences || s == T - 1) ? y + (d->return_sequences ? s * y_step : 0) : NULL;
        float *gates_t = w.gates + p.t * gu;
        switch (d->cell) {
        case FNN_RNN_LSTM:
        case FNN_RNN_SIMPLE:
            status |= fnn_sgemm(0, 0, B, gu, U, p.h_prev, U, recurrent, gu, gates_t, T * gu, 1, NULL, 0, 0.0f);
            run_pass(&p, d->cell == FNN_RNN_LSTM ? lstm_forward_rows : simple_forward_rows);
            break;
        case FNN_RNN_GRU:
            status |= fnn_sgemm(0, 0, B, gu, U, p.h_prev, U, recurrent, gu, w.step, gu, 0, recurrent_bias, 0, 0.0f);
            run_pass(&p, gru_forward_rows);
            break;
        default: {  /* reset before: the candidate's product needs r first */
            status |= fnn_sgemm(0, 0, B, 2 * U, U, p.h_prev, U, recurrent, gu, gates_t, T * gu, 1, NULL, 0, 0.0f);
            run_pass(&p, gru_before_gates_rows);
            const float *rh = training ? w.extra + p.t * U : w.step;
            idx_t ld_rh = training ? T * U : U;
            status |= fnn_sgemm(0, 0, B, U, U, rh, ld_rh, recurrent + 2 * U, gu, gates_t + 2 * U, T * gu, 1, NULL, 0, 0.0f);
            run_pass(&p, gru_before_state_rows);
        }
        }
    }
    if (h_out) memcpy(h_out, w.h[T & 1], B * U * sizeof(float));
    if (c_out && w.c) memcpy(c_out, w.c, B * U * sizeof(float));
    return status ? -1 : 0;
}

/* ---- backward ---- */

/* dx = dy * act'(.) over n values: act's backward reads x (the kept pre-activations) or y. dx may be
   y or dy itself. */
static void activation_grad(int act, float alpha, idx_t n, const float *x, const float *y, const float *dy, float *dx) {
    fnn_activation_backward(act, alpha, 1, n, x, y, dy, dx);
}

/* The gradient reaching row b's state after step s: what the later steps sent back, plus the
   step's output gradient when that output is the state (kept, or carried once the row has had a
   kept step; a zero output passes nothing). Written into dh_in's row, which the pass then reads. */
static float *state_grad(const step_pass *p, idx_t b, int keep) {
    const fnn_rnn_desc *d = p->d;
    const idx_t U = d->units;
    float *dh = p->dh_in + b * U;
    int output_is_state = keep || (!d->zero_output_for_mask && (float)p->s >= p->w->first[b]);
    if (p->dy && output_is_state) {
        const float *dy = p->dy + b * p->dy_batch;
        for (idx_t u = 0; u < U; u++) dh[u] += dy[u];
    }
    return dh;
}

/* A masked row's step: no gate gradient, and the state gradient passes through to the step before
   (the recurrent GEMM then adds zero to it). */
static void carry_row_grad(const step_pass *p, idx_t b, const float *dh, idx_t gate_width) {
    const idx_t U = p->d->units;
    memset(p->w->gates + (b * p->d->steps + p->t) * p->w->gu, 0, gate_width * sizeof(float));
    memcpy(p->dh_out + b * U, dh, U * sizeof(float));
}

static const float *pre_row(const rnn_buffers *w, idx_t at) { return w->pre ? w->pre + at : NULL; }

// gates rows (4U,) i, f, c, o become their pre-activation gradients; dc (B, U) is carried back
static void lstm_backward_rows(void *ctx, idx_t lo, idx_t hi) {
    const step_pass *p = ctx;
    const fnn_rnn_desc *d = p->d;
    const rnn_buffers *w = p->w;
    const idx_t T = d->steps, U = d->units;
    for (idx_t b = lo; b < hi; b++) {
        idx_t row = b * T + p->t, at = row * 4 * U;
        int keep = kept(p, b);
        const float *dh = state_grad(p, b, keep);
        if (!keep) {
            carry_row_grad(p, b, dh, 4 * U);
            continue;
        }
        float *gate_i = w->gates + at, *gate_f = gate_i + U, *gate_c = gate_f + U, *gate_o = gate_c + U;
        float *dgates = w->tmp + b * 5 * U, *d_cell = dgates + 4 * U;
        float *dc = w->dc + b * U;
        const float *c_prev = p->c_prev ? p->c_prev + b * p->c_stride : NULL;
        const float *c_act = w->cell_act + row * U;
        for (idx_t u = 0; u < U; u++) d_cell[u] = dh[u] * gate_o[u];
        activation_grad(d->act, d->alpha, U, w->cells + row * U, c_act, d_cell, d_cell);
        for (idx_t u = 0; u < U; u++) {
            float dc_u = dc[u] + d_cell[u];
            dgates[u] = dc_u * gate_c[u];
            dgates[U + u] = c_prev ? dc_u * c_prev[u] : 0.0f;
            dgates[2 * U + u] = dc_u * gate_i[u];
            dgates[3 * U + u] = dh[u] * c_act[u];
            dc[u] = dc_u * gate_f[u];
        }
        activation_grad(d->recurrent_act, d->recurrent_alpha, 2 * U, pre_row(w, at), gate_i, dgates, gate_i);
        activation_grad(d->act, d->alpha, U, pre_row(w, at + 2 * U), gate_c, dgates + 2 * U, gate_c);
        activation_grad(d->recurrent_act, d->recurrent_alpha, U, pre_row(w, at + 3 * U), gate_o, dgates + 3 * U, gate_o);
        memset(p->dh_out + b * U, 0, U * sizeof(float));
    }
}

// gates rows (U,) become their pre-activation gradients
static void simple_backward_rows(void *ctx, idx_t lo, idx_t hi) {
    const step_pass *p = ctx;
    const fnn_rnn_desc *d = p->d;
    const rnn_buffers *w = p->w;
    const idx_t U = d->units;
    for (idx_t b = lo; b < hi; b++) {
        idx_t at = (b * d->steps + p->t) * U;
        int keep = kept(p, b);
        const float *dh = state_grad(p, b, keep);
        if (!keep) {
            carry_row_grad(p, b, dh, U);
            continue;
        }
        activation_grad(d->act, d->alpha, U, pre_row(w, at), w->gates + at, dh, w->gates + at);
        memset(p->dh_out + b * U, 0, U * sizeof(float));
    }
}

/* GRU, both forms: from the state gradient dh, the candidate's pre-activation gradient (into its
   gate slot), z's (into its slot) and the direct part dh * z of the previous state's gradient
   (into dh_out, which the GEMMs then add to). Returns the row's gate slots. */
static float *gru_blend_grad(const step_pass *p, idx_t b, const float *dh, idx_t at) {
    const fnn_rnn_desc *d = p->d;
    const rnn_buffers *w = p->w;
    const idx_t U = d->units;
    float *gate_z = w->gates + at, *gate_h = gate_z + 2 * U;
    float *dz = w->tmp + b * 4 * U, *dhh = dz + U, *dh_prev = p->dh_out + b * U;
    const float *h_prev = w->hprev + (b * d->steps + p->t) * U;
    for (idx_t u = 0; u < U; u++) {
        dz[u] = dh[u] * (h_prev[u] - gate_h[u]);
        dhh[u] = dh[u] * (1.0f - gate_z[u]);
        dh_prev[u] = dh[u] * gate_z[u];
    }
    activation_grad(d->act, d->alpha, U, pre_row(w, at + 2 * U), gate_h, dhh, gate_h);
    activation_grad(d->recurrent_act, d->recurrent_alpha, U, pre_row(w, at), gate_z, dz, gate_z);
    return gate_z;
}

// reset_after: gates rows (3U,) z, r, h become gradients; extra rows (h @ R_h + b_h) become theirs
static void gru_backward_rows(void *ctx, idx_t lo, idx_t hi) {
    const step_pass *p = ctx;
    const fnn_rnn_desc *d = p->d;
    const rnn_buffers *w = p->w;
    const idx_t T = d->steps, U = d->units;
    for (idx_t b = lo; b < hi; b++) {
        idx_t row = b * T + p->t, at = row * 3 * U;
        int keep = kept(p, b);
        const float *dh = state_grad(p, b, keep);
        float *rec_h = w->extra + row * U;
        if (!keep) {
            carry_row_grad(p, b, dh, 3 * U);
            memset(rec_h, 0, U * sizeof(float));
            continue;
        }
        float *gate_z = gru_blend_grad(p, b, dh, at), *gate_r = gate_z + U, *dpre_h = gate_z + 2 * U;
        float *dr = w->tmp + b * 4 * U + 2 * U;
        for (idx_t u = 0; u < U; u++) {
            dr[u] = dpre_h[u] * rec_h[u];
            rec_h[u] = dpre_h[u] * gate_r[u];
        }
        activation_grad(d->recurrent_act, d->recurrent_alpha, U, pre_row(w, at + U), gate_r, dr, gate_r);
    }
}

/* reset_before, first half: z's and the candidate's gradients, and the direct part of dh_out. */
static void gru_before_blend_rows(void *ctx, idx_t lo, idx_t hi) {
    const step_pass *p = ctx;
    const fnn_rnn_desc *d = p->d;
    for (idx_t b = lo; b < hi; b++) {
        idx_t at = (b * d->steps + p->t) * 3 * d->units;
        int keep = kept(p, b);
        const float *dh = state_grad(p, b, keep);
        if (keep)
            gru_blend_grad(p, b, dh, at);
        else
            carry_row_grad(p, b, dh, 3 * d->units);
    }
}

/* Second half, given drh = dcandidate @ R_h^T (in tmp): r's gradient and r * drh into dh_out. */
static void gru_before_reset_rows(void *ctx, idx_t lo, idx_t hi) {
    const step_pass *p = ctx;
    const fnn_rnn_desc *d = p->d;
    const rnn_buffers *w = p->w;
    const idx_t T = d->steps, U = d->units;
    for (idx_t b = lo; b < hi; b++) {
        if (!kept(p, b)) continue;
        idx_t at = (b * T + p->t) * 3 * U;
        float *gate_r = w->gates + at + U, *dh_prev = p->dh_out + b * U;
        const float *drh = w->step + b * U, *h_prev = w->hprev + (b * T + p->t) * U;
        float *dr = w->tmp + b * 4 * U + 2 * U;
        for (idx_t u = 0; u < U; u++) {
            dr[u] = drh[u] * h_prev[u];
            dh_prev[u] += drh[u] * gate_r[u];
        }
        activation_grad(d->recurrent_act, d->recurrent_alpha, U, pre_row(w, at + U), gate_r, dr, gate_r);
    }
}

// r is (rows, cols); rt is (cols, rows)
static void transpose(idx_t rows, idx_t cols, const float *r, float *rt) {
    for (idx_t i = 0; i < rows; i++)
        for (idx_t j = 0; j < cols; j++) rt[j * rows + i] = r[i * cols + j];
}

/* Each row's first kept step (steps when none), as a float, so a pass can tell whether a masked
   step's output was the carried state. */
static void first_kept_steps(const fnn_rnn_desc *d, const uint8_t *mask, float *first) {
    for (idx_t b = 0; b < d->batch; b++) {
        idx_t s = 0;
        while (mask && s < d->steps && !mask[b * d->steps + time_of(d, s)]) s++;
        first[b] = (float)s;
    }
}

/* The weight gradients after the loop: each one GEMM (or two, for the GRU's two recurrent products)
   over all steps, and the bias sums. */
static int weight_grads(const fnn_rnn_desc *d, const rnn_buffers *w, const float *x, const float *kernel,
                        float *dx, float *dkernel, float *drecurrent, float *dbias) {
    const idx_t BT = d->batch * d->steps, U = d->units, I = d->in, gu = w->gu;
    int status = 0;
    if (dkernel) status |= fnn_sgemm(1, 0, I, gu, BT, x, I, w->gates, gu, dkernel, gu, 0, NULL, 0, 0.0f);
    if (drecurrent) {
        if (d->cell < FNN_RNN_GRU) {
            status |= fnn_sgemm(1, 0, U, gu, BT, w->hprev, U, w->gates, gu, drecurrent, gu, 0, NULL, 0, 0.0f);
        } else {
            /* z and r see h_prev; the candidate sees h_prev (reset after: gradient in extra) or r * h_prev
               (reset before: r * h_prev in extra, gradient in the gate buffer) */
            status |= fnn_sgemm(1, 0, U, 2 * U, BT, w->hprev, U, w->gates, gu, drecurrent, gu, 0, NULL, 0, 0.0f);
            if (d->cell == FNN_RNN_GRU)
                status |= fnn_sgemm(1, 0, U, U, BT, w->hprev, U, w->extra, U, drecurrent + 2 * U, gu, 0, NULL, 0, 0.0f);
            else
                status |= fnn_sgemm(1, 0, U, U, BT, w->extra, U, w->gates + 2 * U, gu, drecurrent + 2 * U, gu, 0,
                                    NULL, 0, 0.0f);
        }
    }
    if (dbias) {
        fnn_bias_grad(BT, gu, w->gates, dbias);
        if (d->cell == FNN_RNN_GRU) {
            /* the recurrent bias: z and r as the input bias, the candidate's from its recurrent product */
            memcpy(dbias + gu, dbias, 2 * U * sizeof(float));
            fnn_bias_grad(BT, U, w->extra, dbias + gu + 2 * U);
        }
    }
    if (dx) status |= fnn_sgemm(0, 1, BT, I, gu, w->gates, gu, kernel, gu, dx, I, 0, NULL, 0, 0.0f);
    return status;
}

int fnn_rnn_backward(const fnn_rnn_desc *d, const float *x, const float *kernel, const float *recurrent,
                     const uint8_t *mask, const float *c0, const float *dy, idx_t dy_batch, idx_t dy_step,
                     const float *dh_out, const float *dc_out, float *workspace, float *dx, float *dkernel,
                     float *drecurrent, float *dbias, float *dh0, float *dc0) {
    const idx_t B = d->batch, T = d->steps, U = d->units;
    rnn_buffers w;
    plan_workspace(d, 1, workspace, &w);
    const idx_t gu = w.gu;
    if (B <= 0 || T <= 0) return 0;
    transpose(U, gu, recurrent, w.rt);
    first_kept_steps(d, mask, w.first);
    if (dh_out) memcpy(w.dh[0], dh_out, B * U * sizeof(float)); else memset(w.dh[0], 0, B * U * sizeof(float));
    if (w.dc) { if (dc_out) memcpy(w.dc, dc_out, B * U * sizeof(float)); else memset(w.dc, 0, B * U * sizeof(float)); }
    step_pass p = {.d = d, .w = &w, .mask = mask, .dy_batch = dy_batch};
    int status = 0;
    for (idx_t s = T - 1; s >= 0 && status == 0; s--) {
        p.s = s;
        p.t = time_of(d, s);
        p.dh_in = w.dh[(T - 1 - s) & 1];
        p.dh_out = w.dh[(T - s) & 1];
        p.dy = dy && (d->return_sequences || s == T - 1) ? dy + (d->return_sequences ? s * dy_step : 0) : NULL;
        /* the cell state before step s: the one after step s - 1, or c0 */
        p.c_prev = s > 0 && w.cells ? w.cells + time_of(d, s - 1) * U : c0;
        p.c_stride = s > 0 ? T * U : U;
        float *dgates_t = w.gates + p.t * gu;
        switch (d->cell) {
        case FNN_RNN_LSTM:
        case FNN_RNN_SIMPLE:
            run_pass(&p, d->cell == FNN_RNN_LSTM ? lstm_backward_rows : simple_backward_rows);
            status |= fnn_sgemm(0, 0, B, U, gu, dgates_t, T * gu, w.rt, U, p.dh_out, U, 1, NULL, 0, 0.0f);
            break;
        case FNN_RNN_GRU:
            run_pass(&p, gru_backward_rows);
            status |= fnn_sgemm(0, 0, B, U, 2 * U, dgates_t, T * gu, w.rt, U, p.dh_out, U, 1, NULL, 0, 0.0f);
            status |= fnn_sgemm(0, 0, B, U, U, w.extra + p.t * U, T * U, w.rt + 2 * U * U, U, p.dh_out, U, 1,
                                NULL, 0, 0.0f);
            break;
        default:
            run_pass(&p, gru_before_blend_rows);
            status |= fnn_sgemm(0, 0, B, U, U, dgates_t + 2 * U, T * gu, w.rt + 2 * U * U, U, w.step, U, 0,
                                NULL, 0, 0.0f);
            run_pass(&p, gru_before_reset_rows);
            status |= fnn_sgemm(0, 0, B, U, 2 * U, dgates_t, T * gu, w.rt, U, p.dh_out, U, 1, NULL, 0, 0.0f);
        }
    }
    if (dh0) memcpy(dh0, w.dh[T & 1], B * U * sizeof(float));
    if (dc0 && w.dc) memcpy(dc0, w.dc, B * U * sizeof(float));
    if (status == 0) status = weight_grads(d, &w, x, kernel, dx, dkernel, drecurrent, dbias);
    return status ? -1 : 0;
}
