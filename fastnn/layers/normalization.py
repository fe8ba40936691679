"""BatchNormalization over one channel axis, on the two-pass kernels of fastnn.ops.normalization.

The kernels take the input as (rows, channels, inner): the axes before the channel axis, the channels, and
the axes after it (inner = 1 for the default last axis; axis=1 on (N, C, L) data, as channels_first code
puts it, gives inner = L). Both are views of the input, so no axis is ever moved.

In training it normalizes with the batch's statistics and moves moving_mean and moving_variance
towards them; in inference (and, as Keras, whenever the layer is not trainable) it uses the moving
statistics. fastnn.optimize.fold_batchnorm folds an inference normalization into the layer before it.
"""
import math

import numpy as np

from .. import _C
from .base import Layer, deserialize_object, register, serialize_object
from .core import _initializer_fn

__all__ = ["BatchNormalization", "LayerNormalization"]


def _grad_targets(layer, ctx):
    """Where backward writes each weight's gradient: the gradient itself, or (when the call adds to
    it, ctx.accumulate) a scratch buffer that _add_accumulated then adds; None for an untrained weight."""
    return [g if g is None or not ctx.accumulate else ctx.buffer(f"d{i}", g.shape) for i, g in enumerate(layer._grads)]


def _add_gamma_beta(layer, shape):
    """The normalization's gamma (if scale) then beta (if center): Keras's order."""
    if layer.scale:
        layer.add_weight("gamma", shape, _initializer_fn(layer.gamma_initializer), layer.gamma_regularizer)
    if layer.center:
        layer.add_weight("beta", shape, _initializer_fn(layer.beta_initializer), layer.beta_regularizer)


def _bind_gamma_beta(layer):
    """Points layer.gamma and layer.beta at their weights; returns an iterator over the weights after them."""
    weights = iter(layer._weights)
    layer.gamma = next(weights) if layer.scale else None
    layer.beta = next(weights) if layer.center else None
    return weights


def _add_accumulated(layer, ctx, targets):
    if ctx.accumulate:
        for grad, target in zip(layer._grads, targets):
            if grad is not None:
                grad += target


@register
class BatchNormalization(Layer):
    """gamma * (x - mean) / sqrt(variance + epsilon) + beta per channel of one axis.

    Args:
        axis: the channel axis (default -1, the last), any axis but the batch's; a list of one axis is
            taken as that axis (Keras 3 normalizes one axis).
        momentum: moving = momentum * moving + (1 - momentum) * batch statistic (default 0.99).
        epsilon: added to the variance (default 1e-3).
        center: whether to add beta; scale: whether to multiply by gamma.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer:
            initializer names or objects (zeros, ones, zeros, ones).
        beta_regularizer, gamma_regularizer: optional regularizers.

    Weights (Keras's order): gamma (if scale), beta (if center), then moving_mean and
    moving_variance, which are never trained (optimizers and regularizers do not see them; training
    calls update them). The batch's statistics are reduced in fixed chunks in a fixed order, so they
    do not depend on the thread count.

    Input shape:
        (batch, ..., channels, ...) with the channels on `axis`. Output shape: the same.
    """

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        from .. import initializers, regularizers

        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"BatchNormalization '{self.name}': axis must be an int (the channel axis), got {axis!r}")
        for name, value in (("momentum", momentum), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise TypeError(f"BatchNormalization '{self.name}': {name} must be a number, got {value!r}")
        if not 0.0 <= momentum <= 1.0 or not 0.0 < epsilon < math.inf:
            raise ValueError(f"BatchNormalization '{self.name}': momentum must be in [0, 1] and epsilon > 0, got "
                             f"momentum={momentum!r}, epsilon={epsilon!r}")
        if synchronized:
            raise ValueError(f"BatchNormalization '{self.name}': synchronized=True needs several devices; fastnn "
                             f"runs on one CPU")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = deserialize_object(initializers, beta_initializer)
        self.gamma_initializer = deserialize_object(initializers, gamma_initializer)
        self.moving_mean_initializer = deserialize_object(initializers, moving_mean_initializer)
        self.moving_variance_initializer = deserialize_object(initializers, moving_variance_initializer)
        self.beta_regularizer = None if beta_regularizer is None else deserialize_object(regularizers, beta_regularizer)
        self.gamma_regularizer = None if gamma_regularizer is None else deserialize_object(regularizers,
                                                                                          gamma_regularizer)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def channel_axis(self, rank):
        """The channel axis as an index from 0 for inputs of `rank`; ValueError for the batch axis or one
        outside the input."""
        if not -rank < self.axis < rank or self.axis % rank == 0:
            raise self._error(f"axis={self.axis} is not a channel axis of inputs of rank {rank}: it must be one "
                              f"of 1..{rank - 1} or -{rank - 1}..-1 (not the batch axis)")
        return self.axis % rank

    def _channels(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise self._error(f"needs inputs (batch, ..., channels) of rank 2 or more, got {input_shape}")
        channels = input_shape[self.channel_axis(len(input_shape))]
        if channels is None:
            raise self._error(f"needs a known channel count on axis {self.axis}, got inputs {input_shape}")
        return int(channels)

    def weight_shapes(self, input_shape):
        c = self._channels(input_shape)
        return [(c,)] * (self.scale + self.center + 2)

    def build(self, input_shape):
        c = self._channels(input_shape)
        _add_gamma_beta(self, (c,))
        self.add_weight("moving_mean", (c,), _initializer_fn(self.moving_mean_initializer), trainable=False)
        self.add_weight("moving_variance", (c,), _initializer_fn(self.moving_variance_initializer), trainable=False)
        self._weights_bound()
        super().build(input_shape)

    def _weights_bound(self):
        weights = _bind_gamma_beta(self)
        self.moving_mean, self.moving_variance = next(weights), next(weights)

    def _runs(self, x):
        """x viewed as (rows, channels, inner): the axes before the channel axis, the channels, the axes
        after it (inner is 1 for channels last), which is the layout the kernels take."""
        axis = self.channel_axis(x.ndim)
        return x.reshape(math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:]))

    def forward(self, ctx, x):
        c = self.moving_mean.shape[0]
        if x.ndim < 2 or x.shape[self.channel_axis(x.ndim)] != c:
            raise self._error(f"expected inputs with {c} channels on axis {self.axis}, got shape {x.shape}")
        runs = self._runs(x)
        y = ctx.buffer("y", x.shape)
        scratch = ctx.buffer("scratch", (_C.batch_norm_scratch_floats(c),))
        ctx.batch_statistics = ctx.training and self.trainable
        if ctx.batch_statistics:
            mean, invstd = ctx.buffer("mean", (c,)), ctx.buffer("invstd", (c,))
            _C.batch_norm_forward_train(runs, self.gamma, self.beta, self.epsilon, y.reshape(runs.shape), mean, invstd,
                                        self.moving_mean, self.moving_variance, self.momentum, scratch)
            ctx.mean, ctx.invstd = mean, invstd
        else:
            _C.batch_norm_forward_infer(runs, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                                        self.epsilon, y.reshape(runs.shape), scratch)
        ctx.runs = runs  # also for an inference call in a training graph (training=False), whose backward runs
        return y

    def backward(self, ctx, dy):
        runs, c = ctx.runs, ctx.runs.shape[1]
        dy_runs = dy.reshape(runs.shape)
        targets = _grad_targets(self, ctx)
        dgamma = targets[0] if self.scale else None
        dbeta = targets[int(self.scale)] if self.center else None
        dx = ctx.buffer("dx", dy.shape) if ctx.need_dx else None
        if ctx.batch_statistics:
            _C.batch_norm_backward(runs, dy_runs, self.gamma, ctx.mean, ctx.invstd,
                                   None if dx is None else dx.reshape(runs.shape), dgamma, dbeta,
                                   ctx.buffer("scratch", (_C.batch_norm_scratch_floats(c),)))
        else:
            self._inference_backward(runs, dy_runs, None if dx is None else dx.reshape(runs.shape), dgamma, dbeta)
        _add_accumulated(self, ctx, targets)
        return dx

    def _inference_backward(self, runs, dy_runs, dx, dgamma, dbeta):
        """Gradients of the inference normalization, an affine map per channel (the moving statistics
        are constants), over (rows, channels, inner) views: sums in float64, in NumPy's fixed order."""
        invstd = (1.0 / np.sqrt(self.moving_variance.astype(np.float64) + self.epsilon))[:, None]
        if dx is not None:
            scale = invstd if self.gamma is None else invstd * self.gamma[:, None]
            np.multiply(dy_runs, scale.astype(np.float32), out=dx)
        if dgamma is not None:
            xhat = (runs - self.moving_mean[:, None]) * invstd.astype(np.float32)
            dgamma[...] = np.einsum("rci,rci->c", dy_runs, xhat, dtype=np.float64)
        if dbeta is not None:
            dbeta[...] = dy_runs.sum(axis=(0, 2), dtype=np.float64)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center,
                      scale=self.scale, beta_initializer=serialize_object(self.beta_initializer),
                      gamma_initializer=serialize_object(self.gamma_initializer),
                      moving_mean_initializer=serialize_object(self.moving_mean_initializer),
                      moving_variance_initializer=serialize_object(self.moving_variance_initializer),
                      beta_regularizer=serialize_object(self.beta_regularizer),
                      gamma_regularizer=serialize_object(self.gamma_regularizer))
        return config


@register
class LayerNormalization(Layer):
    """gamma * (x - mean) / sqrt(variance + epsilon) + beta, each sample on its own statistics over
    its last axis (or its last few axes).

    Args:
        axis: -1 (default), or a list of the trailing axes to normalize over together (e.g. [-2, -1]
            or [1, 2] for rank-3 inputs); any other set of axes is refused.
        epsilon: added to the variance (default 1e-3, Keras's; torch's layer_norm uses 1e-5).
        center: whether to add beta; scale: whether to multiply by gamma.
        beta_initializer, gamma_initializer: initializer names or objects (zeros, ones).
        beta_regularizer, gamma_regularizer: optional regularizers.

    Weights (Keras's order and shapes): gamma (if scale), beta (if center), each shaped as the
    normalized axes. Each row's statistics are float64 sums over that row alone, so a sample's
    output does not depend on its batch or on the thread count.

    Input shape:
        (batch, ..., features). Output shape: the same.
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, rms_scaling=False,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        from .. import initializers, regularizers

        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
            raise TypeError(f"LayerNormalization '{self.name}': axis must be an int or a list of ints, got {axis!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.floating, np.integer)):
            raise TypeError(f"LayerNormalization '{self.name}': epsilon must be a number, got {epsilon!r}")
        if not epsilon > 0.0:
            raise ValueError(f"LayerNormalization '{self.name}': epsilon must be > 0, got {epsilon!r}")
        if rms_scaling:
            raise ValueError(f"LayerNormalization '{self.name}': rms_scaling=True is not supported by fastnn")
        if beta_constraint is not None or gamma_constraint is not None:
            raise ValueError(f"LayerNormalization '{self.name}': weight constraints are not supported by fastnn")
        self.axis = [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = deserialize_object(initializers, beta_initializer)
        self.gamma_initializer = deserialize_object(initializers, gamma_initializer)
        self.beta_regularizer = None if beta_regularizer is None else deserialize_object(regularizers, beta_regularizer)
        self.gamma_regularizer = None if gamma_regularizer is None else deserialize_object(regularizers,
                                                                                          gamma_regularizer)
        self.gamma = self.beta = None

    def normalized_rank(self, rank):
        """How many trailing axes of rank-`rank` inputs are normalized; ValueError unless the axes are
        exactly the last few (never the batch axis)."""
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -rank <= a < rank for a in axes) or len({a % rank for a in axes}) != len(axes):
            raise self._error(f"axis={self.axis} are not distinct axes of inputs of rank {rank}")
        resolved = sorted(a % rank for a in axes)
        if resolved != list(range(rank - len(axes), rank)) or resolved[0] == 0:
            raise self._error(f"normalizes only over the last axis or a run of trailing axes (not the batch "
                              f"axis), got axis={self.axis} for inputs of rank {rank}")
        return len(axes)

    def _feature_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise self._error(f"needs inputs (batch, ..., features) of rank 2 or more, got {input_shape}")
        features = input_shape[len(input_shape) - self.normalized_rank(len(input_shape)):]
        if None in features:
            raise self._error(f"needs known sizes on the normalized axes {self.axis}, got inputs {input_shape}")
        return tuple(int(f) for f in features)

    def weight_shapes(self, input_shape):
        return [self._feature_shape(input_shape)] * (self.scale + self.center)

    def build(self, input_shape):
        shape = self._feature_shape(input_shape)
        _add_gamma_beta(self, shape)
        self._weights_bound()
        super().build(input_shape)

    def _weights_bound(self):
        _bind_gamma_beta(self)

    def _flat(self, weight):
        return None if weight is None else weight.reshape(-1)

    def forward(self, ctx, x):
        shape = self.input_shape[len(self.input_shape) - self.normalized_rank(len(self.input_shape)):]
        if x.ndim != len(self.input_shape) or x.shape[x.ndim - len(shape):] != shape:
            raise self._error(f"expected inputs (batch, ..., {', '.join(map(str, shape))}), got shape {x.shape}")
        rows = x.reshape(-1, math.prod(shape))
        y = ctx.buffer("y", x.shape)
        mean, invstd = ctx.buffer("mean", (rows.shape[0],)), ctx.buffer("invstd", (rows.shape[0],))
        if rows.size:
            _C.layer_norm_forward(rows, self._flat(self.gamma), self._flat(self.beta), self.epsilon,
                                  y.reshape(rows.shape), mean, invstd)
        ctx.rows, ctx.mean, ctx.invstd = rows, mean, invstd
        return y

    def backward(self, ctx, dy):
        rows = ctx.rows
        targets = _grad_targets(self, ctx)
        dgamma = self._flat(targets[0]) if self.scale else None
        dbeta = self._flat(targets[int(self.scale)]) if self.center else None
        dx = ctx.buffer("dx", dy.shape) if ctx.need_dx else None
        if rows.size:
            _C.layer_norm_backward(rows, dy.reshape(rows.shape), self._flat(self.gamma), ctx.mean, ctx.invstd,
                                   None if dx is None else dx.reshape(rows.shape), dgamma, dbeta)
        else:
            for target in (dgamma, dbeta):
                if target is not None:
                    target[...] = 0.0
        _add_accumulated(self, ctx, targets)
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale,
                      beta_initializer=serialize_object(self.beta_initializer),
                      gamma_initializer=serialize_object(self.gamma_initializer),
                      beta_regularizer=serialize_object(self.beta_regularizer),
                      gamma_regularizer=serialize_object(self.gamma_regularizer))
        return config
