"""One helper that checks a layer: output shape, parameter count, config round trip and backward by finite differences."""
import json

import numpy as np

import fastnn
from fastnn.engine.context import CallContext


def _context(layer, training):
    return CallContext(training, getattr(layer, "activation", None) if layer.fuses_activation else None)


def _objective(layer, x, probe, training, before_forward):
    """sum(layer(x) * probe) in float64."""
    if before_forward is not None:
        before_forward()
    y = layer.forward(_context(layer, training), x)
    return float(np.sum(np.asarray(y, np.float64) * probe))


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


def check_layer(layer, input_shape, output_shape, param_count, *, x=None, training=True, before_forward=None,
                eps=3e-3, rtol=2e-2, atol=2e-3, samples=24, seed=0):
    """Assert shape, parameter count, config round trip and a finite-difference check of backward.

    Args:
        layer: an unbuilt (or built) layer.
        input_shape: batch input shape, e.g. (4, 8), or a list of them for a layer with several inputs.
        output_shape: the expected batch output shape.
        param_count: expected count_params() after build.
        x: optional input (default standard normal), or a list of inputs.
        training: the training flag for forward (backward needs a training call).
        before_forward: called before every forward (e.g. to replay a dropout mask).
        eps, rtol, atol: finite-difference step and tolerances (the layer computes in float32).
        samples: how many entries of x and of each weight to check.

    Returns:
        The layer's output for x.
    """
    rng = np.random.default_rng(seed)
    fastnn.set_seed(seed)  # the layer's initial weights too
    multi = isinstance(input_shape, list)
    shapes = input_shape if multi else [input_shape]
    if x is None:
        xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for a in xs:
            a[np.abs(a) < 0.05] += 0.1  # keep clear of the kink of relu-like activations
    else:
        xs = list(x) if multi else [x]
    build_shape = [(None,) + tuple(s[1:]) for s in shapes] if multi else (None,) + tuple(shapes[0][1:])
    if not layer.built:
        layer.build(build_shape)
    assert layer.count_params() == param_count, (layer.count_params(), param_count)
    declared = layer.weight_shapes(build_shape)
    assert [tuple(s) for s in declared] == [w.shape for w in layer.get_weights()]
    assert tuple(layer.compute_output_shape(build_shape)) == (None,) + tuple(output_shape[1:])

    feed = xs if multi else xs[0]
    if before_forward is not None:
        before_forward()
    ctx = _context(layer, training)
    y = np.array(layer.forward(ctx, feed), dtype=np.float64)
    assert y.shape == tuple(output_shape), (y.shape, output_shape)
    assert np.isfinite(y).all()

    probe = rng.standard_normal(y.shape)
    dx = layer.backward(ctx, probe.astype(np.float32))
    ids = [a.dtype.kind in "iu" for a in xs]  # token ids have no gradient
    dxs = [None if i else np.array(d, dtype=np.float64) for d, i in zip(dx if multi else [dx], ids)]
    assert [None if d is None else d.shape for d in dxs] == [None if i else a.shape for a, i in zip(xs, ids)]
    analytic = [None if g is None else np.array(g, dtype=np.float64) for g in layer.grads]

    for k, (a, d) in enumerate(zip(xs, dxs)):
        if d is None:
            continue
        work = [v.copy() for v in xs]
        indices = _sample_indices(a.shape, rng, samples)
        numerical = _numerical_grad(layer, work[k], work if multi else work[0], probe, training, before_forward,
                                    eps, indices)
        np.testing.assert_allclose(np.array([d[i] for i in indices]), numerical, rtol=rtol, atol=atol,
                                   err_msg=f"{layer.name}: gradient of input {k}")
    for weight, grad, name in zip(layer.weights, analytic, layer._weight_names):
        if grad is None:  # a non-trainable weight (adapted statistics): no gradient to check
            continue
        indices = _sample_indices(weight.shape, rng, samples)
        numerical = _numerical_grad(layer, weight, feed, probe, training, before_forward, eps, indices)
        np.testing.assert_allclose(np.array([grad[i] for i in indices]), numerical, rtol=rtol, atol=atol,
                                   err_msg=f"{layer.name}: gradient of {name}")

    config = layer.get_config()
    json.dumps(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return y


def check_save_load_export(model, x, tmp_path):
    """The model saved and loaded predicts the same bits on x; exported to ONNX (when onnxruntime is
    installed) it agrees within 1e-5."""
    import importlib.util

    model.save(tmp_path / "model.fnn")
    again = fastnn.load_model(tmp_path / "model.fnn")
    assert np.array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))
    if importlib.util.find_spec("onnxruntime") is not None:
        report = model.export(tmp_path / "model.onnx")
        assert all(diff <= 1e-5 for diff in report.values()), report
