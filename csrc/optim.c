/* Fused optimizer updates over one flat parameter vector, with Keras 3's formulas (and its order of
   operations, so results track Keras to the last bits where the float32 arithmetic allows).

   Every element is independent, so fnn_parallel_for may split the vector over threads (each update is
   a range function over elements [lo, hi), its arguments in one struct); small vectors run inline.
   Hyperparameters arrive as float64 (as Python holds them) and are rounded to float32 once, as Keras
   does when it casts them. */
#include <math.h>
#include "fastnn.h"
#include "vmath.h"

#define GRAIN FNN_ELEMENTWISE_GRAIN

struct sgd_args {
    float *p, *velocity;
    const float *g;
    float lr, mom, gs;
};

// p, g are (n,)
static void sgd_plain(void *ctx, idx_t lo, idx_t hi) {
    const struct sgd_args *a = ctx;
    float *FNN_RESTRICT p = a->p;
    const float *FNN_RESTRICT g = a->g;
    float lr_f = a->lr, gs = a->gs;
    for (idx_t i = lo; i < hi; i++) p[i] -= g[i] * gs * lr_f;
}

// p, g, velocity are (n,)
static void sgd_nesterov(void *ctx, idx_t lo, idx_t hi) {
    const struct sgd_args *a = ctx;
    float *FNN_RESTRICT p = a->p, *FNN_RESTRICT velocity = a->velocity;
    const float *FNN_RESTRICT g = a->g;
    float lr_f = a->lr, mom = a->mom, gs = a->gs;
    for (idx_t i = lo; i < hi; i++) {
        float gi = g[i] * gs;
        velocity[i] = velocity[i] * mom - gi * lr_f;
        p[i] += velocity[i] * mom - gi * lr_f;
    }
}

// p, g, velocity are (n,)
static void sgd_momentum(void *ctx, idx_t lo, idx_t hi) {
    const struct sgd_args *a = ctx;
    float *FNN_RESTRICT p = a->p, *FNN_RESTRICT velocity = a->velocity;
    const float *FNN_RESTRICT g = a->g;
    float lr_f = a->lr, mom = a->mom, gs = a->gs;
    for (idx_t i = lo; i < hi; i++) {
        velocity[i] = velocity[i] * mom - g[i] * gs * lr_f;
        p[i] += velocity[i];
    }
}

// p, g, velocity are (n,)
void fnn_sgd_update(idx_t n, float *p, const float *g, float *velocity,
                    double lr, double momentum, int nesterov, double grad_scale) {
    struct sgd_args args = {p, velocity, g, (float)lr, (float)momentum, (float)grad_scale};
    fnn_range_fn body = momentum == 0.0 ? sgd_plain : nesterov ? sgd_nesterov : sgd_momentum;
    fnn_parallel_for(n, GRAIN, body, &args);
}

struct adam_args {
    float *p, *m, *v, *vhat;
    const float *g;
    float alpha, one_minus_b1, one_minus_b2, eps_f, gs, decay;
};

/* p, g, m, v, vhat are (n,). One pass over the vectors: each p[i], g[i], m[i], v[i] (and vhat[i]) is
   read once and each of p, m, v (vhat) written once. With decoupled decay (AdamW), p[i] is decayed in
   that same pass before its Adam step, the order of Keras's separate decay pass and bitwise equal to it.
   The flags are constants at every call below, so gcc emits one branch-free loop per variant; a zero
   decay is not simply multiplied in because p = inf would turn into inf - inf * 0 = NaN. */
static inline __attribute__((always_inline)) void adam_range(const struct adam_args *a, idx_t lo, idx_t hi,
                                                             int decayed, int amsgrad) {
    float *FNN_RESTRICT p = a->p, *FNN_RESTRICT m = a->m, *FNN_RESTRICT v = a->v, *FNN_RESTRICT vhat = a->vhat;
    const float *FNN_RESTRICT g = a->g;
    float alpha = a->alpha, one_minus_b1 = a->one_minus_b1, one_minus_b2 = a->one_minus_b2;
    float eps_f = a->eps_f, gs = a->gs, decay = a->decay;
    for (idx_t i = lo; i < hi; i++) {
        float gi = g[i] * gs, p_i = p[i];
        if (decayed) p_i -= p_i * decay;
        m[i] += (gi - m[i]) * one_minus_b1;
        v[i] += (gi * gi - v[i]) * one_minus_b2;
        float second = v[i];
        if (amsgrad) second = vhat[i] = vhat[i] > v[i] ? vhat[i] : v[i];
        p[i] = p_i - m[i] * alpha / (sqrtf(second) + eps_f);
    }
}

static void adam_plain(void *ctx, idx_t lo, idx_t hi) { adam_range(ctx, lo, hi, 0, 0); }
static void adam_amsgrad(void *ctx, idx_t lo, idx_t hi) { adam_range(ctx, lo, hi, 0, 1); }
static void adamw_plain(void *ctx, idx_t lo, idx_t hi) { adam_range(ctx, lo, hi, 1, 0); }
static void adamw_amsgrad(void *ctx, idx_t lo, idx_t hi) { adam_range(ctx, lo, hi, 1, 1); }

// p, g, m, v, vhat are (n,); vhat is NULL unless amsgrad; decay is AdamW's lr * weight_decay, or 0
void fnn_adam_update(idx_t n, float *p, const float *g, float *m, float *v, float *vhat, double lr,
                     double beta1, double beta2, double eps, double step, double grad_scale, double decay) {
    struct adam_args args = {
        p, m, v, vhat, g,
        (float)(lr * sqrt(1.0 - pow(beta2, step)) / (1.0 - pow(beta1, step))),
        (float)(1.0 - beta1), (float)(1.0 - beta2), (float)eps, (float)grad_scale, (float)decay,
    };
    fnn_range_fn body = decay != 0.0 ? (vhat ? adamw_amsgrad : adamw_plain) : (vhat ? adam_amsgrad : adam_plain);
    fnn_parallel_for(n, GRAIN, body, &args);
}

struct nadam_args {
    float *p, *m, *v;
    const float *g;
    float lr, one_minus_b1, one_minus_b2, momentum_weight, gradient_weight, v_correction, eps_f, gs;
};

/* p, g, m, v are (n,). Keras's m_hat = u_{t+1} m / (1 - prod u_..t+1) + (1 - u_t) g / (1 - prod u_..t)
   with its two weights computed once per step, and v_hat = v / (1 - b2^t) divided per element as Keras
   does (not multiplied by a reciprocal), so the float32 bits follow its order of operations. */
static void nadam_range(void *ctx, idx_t lo, idx_t hi) {
    const struct nadam_args *a = ctx;
    float *FNN_RESTRICT p = a->p, *FNN_RESTRICT m = a->m, *FNN_RESTRICT v = a->v;
    const float *FNN_RESTRICT g = a->g;
    float lr_f = a->lr, one_minus_b1 = a->one_minus_b1, one_minus_b2 = a->one_minus_b2;
    float momentum_weight = a->momentum_weight, gradient_weight = a->gradient_weight;
    float v_correction = a->v_correction, eps_f = a->eps_f, gs = a->gs;
    for (idx_t i = lo; i < hi; i++) {
        float gi = g[i] * gs;
        m[i] += (gi - m[i]) * one_minus_b1;
        v[i] += (gi * gi - v[i]) * one_minus_b2;
        float m_hat = momentum_weight * m[i] + gradient_weight * gi;
        p[i] -= m_hat * lr_f / (sqrtf(v[i] / v_correction) + eps_f);
    }
}

/* u_t = beta1 (1 - 0.5 * 0.96^t), Nadam's momentum schedule (Dozat; Keras's constant 0.96). */
static double nadam_momentum(double beta1, double step) { return beta1 * (1.0 - 0.5 * pow(0.96, step)); }

// p, g, m, v are (n,); u_product is prod_{i <= step} u_i (the caller keeps the running product)
void fnn_nadam_update(idx_t n, float *p, const float *g, float *m, float *v, double lr, double beta1,
                      double beta2, double eps, double step, double u_product, double grad_scale) {
    double u_t = nadam_momentum(beta1, step), u_next = nadam_momentum(beta1, step + 1.0);
    struct nadam_args args = {
        p, m, v, g, (float)lr, (float)(1.0 - beta1), (float)(1.0 - beta2),
        (float)(u_next / (1.0 - u_product * u_next)), (float)((1.0 - u_t) / (1.0 - u_product)),
        (float)(1.0 - pow(beta2, step)), (float)eps, (float)grad_scale,
    };
    fnn_parallel_for(n, GRAIN, nadam_range, &args);
}

struct adamax_args {
    float *p, *m, *u;
    const float *g;
    float alpha, one_minus_b1, b2, eps_f, gs;
};

// p, g, m, u are (n,)
static void adamax_range(void *ctx, idx_t lo, idx_t hi) {
    const struct adamax_args *a = ctx;
    float *FNN_RESTRICT p = a->p, *FNN_RESTRICT m = a->m, *FNN_RESTRICT u = a->u;
    const float *FNN_RESTRICT g = a->g;
    float alpha = a->alpha, one_minus_b1 = a->one_minus_b1, b2 = a->b2, eps_f = a->eps_f, gs = a->gs;
    for (idx_t i = lo; i < hi; i++) {
        float gi = g[i] * gs, decayed = b2 * u[i], magnitude = fabsf(gi);
        m[i] += (gi - m[i]) * one_minus_b1;
        /* max that keeps a NaN from either side (fmaxf would drop it), as Keras's maximum does */
        u[i] = vm_select((decayed > magnitude) | (decayed != decayed), decayed, magnitude);
        p[i] -= m[i] * alpha / (u[i] + eps_f);
    }
}

// p, g, m, u are (n,)
void fnn_adamax_update(idx_t n, float *p, const float *g, float *m, float *u, double lr, double beta1,
                       double beta2, double eps, double step, double grad_scale) {
    struct adamax_args args = {
        p, m, u, g, (float)(lr / (1.0 - pow(beta1, step))), (float)(1.0 - beta1), (float)beta2, (float)eps,
        (float)grad_scale,
    };
    fnn_parallel_for(n, GRAIN, adamax_range, &args);
}

struct rmsprop_args {
    float *p, *velocity, *momentum_buf, *average_grad;
    const float *g;
    float lr, rho, one_minus_rho, mom, eps_f, gs;
    int centered, use_momentum;
};

// p, g, velocity, momentum_buf, average_grad are (n,); momentum_buf NULL unless momentum > 0,
// average_grad NULL unless centered
static void rmsprop_range(void *ctx, idx_t lo, idx_t hi) {
    const struct rmsprop_args *a = ctx;
    float *FNN_RESTRICT p = a->p, *FNN_RESTRICT velocity = a->velocity;
    float *FNN_RESTRICT momentum_buf = a->momentum_buf, *FNN_RESTRICT average_grad = a->average_grad;
    const float *FNN_RESTRICT g = a->g;
    float lr_f = a->lr, rho_f = a->rho, one_minus_rho = a->one_minus_rho;
    float mom = a->mom, eps_f = a->eps_f, gs = a->gs;
    int centered = a->centered, use_momentum = a->use_momentum;
    /* gcc unswitches the loop on the two loop-invariant flags */
    for (idx_t i = lo; i < hi; i++) {
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

void fnn_rmsprop_update(idx_t n, float *p, const float *g, float *velocity, float *momentum_buf,
                        float *average_grad, double lr, double rho, double momentum, double eps,
                        int centered, double grad_scale) {
    struct rmsprop_args args = {
        p, velocity, momentum_buf, average_grad, g,
        (float)lr, (float)rho, (float)(1.0 - rho), (float)momentum, (float)eps, (float)grad_scale,
        centered, momentum > 0.0,
    };
    fnn_parallel_for(n, GRAIN, rmsprop_range, &args);
}

struct adagrad_args {
    float *p, *accumulator;
    const float *g;
    float lr, eps_f, gs;
};

// p, g, accumulator are (n,)
static void adagrad_range(void *ctx, idx_t lo, idx_t hi) {
    const struct adagrad_args *a = ctx;
    float *FNN_RESTRICT p = a->p, *FNN_RESTRICT accumulator = a->accumulator;
    const float *FNN_RESTRICT g = a->g;
    float lr_f = a->lr, eps_f = a->eps_f, gs = a->gs;
    for (idx_t i = lo; i < hi; i++) {
        float gi = g[i] * gs;
        accumulator[i] += gi * gi;
        p[i] -= lr_f * gi / sqrtf(accumulator[i] + eps_f);
    }
}

void fnn_adagrad_update(idx_t n, float *p, const float *g, float *accumulator, double lr, double eps,
                        double grad_scale) {
    struct adagrad_args args = {p, accumulator, g, (float)lr, (float)eps, (float)grad_scale};
    fnn_parallel_for(n, GRAIN, adagrad_range, &args);
}

/* The argument of the in-place kernels below: one array and one float. */
struct scale_args {
    float *x;
    float f;
};

// p is (n,)
static void decay_range(void *ctx, idx_t lo, idx_t hi) {
    const struct scale_args *a = ctx;
    float *FNN_RESTRICT p = a->x;
    float f = a->f;
    for (idx_t i = lo; i < hi; i++) p[i] -= p[i] * f;
}

void fnn_decay_weights(idx_t n, float *p, double factor) {
    struct scale_args args = {p, (float)factor};
    fnn_parallel_for(n, GRAIN, decay_range, &args);
}

// x is (n,)
static void clip_range(void *ctx, idx_t lo, idx_t hi) {
    const struct scale_args *a = ctx;
    float *FNN_RESTRICT x = a->x;
    float limit = a->f;
    for (idx_t i = lo; i < hi; i++) {
        float x_i = x[i];
        x[i] = x_i < -limit ? -limit : (x_i > limit ? limit : x_i);
    }
}

void fnn_clip_values(idx_t n, float *x, float limit) {
    struct scale_args args = {x, limit};
    fnn_parallel_for(n, GRAIN, clip_range, &args);
}
