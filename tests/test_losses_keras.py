"""Keras's further losses (KLDivergence, Poisson, LogCosh, MSLE, MAPE, CosineSimilarity, Hinge,
SquaredHinge, CategoricalHinge, BinaryFocalCrossentropy): float64 references with Keras's clipping,
finite differences of those references, torch where it has the loss, every SIMD path, 1 and 2 threads
bitwise, reductions, sample weights, names, configs and a compiled model that saves and loads."""
import numpy as np
import pytest

import fastnn
from fastnn import losses, ops
from test_nn_kernels import guarded

EPS = 1e-7


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def focal(t, p, gamma=2.0, alpha=0.25, balanced=False, logits=False):
    """Keras 3's binary_focal_crossentropy per element (before the mean over the last axis)."""
    q = sigmoid(p) if logits else p
    c = np.clip(q, EPS, 1 - EPS)
    bce = -(t * np.log(c) + (1 - t) * np.log(1 - c))
    weight = t * alpha + (1 - t) * (1 - alpha) if balanced else 1.0
    return weight * (1 - (t * q + (1 - t) * (1 - q))) ** gamma * bce


def normalized(x):
    return x * np.minimum(1 / np.sqrt(np.sum(x * x, -1, keepdims=True)), 1 / EPS)


# name: (per-sample loss of float64 (rows, cols) arrays, Keras's per-element terms averaged or not)
REFERENCES = {
    "kl_divergence": lambda t, p: np.sum(np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1)), -1),
    "poisson": lambda t, p: np.mean(p - t * np.log(p + EPS), -1),
    "log_cosh": lambda t, p: np.mean(np.log(np.cosh(p - t)), -1),
    "msle": lambda t, p: np.mean((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(t, EPS))) ** 2, -1),
    "mape": lambda t, p: 100 * np.mean(np.abs(t - p) / np.maximum(np.abs(t), EPS), -1),
    "cosine_similarity": lambda t, p: -np.sum(normalized(t) * normalized(p), -1),
    "hinge": lambda t, p: np.mean(np.maximum(1 - t * p, 0), -1),
    "squared_hinge": lambda t, p: np.mean(np.maximum(1 - t * p, 0) ** 2, -1),
    "categorical_hinge": lambda t, p: np.maximum(np.max((1 - t) * p, -1) - np.sum(t * p, -1) + 1, 0),
    "binary_focal_crossentropy": lambda t, p: np.mean(focal(t, p), -1),
    "focal_balanced_logits": lambda t, p: np.mean(focal(t, p, 1.5, 0.3, True, True), -1),
}

OPS = {
    "kl_divergence": ops.loss_kl_divergence, "poisson": ops.loss_poisson, "log_cosh": ops.loss_log_cosh,
    "msle": ops.loss_msle, "mape": ops.loss_mape, "cosine_similarity": ops.loss_cosine_similarity,
    "hinge": ops.loss_hinge, "squared_hinge": ops.loss_squared_hinge,
    "categorical_hinge": ops.loss_categorical_hinge,
    "binary_focal_crossentropy": ops.loss_binary_focal_crossentropy,
    "focal_balanced_logits": lambda t, p, w=None, grad_out=None: ops.loss_binary_focal_crossentropy(
        t, p, w, grad_out, gamma=1.5, alpha=0.3, apply_class_balancing=True, from_logits=True),
}


def inputs(rng, name, rows, cols):
    """Targets and predictions in each loss's domain, away from kinks and clips (so finite differences
    hold), as float32."""
    if name in ("kl_divergence", "binary_focal_crossentropy"):
        t, p = rng.uniform(0.02, 0.98, (rows, cols)), rng.uniform(0.02, 0.98, (rows, cols))
        if name == "binary_focal_crossentropy":
            t = np.round(t)
    elif name in ("poisson", "msle"):
        t, p = rng.uniform(0, 4, (rows, cols)), rng.uniform(0.1, 4, (rows, cols))
    elif name in ("hinge", "squared_hinge"):
        t, p = rng.choice([-1.0, 1.0], (rows, cols)), rng.normal(0, 2, (rows, cols))
        p[np.abs(1 - t * p) < 1e-2] += 0.05
    elif name == "categorical_hinge":
        t, p = np.eye(cols)[rng.integers(0, cols, rows)], rng.normal(0, 1, (rows, cols))
    elif name == "focal_balanced_logits":
        t, p = rng.choice([0.0, 1.0], (rows, cols)), rng.normal(0, 2, (rows, cols))
    else:
        t, p = rng.normal(0, 2, (rows, cols)), rng.normal(0, 2, (rows, cols))
        t[np.abs(t - p) < 1e-2] += 0.1
    return t.astype(np.float32), p.astype(np.float32)


def reference(name, t, p, w=None):
    """Keras's sum_over_batch_size loss in float64 and its gradient by central differences."""
    t, p = t.astype(np.float64), p.astype(np.float64)
    w = np.ones(len(p)) if w is None else w.astype(np.float64)

    def value(q):
        return np.sum(REFERENCES[name](t, q) * w) / len(q)
    grad = np.zeros_like(p)
    h = 1e-6 * np.maximum(1, np.abs(p))
    for idx in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[idx] += h[idx]
        down[idx] -= h[idx]
        grad[idx] = (value(up) - value(down)) / (2 * h[idx])
    return value(p), grad


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 3), (5, 17), (3, 40)])
@pytest.mark.parametrize("weighted", [False, True])
def test_value_and_gradient_against_float64_on_every_path(name, rows, cols, weighted, simd, rng):
    if name == "categorical_hinge" and cols == 1:
        cols = 2
    t, p = inputs(rng, name, rows, cols)
    w = rng.uniform(0.2, 2, rows).astype(np.float32) if weighted else None
    value, grad = OPS[name](t, p, w)
    expected_value, expected_grad = reference(name, t, p, w)
    assert value == pytest.approx(expected_value, rel=2e-5, abs=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=2e-3, atol=2e-4 * np.abs(expected_grad).max() + 1e-7)


@pytest.mark.parametrize("name", sorted(OPS))
def test_bitwise_across_threads_in_place_and_guarded(name, simd, rng):
    t, p = inputs(rng, name, 3001, 37)  # over the parallel grain
    w = rng.uniform(0.2, 2, 3001).astype(np.float32)
    with fastnn.threads(1):
        one_value, one_grad = OPS[name](t, p, w)
    with fastnn.threads(2):
        grad, untouched = guarded(p.shape)
        two_value, _ = OPS[name](t, p, w, grad_out=grad)
        in_place = p.copy()
        in_place_value, _ = OPS[name](t, in_place, w, grad_out=in_place)
    assert one_value == two_value == in_place_value
    np.testing.assert_array_equal(one_grad, grad)
    np.testing.assert_array_equal(one_grad, in_place)
    assert untouched()


def test_keras_clipping_conventions():
    """Where Keras clips (epsilon 1e-7) or takes a max against a constant, no gradient passes."""
    t = np.array([[0.3, 0.5, 0.2]], np.float32)
    value, grad = ops.loss_kl_divergence(t, np.array([[0.0, 1.5, 0.5]], np.float32))
    assert grad[0, 0] == 0 and grad[0, 1] == 0 and grad[0, 2] < 0
    assert value == pytest.approx(0.3 * np.log(0.3 / EPS) + 0.5 * np.log(0.5) + 0.2 * np.log(0.4), rel=1e-5)
    _, grad = ops.loss_msle(np.ones((1, 2), np.float32), np.array([[-3.0, 2.0]], np.float32))
    assert grad[0, 0] == 0 and grad[0, 1] > 0
    value, grad = ops.loss_mape(np.zeros((1, 1), np.float32), np.ones((1, 1), np.float32))
    assert value == pytest.approx(100 / EPS, rel=1e-6) and grad[0, 0] == pytest.approx(100 / EPS, rel=1e-6)
    value, grad = ops.loss_binary_focal_crossentropy(np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32))
    assert value == pytest.approx(-np.log(EPS), rel=1e-5) and grad[0, 0] == pytest.approx(2 * np.log(EPS), rel=1e-5)
    # a zero vector normalises to zero (Keras's min(rsqrt, 1/eps)), so the loss is 0, not NaN
    value, grad = ops.loss_cosine_similarity(np.ones((1, 3), np.float32), np.zeros((1, 3), np.float32))
    assert value == 0 and np.all(grad == np.float32(-1e7 / np.sqrt(3)))


def test_hinge_converts_zero_one_batches_only():
    p = np.array([[0.3, -0.4], [2.0, -0.2]], np.float32)
    zero_one = np.array([[1, 0], [0, 1]], np.float32)
    assert ops.loss_hinge(zero_one, p)[0] == pytest.approx(ops.loss_hinge(zero_one * 2 - 1, p)[0])
    mixed = np.array([[1, -1], [0, 1]], np.float32)  # not all 0/1: used as given, as Keras
    expected = np.mean(np.maximum(1 - mixed * p, 0))
    assert ops.loss_hinge(mixed, p)[0] == pytest.approx(expected)
    assert losses.SquaredHinge()(zero_one, p) == pytest.approx(np.mean(np.maximum(1 - (zero_one * 2 - 1) * p, 0) ** 2))


def test_categorical_hinge_shares_the_max_gradient_between_ties():
    t = np.array([[1.0, 0.0, 0.0, 0.0]], np.float32)
    p = np.array([[0.1, 0.5, 0.5, 0.2]], np.float32)
    value, grad = ops.loss_categorical_hinge(t, p)
    assert value == pytest.approx(0.5 - 0.1 + 1)
    np.testing.assert_allclose(grad, [[-1.0, 0.5, 0.5, 0.0]])


@pytest.mark.parametrize("name", sorted(OPS))
def test_nan_in_gives_nan_loss(name):
    t, p = inputs(np.random.default_rng(3), name, 4, 3)
    p[2, 1] = np.nan
    assert np.isnan(OPS[name](t, p)[0])


def test_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    cases = {
        "kl_divergence": lambda t, p: F.kl_div(torch.log(p), t, reduction="sum") / len(p),
        "poisson": lambda t, p: F.poisson_nll_loss(p, t, log_input=False, eps=EPS),
        "cosine_similarity": lambda t, p: -F.cosine_similarity(p, t, dim=-1).mean(),
        "log_cosh": lambda t, p: torch.log(torch.cosh(p - t)).mean(),
    }
    for name, torch_loss in cases.items():
        t, p = inputs(rng, name, 9, 6)
        if name == "kl_divergence":
            t /= t.sum(-1, keepdims=True)
        value, grad = OPS[name](t, p)
        tp = torch.tensor(p.astype(np.float64), requires_grad=True)
        expected = torch_loss(torch.tensor(t.astype(np.float64)), tp)
        expected.backward()
        assert value == pytest.approx(expected.item(), rel=1e-5), name
        np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-4, atol=1e-7, err_msg=name)


CLASSES = {
    "kl_divergence": (losses.KLDivergence, ["kld", "KLD", "kl_divergence", "KLDivergence"]),
    "poisson": (losses.Poisson, ["poisson", "Poisson"]),
    "log_cosh": (losses.LogCosh, ["log_cosh", "LogCosh"]),
    "mean_squared_logarithmic_error": (losses.MeanSquaredLogarithmicError,
                                       ["msle", "MSLE", "mean_squared_logarithmic_error"]),
    "mean_absolute_percentage_error": (losses.MeanAbsolutePercentageError,
                                       ["mape", "MAPE", "mean_absolute_percentage_error"]),
    "cosine_similarity": (losses.CosineSimilarity, ["cosine_similarity", "CosineSimilarity"]),
    "hinge": (losses.Hinge, ["hinge", "Hinge"]),
    "squared_hinge": (losses.SquaredHinge, ["squared_hinge"]),
    "categorical_hinge": (losses.CategoricalHinge, ["categorical_hinge"]),
    "binary_focal_crossentropy": (losses.BinaryFocalCrossentropy, ["binary_focal_crossentropy"]),
}


@pytest.mark.parametrize("default_name", sorted(CLASSES))
def test_names_config_and_reductions(default_name):
    cls, aliases = CLASSES[default_name]
    for alias in aliases:
        assert type(losses.get(alias)) is cls
    loss = cls(name="mine", reduction="sum")
    config = loss.get_config()
    assert config["name"] == "mine" and config["reduction"] == "sum"
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is cls and again.get_config() == config
    assert cls().name == default_name
    rng = np.random.default_rng(2)
    t, p = rng.uniform(0.1, 0.9, (6, 4)).astype(np.float32), rng.uniform(0.1, 0.9, (6, 4)).astype(np.float32)
    t = np.round(t) if cls in (losses.BinaryFocalCrossentropy, losses.CategoricalHinge) else t
    mean_value, mean_grad = cls().value_and_grad(t, p)
    sum_value, sum_grad = cls(reduction="sum").value_and_grad(t, p)
    assert sum_value == pytest.approx(6 * mean_value, rel=1e-6)
    np.testing.assert_allclose(sum_grad, 6 * mean_grad, rtol=1e-6)
    # rank 3: every (b, t) is a sample, and (B,) weights apply to all of a b's steps
    t3, p3 = t.reshape(2, 3, 4), p.reshape(2, 3, 4)
    weighted = cls().value_and_grad(t3, p3, sample_weight=np.array([2.0, 0.0]))
    w_rows = np.repeat([2.0, 0.0], 3).astype(np.float32)
    flat = cls().value_and_grad(t, p, sample_weight=w_rows)
    assert weighted[0] == pytest.approx(flat[0], rel=1e-6)
    np.testing.assert_allclose(weighted[1].reshape(6, 4), flat[1], rtol=1e-6)


def test_focal_options_and_errors():
    rng = np.random.default_rng(4)
    t, z = rng.choice([0.0, 1.0], (5, 3)).astype(np.float32), rng.normal(0, 2, (5, 3)).astype(np.float32)
    loss = losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.5, label_smoothing=0.2)
    smoothed = t * 0.8 + 0.1
    expected = np.mean(focal(smoothed.astype(np.float64), sigmoid(z.astype(np.float64)), 1.5, 0.3, True))
    assert loss(t, sigmoid(z).astype(np.float32)) == pytest.approx(expected, rel=1e-5)
    # the sigmoid the compile pass fuses into the loss gives what from_logits computes
    fused = loss.value_and_grad_from_logits(t, z)
    logits = losses.BinaryFocalCrossentropy(True, 0.3, 1.5, from_logits=True, label_smoothing=0.2).value_and_grad(t, z)
    assert fused[0] == logits[0]
    np.testing.assert_array_equal(fused[1], logits[1])
    assert loss.fused_activation == "sigmoid" and losses.BinaryFocalCrossentropy(from_logits=True).fused_activation is None
    with pytest.raises(ValueError, match="alpha must be in"):
        losses.BinaryFocalCrossentropy(alpha=1.5)
    with pytest.raises(ValueError, match="gamma"):
        losses.BinaryFocalCrossentropy(gamma=-1)
    with pytest.raises(TypeError, match="gamma must be a number"):
        losses.BinaryFocalCrossentropy(gamma="2")
    with pytest.raises(ValueError, match="axis"):
        losses.CosineSimilarity(axis=1)
    with pytest.raises(ValueError, match="reduction"):
        losses.Poisson(reduction="none")
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.get("kullback")
    with pytest.raises(ValueError, match="gamma"):
        ops.loss_binary_focal_crossentropy(t, z, gamma=float("inf"))
    with pytest.raises(ValueError, match="loss_poisson: y_true has shape"):
        ops.loss_poisson(np.zeros((3, 2), np.float32), z)
    with pytest.raises(TypeError):
        ops.loss_cosine_similarity(["a"], z)
    with pytest.raises(ValueError, match="unknown loss code"):
        fastnn._C.loss_rowwise(0, z, z, None, z.copy())


@pytest.mark.parametrize("loss,activation,targets", [
    ("kld", "softmax", "distribution"), ("poisson", "softplus", "counts"), ("log_cosh", None, "real"),
    ("msle", "relu", "counts"), ("mape", None, "real"), ("cosine_similarity", None, "real"),
    ("hinge", "tanh", "binary"), ("squared_hinge", "tanh", "binary"), ("categorical_hinge", None, "onehot"),
    ("binary_focal_crossentropy", "sigmoid", "binary"),
])
def test_compiled_model_trains_saves_and_loads(loss, activation, targets, tmp_path):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = {"distribution": rng.dirichlet(np.ones(3), 64), "counts": rng.poisson(2, (64, 3)),
         "real": rng.normal(size=(64, 3)) + 2, "binary": rng.integers(0, 2, (64, 3)),
         "onehot": np.eye(3)[rng.integers(0, 3, 64)]}[targets].astype(np.float32)
    fastnn.set_seed(3)
    model = fastnn.Sequential([fastnn.Input((5,)), fastnn.layers.Dense(3, activation=activation)])
    model.compile(optimizer=fastnn.optimizers.Adam(0.01), loss=loss)
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and model.evaluate(x, y, verbose=0) < before
    model.save(tmp_path / "m.fnn")
    loaded = fastnn.load_model(tmp_path / "m.fnn")
    assert type(loaded.loss) is type(model.loss) and loaded.loss.get_config() == model.loss.get_config()
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
