"""fastnn.activations: name resolution, configs, and forward/backward through the kernels."""
import numpy as np
import pytest

import fastnn
from fastnn import activations

NAMES = ["linear", "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softplus", "softmax"]


def reference(name, x, alpha=None):
    """Float64 forward of every activation."""
    from math import erf
    x = np.asarray(x, np.float64)
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        return np.where(x > 0, x, (0.2 if alpha is None else alpha) * x)
    if name == "elu":
        return np.where(x > 0, x, (1.0 if alpha is None else alpha) * np.expm1(x))
    if name == "gelu":
        return x * 0.5 * (1 + np.vectorize(erf)(x / np.sqrt(2)))
    if name == "silu":
        return x / (1 + np.exp(-x))
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "softplus":
        return np.log1p(np.exp(x))
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_reference_and_module_function(name, rng):
    x = rng.standard_normal((5, 7)).astype(np.float32)
    act = activations.get(name)
    np.testing.assert_allclose(act.forward(x), reference(name, x), rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(getattr(activations, name)(x), reference(name, x), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_finite_differences(name, rng):
    x = rng.standard_normal((3, 6))
    x[np.abs(x) < 0.05] = 0.3  # keep away from the kinks of relu-like functions
    dy = rng.standard_normal(x.shape)
    act = activations.get(name)
    y = act.forward(x.astype(np.float32))
    dx = act.backward(x.astype(np.float32), y, dy.astype(np.float32))
    # a random direction v: d/dh sum(act(x + h v) * dy) = sum(dx * v) checks every element at once
    v = rng.standard_normal(x.shape)
    h = 1e-6
    numeric = (np.sum(reference(name, x + h * v) * dy) - np.sum(reference(name, x - h * v) * dy)) / (2 * h)
    np.testing.assert_allclose(np.sum(dx * v), numeric, rtol=1e-4, atol=1e-4)


def test_alpha_is_used_and_round_trips(rng):
    x = rng.standard_normal(20).astype(np.float32)
    leaky = activations.Activation("leaky_relu", alpha=0.5)
    np.testing.assert_allclose(leaky.forward(x), reference("leaky_relu", x, 0.5), rtol=1e-6)
    np.testing.assert_allclose(activations.elu(x, alpha=0.3), reference("elu", x, 0.3), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(activations.leaky_relu(x, 0.1), reference("leaky_relu", x, 0.1), rtol=1e-6)
    assert activations.Activation.from_config(leaky.get_config()) == leaky
    assert activations.deserialize(activations.serialize(leaky)) == leaky
    assert activations.get(activations.serialize(leaky)).alpha == 0.5


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    act = activations.get(name)
    again = activations.Activation.from_config(act.get_config())
    assert again == act and again.get_config() == act.get_config()
    assert activations.deserialize(activations.serialize(act)) == act
    assert act.epilogue == (name != "softmax")
    assert act.backward_reads == fastnn.ops.nn.activation_backward_input(act.name)


def test_resolution():
    assert activations.get(None).name == "linear"
    assert activations.get("ReLU").name == "relu"
    assert activations.get("LeakyReLU").alpha == 0.2
    assert activations.get("swish").name == "silu"
    assert activations.get("elu").alpha == 1.0
    act = activations.Activation("tanh")
    assert activations.get(act) is act
    assert activations.serialize("relu") == "relu"
    assert activations.serialize("leaky_relu") == "leaky_relu"
    assert activations.serialize(activations.Activation("elu", alpha=0.5))["config"] == {"name": "elu", "alpha": 0.5}


@pytest.mark.parametrize("name", NAMES)
def test_module_functions_resolve_to_their_kernels(name):
    act = activations.get(getattr(activations, name))
    assert act == activations.Activation(name)
    layer = fastnn.layers.Dense(2, activation=getattr(activations, name))
    assert layer.get_config()["activation"] == name
    assert activations.get(activations.swish).name == "silu"


def test_other_callables_are_refused_with_the_supported_names():
    with pytest.raises(TypeError, match="only its built-in activations.*leaky_relu"):
        fastnn.layers.Dense(2, activation=lambda x: x)
    with pytest.raises(TypeError, match="built-in activations"):
        activations.get(np.tanh)


def test_errors():
    with pytest.raises(ValueError, match="valid names are:.*relu"):
        activations.get("relux")
    with pytest.raises(ValueError, match="takes no alpha"):
        activations.Activation("relu", alpha=0.1)
    with pytest.raises(TypeError):
        activations.get(3)
    with pytest.raises(TypeError):
        activations.deserialize({"foo": 1})
    with pytest.raises(ValueError, match="approximate"):
        activations.gelu(np.zeros(2), approximate=True)
    with pytest.raises(ValueError, match="last axis"):
        activations.softmax(np.zeros((2, 3)), axis=0)
