"""fastnn.initializers and fastnn.regularizers: Keras formulas, seeding, configs, errors."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import initializers, regularizers


@pytest.mark.parametrize("shape,fans", [((), (1, 1)), ((7,), (7, 7)), ((3, 5), (3, 5)),
                                        ((3, 3, 4, 8), (36, 72)), ((5, 2, 6), (10, 30))])
def test_compute_fans(shape, fans):
    assert initializers.compute_fans(shape) == fans


# (class, target std as a function of (fan_in, fan_out), distribution)
SCALED = [
    (initializers.GlorotUniform, lambda i, o: math.sqrt(2.0 / (i + o)), "uniform"),
    (initializers.GlorotNormal, lambda i, o: math.sqrt(2.0 / (i + o)), "truncated"),
    (initializers.HeNormal, lambda i, o: math.sqrt(2.0 / i), "truncated"),
    (initializers.HeUniform, lambda i, o: math.sqrt(2.0 / i), "uniform"),
    (initializers.LecunNormal, lambda i, o: math.sqrt(1.0 / i), "truncated"),
    (initializers.LecunUniform, lambda i, o: math.sqrt(1.0 / i), "uniform"),
]


@pytest.mark.parametrize("cls,std,dist", SCALED, ids=[c[0].__name__ for c in SCALED])
def test_variance_scaling_presets(cls, std, dist):
    shape = (3, 3, 40, 60)  # a conv kernel: fans include the 3x3 receptive field
    w = cls(seed=7)(shape)
    assert w.dtype == np.float32 and w.flags.c_contiguous and w.shape == shape
    target = std(360, 540)
    assert w.std() == pytest.approx(target, rel=0.02)
    assert abs(w.mean()) < 0.02 * target
    if dist == "uniform":
        limit = math.sqrt(3.0) * target
        assert w.max() <= limit and w.min() >= -limit and w.max() > 0.99 * limit
    else:  # truncated at 2 of the untruncated stddev target / 0.8796...
        bound = 2 * target / 0.87962566103423978
        assert np.abs(w).max() <= bound * (1 + 1e-6) and np.abs(w).max() > 0.95 * bound


def test_untruncated_and_truncated_normals():
    w = initializers.VarianceScaling(scale=4.0, mode="fan_out", distribution="untruncated_normal", seed=1)((50, 400))
    assert w.std() == pytest.approx(math.sqrt(4.0 / 400), rel=0.02)
    assert np.abs(w).max() > 3 * math.sqrt(4.0 / 400)  # not truncated
    t = initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=2)((200, 200))
    assert np.abs(t - 1.0).max() <= 1.0 + 1e-6 and t.mean() == pytest.approx(1.0, abs=0.01)
    assert t.std() == pytest.approx(0.5 * 0.87962566103423978, rel=0.02)
    n = initializers.RandomNormal(mean=-2.0, stddev=3.0, seed=3)((100, 100))
    assert n.mean() == pytest.approx(-2.0, abs=0.1) and n.std() == pytest.approx(3.0, rel=0.02)
    u = initializers.RandomUniform(minval=2.0, maxval=3.0, seed=4)((100, 100))
    assert u.min() >= 2.0 and u.max() < 3.0 and u.mean() == pytest.approx(2.5, abs=0.01)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 2, 5)])
def test_orthogonal(shape):
    w = initializers.Orthogonal(gain=2.0, seed=5)(shape).reshape(-1, shape[-1]).astype(np.float64)
    rows, cols = w.shape
    gram = w.T @ w if rows >= cols else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_sign_correction_gives_uniform_signs():
    # without the sign fix every diagonal of R is chosen positive by LAPACK and q[0, 0] keeps one sign bias
    firsts = [initializers.Orthogonal(seed=s)((3, 3))[0, 0] for s in range(200)]
    assert 60 < sum(f > 0 for f in firsts) < 140


def test_seeding():
    fastnn.set_seed(11)
    a = initializers.GlorotUniform()((20, 30))
    b = initializers.GlorotUniform()((20, 30))
    fastnn.set_seed(11)
    np.testing.assert_array_equal(initializers.GlorotUniform()((20, 30)), a)
    assert not np.array_equal(a, b)
    seeded = initializers.HeNormal(seed=3)
    np.testing.assert_array_equal(seeded((5, 5)), seeded((5, 5)))
    assert not np.array_equal(initializers.HeNormal(seed=4)((5, 5)), seeded((5, 5)))


def test_constants():
    np.testing.assert_array_equal(initializers.get("zeros")((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(initializers.get("ones")((4,)), np.ones(4, np.float32))
    np.testing.assert_array_equal(initializers.Constant(2.5)((2,)), np.float32([2.5, 2.5]))


INITIALIZERS = [initializers.GlorotUniform(seed=1), initializers.GlorotNormal(), initializers.HeNormal(seed=2),
                initializers.HeUniform(), initializers.LecunNormal(), initializers.LecunUniform(),
                initializers.Zeros(), initializers.Ones(), initializers.Constant(3.0),
                initializers.RandomNormal(0.5, 0.1, seed=9), initializers.RandomUniform(-1.0, 2.0),
                initializers.TruncatedNormal(stddev=0.2), initializers.Orthogonal(gain=0.5, seed=3),
                initializers.VarianceScaling(2.0, "fan_avg", "uniform", seed=4)]


@pytest.mark.parametrize("init", INITIALIZERS, ids=lambda i: type(i).__name__)
def test_initializer_config_round_trip(init):
    config = init.get_config()
    again = type(init).from_config(config)
    assert again.get_config() == config
    data = initializers.serialize(init)
    assert data["class_name"] == type(init).__name__
    assert initializers.deserialize(data).get_config() == config
    if getattr(init, "seed", None) is not None:
        np.testing.assert_array_equal(again((4, 4)), init((4, 4)))


def test_initializer_names_and_keras_configs():
    names = {"glorot_uniform": "GlorotUniform", "GlorotNormal": "GlorotNormal", "he_normal": "HeNormal",
             "he_uniform": "HeUniform", "lecun_normal": "LecunNormal", "zeros": "Zeros", "ones": "Ones",
             "random_normal": "RandomNormal", "random_uniform": "RandomUniform", "orthogonal": "Orthogonal",
             "truncated_normal": "TruncatedNormal"}
    for name, cls in names.items():
        assert type(initializers.get(name)).__name__ == cls
    assert type(initializers.get(None)).__name__ == "GlorotUniform"
    assert initializers.GlorotUniform().get_config() == {"seed": None}
    assert initializers.RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert initializers.RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05, "seed": None}
    assert initializers.Orthogonal().get_config() == {"gain": 1.0, "seed": None}


def test_initializer_errors():
    with pytest.raises(ValueError, match="valid names are:.*glorot_uniform"):
        initializers.get("glorot")
    with pytest.raises(ValueError, match="at least 2"):
        initializers.Orthogonal()((5,))
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match="seed"):
        initializers.HeNormal(seed=-1)
    with pytest.raises(ValueError, match="float32"):
        initializers.Zeros()((2,), dtype="float64")
    with pytest.raises(ValueError, match="negative"):
        initializers.Ones()((2, -1))


def test_regularizer_penalties_and_grads(rng):
    w = rng.standard_normal((7, 5)).astype(np.float32)
    w64 = w.astype(np.float64)
    cases = [(regularizers.L1(0.3), 0.3 * np.abs(w64).sum(), 0.3 * np.sign(w64)),
             (regularizers.L2(0.2), 0.2 * (w64 ** 2).sum(), 0.4 * w64),
             (regularizers.L1L2(l1=0.1, l2=0.05), 0.1 * np.abs(w64).sum() + 0.05 * (w64 ** 2).sum(),
              0.1 * np.sign(w64) + 0.1 * w64)]
    for reg, penalty, grad in cases:
        assert reg.penalty(w) == pytest.approx(penalty, rel=1e-6)
        assert reg(w) == reg.penalty(w)
        g = np.ones_like(w)
        reg.add_grad(w, g)
        np.testing.assert_allclose(g, 1.0 + grad, rtol=1e-6, atol=1e-6)
        assert type(reg).from_config(reg.get_config()).get_config() == reg.get_config()
        data = regularizers.serialize(reg)
        assert regularizers.deserialize(data).get_config() == reg.get_config()


def test_lower_case_factories_are_the_keras_spellings():
    assert regularizers.l2(0.01).get_config() == {"l2": 0.01}
    assert regularizers.l1(0.3).get_config() == {"l1": 0.3}
    assert regularizers.l1_l2(l1=0.1).get_config() == {"l1": 0.1, "l2": 0.0}
    layer = fastnn.layers.Dense(2, kernel_regularizer=regularizers.l2(1e-4))
    assert layer.get_config()["kernel_regularizer"]["config"] == {"l2": 1e-4}


def test_regularizer_names_defaults_and_errors():
    assert regularizers.get("l1").get_config() == {"l1": 0.01}
    assert regularizers.get("L2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get(None) is None
    reg = regularizers.L2(0.5)
    assert regularizers.get(reg) is reg
    assert regularizers.get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}).l2 == 0.2
    with pytest.raises(ValueError, match="valid names are:.*l1_l2"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.L1(-0.1)
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.L2(float("inf"))
    with pytest.raises(ValueError, match="shape"):
        regularizers.L2().add_grad(np.zeros(3, np.float32), np.zeros(4, np.float32))
