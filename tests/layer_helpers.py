"""One helper that checks a layer: output shape, parameter count, config round trip and backward by finite differences."""
import json

import numpy as np

import fastnn


def _objective(layer, x, probe, training, before_forward):
    """sum(layer(x) * probe) + regularization penalty, in float64."""
    if before_forward is not None:
        before_forward()
    y = layer.forward(x, training)
    return float(np.sum(y.astype(np.float64) * probe)) + float(layer.regularization_penalty())


def _numerical_grad(layer, array, x, probe, training, before_forward, eps, indices):
    grads = []
    for index in indices:
        saved = array[index]
        array[index] = saved + eps
        plus = _objective(layer, x, probe, training, before_forward)
        array[index] = saved - eps
        minus = _objective(layer, x, probe, training, before_forward)
        array[index] = saved
        grads.append((plus - minus) / (2 * eps))
    return np.array(grads)


def _sample_indices(shape, rng, limit):
    size = int(np.prod(shape))
    flat = rng.choice(size, size=min(size, limit), replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def check_layer(layer, input_shape, output_shape, param_count, *, x=None, training=False, before_forward=None,
                eps=3e-3, rtol=2e-2, atol=2e-3, samples=24, seed=0):
    """Assert shape, parameter count, config round trip and a finite-difference check of backward.

    Args:
        layer: an unbuilt (or built) layer.
        input_shape: batch input shape, e.g. (4, 8).
        output_shape: the expected batch output shape.
        param_count: expected count_params() after build.
        x: optional input (default standard normal).
        training: the training flag for forward.
        before_forward: called before every forward (e.g. to replay a dropout mask).
        eps, rtol, atol: finite-difference step and tolerances (the layer computes in float32).
        samples: how many entries of x and of each weight to check.

    Returns:
        The layer's output for x.
    """
    rng = np.random.default_rng(seed)
    fastnn.set_seed(seed)  # the layer's initial weights too
    if x is None:
        x = rng.standard_normal(input_shape).astype(np.float32)
        x[np.abs(x) < 0.05] += 0.1  # keep clear of the kink of relu-like activations
    if not layer.built:
        layer.build((None,) + tuple(input_shape[1:]))
    assert layer.count_params() == param_count, (layer.count_params(), param_count)
    declared = layer.weight_shapes((None,) + tuple(input_shape[1:]))
    assert [tuple(s) for s in declared] == [w.shape for w in layer.get_weights()]
    assert tuple(layer.compute_output_shape((None,) + tuple(input_shape[1:]))) == (None,) + tuple(output_shape[1:])

    if before_forward is not None:
        before_forward()
    y = np.array(layer.forward(x, training), dtype=np.float64)
    assert y.shape == tuple(output_shape), (y.shape, output_shape)
    assert np.isfinite(y).all()

    probe = rng.standard_normal(y.shape)
    layer._need_dx = True
    dx = np.array(layer.backward(probe.astype(np.float32)), dtype=np.float64)
    assert dx.shape == x.shape
    analytic = [np.array(g, dtype=np.float64) for g in layer.grads]

    x_work = x.copy()
    indices = _sample_indices(x.shape, rng, samples)
    numerical = _numerical_grad(layer, x_work, x_work, probe, training, before_forward, eps, indices)
    np.testing.assert_allclose(np.array([dx[i] for i in indices]), numerical, rtol=rtol, atol=atol,
                               err_msg=f"{layer.name}: input gradient")
    for weight, grad, name in zip(layer.weights, analytic, layer._weight_names):
        indices = _sample_indices(weight.shape, rng, samples)
        numerical = _numerical_grad(layer, weight, x, probe, training, before_forward, eps, indices)
        np.testing.assert_allclose(np.array([grad[i] for i in indices]), numerical, rtol=rtol, atol=atol,
                                   err_msg=f"{layer.name}: gradient of {name}")

    config = layer.get_config()
    json.dumps(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return y
