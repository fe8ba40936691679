# Bindings for activations, losses and optimizer updates (csrc/activations.c, losses.c, optim.c).
# Every array argument is `not None`: a None reaching check_f32 would be dereferenced.

from libc.float cimport DBL_MAX
from libc.stdint cimport int64_t

cdef extern from "fastnn.h" nogil:
    enum:
        FNN_ACTIVATION_COUNT
        FNN_NEEDS_X
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
        FNN_LOSS_POISSON
        FNN_LOSS_LOG_COSH
        FNN_LOSS_MSLE
        FNN_LOSS_MAPE
        FNN_LOSS_HINGE
        FNN_LOSS_SQUARED_HINGE
        FNN_LOSS_KLD
        FNN_LOSS_FOCAL
        FNN_LOSS_FOCAL_LOGITS
        FNN_LOSS_COSINE
        FNN_LOSS_CATEGORICAL_HINGE
    struct fnn_loss_options:
        float delta, gamma, alpha_pos, alpha_neg
    double fnn_loss_pointwise(int loss, idx_t rows, idx_t cols, const float *t, const float *p,
                              const float *sample_weight, float *grad, const fnn_loss_options *options)
    double fnn_loss_rowwise(int loss, idx_t rows, idx_t cols, const float *t, const float *p,
                            const float *sample_weight, float *grad)
    double fnn_loss_categorical(idx_t rows, idx_t cols, const float *t, const float *p,
                                const float *sample_weight, float *grad, int from_logits)
    double fnn_loss_sparse_categorical(idx_t rows, idx_t cols, const int64_t *labels, const float *p,
                                       const float *sample_weight, float *grad, int from_logits)


cdef inline bint clashes(cnp.ndarray out, cnp.ndarray x):
    """out shares memory with x other than by being exactly x's buffer (which kernels allow: in place)."""
    return overlaps(out, x) and not (cnp.PyArray_DATA(out) == cnp.PyArray_DATA(x)
                                     and cnp.PyArray_NBYTES(out) == cnp.PyArray_NBYTES(x))


# The checks below build their error text only when they fail: an f-string per argument would cost
# more than a small kernel.

cdef inline bint is_f32_array(cnp.ndarray x):
    return is_kernel_array(x, cnp.NPY_FLOAT32)


cdef inline int need_f32(cnp.ndarray x, str what, str name) except -1:
    if not is_f32_array(x):
        check_f32(x, f"{what} {name}")
    return 0


cdef inline int need_out(cnp.ndarray x, str what, str name) except -1:
    if not (is_f32_array(x) and cnp.PyArray_ISWRITEABLE(x)):
        check_writeable(x, f"{what} {name}")
    return 0


cdef inline int check_same_size(cnp.ndarray a, cnp.ndarray b, str what) except -1:
    if cnp.PyArray_SIZE(a) != cnp.PyArray_SIZE(b):
        raise ValueError(f"{what}: sizes differ: {(<object>a).shape} and {(<object>b).shape}")
    return 0


cdef inline bint same_shape(cnp.ndarray a, cnp.ndarray b):
    cdef int d, ndim = cnp.PyArray_NDIM(a)
    if cnp.PyArray_NDIM(b) != ndim:
        return False
    for d in range(ndim):
        if cnp.PyArray_DIM(a, d) != cnp.PyArray_DIM(b, d):
            return False
    return True


cdef inline int check_same_shape(cnp.ndarray x, str x_name, cnp.ndarray ref, str ref_name, str what) except -1:
    """x (named x_name) must have ref's shape."""
    if not same_shape(x, ref):
        differ = "sizes differ: " if cnp.PyArray_SIZE(x) != cnp.PyArray_SIZE(ref) else ""
        raise ValueError(f"{what}: {differ}{x_name} has shape {(<object>x).shape} but {ref_name} has shape "
                         f"{(<object>ref).shape}")
    return 0


cdef inline idx_t last_dim(cnp.ndarray x):
    return cnp.PyArray_DIM(x, cnp.PyArray_NDIM(x) - 1) if cnp.PyArray_NDIM(x) > 0 else 1


cdef inline int check_act(int act, str what) except -1:
    if not 0 <= act < FNN_ACTIVATION_COUNT:
        raise ValueError(f"{what}: unknown activation code {act}")
    return 0


cdef inline cnp.ndarray new_like(cnp.ndarray x):
    """A new C-contiguous float32 array of x's shape (np.empty through Python costs ~0.5 us)."""
    return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), cnp.NPY_FLOAT32, 0)


def empty_like_f32(cnp.ndarray x not None):
    """A new uninitialised C-contiguous float32 array of x's shape."""
    return new_like(x)


def is_i64(x):
    """True when x is a C-contiguous, aligned int64 ndarray: a label kernel can take it as it is."""
    return type(x) is cnp.ndarray and is_kernel_array(<cnp.ndarray>x, cnp.NPY_INT64)


def activation_backward_input(int act):
    """'x', 'y' or None: which array activation `act`'s backward reads besides dy."""
    check_act(act, "activation_backward_input")
    code = fnn_activation_backward_input(act)
    return "x" if code == FNN_NEEDS_X else "y" if code == FNN_NEEDS_Y else None


def activation_forward(int act, cnp.ndarray x not None, cnp.ndarray y=None, float alpha=0.0):
    """y = act(x); softmax over x's last axis. y has x's shape and may be x (in place) but not overlap
    it otherwise; None makes a new array."""
    check_act(act, "activation_forward")
    need_f32(x, "activation_forward", "x")
    if y is None:
        y = new_like(x)
    need_out(y, "activation_forward", "out")
    check_same_shape(y, "out", x, "x", "activation_forward")
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
                        cnp.ndarray dx=None, float alpha=0.0):
    """dx = dy * act'(x); x or y may be None when activation_backward_input(act) does not name it.
    Every array given has dy's shape; dx None makes a new array."""
    check_act(act, "activation_backward")
    need_f32(dy, "activation_backward", "dy")
    if dx is None:
        dx = new_like(dy)
    need_out(dx, "activation_backward", "out")
    check_same_shape(dx, "out", dy, "dy", "activation_backward")
    cdef int needs = fnn_activation_backward_input(act)
    cdef cnp.ndarray src = x if needs == FNN_NEEDS_X else y if needs == FNN_NEEDS_Y else None
    cdef const float *src_ptr = NULL
    if needs == FNN_NEEDS_X or needs == FNN_NEEDS_Y:
        name = "x" if needs == FNN_NEEDS_X else "y"
        if src is None:
            raise ValueError(f"activation_backward: this activation's backward needs {name}")
        need_f32(src, "activation_backward", name)
        check_same_shape(src, name, dy, "dy", "activation_backward")
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


def bias_grad(cnp.ndarray dy not None, cnp.ndarray out=None):
    """out = dy summed over every axis but the last; dy at least 2-D, out (dy.shape[-1],) or None
    for a new array."""
    need_f32(dy, "bias_grad", "dy")
    if cnp.PyArray_NDIM(dy) < 2:
        raise ValueError(f"bias_grad: dy must be at least 2-D (batch, units), got shape {(<object>dy).shape}")
    cdef idx_t cols = last_dim(dy)
    cdef cnp.npy_intp out_dims[1]
    if out is None:
        out_dims[0] = cols
        out = cnp.PyArray_EMPTY(1, out_dims, cnp.NPY_FLOAT32, 0)
    need_out(out, "bias_grad", "out")
    if cnp.PyArray_NDIM(out) != 1 or cnp.PyArray_DIM(out, 0) != cols:
        raise ValueError(f"bias_grad: out must have shape ({cols},), got shape {(<object>out).shape}")
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
    need_f32(x, "sum_squares", "x")
    cdef idx_t n = cnp.PyArray_SIZE(x)
    cdef const float *x_ptr = f32_ptr(x)
    cdef double total
    with nogil:
        total = fnn_sum_squares(n, x_ptr)
    return total


POINTWISE_LOSSES = {"mse": FNN_LOSS_MSE, "mae": FNN_LOSS_MAE, "huber": FNN_LOSS_HUBER,
                    "binary_crossentropy": FNN_LOSS_BCE, "binary_crossentropy_from_logits": FNN_LOSS_BCE_LOGITS,
                    "poisson": FNN_LOSS_POISSON, "log_cosh": FNN_LOSS_LOG_COSH, "msle": FNN_LOSS_MSLE,
                    "mape": FNN_LOSS_MAPE, "hinge": FNN_LOSS_HINGE, "squared_hinge": FNN_LOSS_SQUARED_HINGE,
                    "kl_divergence": FNN_LOSS_KLD, "binary_focal_crossentropy": FNN_LOSS_FOCAL,
                    "binary_focal_crossentropy_from_logits": FNN_LOSS_FOCAL_LOGITS}
# The public op of each pointwise loss code, for error messages.
cdef tuple POINTWISE_NAMES = ("loss_mse", "loss_mae", "loss_huber", "loss_binary_crossentropy",
                              "loss_binary_crossentropy", "loss_poisson", "loss_log_cosh", "loss_msle", "loss_mape",
                              "loss_hinge", "loss_squared_hinge", "loss_kl_divergence",
                              "loss_binary_focal_crossentropy", "loss_binary_focal_crossentropy")
ROWWISE_LOSSES = {"cosine_similarity": FNN_LOSS_COSINE, "categorical_hinge": FNN_LOSS_CATEGORICAL_HINGE}


cdef int check_loss_arrays(cnp.ndarray y_pred, cnp.ndarray sample_weight, cnp.ndarray grad, str what,
                           idx_t *rows, idx_t *cols) except -1:
    """Shared checks of a loss call; sets rows and cols from y_pred's shape (1-D: one row)."""
    need_f32(y_pred, what, "y_pred")
    if cnp.PyArray_NDIM(y_pred) == 0 or last_dim(y_pred) == 0:
        raise ValueError(f"{what}: y_pred must be at least 1-D with a non-empty last axis, "
                         f"got shape {(<object>y_pred).shape}")
    need_out(grad, what, "grad")
    check_same_size(y_pred, grad, what)
    if not same_shape(grad, y_pred):
        raise ValueError(f"{what}: grad_out has shape {(<object>grad).shape}, expected {(<object>y_pred).shape}")
    cols[0] = last_dim(y_pred)
    rows[0] = cnp.PyArray_SIZE(y_pred) // cols[0]
    if clashes(grad, y_pred):
        raise ValueError(f"{what}: grad overlaps y_pred without being y_pred")
    if sample_weight is not None:
        need_f32(sample_weight, what, "sample_weight")
        if cnp.PyArray_SIZE(sample_weight) != rows[0]:
            raise ValueError(f"{what}: sample_weight must hold one weight per row of y_pred ({rows[0]}), "
                             f"got shape {(<object>sample_weight).shape}")
        if overlaps(grad, sample_weight):
            raise ValueError(f"{what}: grad must not share memory with sample_weight")
    return 0


cdef int check_targets(cnp.ndarray y_true, cnp.ndarray y_pred, cnp.ndarray grad, str what) except -1:
    """y_true float32 with one value per value of y_pred (fastnn._shapes lines their shapes up), not under grad."""
    need_f32(y_true, what, "y_true")
    check_same_size(y_true, y_pred, what)
    if overlaps(grad, y_true):
        raise ValueError(f"{what}: grad must not share memory with y_true")
    return 0


cdef inline const float *optional_ptr(cnp.ndarray x):
    return f32_ptr(x) if x is not None else NULL


def loss_pointwise(int loss, cnp.ndarray y_true not None, cnp.ndarray y_pred not None,
                   cnp.ndarray sample_weight, cnp.ndarray grad not None, float delta=1.0, float gamma=2.0,
                   float alpha_pos=1.0, float alpha_neg=1.0):
    """Fused elementwise loss (a POINTWISE_LOSSES code): returns the value, fills grad.

    y_true has y_pred's size, sample_weight is None or one weight per row (y_pred.shape[:-1]), grad has
    y_pred's shape and may be y_pred. delta is Huber's; gamma, alpha_pos and alpha_neg the binary focal
    crossentropy's. The callers (fastnn.ops) apply Keras's shape rules.
    """
    cdef idx_t rows, cols
    cdef fnn_loss_options options = fnn_loss_options(delta, gamma, alpha_pos, alpha_neg)
    if not FNN_LOSS_MSE <= loss <= FNN_LOSS_FOCAL_LOGITS:
        raise ValueError(f"loss_pointwise: unknown loss code {loss}")
    cdef str what = POINTWISE_NAMES[loss]
    check_loss_arrays(y_pred, sample_weight, grad, what, &rows, &cols)
    check_targets(y_true, y_pred, grad, what)
    cdef const float *t_ptr = f32_ptr(y_true)
    cdef const float *p_ptr = f32_ptr(y_pred)
    cdef const float *w_ptr = optional_ptr(sample_weight)
    cdef float *g_ptr = f32_ptr(grad)
    cdef double value
    with nogil:
        value = fnn_loss_pointwise(loss, rows, cols, t_ptr, p_ptr, w_ptr, g_ptr, &options)
    return value


def loss_rowwise(int loss, cnp.ndarray y_true not None, cnp.ndarray y_pred not None,
                 cnp.ndarray sample_weight, cnp.ndarray grad not None):
    """Fused loss over whole rows (a ROWWISE_LOSSES code: cosine similarity, categorical hinge).
    Shapes as loss_pointwise."""
    cdef idx_t rows, cols
    if loss not in (FNN_LOSS_COSINE, FNN_LOSS_CATEGORICAL_HINGE):
        raise ValueError(f"loss_rowwise: unknown loss code {loss}")
    cdef str what = "loss_cosine_similarity" if loss == FNN_LOSS_COSINE else "loss_categorical_hinge"
    check_loss_arrays(y_pred, sample_weight, grad, what, &rows, &cols)
    check_targets(y_true, y_pred, grad, what)
    cdef const float *t_ptr = f32_ptr(y_true)
    cdef const float *p_ptr = f32_ptr(y_pred)
    cdef const float *w_ptr = optional_ptr(sample_weight)
    cdef float *g_ptr = f32_ptr(grad)
    cdef double value
    with nogil:
        value = fnn_loss_rowwise(loss, rows, cols, t_ptr, p_ptr, w_ptr, g_ptr)
    return value


def loss_categorical(cnp.ndarray y_true not None, cnp.ndarray y_pred not None, cnp.ndarray sample_weight,
                     cnp.ndarray grad not None, bint from_logits=False):
    """Fused categorical crossentropy over y_pred's last axis: returns the value, fills grad.
    Shapes as loss_pointwise."""
    cdef idx_t rows, cols
    cdef str what = "loss_categorical_crossentropy"
    check_loss_arrays(y_pred, sample_weight, grad, what, &rows, &cols)
    check_targets(y_true, y_pred, grad, what)
    cdef const float *t_ptr = f32_ptr(y_true)
    cdef const float *p_ptr = f32_ptr(y_pred)
    cdef const float *w_ptr = optional_ptr(sample_weight)
    cdef float *g_ptr = f32_ptr(grad)
    cdef double value
    with nogil:
        value = fnn_loss_categorical(rows, cols, t_ptr, p_ptr, w_ptr, g_ptr, from_logits)
    return value


cdef int need_labels(cnp.ndarray labels, idx_t rows, str what) except -1:
    """labels: C-contiguous int64, one per row."""
    if not is_kernel_array(labels, cnp.NPY_INT64):
        raise TypeError(f"{what}: labels must be a C-contiguous, aligned int64 array, got dtype {labels.dtype}")
    if cnp.PyArray_SIZE(labels) != rows:
        raise ValueError(f"{what}: labels must hold one label per row of y_pred ({rows}), "
                         f"got shape {(<object>labels).shape}")
    return 0


cdef int check_labels(cnp.ndarray labels, cnp.ndarray y_pred, idx_t rows, idx_t cols, str what) except -1:
    """labels: C-contiguous int64, one per row, each in [0, cols)."""
    need_labels(labels, rows, what)
    cdef const int64_t *l_ptr = <const int64_t *>cnp.PyArray_DATA(labels)
    cdef idx_t i, bad = -1
    with nogil:
        for i in range(rows):
            if l_ptr[i] < 0 or l_ptr[i] >= cols:
                bad = i
                break
    if bad >= 0:
        raise ValueError(f"{what}: label {l_ptr[bad]} at index {bad} is out of "
                         f"range for {cols} classes (expected 0 <= label < {cols})")
    return 0


def loss_sparse_categorical(cnp.ndarray labels not None, cnp.ndarray y_pred not None,
                            cnp.ndarray sample_weight, cnp.ndarray grad not None, bint from_logits=False):
    """Fused sparse categorical crossentropy: labels int64 (rows,), each in [0, classes)."""
    cdef idx_t rows, cols
    cdef str what = "loss_sparse_categorical_crossentropy"
    check_loss_arrays(y_pred, sample_weight, grad, what, &rows, &cols)
    check_labels(labels, y_pred, rows, cols, what)
    if overlaps(grad, labels):
        raise ValueError(f"{what}: grad must not share memory with labels")
    cdef const int64_t *l_ptr = <const int64_t *>cnp.PyArray_DATA(labels)
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
                         double beta1, double beta2, double eps, double step, double grad_scale, double decay)
    void fnn_nadam_update(idx_t n, float *p, const float *g, float *m, float *v, double lr, double beta1,
                          double beta2, double eps, double step, double u_product, double grad_scale)
    void fnn_adamax_update(idx_t n, float *p, const float *g, float *m, float *u, double lr, double beta1,
                           double beta2, double eps, double step, double grad_scale)
    void fnn_rmsprop_update(idx_t n, float *p, const float *g, float *velocity, float *momentum_buf,
                            float *average_grad, double lr, double rho, double momentum, double eps,
                            int centered, double grad_scale)
    void fnn_adagrad_update(idx_t n, float *p, const float *g, float *accumulator, double lr, double eps,
                            double grad_scale)
    void fnn_decay_weights(idx_t n, float *p, double factor)
    void fnn_clip_values(idx_t n, float *x, float limit)


cdef int check_state(str what, cnp.ndarray p, cnp.ndarray g, cnp.ndarray s, str name) except -1:
    need_out(s, what, name)
    if cnp.PyArray_SIZE(s) != cnp.PyArray_SIZE(p):
        raise ValueError(f"{what}: {name} has {cnp.PyArray_SIZE(s)} values but p has {cnp.PyArray_SIZE(p)}")
    return 0


cdef int check_update(str what, cnp.ndarray p, cnp.ndarray g, cnp.ndarray s1=None, str n1=None,
                      cnp.ndarray s2=None, str n2=None, cnp.ndarray s3=None, str n3=None) except -1:
    """p and every state array given (s1..s3, None when unused) writeable float32 of g's size, and no
    two of them sharing memory."""
    need_out(p, what, "p")
    need_f32(g, what, "g")
    check_same_size(p, g, what)
    if s1 is not None:
        check_state(what, p, g, s1, n1)
    if s2 is not None:
        check_state(what, p, g, s2, n2)
    if s3 is not None:
        check_state(what, p, g, s3, n3)
    if overlaps(p, g) or (s1 is not None and overlaps(s1, g)) or (s2 is not None and overlaps(s2, g)) \
            or (s3 is not None and overlaps(s3, g)):
        raise ValueError(f"{what}: the gradient shares memory with an array the update writes")
    if (s1 is not None and overlaps(s1, p)) or (s2 is not None and (overlaps(s2, p) or
            (s1 is not None and overlaps(s2, s1)))) or (s3 is not None and (overlaps(s3, p) or
            (s1 is not None and overlaps(s3, s1)) or (s2 is not None and overlaps(s3, s2)))):
        raise ValueError(f"{what}: two of the arrays the update writes share memory")
    return 0


cdef inline float *state_ptr(cnp.ndarray x):
    return f32_ptr(x) if x is not None else NULL


# The C takes any double; a NaN or negative hyperparameter would quietly fill the parameters with NaN
# or step the wrong way, so the updates refuse them (a learning rate of 0 is fine, as in Keras).
cdef int need_non_negative(str what, str name, double value) except -1:
    if not 0.0 <= value <= DBL_MAX:  # NaN fails every comparison
        raise ValueError(f"{what}: {name} must be finite and >= 0, got {value}")
    return 0


cdef int need_fraction(str what, str name, double value, bint below_one) except -1:
    if not (0.0 <= value < 1.0 if below_one else 0.0 <= value <= 1.0):
        raise ValueError(f"{what}: {name} must be in [0, 1{')' if below_one else ']'}, got {value}")
    return 0


cdef double need_step(str what, object step) except -1.0:
    """The 1-based step count as the C takes it: an integer (the C's long long would truncate 1.9)."""
    if isinstance(step, bool) or not hasattr(type(step), "__index__"):
        raise TypeError(f"{what}: step must be an integer, got {type(step).__name__} {step!r}")
    cdef long long value = step
    if value < 1:
        raise ValueError(f"{what}: step counts from 1, got {value}")
    return <double>value


cdef int need_step_size(str what, double lr, double grad_scale) except -1:
    need_non_negative(what, "lr", lr)
    need_non_negative(what, "grad_scale", grad_scale)
    return 0


def sgd_update(cnp.ndarray p not None, cnp.ndarray g not None, cnp.ndarray velocity, double lr,
               double momentum=0.0, bint nesterov=False, double grad_scale=1.0):
    need_step_size("sgd_update", lr, grad_scale)
    need_fraction("sgd_update", "momentum", momentum, False)
    if momentum != 0.0 and velocity is None:
        raise ValueError("sgd_update: momentum != 0 needs a velocity array")
    check_update("sgd_update", p, g, velocity if momentum != 0.0 else None, "velocity")
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    cdef const float *g_ptr = f32_ptr(g)
    cdef float *v_ptr = state_ptr(velocity) if momentum != 0.0 else NULL
    with nogil:
        fnn_sgd_update(n, p_ptr, g_ptr, v_ptr, lr, momentum, nesterov, grad_scale)


def adam_update(cnp.ndarray p not None, cnp.ndarray g not None, cnp.ndarray m not None,
                cnp.ndarray v not None, cnp.ndarray vhat, double lr, double beta1, double beta2,
                double eps, step, double grad_scale=1.0, double decay=0.0):
    cdef double step_f = need_step("adam_update", step)
    need_step_size("adam_update", lr, grad_scale)
    need_fraction("adam_update", "beta1", beta1, True)
    need_fraction("adam_update", "beta2", beta2, True)
    need_non_negative("adam_update", "eps", eps)
    need_non_negative("adam_update", "decay", decay)
    check_update("adam_update", p, g, m, "m", v, "v", vhat, "vhat")
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    cdef const float *g_ptr = f32_ptr(g)
    cdef float *m_ptr = f32_ptr(m)
    cdef float *v_ptr = f32_ptr(v)
    cdef float *vhat_ptr = state_ptr(vhat)
    with nogil:
        fnn_adam_update(n, p_ptr, g_ptr, m_ptr, v_ptr, vhat_ptr, lr, beta1, beta2, eps, step_f, grad_scale, decay)


def nadam_update(cnp.ndarray p not None, cnp.ndarray g not None, cnp.ndarray m not None,
                 cnp.ndarray v not None, double lr, double beta1, double beta2, double eps, step,
                 double u_product, double grad_scale=1.0):
    cdef double step_f = need_step("nadam_update", step)
    need_step_size("nadam_update", lr, grad_scale)
    need_fraction("nadam_update", "beta1", beta1, True)
    need_fraction("nadam_update", "beta2", beta2, True)
    need_non_negative("nadam_update", "eps", eps)
    need_fraction("nadam_update", "u_product", u_product, True)
    check_update("nadam_update", p, g, m, "m", v, "v")
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    cdef const float *g_ptr = f32_ptr(g)
    cdef float *m_ptr = f32_ptr(m)
    cdef float *v_ptr = f32_ptr(v)
    with nogil:
        fnn_nadam_update(n, p_ptr, g_ptr, m_ptr, v_ptr, lr, beta1, beta2, eps, step_f, u_product, grad_scale)


def adamax_update(cnp.ndarray p not None, cnp.ndarray g not None, cnp.ndarray m not None,
                  cnp.ndarray u not None, double lr, double beta1, double beta2, double eps, step,
                  double grad_scale=1.0):
    cdef double step_f = need_step("adamax_update", step)
    need_step_size("adamax_update", lr, grad_scale)
    need_fraction("adamax_update", "beta1", beta1, True)
    need_fraction("adamax_update", "beta2", beta2, True)
    need_non_negative("adamax_update", "eps", eps)
    check_update("adamax_update", p, g, m, "m", u, "u")
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    cdef const float *g_ptr = f32_ptr(g)
    cdef float *m_ptr = f32_ptr(m)
    cdef float *u_ptr = f32_ptr(u)
    with nogil:
        fnn_adamax_update(n, p_ptr, g_ptr, m_ptr, u_ptr, lr, beta1, beta2, eps, step_f, grad_scale)


def rmsprop_update(cnp.ndarray p not None, cnp.ndarray g not None, cnp.ndarray velocity not None,
                   cnp.ndarray momentum_buf, cnp.ndarray average_grad, double lr, double rho,
                   double momentum, double eps, bint centered, double grad_scale=1.0):
    need_step_size("rmsprop_update", lr, grad_scale)
    need_fraction("rmsprop_update", "rho", rho, False)
    need_fraction("rmsprop_update", "momentum", momentum, False)
    need_non_negative("rmsprop_update", "eps", eps)
    if momentum > 0.0 and momentum_buf is None:
        raise ValueError("rmsprop_update: momentum > 0 needs a momentum_buf array")
    if centered and average_grad is None:
        raise ValueError("rmsprop_update: centered=True needs an average_grad array")
    cdef cnp.ndarray mb = momentum_buf if momentum > 0.0 else None
    cdef cnp.ndarray avg = average_grad if centered else None
    check_update("rmsprop_update", p, g, velocity, "velocity", mb, "momentum_buf", avg, "average_grad")
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
    need_step_size("adagrad_update", lr, grad_scale)
    need_non_negative("adagrad_update", "eps", eps)
    check_update("adagrad_update", p, g, accumulator, "accumulator")
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    cdef const float *g_ptr = f32_ptr(g)
    cdef float *acc_ptr = f32_ptr(accumulator)
    with nogil:
        fnn_adagrad_update(n, p_ptr, g_ptr, acc_ptr, lr, eps, grad_scale)


def decay_weights(cnp.ndarray p not None, double factor):
    need_out(p, "decay_weights", "p")
    need_non_negative("decay_weights", "factor", factor)
    cdef idx_t n = cnp.PyArray_SIZE(p)
    cdef float *p_ptr = f32_ptr(p)
    with nogil:
        fnn_decay_weights(n, p_ptr, factor)


def clip_values(cnp.ndarray x not None, float limit):
    need_out(x, "clip_values", "x")
    if not limit >= 0.0:
        raise ValueError(f"clip_values: limit must be >= 0, got {limit}")
    cdef idx_t n = cnp.PyArray_SIZE(x)
    cdef float *x_ptr = f32_ptr(x)
    with nogil:
        fnn_clip_values(n, x_ptr, limit)


cdef extern from "fastnn.h" nogil:
    enum:
        FNN_ACCURACY_BINARY
        FNN_ACCURACY_CATEGORICAL
        FNN_ACCURACY_SPARSE_CATEGORICAL
        FNN_ACCURACY_TOP_K
        FNN_ACCURACY_SPARSE_TOP_K
    void fnn_accuracy_counts(int kind, idx_t rows, idx_t cols, const float *t, const int64_t *labels,
                             const float *p, const float *sample_weight, float threshold, idx_t k, double *counts)

ACCURACY_KINDS = {"binary": FNN_ACCURACY_BINARY, "categorical": FNN_ACCURACY_CATEGORICAL,
                  "sparse_categorical": FNN_ACCURACY_SPARSE_CATEGORICAL, "top_k": FNN_ACCURACY_TOP_K,
                  "sparse_top_k": FNN_ACCURACY_SPARSE_TOP_K}


def accuracy_counts(int kind, cnp.ndarray y_true not None, cnp.ndarray y_pred not None, cnp.ndarray sample_weight,
                    float threshold=0.5, idx_t k=1):
    """(weighted hits, total weight) of an accuracy metric over one batch, as Keras's metrics count them.

    y_pred is float32 (rows, cols) (its last axis the classes); y_true holds rows * cols float32 values,
    or for the sparse kinds one int64 label per row; sample_weight is None or one float32 weight per row.
    fastnn.ops.accuracy_counts lines the shapes up by Keras's rules first.
    """
    cdef str what = "accuracy"
    if not FNN_ACCURACY_BINARY <= kind <= FNN_ACCURACY_SPARSE_TOP_K:
        raise ValueError(f"accuracy_counts: unknown kind {kind}")
    cdef bint sparse = kind == FNN_ACCURACY_SPARSE_CATEGORICAL or kind == FNN_ACCURACY_SPARSE_TOP_K
    need_f32(y_pred, what, "y_pred")
    if cnp.PyArray_NDIM(y_pred) == 0 or last_dim(y_pred) == 0:
        raise ValueError(f"{what}: y_pred must be at least 1-D with a non-empty last axis, "
                         f"got shape {(<object>y_pred).shape}")
    cdef idx_t cols = last_dim(y_pred)
    cdef idx_t rows = cnp.PyArray_SIZE(y_pred) // cols
    if sparse:  # out-of-range labels are refused as the sparse loss refuses them (Keras counts them as misses)
        check_labels(y_true, y_pred, rows, cols, what)
    else:
        need_f32(y_true, what, "y_true")
        check_same_size(y_true, y_pred, what)
    if sample_weight is not None:
        need_f32(sample_weight, what, "sample_weight")
        if cnp.PyArray_SIZE(sample_weight) != rows:
            raise ValueError(f"{what}: sample_weight of shape {(<object>sample_weight).shape} must hold one "
                             f"weight per row ({rows})")
    if (kind == FNN_ACCURACY_TOP_K or kind == FNN_ACCURACY_SPARSE_TOP_K) and k < 1:
        raise ValueError(f"{what}: k must be >= 1, got {k}")
    cdef const int64_t *l_ptr = <const int64_t *>cnp.PyArray_DATA(y_true) if sparse else NULL
    cdef const float *t_ptr = NULL if sparse else f32_ptr(y_true)
    cdef const float *p_ptr = f32_ptr(y_pred)
    cdef const float *w_ptr = optional_ptr(sample_weight)
    cdef double counts[2]
    with nogil:
        fnn_accuracy_counts(kind, rows, cols, t_ptr, l_ptr, p_ptr, w_ptr, threshold, k, counts)
    return counts[0], counts[1]
