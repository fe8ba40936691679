"""fastnn.losses: values vs float64 formulas, gradients vs finite differences, shapes, configs, errors."""
import numpy as np
import pytest

from fastnn import losses

EPS = 1e-7


def _per_sample(name, t, p, delta=1.0):
    """Keras's per-sample losses in float64 (rows = every leading index)."""
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    if name == "mse":
        return np.mean((t - p) ** 2, -1)
    if name == "mae":
        return np.mean(np.abs(t - p), -1)
    if name == "huber":
        e = np.abs(t - p)
        return np.mean(np.where(e <= delta, 0.5 * e * e, delta * e - 0.5 * delta * delta), -1)
    if name == "bce":
        q = np.clip(p, EPS, 1 - EPS)
        return -np.mean(t * np.log(q) + (1 - t) * np.log(1 - q), -1)
    if name == "bce_logits":
        return np.mean(np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p))), -1)
    if name == "cce":
        q = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
        return -np.sum(t * np.log(q), -1)
    if name == "cce_logits":
        z = p - p.max(-1, keepdims=True)
        return -np.sum(t * (z - np.log(np.exp(z).sum(-1, keepdims=True))), -1)
    raise KeyError(name)


def reference(name, t, p, w=None, **kw):
    per = _per_sample(name, t, p, **kw)
    if w is not None:
        per = per * np.asarray(w, np.float64).reshape(per.shape[:1] + (1,) * (per.ndim - 1))
    return per.sum() / per.size


def numeric_grad(f, p, h=1e-6):
    p = np.asarray(p, np.float64)
    grad = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(up) - f(down)) / (2 * h)
    return grad


def data(rng, shape=(6, 4), kind="regression"):
    p = rng.uniform(0.05, 0.95, shape)
    if kind == "regression":
        t = rng.standard_normal(shape)
    elif kind == "binary":
        t = rng.integers(0, 2, shape).astype(np.float64)
    else:
        t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
        p = p / p.sum(-1, keepdims=True)
    return t.astype(np.float32), p.astype(np.float32)


CASES = [
    (losses.MeanSquaredError(), "mse", "regression", {}),
    (losses.MeanAbsoluteError(), "mae", "regression", {}),
    (losses.Huber(delta=0.7), "huber", "regression", {"delta": 0.7}),
    (losses.BinaryCrossentropy(), "bce", "binary", {}),
    (losses.BinaryCrossentropy(from_logits=True), "bce_logits", "binary", {}),
    (losses.CategoricalCrossentropy(), "cce", "categorical", {}),
    (losses.CategoricalCrossentropy(from_logits=True), "cce_logits", "categorical", {}),
]


@pytest.mark.parametrize("loss,name,kind,kw", CASES, ids=[c[1] for c in CASES])
def test_value_and_grad_vs_float64(loss, name, kind, kw, rng):
    t, p = data(rng, kind=kind)
    w = rng.uniform(0.2, 2.0, p.shape[0]).astype(np.float32)
    for weights in (None, w):
        value, grad = loss.value_and_grad(t, p, sample_weight=weights)
        expected = reference(name, t, p, weights, **kw)
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-6)
        fd = numeric_grad(lambda q: reference(name, t, q, weights, **kw), p)
        assert grad.shape == p.shape and grad.dtype == np.float32
        np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-5)
        assert loss(t, p, sample_weight=weights) == value


FUSED = [(losses.BinaryCrossentropy(), "bce_logits", "binary", "sigmoid"),
         (losses.CategoricalCrossentropy(), "cce_logits", "categorical", "softmax"),
         (losses.MeanSquaredError(), "mse", "regression", None)]


@pytest.mark.parametrize("loss,name,kind,act", FUSED, ids=[c[1] for c in FUSED])
def test_value_and_grad_from_logits(loss, name, kind, act, rng):
    t, _ = data(rng, kind=kind)
    z = rng.standard_normal(t.shape).astype(np.float32) * 2
    assert loss.fused_activation == act
    value, grad = loss.value_and_grad_from_logits(t, z)
    assert value == pytest.approx(reference(name, t, z), rel=1e-5)
    np.testing.assert_allclose(grad, numeric_grad(lambda q: reference(name, t, q), z), rtol=1e-3, atol=1e-5)


def test_sparse_categorical(rng):
    labels = rng.integers(0, 5, 8)
    z = rng.standard_normal((8, 5)).astype(np.float32)
    onehot = np.eye(5, dtype=np.float32)[labels]
    probs = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    sparse = losses.SparseCategoricalCrossentropy()
    assert sparse.fused_activation == "softmax"
    for y_true in (labels, labels.reshape(-1, 1), labels.astype(np.float32)):
        value, grad = sparse.value_and_grad(y_true, probs)
        assert value == pytest.approx(reference("cce", onehot, probs), rel=1e-5)
        np.testing.assert_allclose(grad, losses.CategoricalCrossentropy().value_and_grad(onehot, probs)[1],
                                   rtol=1e-5, atol=1e-7)
    value, grad = sparse.value_and_grad_from_logits(labels, z)
    assert value == pytest.approx(reference("cce_logits", onehot, z), rel=1e-5)
    np.testing.assert_allclose(grad, numeric_grad(lambda q: reference("cce_logits", onehot, q), z),
                               rtol=1e-3, atol=1e-5)
    from_logits = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert from_logits.fused_activation is None
    assert from_logits(labels, z) == pytest.approx(value, rel=1e-6)
    with pytest.raises(ValueError):
        sparse(np.array([0, 5, 1, 1, 1, 1, 1, 1]), probs)
    with pytest.raises(ValueError):
        sparse(labels + 0.5, probs)


def test_broadcast_shapes_and_weights(rng):
    y = rng.integers(0, 2, 6).astype(np.float32)
    p = rng.uniform(0.1, 0.9, (6, 1)).astype(np.float32)
    bce = losses.BinaryCrossentropy()
    expected = reference("bce", y[:, None], p)
    assert bce(y, p) == pytest.approx(expected, rel=1e-6)
    assert bce(y[:, None], p[:, 0]) == pytest.approx(expected, rel=1e-6)
    value, grad = bce.value_and_grad(y, p[:, 0])
    assert grad.shape == (6,)
    # 1-D predictions are one value per sample, so per-sample weights apply
    w = rng.uniform(0.5, 1.5, 6)
    mse = losses.MeanSquaredError()
    assert mse(y, p[:, 0], sample_weight=w) == pytest.approx(reference("mse", y[:, None], p, w), rel=1e-6)
    assert mse(y, p, sample_weight=w.reshape(-1, 1)) == pytest.approx(reference("mse", y[:, None], p, w), rel=1e-6)
    # (B, T, C): every (b, t) is a sample; (B,) weights cover all steps of a sample
    t3, p3 = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 2))
    w3 = np.array([1.0, 0.0, 2.0])
    assert mse(t3, p3, sample_weight=w3) == pytest.approx(reference("mse", t3, p3, w3), rel=1e-5)


def test_label_smoothing_and_sum_reduction(rng):
    t, p = data(rng, kind="categorical")
    smooth = losses.CategoricalCrossentropy(label_smoothing=0.2)
    assert smooth(t, p) == pytest.approx(reference("cce", t * 0.8 + 0.2 / t.shape[1], p), rel=1e-5)
    tb, pb = data(rng, kind="binary")
    assert losses.BinaryCrossentropy(label_smoothing=0.1)(tb, pb) == pytest.approx(
        reference("bce", tb * 0.9 + 0.05, pb), rel=1e-5)
    mean_value, mean_grad = losses.MeanSquaredError().value_and_grad(tb, pb)
    sum_value, sum_grad = losses.MeanSquaredError(reduction="sum").value_and_grad(tb, pb)
    assert sum_value == pytest.approx(mean_value * tb.shape[0], rel=1e-6)
    np.testing.assert_allclose(sum_grad, mean_grad * tb.shape[0], rtol=1e-6)


def test_grad_out_is_filled(rng):
    t, p = data(rng)
    out = np.full(p.shape, np.nan, np.float32)
    value, grad = losses.Huber().value_and_grad(t, p, grad_out=out)
    assert grad is out or np.shares_memory(grad, out)
    np.testing.assert_array_equal(out, losses.Huber().value_and_grad(t, p)[1])
    with pytest.raises(ValueError):
        losses.Huber().value_and_grad(t, p, grad_out=np.zeros((2, 2), np.float32))


@pytest.mark.parametrize("loss", [losses.MeanSquaredError(), losses.MeanAbsoluteError(name="m"),
                                  losses.Huber(delta=2.5, reduction="sum"),
                                  losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
                                  losses.CategoricalCrossentropy(label_smoothing=0.3),
                                  losses.SparseCategoricalCrossentropy(from_logits=True)],
                         ids=lambda l: type(l).__name__)
def test_config_round_trip(loss):
    config = loss.get_config()
    again = type(loss).from_config(config)
    assert again.get_config() == config and again.name == loss.name
    data_ = losses.serialize(loss)
    assert data_ == {"class_name": type(loss).__name__, "config": config}
    assert losses.deserialize(data_).get_config() == config
    assert losses.get(data_).get_config() == config


def test_names_and_defaults():
    expected = {"mse": "MeanSquaredError", "mean_squared_error": "MeanSquaredError", "MAE": "MeanAbsoluteError",
                "mean_absolute_error": "MeanAbsoluteError", "huber": "Huber",
                "binary_crossentropy": "BinaryCrossentropy",
                "CategoricalCrossentropy": "CategoricalCrossentropy",
                "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy"}
    for name, cls in expected.items():
        assert type(losses.get(name)).__name__ == cls
    assert losses.MeanSquaredError().name == "mean_squared_error"
    assert losses.Huber().name == "huber_loss" and losses.Huber().delta == 1.0
    assert losses.BinaryCrossentropy().get_config() == {"name": "binary_crossentropy",
                                                        "reduction": "sum_over_batch_size", "from_logits": False,
                                                        "label_smoothing": 0.0, "axis": -1}
    loss = losses.Huber()
    assert losses.get(loss) is loss


def test_errors(rng):
    with pytest.raises(ValueError, match="valid names are:.*mse"):
        losses.get("msee")
    with pytest.raises(TypeError):
        losses.get(42)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="none")
    with pytest.raises(ValueError, match="axis"):
        losses.CategoricalCrossentropy(axis=0)
    with pytest.raises(ValueError, match="ignore_class"):
        losses.SparseCategoricalCrossentropy(ignore_class=0)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=2)
    with pytest.raises(ValueError, match="delta"):
        losses.Huber(delta=0)
    with pytest.raises(ValueError):
        losses.MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError):
        losses.MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 3)), sample_weight=np.ones(5))
    with pytest.raises(TypeError):
        losses.MeanSquaredError()(np.zeros(3), np.array(["a", "b", "c"]))
