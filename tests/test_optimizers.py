"""fastnn.optimizers and fastnn.schedules: Keras formulas, torch agreement, clipping, decay, resume, configs."""
import math

import numpy as np
import pytest

from fastnn import ops, optimizers, schedules

SLICES = [(0, (6, 5)), (30, (5,)), (35, (5, 4)), (55, (4,))]
SIZE = 59
TINY_EPS = 1e-12  # so Keras's and torch's different epsilon placements do not matter


def make_problem(seed=0, steps=6):
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(SIZE).astype(np.float32)
    grads = [rng.standard_normal(SIZE).astype(np.float32) for _ in range(steps)]
    return params, grads


def run(opt, params, grads):
    params = params.copy()
    opt.build(params, SLICES)
    for g in grads:
        opt.apply(g.copy())
    return params


def reference(kind, config, params, grads, lr_at=None):
    """The Keras 3 update rules in float64, with clipping and decoupled weight decay."""
    p = params.astype(np.float64)
    state = {}
    for step, g in enumerate(grads):
        g = g.astype(np.float64)
        lr = lr_at(step) if lr_at else config.get("learning_rate")
        if config.get("clipvalue"):
            g = np.clip(g, -config["clipvalue"], config["clipvalue"])
        if config.get("clipnorm"):
            g = g.copy()
            for offset, shape in SLICES:
                part = g[offset:offset + math.prod(shape)]
                part *= config["clipnorm"] / max(np.linalg.norm(part), config["clipnorm"])
        if config.get("global_clipnorm"):
            g = g * config["global_clipnorm"] / max(np.linalg.norm(g), config["global_clipnorm"])
        if config.get("weight_decay"):
            p -= p * lr * config["weight_decay"]
        if kind == "SGD":
            mom = config.get("momentum", 0.0)
            if mom:
                v = state["v"] = mom * state.get("v", 0.0) - lr * g
                p += mom * v - lr * g if config.get("nesterov") else v
            else:
                p -= lr * g
        elif kind in ("Adam", "AdamW"):
            b1, b2, eps, t = config["beta_1"], config["beta_2"], config["epsilon"], step + 1
            m = state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
            v = state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
            if config.get("amsgrad"):
                v = state["vhat"] = np.maximum(state.get("vhat", 0.0), v)
            p -= lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
        elif kind == "RMSprop":
            rho, mom, eps = config["rho"], config.get("momentum", 0.0), config["epsilon"]
            vel = state["vel"] = rho * state.get("vel", 0.0) + (1 - rho) * g * g
            denom = vel + eps
            if config.get("centered"):
                avg = state["avg"] = rho * state.get("avg", 0.0) + (1 - rho) * g
                denom = vel - avg * avg + eps
            inc = lr * g / np.sqrt(denom)
            if mom:
                inc = state["mb"] = mom * state.get("mb", 0.0) + inc
            p -= inc
        elif kind == "Adagrad":
            acc = state["acc"] = state.get("acc", config["initial_accumulator_value"]) + g * g
            p -= lr * g / np.sqrt(acc + config["epsilon"])
    return p


CASES = [
    ("SGD", {"learning_rate": 0.05}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": TINY_EPS}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": TINY_EPS, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": TINY_EPS, "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.9, "epsilon": TINY_EPS}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.5, "epsilon": TINY_EPS, "centered": True}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.1, "epsilon": TINY_EPS}),
]


def torch_optimizer(torch, kind, config, tensor):
    lr = config["learning_rate"]
    if kind == "SGD":
        return torch.optim.SGD([tensor], lr=lr, momentum=config.get("momentum", 0.0),
                               nesterov=config.get("nesterov", False))
    if kind in ("Adam", "AdamW"):
        cls = torch.optim.AdamW if kind == "AdamW" else torch.optim.Adam
        return cls([tensor], lr=lr, betas=(config["beta_1"], config["beta_2"]), eps=TINY_EPS,
                   amsgrad=config.get("amsgrad", False), weight_decay=config.get("weight_decay", 0.0))
    if kind == "RMSprop":
        return torch.optim.RMSprop([tensor], lr=lr, alpha=config["rho"], eps=TINY_EPS,
                                   momentum=config.get("momentum", 0.0), centered=config.get("centered", False))
    return torch.optim.Adagrad([tensor], lr=lr, initial_accumulator_value=config["initial_accumulator_value"],
                               eps=TINY_EPS)


@pytest.mark.parametrize("kind,config", CASES)
def test_matches_torch(kind, config):
    torch = pytest.importorskip("torch")
    params, grads = make_problem()
    ours = run(getattr(optimizers, kind)(**config), params, grads)
    tensor = torch.tensor(params.copy(), requires_grad=True)
    opt = torch_optimizer(torch, kind, config, tensor)
    for g in grads:
        tensor.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(ours, tensor.detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,config", CASES)
def test_matches_float64_formulas(kind, config):
    params, grads = make_problem(1)
    ours = run(getattr(optimizers, kind)(**config), params, grads)
    np.testing.assert_allclose(ours, reference(kind, config, params, grads), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("extra", [{"clipvalue": 0.3}, {"clipnorm": 1.2}, {"global_clipnorm": 2.0},
                                   {"weight_decay": 0.05}, {"clipnorm": 1.2, "weight_decay": 0.01}])
@pytest.mark.parametrize("kind,config", [CASES[1], CASES[3], CASES[8]])
def test_clipping_and_weight_decay(kind, config, extra):
    params, grads = make_problem(2)
    config = {**config, **extra}
    ours = run(getattr(optimizers, kind)(**config), params, grads)
    expected = reference(kind, config, params, grads)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
    # and the option changes the result, so the comparison above is not vacuous
    plain = reference(kind, {k: v for k, v in config.items() if k not in extra}, params, grads)
    assert np.max(np.abs(expected - plain)) > 1e-3


def test_clipnorm_leaves_small_variables_alone():
    params, _ = make_problem()
    grads = np.zeros(SIZE, np.float32)
    grads[:30] = 10.0       # first variable: norm far above the limit
    grads[30:35] = 0.01     # second: below it
    opt = optimizers.SGD(1.0, clipnorm=1.0)
    opt.build(params.copy(), SLICES)
    opt.apply(grads)
    assert np.linalg.norm(grads[:30]) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_array_equal(grads[30:35], np.float32(0.01))


def test_schedule_is_evaluated_at_iterations_before_the_step():
    schedule = schedules.PiecewiseConstantDecay([1, 3], [1.0, 0.5, 0.1])
    params, grads = make_problem(3, steps=5)
    ours = run(optimizers.SGD(schedule), params, grads)
    expected = reference("SGD", {}, params, grads, lr_at=schedule)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6)
    # step indices 0..4 get 1, 1, .5, .5, .1
    assert [schedule(s) for s in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.1]


@pytest.mark.parametrize("kind,config", CASES + [("Adam", {"learning_rate": schedules.ExponentialDecay(0.01, 2, 0.5),
                                                          "clipnorm": 0.5, "weight_decay": 0.01})])
def test_resume_is_bitwise_exact(kind, config):
    params, grads = make_problem(4, steps=7)
    first = getattr(optimizers, kind)(**config)
    p1 = params.copy()
    first.build(p1, SLICES)
    for g in grads[:3]:
        first.apply(g.copy())
    saved_params = p1.copy()
    saved_state = {k: v.copy() for k, v in first.state_arrays().items()}
    second = optimizers.deserialize(optimizers.serialize(first))
    p2 = saved_params.copy()
    second.build(p2, SLICES)
    second.set_state(first.iterations, saved_state)
    assert second.iterations == 3
    for g in grads[3:]:
        first.apply(g.copy())
        second.apply(g.copy())
    np.testing.assert_array_equal(p1, p2)
    if not saved_state:
        return  # plain SGD has no state to lose
    # without the state the run differs, so the equality above is meaningful
    third = getattr(optimizers, kind)(**config)
    p3 = saved_params.copy()
    third.build(p3, SLICES)
    for g in grads[3:]:
        third.apply(g.copy())
    assert not np.array_equal(p1, p3)


def test_state_names_and_initial_values():
    params, _ = make_problem()
    expected = {"SGD": [], "Adam": ["m", "v"], "RMSprop": ["velocity"], "Adagrad": ["accumulator"]}
    for kind, names in expected.items():
        opt = getattr(optimizers, kind)()
        opt.build(params.copy(), SLICES)
        assert sorted(opt.state_arrays()) == names
    opt = optimizers.RMSprop(momentum=0.9, centered=True)
    opt.build(params.copy(), SLICES)
    assert sorted(opt.state_arrays()) == ["average_gradient", "momentum", "velocity"]
    opt = optimizers.Adam(amsgrad=True)
    opt.build(params.copy(), SLICES)
    assert sorted(opt.state_arrays()) == ["m", "v", "vhat"]
    opt = optimizers.Adagrad(initial_accumulator_value=0.25)
    opt.build(params.copy(), SLICES)
    np.testing.assert_array_equal(opt.state_arrays()["accumulator"], np.float32(0.25))


def test_learning_rate_property():
    opt = optimizers.Adam(0.01)
    assert opt.learning_rate == 0.01
    opt.learning_rate = np.float32(0.5)
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5
    scheduled = optimizers.SGD(schedules.ExponentialDecay(1.0, 1, 0.5))
    scheduled.iterations = 3
    assert scheduled.learning_rate == 0.125
    with pytest.raises(TypeError, match="schedule"):
        scheduled.learning_rate = 0.1
    with pytest.raises(TypeError):
        opt.learning_rate = "fast"
    with pytest.raises(ValueError):
        opt.learning_rate = float("nan")


KERAS_DEFAULTS = {
    "SGD": {"name": "SGD", "learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    "Adam": {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
             "amsgrad": False},
    "AdamW": {"name": "adamw", "learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999,
              "epsilon": 1e-7, "amsgrad": False},
    "RMSprop": {"name": "rmsprop", "learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
                "centered": False},
    "Adagrad": {"name": "adagrad", "learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
}


@pytest.mark.parametrize("kind", sorted(KERAS_DEFAULTS))
def test_defaults_and_config_round_trip(kind):
    opt = optimizers.get(kind.lower())
    config = opt.get_config()
    for key, value in KERAS_DEFAULTS[kind].items():
        assert config[key] == value, key
    assert config["clipnorm"] is None and config["use_ema"] is False
    assert type(opt).from_config(config).get_config() == config
    data = optimizers.serialize(opt)
    assert data["class_name"] == kind
    assert optimizers.deserialize(data).get_config() == config
    assert optimizers.get(data).get_config() == config


def test_config_round_trip_with_schedule_and_clipping():
    for schedule in (schedules.ExponentialDecay(0.1, 10, 0.9, staircase=True),
                     schedules.CosineDecay(0.1, 100, alpha=0.1, warmup_target=0.2, warmup_steps=5),
                     schedules.PiecewiseConstantDecay([5, 9], [0.3, 0.2, 0.1])):
        opt = optimizers.RMSprop(schedule, clipvalue=0.5, weight_decay=0.01)
        again = optimizers.deserialize(optimizers.serialize(opt))
        assert again.get_config() == opt.get_config()
        assert type(again._schedule) is type(schedule)
        assert [again._schedule(s) for s in range(12)] == [schedule(s) for s in range(12)]


def test_schedule_values_follow_keras_formulas():
    exp = schedules.ExponentialDecay(0.1, 10, 0.5)
    assert exp(0) == pytest.approx(0.1) and exp(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    assert exp(20) == pytest.approx(0.025)
    stair = schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert stair(9) == pytest.approx(0.1) and stair(15) == pytest.approx(0.05)
    cos = schedules.CosineDecay(1.0, 100, alpha=0.1)
    assert cos(0) == pytest.approx(1.0) and cos(50) == pytest.approx(0.55) and cos(100) == pytest.approx(0.1)
    assert cos(250) == pytest.approx(0.1)
    assert cos(25) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    warm = schedules.CosineDecay(0.0, 100, warmup_target=1.0, warmup_steps=10)
    assert warm(5) == pytest.approx(0.5) and warm(10) == pytest.approx(1.0) and warm(60) == pytest.approx(0.5)
    piece = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [piece(s) for s in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    assert optimizers.schedules.get(schedules.serialize(piece)).get_config() == piece.get_config()


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.AdamW, optimizers.RMSprop,
                                 optimizers.Adagrad])
def test_keras2_decay_is_ignored_with_a_warning_as_keras3(cls):
    with pytest.warns(UserWarning, match="`decay` is no longer supported"):
        opt = cls(learning_rate=0.1, decay=1e-6)
    assert opt.get_config() == cls(learning_rate=0.1).get_config() and "decay" not in opt.get_config()


def test_errors():
    with pytest.raises(ValueError, match="valid names are:.*adam"):
        optimizers.get("adamm")
    with pytest.raises(ValueError, match="only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="use_ema"):
        optimizers.Adam(use_ema=True)
    with pytest.raises(TypeError, match="unexpected"):
        optimizers.Adam(bogus=1)
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.Adam(clipnorm=-1.0)
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match="build"):
        opt.apply(np.zeros(SIZE, np.float32))
    with pytest.raises(TypeError, match="flat_params"):
        opt.build(np.zeros(SIZE), SLICES)
    with pytest.raises(ValueError, match="does not fit"):
        opt.build(np.zeros(10, np.float32), SLICES)
    opt.build(np.zeros(SIZE, np.float32), SLICES)
    with pytest.raises(ValueError, match="shape"):
        opt.apply(np.zeros(SIZE - 1, np.float32))
    with pytest.raises(ValueError, match="expected state arrays"):
        opt.set_state(1, {"m": np.zeros(SIZE)})
    with pytest.raises(ValueError, match="'v' must hold"):
        opt.set_state(1, {"m": np.zeros(SIZE), "v": np.zeros(3)})
    with pytest.raises(ValueError, match="iterations"):
        opt.set_state(-1, {"m": np.zeros(SIZE), "v": np.zeros(SIZE)})
    with pytest.raises(ValueError, match="one more"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0])
    with pytest.raises(ValueError, match="increase"):
        schedules.PiecewiseConstantDecay([2, 1], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)


@pytest.mark.parametrize("cls, kwargs", [
    (optimizers.Adam, {"epsilon": -1.0}), (optimizers.Adam, {"epsilon": math.nan}), (optimizers.Adam, {"beta_1": 1.0}),
    (optimizers.Adam, {"beta_2": math.nan}), (optimizers.AdamW, {"weight_decay": -0.1}),
    (optimizers.Adam, {"learning_rate": math.nan}), (optimizers.SGD, {"learning_rate": -0.1}),
    (optimizers.RMSprop, {"epsilon": -1e-7}), (optimizers.RMSprop, {"rho": 1.5}),
    (optimizers.Adagrad, {"epsilon": math.inf}), (optimizers.Adagrad, {"initial_accumulator_value": -1.0})])
def test_constructors_refuse_negative_and_nan_hyperparameters(cls, kwargs):
    (name, value), = kwargs.items()
    with pytest.raises(ValueError, match=f"{cls.__name__}: {name}"):
        cls(**kwargs)


def test_constructors_take_what_keras_takes_at_the_edges():
    assert optimizers.SGD(learning_rate=0.0).learning_rate == 0.0
    assert optimizers.Adam(epsilon=0.0, beta_1=0.0).epsilon == 0.0
    assert optimizers.RMSprop(rho=1.0, momentum=1.0).rho == 1.0


@pytest.mark.parametrize("update", [
    lambda p, step: ops.adam_update(p, p.copy(), np.zeros_like(p), np.zeros_like(p), None, 0.1, 0.9, 0.999,
                                    1e-7, step),
    lambda p, step: ops.nadam_update(p, p.copy(), np.zeros_like(p), np.zeros_like(p), 0.1, 0.9, 0.999, 1e-7,
                                     step, 0.5),
    lambda p, step: ops.adamax_update(p, p.copy(), np.zeros_like(p), np.zeros_like(p), 0.1, 0.9, 0.999, 1e-7,
                                      step)])
def test_update_ops_take_the_step_as_an_integer(update):
    p = np.ones(5, np.float32)
    for bad in (1.9, True, np.float64(2.0)):  # 1.9 used to be truncated to step 1
        with pytest.raises(TypeError, match="step must be an integer"):
            update(p, bad)
    with pytest.raises(ValueError, match="step counts from 1, got 0"):
        update(p, 0)
    np.testing.assert_array_equal(p, 1.0)
    update(p, np.int64(3))
    assert np.all(p < 1.0)


@pytest.mark.parametrize("update, name", [
    (lambda p, g, **h: ops.sgd_update(p, g, np.zeros_like(p), **{"lr": 0.1, "momentum": 0.5, **h}), "lr"),
    (lambda p, g, **h: ops.sgd_update(p, g, np.zeros_like(p), **{"lr": 0.1, "momentum": 0.0, **h}), "momentum"),
    (lambda p, g, **h: ops.sgd_update(p, g, None, **{"lr": 0.1, **h}), "grad_scale"),
    (lambda p, g, **h: ops.adam_update(p, g, np.zeros_like(p), np.zeros_like(p), None,
                                       **{"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "step": 1, **h}), "eps"),
    (lambda p, g, **h: ops.adam_update(p, g, np.zeros_like(p), np.zeros_like(p), None,
                                       **{"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "step": 1, **h}), "beta2"),
    (lambda p, g, **h: ops.adam_update(p, g, np.zeros_like(p), np.zeros_like(p), None,
                                       **{"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "step": 1, **h}), "decay"),
    (lambda p, g, **h: ops.rmsprop_update(p, g, np.zeros_like(p), None, None,
                                          **{"lr": 0.1, "rho": 0.9, "momentum": 0.0, "eps": 1e-7, "centered": False,
                                             **h}), "rho"),
    (lambda p, g, **h: ops.adagrad_update(p, g, np.zeros_like(p), **{"lr": 0.1, "eps": 1e-7, **h}), "eps"),
    *[(lambda p, g, **h: ops.nadam_update(p, g, np.zeros_like(p), np.zeros_like(p),
                                          **{"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "step": 1,
                                             "u_product": 0.5, **h}), name)
      for name in ("lr", "beta1", "beta2", "eps", "u_product", "grad_scale")],
    *[(lambda p, g, **h: ops.adamax_update(p, g, np.zeros_like(p), np.zeros_like(p),
                                           **{"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "step": 1, **h}),
       name) for name in ("lr", "beta1", "beta2", "eps", "grad_scale")],
    (lambda p, g, **h: ops.decay_weights(p, **{"factor": 0.1, **h}), "factor")])
@pytest.mark.parametrize("bad", [math.nan, -1.0, math.inf])
def test_update_ops_refuse_bad_hyperparameters_and_leave_p_alone(update, name, bad):
    p, g = np.ones(5, np.float32), np.ones(5, np.float32)
    with pytest.raises(ValueError, match=f"_(update|weights): {name} must be"):
        update(p, g, **{name: bad})
    np.testing.assert_array_equal(p, 1.0)
