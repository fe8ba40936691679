"""Float64 NumPy references for every kernel, and the helpers that check fastnn against them."""
import numpy as np


def gemm(a, b, trans_a=False, trans_b=False, c=None, bias=None, act=None):
    """act(op(a) @ op(b) [+ c] [+ bias]) in float64."""
    a64 = np.asarray(a, np.float64)
    b64 = np.asarray(b, np.float64)
    out = (a64.T if trans_a else a64) @ (b64.T if trans_b else b64)
    if c is not None:
        out = out + np.asarray(c, np.float64)
    if bias is not None:
        out = out + np.asarray(bias, np.float64)
    return activation(out, act)


def activation(x, name):
    x = np.asarray(x, np.float64)
    if name in (None, "linear"):
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))
    if name == "tanh":
        return np.tanh(x)
    raise KeyError(name)


def gemm_tolerance(k, scale=1.0):
    """Float32 rounding grows with the length of each dot product."""
    return 2e-6 * (np.sqrt(max(k, 1)) + 4) * scale


# ---- activations, losses and optimizer updates (fastnn.ops.nn) ----

ALPHA_DEFAULTS = {"leaky_relu": 0.2, "elu": 1.0}


def _normal_cdf(x):
    from math import erfc
    return 0.5 * np.vectorize(erfc, otypes=[np.float64])(-x / np.sqrt(2.0))


def nn_activation(x, name, alpha=None):
    """Every fastnn.ops.nn activation in float64 (softmax over the last axis)."""
    x = np.asarray(x, np.float64)
    a = ALPHA_DEFAULTS.get(name) if alpha is None else alpha
    if name == "leaky_relu":
        return np.where(x > 0, x, a * x)
    if name == "elu":
        return np.where(x > 0, x, a * np.expm1(x))
    if name == "gelu":
        return x * _normal_cdf(x)
    if name == "silu":
        return x / (1.0 + np.exp(-x))
    if name == "softplus":
        return np.logaddexp(0.0, x)
    if name == "softmax":
        if x.size == 0:
            return x.copy()
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return activation(x, name)


def nn_activation_grad(x, dy, name, alpha=None):
    """dy * act'(x) in float64 from the closed-form derivatives."""
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    a = ALPHA_DEFAULTS.get(name) if alpha is None else alpha
    if name == "linear":
        return dy
    if name == "relu":
        return dy * (x > 0)
    if name == "leaky_relu":
        return dy * np.where(x > 0, 1.0, a)
    if name == "elu":
        return dy * np.where(x > 0, 1.0, a * np.exp(x))
    if name == "gelu":
        return dy * (_normal_cdf(x) + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi))
    if name in ("sigmoid", "silu", "softplus"):
        s = 1.0 / (1.0 + np.exp(-x))
        return dy * {"sigmoid": s * (1 - s), "silu": s * (1 + x * (1 - s)), "softplus": s}[name]
    if name == "tanh":
        return dy * (1.0 - np.tanh(x) ** 2)
    if name == "softmax":
        y = nn_activation(x, "softmax")
        return y * (dy - (y * dy).sum(axis=-1, keepdims=True))
    raise KeyError(name)


EPS = 1e-7


def loss_value_and_grad(kind, y_true, y_pred, sample_weight=None, delta=1.0):
    """Keras sum_over_batch_size loss and its gradient in float64, over (rows, classes) arrays.

    kind: mse, mae, huber, bce, bce_logits, cce, cce_logits. Gradients of clipped probabilities are 0.
    """
    t = np.asarray(y_true, np.float64)
    p = np.asarray(y_pred, np.float64)
    rows, cols = p.shape
    w = np.ones(rows) if sample_weight is None else np.asarray(sample_weight, np.float64).reshape(rows)
    e = p - t
    if kind == "mse":
        per, d = e * e, 2 * e
    elif kind == "mae":
        per, d = np.abs(e), np.sign(e)
    elif kind == "huber":
        quad = np.abs(e) <= delta
        per = np.where(quad, 0.5 * e * e, delta * np.abs(e) - 0.5 * delta * delta)
        d = np.where(quad, e, delta * np.sign(e))
    elif kind == "bce":
        q = np.clip(p, EPS, 1 - EPS)
        per = -(t * np.log(q) + (1 - t) * np.log(1 - q))
        d = np.where((p >= EPS) & (p <= 1 - EPS), (q - t) / (q * (1 - q)), 0.0)
    elif kind == "bce_logits":
        per = np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))
        d = 1 / (1 + np.exp(-p)) - t
    elif kind in ("cce", "cce_logits"):
        if kind == "cce":
            s = p.sum(axis=1, keepdims=True)
            q = np.clip(p / s, EPS, 1 - EPS)
            per_row = -(t * np.log(q)).sum(axis=1)
            live = (p / s >= EPS) & (p / s <= 1 - EPS)
            live_t = (t * live).sum(axis=1, keepdims=True)
            grad = (live_t - np.where(live, t / q, 0.0)) / s
        else:
            z = p - p.max(axis=1, keepdims=True)
            lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
            per_row = -(t * (z - lse)).sum(axis=1)
            grad = np.exp(z - lse) * t.sum(axis=1, keepdims=True) - t
        return float((w * per_row).sum() / rows), grad * w[:, None] / rows
    else:
        raise KeyError(kind)
    per_row = per.mean(axis=1)
    return float((w * per_row).sum() / rows), d * w[:, None] / (rows * cols)


def one_hot(labels, classes):
    return np.eye(classes)[np.asarray(labels).reshape(-1)]


def optimizer_steps(kind, p, grads, **h):
    """Keras 3 update formulas in float64 over a list of gradients; returns the final parameters.

    kind: sgd, adam, adamw, rmsprop, adagrad; h holds the hyperparameters (names as the kernels').
    """
    p = np.asarray(p, np.float64).copy()
    zeros = np.zeros_like(p)
    m, v, vhat, vel, mb, avg = zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy()
    acc = np.full_like(p, h.get("initial_accumulator", 0.1))
    lr, gs = h["lr"], h.get("grad_scale", 1.0)
    for step, g in enumerate(grads, start=1):
        g = np.asarray(g, np.float64) * gs
        if kind == "sgd":
            mom = h.get("momentum", 0.0)
            if mom == 0:
                p -= lr * g
            else:
                vel = mom * vel - lr * g
                p += mom * vel - lr * g if h.get("nesterov") else vel
        elif kind in ("adam", "adamw"):
            if kind == "adamw":
                p -= p * lr * h["weight_decay"]
            b1, b2 = h["beta1"], h["beta2"]
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            vhat = np.maximum(vhat, v)
            vv = vhat if h.get("amsgrad") else v
            p -= lr * np.sqrt(1 - b2 ** step) / (1 - b1 ** step) * m / (np.sqrt(vv) + h["eps"])
        elif kind == "rmsprop":
            rho = h["rho"]
            vel = rho * vel + (1 - rho) * g * g
            if h["centered"]:
                avg = rho * avg + (1 - rho) * g
                denom = vel - avg * avg + h["eps"]
            else:
                denom = vel + h["eps"]
            inc = lr * g / np.sqrt(denom)
            if h["momentum"] > 0:
                mb = h["momentum"] * mb + inc
                p -= mb
            else:
                p -= inc
        elif kind == "adagrad":
            acc = acc + g * g
            p -= lr * g / np.sqrt(acc + h["eps"])
        else:
            raise KeyError(kind)
    return p


# ---- recurrent cells and the embedding (fastnn.ops.recurrent, fastnn.ops.embedding) ----
# cell names as in fastnn.ops.rnn_workspace, with "gru_reset_before" for GRU(reset_after=False).

RNN_GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3, "gru_reset_before": 3}


def _split(a, parts):
    return np.split(a, parts, axis=-1)


def _rnn_cell_forward(cell, x_t, h, c, kernel, recurrent, bias, act, rec_act, keep=1.0):
    """One step for the whole batch: (h_new, c_new, cache) with what the backward needs. The recurrent
    products read h * keep (recurrent dropout); the GRU's blend reads h."""
    units = recurrent.shape[0]
    h, h_state = h * keep, h
    if cell == "lstm":
        z = x_t @ kernel + h @ recurrent + bias
        zi, zf, zc, zo = _split(z, 4)
        i, f, g, o = (nn_activation(zi, rec_act), nn_activation(zf, rec_act), nn_activation(zc, act),
                      nn_activation(zo, rec_act))
        c_new = f * c + i * g
        return o * nn_activation(c_new, act), c_new, (z, c_new)
    if cell == "simple_rnn":
        z = x_t @ kernel + h @ recurrent + bias
        return nn_activation(z, act), c, (z,)
    if cell == "gru":
        xz = x_t @ kernel + bias[0]
        hr = h @ recurrent + bias[1]
        pz, pr = xz[:, :units] + hr[:, :units], xz[:, units:2 * units] + hr[:, units:2 * units]
        r = nn_activation(pr, rec_act)
        ph = xz[:, 2 * units:] + r * hr[:, 2 * units:]
    else:  # gru_reset_before
        xz = x_t @ kernel + bias
        hz = h @ recurrent[:, :2 * units]
        pz, pr = xz[:, :units] + hz[:, :units], xz[:, units:2 * units] + hz[:, units:]
        r = nn_activation(pr, rec_act)
        hr = r * h  # the candidate's recurrent input
        ph = xz[:, 2 * units:] + hr @ recurrent[:, 2 * units:]
    z, hh = nn_activation(pz, rec_act), nn_activation(ph, act)
    return z * h_state + (1 - z) * hh, c, (pz, pr, ph, hr)


def _rnn_cell_backward(cell, x_t, h, c, cache, dh, dc, kernel, recurrent, act, rec_act, grads, keep=1.0):
    """Adds this step's weight gradients to grads; returns (dx_t, dh_prev, dc_prev)."""
    units = recurrent.shape[0]
    dkernel, drec, dbias = grads
    h, h_state = h * keep, h
    if cell == "lstm":
        z, c_new = cache
        zi, zf, zc, zo = _split(z, 4)
        i, f, g, o = (nn_activation(zi, rec_act), nn_activation(zf, rec_act), nn_activation(zc, act),
                      nn_activation(zo, rec_act))
        dc = dc + nn_activation_grad(c_new, dh * o, act)
        dz = np.concatenate([nn_activation_grad(zi, dc * g, rec_act), nn_activation_grad(zf, dc * c, rec_act),
                             nn_activation_grad(zc, dc * i, act),
                             nn_activation_grad(zo, dh * nn_activation(c_new, act), rec_act)], axis=-1)
        dkernel += x_t.T @ dz
        drec += h.T @ dz
        dbias += dz.sum(axis=0)
        return dz @ kernel.T, dz @ recurrent.T * keep, dc * f
    if cell == "simple_rnn":
        dz = nn_activation_grad(cache[0], dh, act)
        dkernel += x_t.T @ dz
        drec += h.T @ dz
        dbias += dz.sum(axis=0)
        return dz @ kernel.T, dz @ recurrent.T * keep, dc
    pz, pr, ph, hr = cache
    z, r, hh = nn_activation(pz, rec_act), nn_activation(pr, rec_act), nn_activation(ph, act)
    dpz = nn_activation_grad(pz, dh * (h_state - hh), rec_act)
    dph = nn_activation_grad(ph, dh * (1 - z), act)
    dh_prev = dh * z
    if cell == "gru":
        dpr = nn_activation_grad(pr, dph * hr[:, 2 * units:], rec_act)
        dx_side = np.concatenate([dpz, dpr, dph], axis=-1)
        dh_side = np.concatenate([dpz, dpr, dph * r], axis=-1)
        dkernel += x_t.T @ dx_side
        dbias[0] += dx_side.sum(axis=0)
        drec += h.T @ dh_side
        dbias[1] += dh_side.sum(axis=0)
        return dx_side @ kernel.T, dh_prev + dh_side @ recurrent.T * keep, dc
    d_rh = dph @ recurrent[:, 2 * units:].T
    dpr = nn_activation_grad(pr, d_rh * h, rec_act)
    dzr = np.concatenate([dpz, dpr], axis=-1)
    dx_side = np.concatenate([dzr, dph], axis=-1)
    dkernel += x_t.T @ dx_side
    dbias += dx_side.sum(axis=0)
    drec[:, :2 * units] += h.T @ dzr
    drec[:, 2 * units:] += hr.T @ dph
    return dx_side @ kernel.T, dh_prev + (d_rh * r + dzr @ recurrent[:, :2 * units].T) * keep, dc


def rnn_forward(cell, x, kernel, recurrent, bias=None, h0=None, c0=None, *, mask=None, recurrent_mask=None,
                go_backwards=False, return_sequences=False, zero_output_for_mask=False, activation="tanh",
                recurrent_activation="sigmoid"):
    """Keras's recurrent layer in float64: (y, h, c, tape); c is None but for LSTM.

    A masked step keeps the states and outputs the previous output (zeros before the first kept step,
    or always with zero_output_for_mask); go_backwards walks time downwards and keeps the outputs in
    processing order. recurrent_mask (batch, units) multiplies the state the recurrent products read.
    The tape is what rnn_backward needs.
    """
    f64 = lambda a: None if a is None else np.asarray(a, np.float64)  # noqa: E731
    x, kernel, recurrent = f64(x), f64(kernel), f64(recurrent)
    activation = activation or "linear"  # None means linear, as in Keras
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    gates = RNN_GATES[cell] * units
    bias = np.zeros((2, gates) if cell == "gru" else gates) if bias is None else f64(bias)
    h = np.zeros((batch, units)) if h0 is None else f64(h0)
    c = np.zeros((batch, units)) if c0 is None else f64(c0)
    keep_all = np.ones((batch, steps), bool) if mask is None else np.asarray(mask, bool)
    dropped = 1.0 if recurrent_mask is None else f64(recurrent_mask)
    out, outputs, tape = np.zeros((batch, units)), [], []
    for s in range(steps):
        t = steps - 1 - s if go_backwards else s
        keep = keep_all[:, t:t + 1]
        h_new, c_new, cache = _rnn_cell_forward(cell, x[:, t], h, c, kernel, recurrent, bias, activation,
                                                recurrent_activation, dropped)
        tape.append((t, keep, h, c, cache))
        out = np.where(keep, h_new, 0.0 if zero_output_for_mask else out)
        h, c = np.where(keep, h_new, h), np.where(keep, c_new, c)
        outputs.append(out)
    y = np.stack(outputs, axis=1) if return_sequences else outputs[-1]
    info = dict(cell=cell, x=x, kernel=kernel, recurrent=recurrent, bias_shape=bias.shape, tape=tape,
                return_sequences=return_sequences, zero_output_for_mask=zero_output_for_mask, act=activation,
                rec_act=recurrent_activation, dropped=dropped)
    return y, h, (c if cell == "lstm" else None), info


def rnn_backward(info, dy=None, dh=None, dc=None):
    """Gradients (dx, dkernel, drecurrent, dbias, dh0, dc0) of rnn_forward's outputs in float64.

    Reverse mode through the output chain itself (a masked step's output is the previous output), so
    it checks the kernels' bookkeeping of which outputs were the state independently."""
    x, kernel, recurrent, tape = info["x"], info["kernel"], info["recurrent"], info["tape"]
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    grads = (np.zeros_like(kernel), np.zeros_like(recurrent), np.zeros(info["bias_shape"]))
    dx = np.zeros_like(x)
    dh = np.zeros((batch, units)) if dh is None else np.asarray(dh, np.float64)
    dc = np.zeros((batch, units)) if dc is None else np.asarray(dc, np.float64)
    d_out = np.zeros((batch, units))  # gradient reaching the output of the step after this one
    for s in reversed(range(steps)):
        t, keep, h, c, cache = tape[s]
        if dy is not None:
            if info["return_sequences"]:
                d_out = d_out + np.asarray(dy, np.float64)[:, s]
            elif s == steps - 1:
                d_out = d_out + np.asarray(dy, np.float64)
        dh_state = dh + np.where(keep, d_out, 0.0)
        d_out = np.where(keep | info["zero_output_for_mask"], 0.0, d_out)
        dx_t, dh_prev, dc_prev = _rnn_cell_backward(info["cell"], x[:, t], h, c, cache, dh_state * keep, dc * keep,
                                                    kernel, recurrent, info["act"], info["rec_act"], grads,
                                                    info["dropped"])
        dx[:, t] = dx_t
        dh = np.where(keep, dh_prev, dh_state)
        dc = np.where(keep, dc_prev, dc)
    return (dx, *grads, dh, dc if info["cell"] == "lstm" else None)


def embedding_backward(ids, dy, input_dim):
    """The dense table gradient of a lookup, in float64."""
    dy = np.asarray(dy, np.float64)
    ids = np.asarray(ids).reshape(-1)
    dy = dy.reshape(ids.size, dy.shape[-1])
    grad = np.zeros((input_dim, dy.shape[1]))
    np.add.at(grad, ids, dy)
    return grad

# ---- preprocessing layers (csrc/nn/preprocess.c, csrc/nn/augment.c) ----

def normalize(x, mean, variance, invert=False, eps=1e-7):
    """Keras's Normalization in float64: (x - mean) / max(sqrt(variance), eps), or its inverse."""
    x, mean = np.asarray(x, np.float64), np.asarray(mean, np.float64)
    scale = np.maximum(np.sqrt(np.asarray(variance, np.float64)), eps)
    return x * scale + mean if invert else (x - mean) / scale


def _image_axis_taps(v, size, fill_mode, interpolation):
    """Per output point along one axis: [(index, -1 meaning the fill value; weight), ...]."""
    v = np.asarray(v, np.float64)
    if fill_mode == "reflect":
        v = np.zeros_like(v) if size == 1 else np.mod(v, 2 * size)
        v = np.clip(np.where(v >= size, 2 * size - 1 - v, v), 0, size - 1)
    elif fill_mode == "wrap":
        v = np.mod(v, size)
    elif fill_mode == "nearest":
        v = np.clip(v, 0, size - 1)
    outside = ~((v > -1) & (v < size))  # only 'constant' leaves points outside: they read the fill value
    v = np.where(outside, 0.0, v)

    def valid(index):
        if fill_mode == "wrap":
            index = np.where(index == size, 0, index)
        return np.where(outside | (index < 0) | (index >= size), -1, index)

    if interpolation == "nearest":
        rounded = np.sign(v) * np.floor(np.abs(v) + 0.5)  # C's roundf: halves away from zero
        return [(valid(rounded.astype(np.int64)), np.ones_like(v))]
    low = np.floor(v)
    return [(valid(low.astype(np.int64)), np.where(outside, 1.0, low + 1 - v)),
            (valid(low.astype(np.int64) + 1), np.where(outside, 0.0, v - low))]


def affine_sample(x, transforms, out_h, out_w, interpolation="bilinear", fill_mode="constant", fill_value=0.0):
    """Each image of x (n, h, w, c) resampled in float64 at column t0*j + t1*i + t2, row t3*j + t4*i + t5."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    out = np.empty((n, out_h, out_w, c))
    rows, cols = np.meshgrid(np.arange(out_h, dtype=np.float64), np.arange(out_w, dtype=np.float64), indexing="ij")
    padded = np.concatenate([x.reshape(n, h * w, c), np.full((n, 1, c), float(fill_value))], axis=1)
    for k in range(n):
        t = np.asarray(transforms[k], np.float64)
        tx = _image_axis_taps(t[0] * cols + t[1] * rows + t[2], w, fill_mode, interpolation)
        ty = _image_axis_taps(t[3] * cols + t[4] * rows + t[5], h, fill_mode, interpolation)
        total = np.zeros((out_h, out_w, c))
        for iy, wy in ty:
            for ix, wx in tx:
                flat = np.where((iy < 0) | (ix < 0), h * w, iy * w + ix)
                total += (wy * wx)[..., None] * padded[k][flat]
        out[k] = total
    return out


def contrast(x, factors, low, high):
    """RandomContrast's map in float64: clip((x - mean) * factor + mean, low, high), the mean per image and channel."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=(1, 2), keepdims=True)
    f = np.asarray(factors, np.float64).reshape(-1, 1, 1, 1)
    return np.clip((x - mean) * f + mean, low, high)


def fnv1a64(text, basis=0xCBF29CE484222325):
    """The 64-bit FNV-1a hash of a string's UTF-8 bytes, byte by byte in Python."""
    h = basis
    for octet in text.encode("utf-8", "surrogatepass"):
        h = ((h ^ octet) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h
# ---- convolutional networks (fastnn.ops conv, depthwise, conv_transpose, pooling, normalization,
# resizing): direct loops over kernel taps and windows, in float64 ----

def _padded(x, pads, out_hw, k_hw, strides, dilation):
    """x (n, h, w, c) in float64 inside zeros: pads before, and after as many as the last window needs."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    need = [(out_hw[a] - 1) * strides[a] + (k_hw[a] - 1) * dilation[a] + 1 for a in range(2)]
    rows, cols = max(h + pads[0], need[0]), max(w + pads[1], need[1])
    xp = np.zeros((n, rows, cols, c))
    xp[:, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = x
    return xp


def _tap(xp, i, j, out_hw, strides, dilation):
    """The (n, out_h, out_w, c) input pixels that kernel tap (i, j) reads, from the padded image."""
    r, c = i * dilation[0], j * dilation[1]
    return xp[:, r:r + strides[0] * (out_hw[0] - 1) + 1:strides[0], c:c + strides[1] * (out_hw[1] - 1) + 1:strides[1]]


def conv2d(x, w, b=None, strides=(1, 1), dilation=(1, 1), pads=(0, 0), groups=1, out_hw=None):
    """y (n, out_h, out_w, f) of a grouped convolution, kernel w (kh, kw, c / groups, f), summed tap by tap."""
    w = np.asarray(w, np.float64)
    kh, kw, cg, f = w.shape
    fg = f // groups
    xp = _padded(x, pads, out_hw, (kh, kw), strides, dilation)
    y = np.zeros((xp.shape[0], *out_hw, f))
    for i in range(kh):
        for j in range(kw):
            patch = _tap(xp, i, j, out_hw, strides, dilation)
            for g in range(groups):
                y[..., g * fg:(g + 1) * fg] += patch[..., g * cg:(g + 1) * cg] @ w[i, j, :, g * fg:(g + 1) * fg]
    return y if b is None else y + np.asarray(b, np.float64)


def conv2d_data_grad(dy, w, x_shape, strides=(1, 1), dilation=(1, 1), pads=(0, 0), groups=1):
    """dx (x_shape) of conv2d for dy: each tap's dy @ w^T added back where the tap read."""
    w = np.asarray(w, np.float64)
    dy = np.asarray(dy, np.float64)
    kh, kw, cg, f = w.shape
    fg, out_hw = f // groups, dy.shape[1:3]
    dxp = np.zeros_like(_padded(np.zeros(x_shape), pads, out_hw, (kh, kw), strides, dilation))
    for i in range(kh):
        for j in range(kw):
            patch = _tap(dxp, i, j, out_hw, strides, dilation)  # a view: adding into it adds into dxp
            for g in range(groups):
                patch[..., g * cg:(g + 1) * cg] += dy[..., g * fg:(g + 1) * fg] @ w[i, j, :, g * fg:(g + 1) * fg].T
    return dxp[:, pads[0]:pads[0] + x_shape[1], pads[1]:pads[1] + x_shape[2]]


def conv2d_filter_grad(x, dy, w_shape, strides=(1, 1), dilation=(1, 1), pads=(0, 0), groups=1):
    """(dw, db) of conv2d for dy."""
    dy = np.asarray(dy, np.float64)
    kh, kw, cg, f = w_shape
    fg, out_hw = f // groups, dy.shape[1:3]
    xp = _padded(x, pads, out_hw, (kh, kw), strides, dilation)
    dw = np.zeros(w_shape)
    for i in range(kh):
        for j in range(kw):
            patch = _tap(xp, i, j, out_hw, strides, dilation)
            for g in range(groups):
                dw[i, j, :, g * fg:(g + 1) * fg] = (patch[..., g * cg:(g + 1) * cg].reshape(-1, cg).T
                                                    @ dy[..., g * fg:(g + 1) * fg].reshape(-1, fg))
    return dw, dy.reshape(-1, f).sum(axis=0)


def conv_tolerance(terms, scale=1.0):
    """Float32 rounding of sums of `terms` products of unit-sized values."""
    return 4e-6 * (np.sqrt(max(terms, 1)) + 4) * scale


def _windows(in_hw, pool, strides, pads, out_hw):
    """Each output pixel's window clipped to the image: ((oh, ow), rows slice, columns slice)."""
    for oh in range(out_hw[0]):
        for ow in range(out_hw[1]):
            top, left = oh * strides[0] - pads[0], ow * strides[1] - pads[1]
            yield (oh, ow), slice(max(top, 0), min(top + pool[0], in_hw[0])), slice(max(left, 0),
                                                                                     min(left + pool[1], in_hw[1]))


def pool2d(x, kind, pool, strides, pads, out_hw):
    """Max, or mean over the cells inside the image, of each window of x (n, h, w, c)."""
    x = np.asarray(x, np.float64)
    y = np.empty((x.shape[0], *out_hw, x.shape[3]))
    for (oh, ow), rows, cols in _windows(x.shape[1:3], pool, strides, pads, out_hw):
        cells = x[:, rows, cols]
        y[:, oh, ow] = cells.max(axis=(1, 2)) if kind == "max" else cells.mean(axis=(1, 2))
    return y


def pool2d_backward(x, dy, kind, pool, strides, pads):
    """dx of pool2d: max routes dy to each window's first maximal cell (row-major), avg spreads it."""
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    dx = np.zeros_like(x)
    n, c = x.shape[0], x.shape[3]
    for (oh, ow), rows, cols in _windows(x.shape[1:3], pool, strides, pads, dy.shape[1:3]):
        if kind == "avg":
            cells = (rows.stop - rows.start) * (cols.stop - cols.start)
            dx[:, rows, cols] += dy[:, oh, ow][:, None, None] / cells
            continue
        width = cols.stop - cols.start
        first = x[:, rows, cols].reshape(n, -1, c).argmax(axis=1)  # (n, c): the first maximum
        for b in range(n):
            for ch in range(c):
                dx[b, rows.start + first[b, ch] // width, cols.start + first[b, ch] % width, ch] += dy[b, oh, ow, ch]
    return dx


def batch_norm(x, gamma, beta, eps, axis=-1):
    """(y, mean, biased variance) of a training batch normalization over every axis but the channel axis."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    return np.moveaxis((x - mean) / np.sqrt(var + eps) * gamma + beta, -1, axis), mean, var


def batch_norm_grad(x, dy, gamma, eps, axis=-1):
    """(dx, dgamma, dbeta) of batch_norm."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    dy = np.moveaxis(np.asarray(dy, np.float64), axis, -1)
    axes = tuple(range(x.ndim - 1))
    rows = x.size // x.shape[-1]
    xhat = (x - x.mean(axis=axes)) / np.sqrt(x.var(axis=axes) + eps)
    dbeta, dgamma = dy.sum(axis=axes), (dy * xhat).sum(axis=axes)
    dx = gamma / np.sqrt(x.var(axis=axes) + eps) * (dy - dbeta / rows - xhat * dgamma / rows)
    return np.moveaxis(dx, -1, axis), dgamma, dbeta


def keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """(y, dy/dx) of Keras's ReLU layer in float64: min(x, max_value) above threshold, else
    negative_slope * (x - threshold); the derivative is 0 at or above max_value."""
    x = np.asarray(x, np.float64)
    cap = np.inf if max_value is None else max_value
    above = x > threshold
    y = np.where(above, np.minimum(x, cap), negative_slope * (x - threshold))
    return y, np.where(above, (x < cap).astype(np.float64), negative_slope)


def softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x, gamma, beta, eps):
    """(y, mean, biased variance) of a layer normalization over the last axis, in float64."""
    x = np.asarray(x, np.float64)
    mean, var = x.mean(axis=-1), x.var(axis=-1)
    xhat = (x - mean[..., None]) / np.sqrt(var[..., None] + eps)
    return xhat * (1.0 if gamma is None else gamma) + (0.0 if beta is None else beta), mean, var


def layer_norm_grad(x, dy, gamma, eps):
    """(dx, dgamma, dbeta) of layer_norm, summing the parameter gradients over every leading axis."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    invstd = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)
    xhat = (x - x.mean(axis=-1, keepdims=True)) * invstd
    g = dy * (1.0 if gamma is None else gamma)
    dx = invstd * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    leading = tuple(range(x.ndim - 1))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)


def bilinear_matrix(in_size, out_size):
    """(out_size, in_size) weights of tf.image.resize's bilinear sampling (half-pixel centres)."""
    m = np.zeros((out_size, in_size))
    for o in range(out_size):
        at = (o + 0.5) * in_size / out_size - 0.5
        lo = int(np.floor(at))
        frac = at - lo
        m[o, min(max(lo, 0), in_size - 1)] += 1 - frac
        m[o, min(max(lo + 1, 0), in_size - 1)] += frac
    return m


def upsample(x, size, interpolation):
    """x (n, h, w, c) upsampled by whole factors."""
    x = np.asarray(x, np.float64)
    if interpolation == "nearest":
        return x.repeat(size[0], axis=1).repeat(size[1], axis=2)
    mh, mw = bilinear_matrix(x.shape[1], x.shape[1] * size[0]), bilinear_matrix(x.shape[2], x.shape[2] * size[1])
    return np.einsum("ph,qw,nhwc->npqc", mh, mw, x)


def upsample_backward(dy, size, interpolation):
    """dx of upsample: its adjoint."""
    dy = np.asarray(dy, np.float64)
    n, oh, ow, c = dy.shape
    if interpolation == "nearest":
        return dy.reshape(n, oh // size[0], size[0], ow // size[1], size[1], c).sum(axis=(2, 4))
    mh, mw = bilinear_matrix(oh // size[0], oh), bilinear_matrix(ow // size[1], ow)
    return np.einsum("ph,qw,npqc->nhwc", mh, mw, dy)


def keras_window(size, window, stride, padding):
    """(output size, padding before) of one axis under Keras's padding rules."""
    if padding == "same":
        out = -(-size // stride)
        return out, max((out - 1) * stride + window - size, 0) // 2
    if padding == "causal":
        return (size - 1) // stride + 1, window - 1
    return (size - window) // stride + 1, 0


def numeric_gradients(objective, arrays, eps=1e-6):
    """Central differences of objective() with respect to every element of each float64 array in
    `arrays` (each changed in place and restored)."""
    grads = []
    for array in arrays:
        grad = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            old = array[idx]
            array[idx] = old + eps
            up = objective()
            array[idx] = old - eps
            down = objective()
            array[idx] = old
            grad[idx] = (up - down) / (2 * eps)
        grads.append(grad)
    return grads
