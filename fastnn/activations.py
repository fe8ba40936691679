"""Activation functions as Keras names them, run by fastnn's C kernels."""
from ._registry import Registry as _Registry
from ._registry import canonical as _canonical
from .ops import nn as _nn

__all__ = ["Activation", "get", "serialize", "deserialize", "linear", "relu", "leaky_relu", "elu", "gelu",
           "silu", "swish", "sigmoid", "tanh", "softplus", "softmax"]


# name -> default alpha (None: the activation takes none).
_DEFAULT_ALPHA = {"linear": None, "relu": None, "leaky_relu": 0.2, "elu": 1.0, "gelu": None, "silu": None,
                  "sigmoid": None, "tanh": None, "softplus": None, "softmax": None}
_ALIASES = {"swish": "silu"}  # Keras's other name for silu
_BY_CANONICAL = {_canonical(n): n for n in _DEFAULT_ALPHA} | {_canonical(a): n for a, n in _ALIASES.items()}


class Activation:
    """One activation function with its forward and backward kernels.

    Args:
        name: one of linear, relu, leaky_relu, elu, gelu, silu (or swish), sigmoid, tanh, softplus, softmax.
        alpha: the negative slope of leaky_relu (default 0.2) or the alpha of elu (default 1.0);
            must be None for the other activations.

    Attributes:
        name: the canonical name.
        alpha: the parameter, or None.
        epilogue: True when a GEMM epilogue can apply it (every elementwise activation: all but softmax).
        backward_reads: which array its backward needs besides dy: 'x' (the input), 'y' (the output)
            or None (linear).
    """

    def __init__(self, name="linear", alpha=None):
        if not isinstance(name, str):
            raise TypeError(f"Activation: name must be a string, got {type(name).__name__}")
        canonical = _BY_CANONICAL.get(_canonical(name))
        if canonical is None:
            raise ValueError(f"Unknown activation {name!r}; valid names are: {', '.join(_valid_names())}")
        default = _DEFAULT_ALPHA[canonical]
        if default is None and alpha is not None:
            raise ValueError(f"Activation {canonical!r} takes no alpha, got alpha={alpha!r}")
        self.name = canonical
        self.alpha = None if default is None else float(default if alpha is None else alpha)
        self.epilogue = canonical != "softmax"
        self.backward_reads = _nn.activation_backward_input(canonical)

    def forward(self, x, out=None):
        """y = act(x) as float32 (softmax over the last axis)."""
        return _nn.activation_forward(self.name, x, out, self.alpha)

    def backward(self, x, y, dy, out=None):
        """dx from the pre-activation x, the output y and the output gradient dy.

        relu, sigmoid, tanh, softmax and elu read y; the others read x. The unused one may be None.
        """
        return _nn.activation_backward(self.name, x, y, dy, out, self.alpha)

    __call__ = forward

    def get_config(self):
        config = {"name": self.name}
        if self.alpha is not None:
            config["alpha"] = self.alpha
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, Activation) and (self.name, self.alpha) == (other.name, other.alpha)

    def __hash__(self):
        return hash((self.name, self.alpha))

    def __repr__(self):
        alpha = "" if self.alpha is None else f", alpha={self.alpha}"
        return f"Activation({self.name!r}{alpha})"


def _valid_names():
    return sorted(list(_DEFAULT_ALPHA) + list(_ALIASES))


def get(identifier):
    """An Activation from a name, None ('linear'), an Activation, or a serialized activation.

    Args:
        identifier: a Keras activation name, matched ignoring case and underscores ('relu', 'leaky_relu',
            'LeakyReLU'), None, an Activation, one of this module's functions (fastnn.activations.relu),
            or what `serialize` returned.

    Returns:
        An Activation.
    """
    if identifier is None:
        return Activation("linear")
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        return Activation(identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        name = _FUNCTION_NAMES.get(identifier)
        if name is None:
            raise TypeError(f"Unsupported activation {identifier!r}: fastnn runs activations in its C kernels, "
                            f"so only its built-in activations are supported (a name or a "
                            f"fastnn.activations function): {', '.join(_valid_names())}")
        return Activation(name)
    raise TypeError(f"Could not interpret activation identifier {identifier!r}: expected a name, None, "
                    f"an Activation or a fastnn.activations function")


def serialize(activation):
    """The Keras form: the bare name, or {'class_name', 'config'} when alpha differs from the default."""
    activation = get(activation)
    if activation.alpha == _DEFAULT_ALPHA[activation.name]:
        return activation.name
    return {"class_name": "Activation", "config": activation.get_config()}


def deserialize(data):
    """Inverse of serialize: a name or a {'class_name': 'Activation', 'config': {...}} dict."""
    if isinstance(data, str):
        return Activation(data)
    if isinstance(data, dict) and data.get("class_name") == "Activation" and isinstance(data.get("config"), dict):
        return Activation.from_config(data["config"])
    if isinstance(data, dict) and isinstance(data.get("class_name"), str) and not data.get("config"):
        return Activation(data["class_name"])
    raise TypeError(f"deserialize: cannot build an activation from {data!r}")


def _apply(name, x, alpha=None):
    return _nn.activation_forward(name, x, None, alpha)


def linear(x):
    """Identity, as a float32 array."""
    return _apply("linear", x)


def relu(x):
    """max(x, 0)."""
    return _apply("relu", x)


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, negative_slope * x otherwise."""
    return _apply("leaky_relu", x, float(negative_slope))


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return _apply("elu", x, float(alpha))


def gelu(x, approximate=False):
    """x * Phi(x) with the exact erf form (the tanh approximation is not provided)."""
    if approximate:
        raise ValueError("gelu: approximate=True (tanh form) is not supported; use approximate=False")
    return _apply("gelu", x)


def silu(x):
    """x * sigmoid(x)."""
    return _apply("silu", x)


swish = silu


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return _apply("sigmoid", x)


def tanh(x):
    """Hyperbolic tangent."""
    return _apply("tanh", x)


def softplus(x):
    """log(1 + exp(x))."""
    return _apply("softplus", x)


def softmax(x, axis=-1):
    """exp(x) normalised over the last axis (the only axis supported)."""
    if axis not in (-1, getattr(x, "ndim", 1) - 1):
        raise ValueError(f"softmax: only the last axis is supported, got axis={axis}")
    return _apply("softmax", x)


# fastnn's own functions stand for their kernels (with the default alpha), as Keras accepts keras.activations.relu.
_FUNCTION_NAMES = {linear: "linear", relu: "relu", leaky_relu: "leaky_relu", elu: "elu", gelu: "gelu",
                   silu: "silu", sigmoid: "sigmoid", tanh: "tanh", softplus: "softplus", softmax: "softmax"}
