/* The dense layer's backward in one call: activation backward, weight and bias gradients and the input
   gradient, so a training step crosses the Python boundary once per layer instead of four times. */
#include "fastnn.h"

// x is (batch, in), w is (in, out), y, dy and dz are (batch, out), dw is (in, out), db is (out,),
// dx is (batch, in); y = act(x @ w + b) was the forward
int fnn_dense_backward(idx_t batch, idx_t in, idx_t out, const float *x, const float *w, const float *y,
                       const float *dy, float *dz, int act, float alpha, float *dw, float *db, float *dx) {
    const float *g = dy;
    if (act != FNN_ACTIVATION_LINEAR) {
        fnn_activation_backward(act, alpha, batch, out, NULL, y, dy, dz);
        g = dz;
    }
    int status = 0;
    if (dw) status |= fnn_sgemm(1, 0, in, out, batch, x, in, g, out, dw, out, 0, NULL, FNN_ACTIVATION_LINEAR, 0.0f);
    if (db) fnn_bias_grad(batch, out, g, db);
    if (dx) status |= fnn_sgemm(0, 1, batch, in, out, g, out, w, out, dx, in, 0, NULL, FNN_ACTIVATION_LINEAR, 0.0f);
    return status;
}
