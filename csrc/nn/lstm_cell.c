/* The LSTM cell's elementwise pass with Keras's default activations (sigmoid gates, tanh candidate
   and cell output), forward and backward, over one row's units. rnn.c calls it once a row per step;
   it is compiled once per instruction set inside csrc/isa/elementwise_<isa>.c (rnn.c itself has the
   portable flags), so the gates' sigmoid and tanh and the cell update run as one loop of that path's
   widest vectors instead of a pass a gate. Each unit's arithmetic is the same whatever n, so a row's
   result depends neither on the unit range a thread takes nor on the batch. */
#include "../fastnn.h"
#include "../vmath.h"

// a row's gates i, f, c, o are n floats each at gates + g * units: pre-activations in, values out;
// c (n,) becomes f c + i g; h (n,) = o tanh(c), and c_act (n,) gets tanh(c) unless NULL
static inline void lstm_forward_units(idx_t n, float *FNN_RESTRICT gate_i, float *FNN_RESTRICT gate_f,
                                      float *FNN_RESTRICT gate_c, float *FNN_RESTRICT gate_o, float *FNN_RESTRICT c,
                                      float *FNN_RESTRICT c_act, float *FNN_RESTRICT h, int keep_act) {
    for (idx_t u = 0; u < n; u++) {
        float i = vm_sigmoidf(gate_i[u]), f = vm_sigmoidf(gate_f[u]), g = vm_tanhf(gate_c[u]);
        float o = vm_sigmoidf(gate_o[u]);
        float c_u = f * c[u] + i * g, ca = vm_tanhf(c_u);
        gate_i[u] = i, gate_f[u] = f, gate_c[u] = g, gate_o[u] = o;
        c[u] = c_u;
        if (keep_act) c_act[u] = ca;
        h[u] = o * ca;
    }
}

void fnn_lstm_cell_forward(idx_t n, float *gates, idx_t units, float *c, float *c_act, float *h) {
    float *gate_i = gates, *gate_f = gates + units, *gate_c = gates + 2 * units, *gate_o = gates + 3 * units;
    /* two instances of the loop: with a constant flag each keeps no branch and vectorises */
    if (c_act)
        lstm_forward_units(n, gate_i, gate_f, gate_c, gate_o, c, c_act, h, 1);
    else
        lstm_forward_units(n, gate_i, gate_f, gate_c, gate_o, c, NULL, h, 0);
}

// the forward's gates (values in, pre-activation gradients out), c_act, c_prev, dh and dc as
// fnn_lstm_cell_backward has them
static inline void lstm_backward_units(idx_t n, float *FNN_RESTRICT gate_i, float *FNN_RESTRICT gate_f,
                                       float *FNN_RESTRICT gate_c, float *FNN_RESTRICT gate_o,
                                       const float *FNN_RESTRICT c_act, const float *FNN_RESTRICT c_prev,
                                       const float *FNN_RESTRICT dh, float *FNN_RESTRICT dc) {
    for (idx_t u = 0; u < n; u++) {
        float i = gate_i[u], f = gate_f[u], g = gate_c[u], o = gate_o[u], ca = c_act[u], dh_u = dh[u];
        float dc_u = dc[u] + dh_u * o * (1.0f - ca * ca);
        gate_i[u] = dc_u * g * i * (1.0f - i);
        gate_f[u] = dc_u * c_prev[u] * f * (1.0f - f);
        gate_c[u] = dc_u * i * (1.0f - g * g);
        gate_o[u] = dh_u * ca * o * (1.0f - o);
        dc[u] = dc_u * f;
    }
}

void fnn_lstm_cell_backward(idx_t n, float *gates, idx_t units, const float *c_act, const float *c_prev,
                            const float *dh, float *dc) {
    lstm_backward_units(n, gates, gates + units, gates + 2 * units, gates + 3 * units, c_act, c_prev, dh, dc);
}
