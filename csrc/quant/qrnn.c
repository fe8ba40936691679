/* The int8 LSTM and GRU (reset_after) forward for inference. The input kernel and the recurrent kernel
   are int8 with one scale per gate column; one int8 product (fnn_qdense_forward) projects the inputs of
   every timestep, and each step quantizes the state h per row on the fly for one recurrent int8
   product. The cell math (gates, cell state, blend, masks) stays float32, with Keras's formulation and
   rnn.c's conventions: a masked step carries the states and outputs the previous output.

   Every float step works on one row at a time, so a row's outputs depend on that row alone and are
   bitwise the same for any thread count. The gates' activations are the SIMD path's vector ones
   (fnn_activation_forward), as the float LSTM's: the portable ones took a quarter of a 128-unit
   LSTM's step. So, unlike the int8 dense layer, the outputs differ across SIMD paths by float
   rounding (and where that moves a state value across a rounding boundary of its quantization). */
#include "qgemm_internal.h"

static idx_t gate_count(int cell) { return cell == FNN_RNN_LSTM ? 4 : 3; }

/* Floats holding `bytes` bytes (the u8 rows of the quantized activations live in the float workspace). */
static idx_t floats_for(idx_t bytes) { return (bytes + 3) / 4; }

typedef struct {
    float *gates, *rec, *h, *c, *first, *x_scale, *h_scale;
    uint8_t *x_q, *h_q;
    int32_t *x_zero, *h_zero;
} qrnn_buffers;

static idx_t plan(const fnn_rnn_desc *d, float *base, qrnn_buffers *w) {
    const idx_t B = d->batch, T = d->steps, U = d->units, gu = gate_count(d->cell) * U;
    idx_t at = 0;
#define TAKE(field, type, count)                                 \
    do {                                                         \
        if (base) w->field = (type *)(base + at);                \
        at += (count);                                           \
    } while (0)
    TAKE(gates, float, B * T * gu);
    TAKE(rec, float, B * gu);
    TAKE(h, float, 2 * B * U);
    TAKE(c, float, B * U);
    TAKE(first, float, B);
    TAKE(x_scale, float, B * T);
    TAKE(h_scale, float, B);
    TAKE(x_zero, int32_t, B * T);
    TAKE(h_zero, int32_t, B);
    TAKE(x_q, uint8_t, floats_for(B * T * ((d->in + 3) / 4 * 4)));
    TAKE(h_q, uint8_t, floats_for(B * ((U + 3) / 4 * 4)));
#undef TAKE
    return at;
}

idx_t fnn_qrnn_workspace_floats(const fnn_rnn_desc *d) { return plan(d, NULL, NULL); }

/* LSTM row: pre (4U) = x projection + recurrent product, gates i, f, c, o; c and h (U) updated. */
static void lstm_row(const fnn_rnn_desc *d, float *pre, float *c, float *h) {
    const idx_t U = d->units;
    float *gate_i = pre, *gate_f = pre + U, *gate_c = pre + 2 * U, *gate_o = pre + 3 * U;
    fnn_activation_forward(d->recurrent_act, d->recurrent_alpha, 1, 2 * U, gate_i, gate_i);
    fnn_activation_forward(d->act, d->alpha, 1, U, gate_c, gate_c);
    fnn_activation_forward(d->recurrent_act, d->recurrent_alpha, 1, U, gate_o, gate_o);
    for (idx_t u = 0; u < U; u++) c[u] = gate_f[u] * c[u] + gate_i[u] * gate_c[u];
    fnn_activation_forward(d->act, d->alpha, 1, U, c, h);
    for (idx_t u = 0; u < U; u++) h[u] = gate_o[u] * h[u];
}

/* GRU (reset_after) row: gx (3U) the x projection with the input bias, rec (3U) h_prev @ R + the
   recurrent bias, gates z, r, h; h = z * h_prev + (1 - z) * act(gx_h + r * rec_h). */
static void gru_row(const fnn_rnn_desc *d, float *gx, const float *rec, const float *h_prev, float *h) {
    const idx_t U = d->units;
    float *gate_z = gx, *gate_r = gx + U, *gate_h = gx + 2 * U;
    for (idx_t u = 0; u < 2 * U; u++) gx[u] += rec[u];
    fnn_activation_forward(d->recurrent_act, d->recurrent_alpha, 1, 2 * U, gate_z, gate_z);
    for (idx_t u = 0; u < U; u++) gate_h[u] += gate_r[u] * rec[2 * U + u];
    fnn_activation_forward(d->act, d->alpha, 1, U, gate_h, gate_h);
    for (idx_t u = 0; u < U; u++) h[u] = gate_z[u] * h_prev[u] + (1.0f - gate_z[u]) * gate_h[u];
}

// x is (batch, steps, in), kernel (in, G*U) and recurrent (U, G*U) int8 packed with their column sums and
// scales (G*U,), bias LSTM (4U,) or GRU (2, 3U) (input then recurrent) or NULL; the rest as fnn_rnn_forward
// (d->recurrent_dropout must be 0; cell LSTM or GRU), workspace fnn_qrnn_workspace_floats(d) floats
void fnn_qrnn_forward(const fnn_rnn_desc *d, const float *x, const int8_t *kernel, const int32_t *kernel_sums,
                      const float *kernel_scale, const int8_t *recurrent, const int32_t *recurrent_sums,
                      const float *recurrent_scale, const float *bias, const uint8_t *mask, const float *h0,
                      const float *c0, float *y, idx_t y_batch, idx_t y_step, float *h_out, float *c_out,
                      int reduce_range, float *workspace) {
    const idx_t B = d->batch, T = d->steps, U = d->units, gu = gate_count(d->cell) * U, I = d->in;
    const int lstm = d->cell == FNN_RNN_LSTM;
    qrnn_buffers w = {0};
    plan(d, workspace, &w);
    /* gates row b * T + t: the projection of x[b, t] plus the input bias */
    fnn_qdense_forward(B * T, gu, I, x, kernel, kernel_sums, kernel_scale, bias, FNN_ACTIVATION_LINEAR, 0.0f, reduce_range,
                       w.gates, w.x_q, w.x_scale, w.x_zero);
    const float *recurrent_bias = bias && !lstm ? bias + gu : NULL;
    for (idx_t b = 0; b < B; b++) {
        idx_t s = 0;
        while (mask && s < T && !mask[b * T + (d->go_backwards ? T - 1 - s : s)]) s++;
        w.first[b] = (float)s;
    }
    if (h0) memcpy(w.h, h0, B * U * sizeof(float)); else memset(w.h, 0, B * U * sizeof(float));
    if (c0) memcpy(w.c, c0, B * U * sizeof(float)); else memset(w.c, 0, B * U * sizeof(float));
    for (idx_t s = 0; s < T; s++) {
        idx_t t = d->go_backwards ? T - 1 - s : s;
        float *h_prev = w.h + (s & 1) * B * U, *h_next = w.h + ((s + 1) & 1) * B * U;
        fnn_qdense_forward(B, gu, U, h_prev, recurrent, recurrent_sums, recurrent_scale, recurrent_bias,
                           FNN_ACTIVATION_LINEAR, 0.0f, reduce_range, w.rec, w.h_q, w.h_scale, w.h_zero);
        for (idx_t b = 0; b < B; b++) {
            float *pre = w.gates + (b * T + t) * gu, *rec = w.rec + b * gu;
            float *h = h_next + b * U;
            int keep = !mask || mask[b * T + t];
            if (!keep) {
                memcpy(h, h_prev + b * U, U * sizeof(float));
            } else if (lstm) {
                for (idx_t j = 0; j < gu; j++) pre[j] += rec[j];
                lstm_row(d, pre, w.c + b * U, h);
            } else {
                gru_row(d, pre, rec, h_prev + b * U, h);
            }
            if (y && (d->return_sequences || s == T - 1)) {
                float *out = y + b * y_batch + (d->return_sequences ? s * y_step : 0);
                if (keep || (!d->zero_output_for_mask && (float)s >= w.first[b]))
                    memcpy(out, h, U * sizeof(float));
                else
                    memset(out, 0, U * sizeof(float));
            }
        }
    }
    if (h_out) memcpy(h_out, w.h + (T & 1) * B * U, B * U * sizeof(float));
    if (c_out && lstm) memcpy(c_out, w.c, B * U * sizeof(float));
}
