# Bindings for activations, losses and optimizer updates (csrc/activations.c, losses.c, optim.c).
# Every array argument is `not None`: a None reaching check_f32 would be dereferenced.

from libc.stdint cimport int64_t

cdef extern from "fastnn.h" nogil:
    enum:
        FNN_ACTIVATION_COUNT
        FNN_ACTIVATION_SOFTMAX
        FNN_NEEDS_X
        FNN_NEEDS_Y
    int fnn_activation_backward_input(int act)
    void fnn_activation_forward(int act, float alpha, idx_t rows, idx_t cols, const float *x, float *y)
    void fnn_activation_backward(int act, float alpha, idx_t rows, idx_t cols,
                                 const float *x, const float *y, const float *dy, float *dx)
    void fnn_bias_grad(idx_t rows, idx_t cols, const float *dy, float *out)
    double fnn_sum_squares(idx_t n, const float *x)
    enum:
        FNN_LOSS_MSE
        FNN_LOSS_MAE
        FNN_LOSS_HUBER
        FNN_LOSS_BCE
        FNN_LOSS_BCE_LOGITS
    double fnn_loss_pointwise(int loss, idx_t rows, idx_t cols, const float *t, const float *p,
                              const float *sample_weight, float *grad, float delta)
    double fnn_loss_categorical(idx_t rows, idx_t cols, const float *t, const float *p,
                                const float *sample_weight, float *grad, int from_logits)
    double fnn_loss_sparse_categorical(idx_t rows, idx_t cols, const int64_t *labels, const float *p,
                                       const float *sample_weight, float *grad, int from_logits)


cdef inline bint clashes(cnp.ndarray out, cnp.ndarray x):
    """out shares memory with x other than by being exactly x's buffer (which kernels allow: in place)."""
    return overlaps(out, x) and not (cnp.PyArray_DATA(out) == cnp.PyArray_DATA(x)
                                     and cnp.PyArray_NBYTES(out) == cnp.PyArray_NBYTES(x))


cdef inline int check_same_size(cnp.ndarray a, cnp.ndarray b, str what) except -1:
    if cnp.PyArray_SIZE(a) != cnp.PyArray_SIZE(b):
        raise ValueError(f"{what}: sizes differ: {(<object>a).shape} and {(<object>b).shape}")
    return 0


cdef inline idx_t last_dim(cnp.ndarray x):
    return cnp.PyArray_DIM(x, cnp.PyArray_NDIM(x) - 1) if cnp.PyArray_NDIM(x) > 0 else 1


cdef inline int check_act(int act, str what) except -1:
    if not 0 <= act < FNN_ACTIVATION_COUNT:
        raise ValueError(f"{what}: unknown activation code {act}")
    return 0


def activation_backward_input(int act):
    """'x', 'y' or None: which array activation `act`'s backward reads besides dy."""
    check_act(act, "activation_backward_input")
    code = fnn_activation_backward_input(act)
    return "x" if code == FNN_NEEDS_X else "y" if code == FNN_NEEDS_Y else None


def activation_forward(int act, cnp.ndarray x not None, cnp.ndarray y not None, float alpha=0.0):
    """y = act(x); softmax over x's last axis. y may be x (in place) but not overlap it otherwise."""
    check_act(act, "activation_forward")
    check_f32(x, "activation_forward x")
    check_writeable(y, "activation_forward out")
    check_same_size(x, y, "activation_forward")
    if clashes(y, x):
        raise ValueError("activation_forward: out overlaps x without being x")
    if act == FNN_ACTIVATION_SOFTMAX and cnp.PyArray_NDIM(x) == 0:
        raise ValueError("activation_forward: softmax needs at least 1-D input")
    cdef idx_t cols = last_dim(x)
    cdef idx_t rows = cnp.PyArray_SIZE(x) // cols if cols > 0 else 0
    cdef const float *x_ptr = f32_ptr(x)
    cdef float *y_ptr = f32_ptr(y)
    with nogil:
        fnn_activation_forward(act, alpha, rows, cols, x_ptr, y_ptr)
    return y


def activation_backward(int act, cnp.ndarray x, cnp.ndarray y, cnp.ndarray dy not None,
                        cnp.ndarray dx not None, float alpha=0.0):
    """dx = dy * act'(x); x or y may be None when activation_backward_input(act) does not name it."""
    check_act(act, "activation_backward")
    check_f32(dy, "activation_backward dy")
    check_writeable(dx, "activation_backward out")
    check_same_size(dy, dx, "activation_backward")
    cdef int needs = fnn_activation_backward_input(act)
    cdef cnp.ndarray src = x if needs == FNN_NEEDS_X else y if needs == FNN_NEEDS_Y else None
    cdef const float *src_ptr = NULL
    if needs == FNN_NEEDS_X or needs == FNN_NEEDS_Y:
        name = "x" if needs == FNN_NEEDS_X else "y"
        if src is None:
            raise ValueError(f"activation_backward: this activation's backward needs {name}")
        check_f32(src, f"activation_backward {name}")
        check_same_size(src, dy, "activation_backward")
        if clashes(dx, src):
            raise ValueError(f"activation_backward: out overlaps {name} without being {name}")
        src_ptr = f32_ptr(src)
    if clashes(dx, dy):
        raise ValueError("activation_backward: out overlaps dy without being dy")
    if act == FNN_ACTIVATION_SOFTMAX and cnp.PyArray_NDIM(dy) == 0:
        raise ValueError("activation_backward: softmax needs at least 1-D input")
    cdef idx_t cols = last_dim(dy)
    cdef idx_t rows = cnp.PyArray_SIZE(dy) // cols if cols > 0 else 0
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef float *dx_ptr = f32_ptr(dx)
    with nogil:
        if needs == FNN_NEEDS_Y:
            fnn_activation_backward(act, alpha, rows, cols, NULL, src_ptr, dy_ptr, dx_ptr)
        else:
            fnn_activation_backward(act, alpha, rows, cols, src_ptr, NULL, dy_ptr, dx_ptr)
    return dx


def bias_grad(cnp.ndarray dy not None, cnp.ndarray out not None):
    """out = dy summed over every axis but the last; dy at least 2-D, out (dy.shape[-1],)."""
    check_f32(dy, "bias_grad dy")
    check_writeable(out, "bias_grad out")
    if cnp.PyArray_NDIM(dy) < 2:
        raise ValueError(f"bias_grad: dy must be at least 2-D (batch, units), got shape {(<object>dy).shape}")
    cdef idx_t cols = last_dim(dy)
    if cnp.PyArray_SIZE(out) != cols:
        raise ValueError(f"bias_grad: out must hold {cols} values, got shape {(<object>out).shape}")
    if overlaps(out, dy):
        raise ValueError("bias_grad: out must not share memory with dy")
    cdef idx_t rows = cnp.PyArray_SIZE(dy) // cols if cols > 0 else 0
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef float *out_ptr = f32_ptr(out)
    with nogil:
        fnn_bias_grad(rows, cols, dy_ptr, out_ptr)
    return out


def sum_squares(cnp.ndarray x not None):
    """The sum of x's squared values, in float64, independent of the thread count."""
    check_f32(x, "sum_squares x")
    cdef idx_t n = cnp.PyArray_SIZE(x)
    cdef const float *x_ptr = f32_ptr(x)
    cdef double total
    with nogil:
        total = fnn_sum_squares(n, x_ptr)
    return total


POINTWISE_LOSSES = {"mse": FNN_LOSS_MSE, "mae": FNN_LOSS_MAE, "huber": FNN_LOSS_HUBER,
                    "binary_crossentropy": FNN_LOSS_BCE, "binary_crossentropy_from_logits": FNN_LOSS_BCE_LOGITS}


cdef int check_loss_arrays(cnp.ndarray y_pred, cnp.ndarray sample_weight, cnp.ndarray grad, str what,
                           idx_t *rows, idx_t *cols) except -1:
    """Shared checks of a loss call; sets rows and cols from y_pred's shape (1-D: one row)."""
    check_f32(y_pred, f"{what} y_pred")
    check_writeable(grad, f"{what} grad")
    check_same_size(y_pred, grad, what)
    if cnp.PyArray_NDIM(y_pred) == 0:
        raise ValueError(f"{what}: y_pred must be at least 1-D")
    cols[0] = last_dim(y_pred)
    rows[0] = cnp.PyArray_SIZE(y_pred) // cols[0] if cols[0] > 0 else 0
    if clashes(grad, y_pred):
        raise ValueError(f"{what}: grad overlaps y_pred without being y_pred")
    if sample_weight is not None:
        check_f32(sample_weight, f"{what} sample_weight")
        if cnp.PyArray_SIZE(sample_weight) != rows[0]:
            raise ValueError(f"{what}: sample_weight must hold one weight per row ({rows[0]}), "
                             f"got shape {(<object>sample_weight).shape}")
        if overlaps(grad, sample_weight):
            raise ValueError(f"{what}: grad must not share memory with sample_weight")
    return 0


cdef inline const float *optional_ptr(cnp.ndarray x):
    return f32_ptr(x) if x is not None else NULL


def loss_pointwise(int loss, cnp.ndarray y_true not None, cnp.ndarray y_pred not None,
                   cnp.ndarray sample_weight, cnp.ndarray grad not None, float delta=1.0):
    """Fused elementwise loss (mse, mae, huber, bce, bce from logits): returns the value, fills grad."""
    cdef idx_t rows, cols
    if not FNN_LOSS_MSE <= loss <= FNN_LOSS_BCE_LOGITS:
        raise ValueError(f"loss_pointwise: unknown loss code {loss}")
    check_loss_arrays(y_pred, sample_weight, grad, "loss", &rows, &cols)
    check_f32(y_true, "loss y_true")
    check_same_size(y_true, y_pred, "loss")
    if overlaps(grad, y_true):
        raise ValueError("loss: grad must not share memory with y_true")
    cdef const float *t_ptr = f32_ptr(y_true)
    cdef const float *p_ptr = f32_ptr(y_pred)
    cdef const float *w_ptr = optional_ptr(sample_weight)
    cdef float *g_ptr = f32_ptr(grad)
    cdef double value
    with nogil:
        value = fnn_loss_pointwise(loss, rows, cols, t_ptr, p_ptr, w_ptr, g_ptr, delta)
    return value


def loss_categorical(cnp.ndarray y_true not None, cnp.ndarray y_pred not None, cnp.ndarray sample_weight,
                     cnp.ndarray grad not None, bint from_logits=False):
    """Fused categorical crossentropy over y_pred's last axis: returns the value, fills grad."""
    cdef idx_t rows, cols
    check_loss_arrays(y_pred, sample_weight, grad, "categorical_crossentropy", &rows, &cols)
    check_f32(y_true, "categorical_crossentropy y_true")
    check_same_size(y_true, y_pred, "categorical_crossentropy")
    if overlaps(grad, y_true):
        raise ValueError("categorical_crossentropy: grad must not share memory with y_true")
    cdef const float *t_ptr = f32_ptr(y_true)
    cdef const float *p_ptr = f32_ptr(y_pred)
    cdef const float *w_ptr = optional_ptr(sample_weight)
    cdef float *g_ptr = f32_ptr(grad)
    cdef double value
    with nogil:
        value = fnn_loss_categorical(rows, cols, t_ptr, p_ptr, w_ptr, g_ptr, from_logits)
    return value


def loss_sparse_categorical(cnp.ndarray labels not None, cnp.ndarray y_pred not None,
                            cnp.ndarray sample_weight, cnp.ndarray grad not None, bint from_logits=False):
    """Fused sparse categorical crossentropy: labels int64 (rows,), each in [0, classes)."""
    cdef idx_t rows, cols
    check_loss_arrays(y_pred, sample_weight, grad, "sparse_categorical_crossentropy", &rows, &cols)
    if cnp.PyArray_TYPE(labels) != cnp.NPY_INT64 or not cnp.PyArray_IS_C_CONTIGUOUS(labels):
        raise ValueError(f"sparse_categorical_crossentropy: labels must be a C-contiguous int64 array, "
                         f"got dtype {labels.dtype}")
    if cnp.PyArray_SIZE(labels) != rows:
        raise ValueError(f"sparse_categorical_crossentropy: expected {rows} labels, one per row of y_pred, "
                         f"got shape {(<object>labels).shape}")
    if overlaps(grad, labels):
        raise ValueError("sparse_categorical_crossentropy: grad must not share memory with labels")
    cdef const int64_t *l_ptr = <const int64_t *>cnp.PyArray_DATA(labels)
    cdef idx_t i, bad = -1
    with nogil:
        for i in range(rows):
            if l_ptr[i] < 0 or l_ptr[i] >= cols:
                bad = i
                break
    if bad >= 0:
        raise ValueError(f"sparse_categorical_crossentropy: label {l_ptr[bad]} at index {bad} is out of "
                         f"range for {cols} classes (expected 0 <= label < {cols})")
    cdef const float *p_ptr = f32_ptr(y_pred)
    cdef const float *w_ptr = optional_ptr(sample_weight)
    cdef float *g_ptr = f32_ptr(grad)
    cdef double value
    with nogil:
        value = fnn_loss_sparse_categorical(rows, cols, l_ptr, p_ptr, w_ptr, g_ptr, from_logits)
    return value


cdef extern from "fastnn.h" nogil:
    void fnn_sgd_update(idx_t n, float *p, const float *g, float *velocity, double lr, double momentum,
                        int nesterov, double grad_scale)
    void fnn_adam_update(idx_t n, float *p, const float *g, float *m, float *v, float *vhat, double lr,
                         double beta1, double beta2, double eps, double step, double grad_scale)
    void fnn_rmsprop_update(idx_t n, float *p, const float *g, float *velocity, float *momentum_buf,
                            float *average_grad, double lr, double rho, double momentum, double eps,
                            int centered, double grad_scale)
    void fnn_adagrad_update(idx_t n, float *p, const float *g, float *accumulator, double lr, double eps,
                            double grad_scale)
    void fnn_decay_weights(idx_t n, float *p, double factor)
    void fnn_clip_values(idx_t n, float *x, float limit)


cdef int check_update(str what, cnp.ndarray p, cnp.ndarray g, list states) except -1:
    """p and every state array writeable float32 of g's size, and no two of them sharing memory."""
    check_writeable(p, f"{what} p")
    check_f32(g, f"{what} g")
    check_same_size(p, g, what)
    cdef list written = [p]
    cdef cnp.ndarray s, other
    for name, s in states:
        if s is None:
            continue
        check_writeable(s, f"{what} {name}")
        if cnp.PyArray_SIZE(s) != cnp.PyArray_SIZE(p):
            raise ValueError(f"{what}: {name} has {cnp.PyArray_SIZE(s)} values but p has {cnp.PyArray_SIZE(p)}")
        written.append(s)
    for i in range(len(written)):
        s = written[i]
        if overlaps(s, g):
            raise ValueError(f"{what}: the gradient shares memory with an array the update writes")
        for j in range(i):
            other = written[j]
            if overlaps(s, other):
                raise ValueError(f"{what}: two of the arrays the update writes share memory")
    return 0


cdef inline float *state_ptr(cnp.ndarray x):
    return f32_ptr(x) if x is not None else NULL


def sgd_update(cnp.ndarray p not None, cnp.ndarray g not None, cnp.ndarray velocity, double lr,
               double momentum=0.0, bint nesterov=False, double grad_scale=1.0):
    if momentum != 0.0 and velocity is None:
        raise ValueError("sgd_update: momentum != 0 needs a velocity array")
    check_update("sgd_update", p, g, [("velocity", velocity if momentum != 0.0 else None)])
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    cdef const float *g_ptr = f32_ptr(g)
    cdef float *v_ptr = state_ptr(velocity) if momentum != 0.0 else NULL
    with nogil:
        fnn_sgd_update(n, p_ptr, g_ptr, v_ptr, lr, momentum, nesterov, grad_scale)


def adam_update(cnp.ndarray p not None, cnp.ndarray g not None, cnp.ndarray m not None,
                cnp.ndarray v not None, cnp.ndarray vhat, double lr, double beta1, double beta2,
                double eps, long long step, double grad_scale=1.0):
    if step < 1:
        raise ValueError(f"adam_update: step counts from 1, got {step}")
    check_update("adam_update", p, g, [("m", m), ("v", v), ("vhat", vhat)])
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    cdef const float *g_ptr = f32_ptr(g)
    cdef float *m_ptr = f32_ptr(m)
    cdef float *v_ptr = f32_ptr(v)
    cdef float *vhat_ptr = state_ptr(vhat)
    cdef double step_f = <double>step
    with nogil:
        fnn_adam_update(n, p_ptr, g_ptr, m_ptr, v_ptr, vhat_ptr, lr, beta1, beta2, eps, step_f, grad_scale)


def rmsprop_update(cnp.ndarray p not None, cnp.ndarray g not None, cnp.ndarray velocity not None,
                   cnp.ndarray momentum_buf, cnp.ndarray average_grad, double lr, double rho,
                   double momentum, double eps, bint centered, double grad_scale=1.0):
    if momentum > 0.0 and momentum_buf is None:
        raise ValueError("rmsprop_update: momentum > 0 needs a momentum_buf array")
    if centered and average_grad is None:
        raise ValueError("rmsprop_update: centered=True needs an average_grad array")
    cdef cnp.ndarray mb = momentum_buf if momentum > 0.0 else None
    cdef cnp.ndarray avg = average_grad if centered else None
    check_update("rmsprop_update", p, g, [("velocity", velocity), ("momentum_buf", mb), ("average_grad", avg)])
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    cdef const float *g_ptr = f32_ptr(g)
    cdef float *vel_ptr = f32_ptr(velocity)
    cdef float *mb_ptr = state_ptr(mb)
    cdef float *avg_ptr = state_ptr(avg)
    with nogil:
        fnn_rmsprop_update(n, p_ptr, g_ptr, vel_ptr, mb_ptr, avg_ptr, lr, rho, momentum, eps, centered, grad_scale)


def adagrad_update(cnp.ndarray p not None, cnp.ndarray g not None, cnp.ndarray accumulator not None,
                   double lr, double eps, double grad_scale=1.0):
    check_update("adagrad_update", p, g, [("accumulator", accumulator)])
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    cdef const float *g_ptr = f32_ptr(g)
    cdef float *acc_ptr = f32_ptr(accumulator)
    with nogil:
        fnn_adagrad_update(n, p_ptr, g_ptr, acc_ptr, lr, eps, grad_scale)


def decay_weights(cnp.ndarray p not None, double factor):
    check_writeable(p, "decay_weights p")
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    with nogil:
        fnn_decay_weights(n, p_ptr, factor)


def clip_values(cnp.ndarray x not None, float limit):
    check_writeable(x, "clip_values x")
    if not limit >= 0.0:
        raise ValueError(f"clip_values: limit must be >= 0, got {limit}")
    cdef idx_t n = cnp.PyArray_SIZE(x)
    cdef float *x_ptr = f32_ptr(x)
    with nogil:
        fnn_clip_values(n, x_ptr, limit)
