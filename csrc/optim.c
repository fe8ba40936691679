/* Fused optimizer updates over one flat parameter vector, with Keras 3's formulas (and its order of
   operations, so results track Keras to the last bits where the float32 arithmetic allows).

   Every element is independent, so threads split the vector; hyperparameters arrive as float64 (as
   Python holds them) and are rounded to float32 once, as Keras does when it casts them. */
#include <math.h>
#include "fastnn.h"

// p, g, velocity are (n,)
void fnn_sgd_update(idx_t n, float *FNN_RESTRICT p, const float *FNN_RESTRICT g, float *FNN_RESTRICT velocity,
                    double lr, double momentum, int nesterov, double grad_scale) {
    float lr_f = (float)lr, mom = (float)momentum, gs = (float)grad_scale;
    if (momentum == 0.0) {
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(n > FNN_ELEMENTWISE_PARALLEL_MIN)
        for (idx_t i = 0; i < n; i++) p[i] -= g[i] * gs * lr_f;
    } else if (nesterov) {
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(n > FNN_ELEMENTWISE_PARALLEL_MIN)
        for (idx_t i = 0; i < n; i++) {
            float gi = g[i] * gs;
            velocity[i] = velocity[i] * mom - gi * lr_f;
            p[i] += velocity[i] * mom - gi * lr_f;
        }
    } else {
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(n > FNN_ELEMENTWISE_PARALLEL_MIN)
        for (idx_t i = 0; i < n; i++) {
            velocity[i] = velocity[i] * mom - g[i] * gs * lr_f;
            p[i] += velocity[i];
        }
    }
}

// p, g, m, v, vhat are (n,); vhat is NULL unless amsgrad
void fnn_adam_update(idx_t n, float *FNN_RESTRICT p, const float *FNN_RESTRICT g, float *FNN_RESTRICT m,
                     float *FNN_RESTRICT v, float *FNN_RESTRICT vhat, double lr, double beta1, double beta2,
                     double eps, double step, double grad_scale) {
    float alpha = (float)(lr * sqrt(1.0 - pow(beta2, step)) / (1.0 - pow(beta1, step)));
    float one_minus_b1 = (float)(1.0 - beta1), one_minus_b2 = (float)(1.0 - beta2);
    float eps_f = (float)eps, gs = (float)grad_scale;
    if (vhat) {
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(n > FNN_ELEMENTWISE_PARALLEL_MIN)
        for (idx_t i = 0; i < n; i++) {
            float gi = g[i] * gs;
            m[i] += (gi - m[i]) * one_minus_b1;
            v[i] += (gi * gi - v[i]) * one_minus_b2;
            vhat[i] = vhat[i] > v[i] ? vhat[i] : v[i];
            p[i] -= m[i] * alpha / (sqrtf(vhat[i]) + eps_f);
        }
    } else {
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(n > FNN_ELEMENTWISE_PARALLEL_MIN)
        for (idx_t i = 0; i < n; i++) {
            float gi = g[i] * gs;
            m[i] += (gi - m[i]) * one_minus_b1;
            v[i] += (gi * gi - v[i]) * one_minus_b2;
            p[i] -= m[i] * alpha / (sqrtf(v[i]) + eps_f);
        }
    }
}

// p, g, velocity, momentum_buf, average_grad are (n,); momentum_buf NULL unless momentum > 0,
// average_grad NULL unless centered
void fnn_rmsprop_update(idx_t n, float *FNN_RESTRICT p, const float *FNN_RESTRICT g,
                        float *FNN_RESTRICT velocity, float *FNN_RESTRICT momentum_buf,
                        float *FNN_RESTRICT average_grad, double lr, double rho, double momentum, double eps,
                        int centered, double grad_scale) {
    float lr_f = (float)lr, rho_f = (float)rho, one_minus_rho = (float)(1.0 - rho);
    float mom = (float)momentum, eps_f = (float)eps, gs = (float)grad_scale;
    int use_momentum = momentum > 0.0;
    /* gcc unswitches the loop on the two loop-invariant flags */
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(n > FNN_ELEMENTWISE_PARALLEL_MIN)
    for (idx_t i = 0; i < n; i++) {
        float gi = g[i] * gs;
        velocity[i] = rho_f * velocity[i] + one_minus_rho * (gi * gi);
        float denominator;
        if (centered) {
            average_grad[i] = rho_f * average_grad[i] + one_minus_rho * gi;
            denominator = velocity[i] - average_grad[i] * average_grad[i] + eps_f;
        } else {
            denominator = velocity[i] + eps_f;
        }
        float increment = lr_f * gi / sqrtf(denominator);
        if (use_momentum) {
            momentum_buf[i] = mom * momentum_buf[i] + increment;
            p[i] -= momentum_buf[i];
        } else {
            p[i] -= increment;
        }
    }
}

// p, g, accumulator are (n,)
void fnn_adagrad_update(idx_t n, float *FNN_RESTRICT p, const float *FNN_RESTRICT g,
                        float *FNN_RESTRICT accumulator, double lr, double eps, double grad_scale) {
    float lr_f = (float)lr, eps_f = (float)eps, gs = (float)grad_scale;
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(n > FNN_ELEMENTWISE_PARALLEL_MIN)
    for (idx_t i = 0; i < n; i++) {
        float gi = g[i] * gs;
        accumulator[i] += gi * gi;
        p[i] -= lr_f * gi / sqrtf(accumulator[i] + eps_f);
    }
}

// p is (n,)
void fnn_decay_weights(idx_t n, float *FNN_RESTRICT p, double factor) {
    float f = (float)factor;
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(n > FNN_ELEMENTWISE_PARALLEL_MIN)
    for (idx_t i = 0; i < n; i++) p[i] -= p[i] * f;
}

// x is (n,)
void fnn_clip_values(idx_t n, float *FNN_RESTRICT x, float limit) {
#pragma omp parallel for num_threads(fnn_get_num_threads()) if(n > FNN_ELEMENTWISE_PARALLEL_MIN)
    for (idx_t i = 0; i < n; i++) {
        float x_i = x[i];
        x[i] = x_i < -limit ? -limit : (x_i > limit ? limit : x_i);
    }
}
