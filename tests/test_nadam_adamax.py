"""Nadam and Adamax: Keras 3 formulas in float64, torch where its formulation matches, every SIMD path,
1 and 2 threads bitwise, NaN, clipping and decay, frozen weights, resume and saving."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import ops, optimizers, saving
from test_freezing import data, mlp
from test_nn_kernels import guarded
from test_optimizers import SLICES, make_problem, run
from test_saving import assert_same_state, make_data, make_model


def keras_steps(kind, params, grads, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                weight_decay=None, clipnorm=None, global_clipnorm=None, grad_scale=1.0):
    """Keras 3's Nadam.update_step / Adamax.update_step in float64, after its clipping and decay."""
    p = np.asarray(params, np.float64).copy()
    m, second = np.zeros_like(p), np.zeros_like(p)
    u_product = 1.0
    for t, g in enumerate(grads, start=1):
        g = np.asarray(g, np.float64) * grad_scale
        if clipnorm:
            g = g.copy()
            for offset, shape in SLICES:
                part = g[offset:offset + math.prod(shape)]
                part *= clipnorm / max(np.linalg.norm(part), clipnorm)
        if global_clipnorm:
            g = g * global_clipnorm / max(np.linalg.norm(g), global_clipnorm)
        if weight_decay:
            p -= p * learning_rate * weight_decay
        m = m + (g - m) * (1 - beta_1)
        if kind == "Nadam":
            u_t = beta_1 * (1 - 0.5 * 0.96 ** t)
            u_next = beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
            u_product *= u_t
            second = second + (g * g - second) * (1 - beta_2)
            m_hat = u_next * m / (1 - u_product * u_next) + (1 - u_t) * g / (1 - u_product)
            p -= m_hat * learning_rate / (np.sqrt(second / (1 - beta_2 ** t)) + epsilon)
        else:
            second = np.maximum(beta_2 * second, np.abs(g))
            p -= learning_rate * m / ((1 - beta_1 ** t) * (second + epsilon))
    return p


CASES = [
    ("Nadam", {}),
    ("Nadam", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5}),
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 0.02, "beta_1": 0.7, "beta_2": 0.95, "epsilon": 1e-4}),
]


@pytest.mark.parametrize("kind,config", CASES)
@pytest.mark.parametrize("extra", [{}, {"weight_decay": 0.2}, {"clipnorm": 1.5}, {"global_clipnorm": 2.5}])
def test_matches_keras_formulas_in_float64(kind, config, extra):
    params, grads = make_problem(3, steps=8)
    config = {**config, **extra}
    ours = run(getattr(optimizers, kind)(**config), params, grads)
    expected = keras_steps(kind, params, grads, **config)
    np.testing.assert_allclose(ours, expected, rtol=2e-6, atol=2e-7)
    assert np.max(np.abs(expected - params)) > 1e-3  # the steps moved the parameters


def test_nadam_matches_torch_with_keras_momentum_schedule():
    """torch.optim.NAdam with momentum_decay=1 is Keras's u_t = b1 (1 - 0.5 * 0.96^t); torch's default
    momentum_decay=0.004 is a different schedule."""
    torch = pytest.importorskip("torch")
    params, grads = make_problem(5, steps=10)
    ours = run(optimizers.Nadam(0.01, beta_1=0.85, beta_2=0.99, epsilon=1e-6), params, grads)
    tensor = torch.tensor(params.astype(np.float64), requires_grad=True)
    opt = torch.optim.NAdam([tensor], lr=0.01, betas=(0.85, 0.99), eps=1e-6, momentum_decay=1.0)
    for g in grads:
        tensor.grad = torch.tensor(g.astype(np.float64))
        opt.step()
    np.testing.assert_allclose(ours, tensor.detach().numpy(), rtol=2e-6, atol=2e-7)


def test_adamax_matches_torch_where_epsilon_vanishes():
    """torch adds eps to |g| inside the norm, Keras to the norm when dividing: equal for a tiny eps."""
    torch = pytest.importorskip("torch")
    params, grads = make_problem(6, steps=10)
    ours = run(optimizers.Adamax(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-12), params, grads)
    tensor = torch.tensor(params.astype(np.float64), requires_grad=True)
    opt = torch.optim.Adamax([tensor], lr=0.01, betas=(0.8, 0.99), eps=1e-12)
    for g in grads:
        tensor.grad = torch.tensor(g.astype(np.float64))
        opt.step()
    np.testing.assert_allclose(ours, tensor.detach().numpy(), rtol=2e-6, atol=2e-7)


def u_product(step, beta_1=0.9):
    return math.prod(beta_1 * (1 - 0.5 * 0.96 ** t) for t in range(1, step + 1))


KERNELS = {
    "Nadam": lambda p, g, s, t: ops.nadam_update(p, g, s[0], s[1], 0.01, 0.9, 0.99, 1e-7, t, u_product(t), 0.5),
    "Adamax": lambda p, g, s, t: ops.adamax_update(p, g, s[0], s[1], 0.01, 0.9, 0.99, 1e-7, t, 0.5),
}


def kernel_run(kind, p0, grads, p=None):
    p = p0.copy() if p is None else p
    state = (np.zeros_like(p0), np.zeros_like(p0))
    for t, g in enumerate(grads, start=1):
        KERNELS[kind](p, g, state, t)
    return p


@pytest.mark.parametrize("kind", sorted(KERNELS))
@pytest.mark.parametrize("n", [1, 7, 33, 1000])
def test_kernel_on_every_path(kind, n, simd, rng):
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(4)]
    expected = keras_steps(kind, p0, grads, learning_rate=0.01, beta_2=0.99, grad_scale=0.5)
    np.testing.assert_allclose(kernel_run(kind, p0, grads), expected, rtol=2e-6, atol=2e-7)


@pytest.mark.parametrize("kind", sorted(KERNELS))
def test_bitwise_across_threads_with_guards(kind, simd, rng):
    n = 100003  # over the parallel grain, not a multiple of any vector width
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]
    with fastnn.threads(1):
        one = kernel_run(kind, p0, grads)
    with fastnn.threads(2):
        p, untouched = guarded((n,))
        p[:] = p0
        kernel_run(kind, p0, grads, p)
    np.testing.assert_array_equal(one, p)
    assert untouched()


@pytest.mark.parametrize("kind", sorted(KERNELS))
def test_nan_gradient_gives_nan_and_stays(kind, simd):
    p0 = np.ones(40, np.float32)
    grads = [np.ones(40, np.float32) for _ in range(3)]
    grads[0] = grads[0].copy()
    grads[0][[0, 17, 39]] = np.nan
    out = kernel_run(kind, p0, grads)
    assert np.isnan(out[[0, 17, 39]]).all() and np.isfinite(np.delete(out, [0, 17, 39])).all()


def test_resume_is_bitwise_exact_and_needs_the_state():
    params, grads = make_problem(7, steps=9)
    for kind in ("Nadam", "Adamax"):
        first = getattr(optimizers, kind)(0.01, clipnorm=0.8, weight_decay=0.01)
        p1 = params.copy()
        first.build(p1, SLICES)
        for g in grads[:4]:
            first.apply(g.copy())
        saved = p1.copy(), {k: v.copy() for k, v in first.state_arrays().items()}
        second = optimizers.deserialize(optimizers.serialize(first))
        p2 = saved[0].copy()
        second.build(p2, SLICES)
        second.set_state(first.iterations, saved[1])
        for g in grads[4:]:
            first.apply(g.copy())
            second.apply(g.copy())
        np.testing.assert_array_equal(p1, p2)
        fresh = getattr(optimizers, kind)(0.01, clipnorm=0.8, weight_decay=0.01)
        p3 = saved[0].copy()
        fresh.build(p3, SLICES)
        for g in grads[4:]:
            fresh.apply(g.copy())
        assert not np.array_equal(p1, p3)


def test_nadam_product_recomputed_when_iterations_go_back():
    opt = optimizers.Nadam(beta_1=0.8)
    assert opt._u_product(5) == pytest.approx(u_product(5, 0.8), rel=1e-15)
    assert opt._u_product(2) == pytest.approx(u_product(2, 0.8), rel=1e-15)
    assert opt._u_product(3) == pytest.approx(u_product(3, 0.8), rel=1e-15)


KERAS_DEFAULTS = {
    "Nadam": {"name": "nadam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "weight_decay": None, "clipnorm": None},
    "Adamax": {"name": "adamax", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
               "weight_decay": None, "clipnorm": None},
}


@pytest.mark.parametrize("kind", sorted(KERAS_DEFAULTS))
def test_defaults_config_and_state_names(kind):
    opt = optimizers.get(kind.lower())
    assert type(opt).__name__ == kind
    config = opt.get_config()
    assert {k: config[k] for k in KERAS_DEFAULTS[kind]} == KERAS_DEFAULTS[kind]
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == config
    opt.build(np.zeros(59, np.float32), SLICES)
    assert sorted(opt.state_arrays()) == (["m", "v"] if kind == "Nadam" else ["m", "u"])


@pytest.mark.parametrize("kind", ["Nadam", "Adamax"])
def test_bad_arguments(kind):
    cls = getattr(optimizers, kind)
    with pytest.raises(ValueError, match=f"{kind}: beta_1"):
        cls(beta_1=1.0)
    with pytest.raises(ValueError, match=f"{kind}: beta_2"):
        cls(beta_2=-0.1)
    with pytest.raises(TypeError, match="learning_rate"):
        cls(learning_rate="fast")
    with pytest.raises(TypeError, match="unexpected argument 'momentum'"):
        cls(momentum=0.9)
    name = kind.lower() + "_update"
    p = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=f"{name}: step counts from 1"):
        getattr(fastnn._C, name)(p, p.copy(), p.copy(), p.copy(), 0.1, 0.9, 0.9, 1e-7, 0,
                                 *([1.0] if kind == "Nadam" else []))
    with pytest.raises(ValueError, match="sizes differ"):
        KERNELS[kind](p, np.zeros(3, np.float32), (p.copy(), p.copy()), 1)
    with pytest.raises(TypeError, match="float32"):
        KERNELS[kind](np.zeros(4), p, (p.copy(), p.copy()), 1)


@pytest.mark.parametrize("kind", ["nadam", "adamax"])
def test_frozen_layer_untouched_and_training_resumes_from_file(kind, tmp_path):
    model = mlp()
    model.get_layer("middle").trainable = False
    model.compile(optimizer=getattr(optimizers, kind.capitalize())(0.01, weight_decay=0.1), loss="mse")
    frozen = [w.tobytes() for w in model.get_layer("middle").weights]
    model.fit(*data(), epochs=2, batch_size=16, verbose=0)
    assert [w.tobytes() for w in model.get_layer("middle").weights] == frozen

    x, y = make_data(n=80)
    straight = make_model(kind)
    straight.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    first = make_model(kind)
    first.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    saving.save_model(first, tmp_path / "half.fnn")
    resumed = fastnn.load_model(tmp_path / "half.fnn")
    assert type(resumed.optimizer).__name__ == type(first.optimizer).__name__
    resumed.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert_same_state(straight, resumed)
