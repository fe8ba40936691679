"""Weight initializers with Keras 3 names, formulas and configs.

Every draw comes from fastnn._config.generator() (seeded by fastnn.set_seed) unless the initializer has
its own seed, in which case each call draws from a fresh generator seeded with it, so a seeded
initializer returns the same values every time (as Keras 3 does). Results are float32, C-contiguous.
"""
import math

import numpy as np

from . import _config
from ._registry import Configurable as _Configurable
from ._registry import Registry as _Registry

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
           "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal",
           "LecunUniform", "Orthogonal", "compute_fans", "get", "serialize", "deserialize"]

# The stddev of a standard normal truncated to [-2, 2]; dividing by it keeps the target variance.
_TRUNCATED_STDDEV = 0.87962566103423978


def compute_fans(shape):
    """(fan_in, fan_out) as Keras: dense (in, out); conv kernels (*spatial, in, out) times the receptive field.

    Args:
        shape: the weight shape.

    Returns:
        (fan_in, fan_out) as ints.
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _check_shape(shape, what):
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: shape must be a sequence of ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{what}: shape must not have negative sizes, got {shape}")
    return shape


def _truncated_standard_normal(rng, shape):
    """Standard normal draws truncated to [-2, 2] by redrawing the ones outside (about 4.6% per pass)."""
    values = rng.standard_normal(shape, dtype=np.float32)
    flat = values.reshape(-1)
    outside = np.flatnonzero(np.abs(flat) > 2.0)
    while outside.size:
        flat[outside] = rng.standard_normal(outside.size, dtype=np.float32)
        outside = outside[np.abs(flat[outside]) > 2.0]
    return values


class Initializer(_Configurable):
    """Base: __call__(shape, dtype=None) -> float32 array; get_config/from_config."""

    def __call__(self, shape, dtype=None):
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"{type(self).__name__}: only float32 is supported, got dtype={dtype!r}")
        shape = _check_shape(shape, type(self).__name__)
        return np.ascontiguousarray(self._draw(shape), dtype=np.float32)

    def _draw(self, shape):
        raise NotImplementedError

    def get_config(self):
        return {}


class Zeros(Initializer):
    """All zeros."""

    def _draw(self, shape):
        return np.zeros(shape, dtype=np.float32)


class Ones(Initializer):
    """All ones."""

    def _draw(self, shape):
        return np.ones(shape, dtype=np.float32)


class Constant(Initializer):
    """Every element equal to value, or an array broadcast to the weight's shape (as Keras's Constant):
    pretrained word vectors load with Embedding(embeddings_initializer=Constant(matrix)).

    Args:
        value: a number, or an array of numbers (kept as a float32 copy).
    """

    def __init__(self, value=0.0):
        if np.ndim(value) == 0:
            self.value = float(value)
            return
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"Constant: value must be a number or an array of numbers, got dtype {array.dtype}")
        self.value = np.array(array, dtype=np.float32)
        self.value.flags.writeable = False

    def _draw(self, shape):
        if isinstance(self.value, float):
            return np.full(shape, self.value, dtype=np.float32)
        try:
            return np.broadcast_to(self.value, shape).copy()
        except ValueError:
            raise ValueError(f"Constant: a value of shape {self.value.shape} does not fit a weight of shape "
                             f"{shape}") from None

    def get_config(self):
        return {"value": self.value if isinstance(self.value, float) else self.value.tolist()}


class _Random(Initializer):
    """Holds the seed: None draws from fastnn's generator, an int from a fresh generator per call."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed must be a non-negative int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)

    def _rng(self):
        return _config.generator() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


class RandomNormal(_Random):
    """Normal draws.

    Args:
        mean: the mean.
        stddev: the standard deviation.
        seed: None, or an int for repeatable draws.
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def _draw(self, shape):
        values = self._rng().standard_normal(shape, dtype=np.float32)
        values *= np.float32(self.stddev)
        values += np.float32(self.mean)
        return values

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """Normal draws truncated to mean +- 2 stddev (redrawn outside); arguments as RandomNormal."""

    def _draw(self, shape):
        values = _truncated_standard_normal(self._rng(), shape)
        values *= np.float32(self.stddev)
        values += np.float32(self.mean)
        return values


class RandomUniform(_Random):
    """Uniform draws in [minval, maxval).

    Args:
        minval, maxval: the bounds.
        seed: None, or an int for repeatable draws.
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def _draw(self, shape):
        values = self._rng().random(shape, dtype=np.float32)
        values *= np.float32(self.maxval - self.minval)
        values += np.float32(self.minval)
        return values

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(_Random):
    """Draws with variance scale / n, n the fan chosen by mode.

    truncated_normal: stddev sqrt(scale / n) / 0.8796 truncated at 2 stddev; untruncated_normal: stddev
    sqrt(scale / n); uniform: limit sqrt(3 * scale / n).

    Args:
        scale: positive scale.
        mode: 'fan_in', 'fan_out' or 'fan_avg'.
        distribution: 'truncated_normal', 'untruncated_normal' or 'uniform'.
        seed: None, or an int for repeatable draws.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if not scale > 0:
            raise ValueError(f"{type(self).__name__}: scale must be positive, got {scale!r}")
        if mode not in _MODES:
            raise ValueError(f"{type(self).__name__}: mode must be one of {', '.join(_MODES)}, got {mode!r}")
        if distribution == "normal":  # Keras's old name for truncated_normal
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"{type(self).__name__}: distribution must be one of {', '.join(_DISTRIBUTIONS)}, "
                             f"got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def _draw(self, shape):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            values = rng.random(shape, dtype=np.float32)
            values *= np.float32(2.0 * limit)
            values -= np.float32(limit)
            return values
        if self.distribution == "truncated_normal":
            values = _truncated_standard_normal(rng, shape)
            values *= np.float32(math.sqrt(variance) / _TRUNCATED_STDDEV)
            return values
        values = rng.standard_normal(shape, dtype=np.float32)
        values *= np.float32(math.sqrt(variance))
        return values

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling preset whose config holds only the seed, as Keras's Glorot/He/Lecun classes."""

    _preset = None  # (scale, mode, distribution)

    def __init__(self, seed=None):
        super().__init__(*self._preset, seed=seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_FixedVarianceScaling):
    """Uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio). Args: seed."""

    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal, stddev sqrt(2 / (fan_in + fan_out)). Args: seed."""

    _preset = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_FixedVarianceScaling):
    """Truncated normal, stddev sqrt(2 / fan_in) (He et al.). Args: seed."""

    _preset = (2.0, "fan_in", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    """Uniform in +-sqrt(6 / fan_in). Args: seed."""

    _preset = (2.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    """Truncated normal, stddev sqrt(1 / fan_in) (LeCun). Args: seed."""

    _preset = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    """Uniform in +-sqrt(3 / fan_in). Args: seed."""

    _preset = (1.0, "fan_in", "uniform")


class Orthogonal(_Random):
    """A (semi-)orthogonal matrix: QR of a normal draw, with signs fixed so the result is uniformly distributed.

    The shape is flattened to (prod(shape[:-1]), shape[-1]); rows or columns are orthonormal, whichever
    are fewer, then scaled by gain.

    Args:
        gain: multiplies the matrix.
        seed: None, or an int for repeatable draws.
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = float(gain)

    def _draw(self, shape):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape must have at least 2 dimensions, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        draw = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(draw)
        # Without the sign fix QR's convention would bias the distribution of q.
        q *= np.where(np.diag(r) < 0, -1.0, 1.0)
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


_registry = _Registry("initializer", Initializer)
_registry.add(Zeros, "zeros", "zero")
_registry.add(Ones, "ones", "one")
_registry.add(Constant, "constant")
_registry.add(RandomNormal, "random_normal", "normal")
_registry.add(RandomUniform, "random_uniform", "uniform")
_registry.add(TruncatedNormal, "truncated_normal")
_registry.add(VarianceScaling, "variance_scaling")
_registry.add(GlorotUniform, "glorot_uniform")
_registry.add(GlorotNormal, "glorot_normal")
_registry.add(HeNormal, "he_normal")
_registry.add(HeUniform, "he_uniform")
_registry.add(LecunNormal, "lecun_normal")
_registry.add(LecunUniform, "lecun_uniform")
_registry.add(Orthogonal, "orthogonal")


def get(identifier):
    """An initializer from a Keras name ('glorot_uniform', 'zeros', ...), an instance or a config dict.

    None gives the default, GlorotUniform.
    """
    if identifier is None:
        return GlorotUniform()
    return _registry.get(identifier)


serialize = _registry.serialize
deserialize = _registry.deserialize
