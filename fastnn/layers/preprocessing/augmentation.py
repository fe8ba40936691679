"""Image augmentation: random flips, crops and contrast while training, seeded and reproducible. The
geometric layers (rotation, translation, zoom) are in geometric.py.

Every layer draws its random numbers from its own generator when given a seed, else from fastnn's
(fastnn.set_seed), one draw per image per training call, and does its per-pixel work in C
(csrc/nn/augment.c). In inference the layers are exactly the identity (they return their input),
except RandomCrop, which then takes the centred window as Keras does. Each has a backward (the
adjoint of its map), so it may also sit after trained layers.
"""
import math

import numpy as np

from ... import _C, _config
from ..base import Layer, register

__all__ = ["RandomFlip", "RandomContrast", "RandomCrop"]


def check_seed(seed, what):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"{what}: seed must be a non-negative int or None, got {seed!r}")
    return None if seed is None else int(seed)


def check_factor(factor, name, what):
    """Keras's factor argument: a number f means the range [-|f|, |f|], a pair is (lower, upper) in
    either order; the range must lie within [-1, 1]."""
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in factor):
            raise ValueError(f"{what}: {name} must be a number or a pair of numbers, got {factor!r}")
        lower, upper = sorted(float(v) for v in factor)
    elif isinstance(factor, (int, float)) and not isinstance(factor, bool):
        lower, upper = -abs(float(factor)), abs(float(factor))
    else:
        raise ValueError(f"{what}: {name} must be a number or a pair of numbers, got {factor!r}")
    if not -1.0 <= lower <= upper <= 1.0:
        raise ValueError(f"{what}: {name} must lie in [-1, 1], got {factor!r}")
    return lower, upper


def config_factor(factor):
    return list(factor) if isinstance(factor, (tuple, list)) else factor


class ImageAugmentation(Layer):
    """Base of the augmentation layers: channels-last image batches (batch, height, width, channels),
    a seed, the identity in inference. Subclasses implement augment(ctx, x, rng) and
    augment_backward(ctx, dy)."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__} '{self.name}': only data_format='channels_last' is supported")
        self.seed = check_seed(seed, f"{type(self).__name__} '{self.name}'")
        self._rng = None if self.seed is None else np.random.default_rng(self.seed)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"{type(self).__name__} '{self.name}' takes batches of images (batch, height, width, "
                             f"channels), got inputs of shape {tuple(input_shape)}")
        super().build(input_shape)

    def _generator(self):
        return self._rng if self._rng is not None else _config.generator()

    def _check_images(self, x):
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__} '{self.name}' takes batches of images (batch, height, width, "
                             f"channels), got shape {x.shape}")

    def forward(self, ctx, x):
        self._check_images(x)
        ctx.augmented = bool(ctx.training) and x.shape[0] > 0
        if not ctx.augmented:
            return self.inference(ctx, x)
        return self.augment(ctx, x, self._generator())

    def backward(self, ctx, dy):
        return self.augment_backward(ctx, dy) if ctx.augmented else self.inference_backward(ctx, dy)

    def inference(self, ctx, x):
        return x

    def inference_backward(self, ctx, dy):
        return dy

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed, data_format="channels_last")
        return config


@register
class RandomFlip(ImageAugmentation):
    """Mirrors each training image with probability 1/2, as keras.layers.RandomFlip.

    With 'horizontal_and_vertical' the two flips are drawn independently (Keras 3 draws one coin for
    both, so its images are either unflipped or turned by 180 degrees).

    Args:
        mode: 'horizontal' (left-right), 'vertical' (upside down) or 'horizontal_and_vertical'.
        seed: an int for this layer's own generator, or None for fastnn's.

    Input shape:
        (batch, height, width, channels). Output shape: the same.
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed, data_format, **kwargs)
        if mode not in self.MODES:
            raise ValueError(f"RandomFlip '{self.name}': mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        self.mode = mode

    def augment(self, ctx, x, rng):
        n = x.shape[0]
        flips = np.zeros(n, np.int32)
        if self.mode != "vertical":
            flips |= np.where(rng.random(n) < 0.5, _C.FLIP_COLUMNS, 0).astype(np.int32)
        if self.mode != "horizontal":
            flips |= np.where(rng.random(n) < 0.5, _C.FLIP_ROWS, 0).astype(np.int32)
        ctx.flips = flips
        return _C.flip_images(x, flips, ctx.buffer("y", x.shape))

    def augment_backward(self, ctx, dy):
        return _C.flip_images(dy, ctx.flips, ctx.buffer("dx", dy.shape))

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config


@register
class RandomContrast(ImageAugmentation):
    """Scales each training image's contrast by a random factor, as keras.layers.RandomContrast:
    (x - mean) * factor + mean per channel (the mean over the image's pixels), clipped to
    value_range.

    Args:
        factor: a number f in [0, 1] draws the contrast factor from [1 - f, 1 + f]; a pair
            (lower, upper) from [1 - lower, 1 + upper] (Keras's documented ranges).
        value_range: (low, high) the outputs are clipped to (default (0, 255)).
        seed: an int for this layer's own generator, or None for fastnn's.

    Input shape:
        (batch, height, width, channels). Output shape: the same.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed, None, **kwargs)
        what = f"RandomContrast '{self.name}'"
        pair = factor if isinstance(factor, (tuple, list)) else (factor, factor)
        if len(pair) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= abs(v) <= 1
                                     for v in pair):
            raise ValueError(f"{what}: factor must be a number or a pair of numbers in [0, 1], got {factor!r}")
        self.lower, self.upper = abs(float(pair[0])), abs(float(pair[1]))
        self.factor = factor
        if not (isinstance(value_range, (tuple, list)) and len(value_range) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                        for v in value_range) and value_range[0] < value_range[1]):
            raise ValueError(f"{what}: value_range must be (low, high) with low < high, got {value_range!r}")
        self.value_range = (float(value_range[0]), float(value_range[1]))

    def augment(self, ctx, x, rng):
        n = x.shape[0]
        ctx.x = x
        ctx.factors = rng.uniform(1.0 - self.lower, 1.0 + self.upper, n).astype(np.float32)
        ctx.means = ctx.buffer("means", (n, x.shape[3]))
        low, high = self.value_range
        return _C.contrast_forward(x, ctx.factors, low, high, ctx.means, ctx.buffer("y", x.shape))

    def augment_backward(self, ctx, dy):
        low, high = self.value_range
        return _C.contrast_backward(ctx.x, ctx.factors, ctx.means, low, high, dy, ctx.buffer("dx", dy.shape))

    def get_config(self):
        config = super().get_config()
        config.pop("data_format")
        config.update(factor=config_factor(self.factor), value_range=list(self.value_range))
        return config


@register
class RandomCrop(ImageAugmentation):
    """Crops images to height x width, as keras.layers.RandomCrop.

    While training, each image of at least the target size gets its own window at a random place
    (Keras places one window per batch). In inference, and for images smaller than the target,
    the layer takes the largest centred window with the target's aspect ratio and resizes it
    bilinearly to height x width (Keras's documented behaviour; TensorFlow's half-pixel resize):
    a plain centred crop when the window already has the target size.

    Args:
        height, width: the output size.
        seed: an int for this layer's own generator, or None for fastnn's.

    Input shape:
        (batch, in_height, in_width, channels). Output shape: (batch, height, width, channels).
    """

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(seed, data_format, **kwargs)
        for name, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"RandomCrop '{self.name}': {name} must be a positive int, got {value!r}")
        self.height, self.width = int(height), int(width)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def forward(self, ctx, x):
        self._check_images(x)
        n, h, w, _ = x.shape
        ctx.augmented = bool(ctx.training) and n > 0 and h >= self.height and w >= self.width
        if ctx.augmented:
            return self.augment(ctx, x, self._generator())
        return self.inference(ctx, x)

    def augment(self, ctx, x, rng):
        n, h, w, _ = x.shape
        offsets = np.empty((n, 2), np.int64)
        offsets[:, 0] = rng.integers(0, h - self.height + 1, n)
        offsets[:, 1] = rng.integers(0, w - self.width + 1, n)
        ctx.offsets, ctx.x_shape = offsets, x.shape
        return _C.crop_images(x, offsets, ctx.buffer("y", (n, self.height, self.width, x.shape[3])))

    def augment_backward(self, ctx, dy):
        return _C.crop_images_backward(dy, ctx.offsets, ctx.buffer("dx", ctx.x_shape))

    def _centred_window(self, h, w):
        """Keras's largest centred window with the target aspect ratio: (top, left, rows, columns)."""
        rows = max(min(h, int(w * self.height / self.width)), 1)
        columns = max(min(w, int(h * self.width / self.height)), 1)
        return (h - rows) // 2, (w - columns) // 2, rows, columns

    def inference(self, ctx, x):
        n, h, w, c = x.shape
        top, left, rows, columns = self._centred_window(h, w)
        ctx.offsets, ctx.x_shape = np.tile(np.array([top, left], np.int64), (n, 1)), x.shape
        window = ctx.buffer("window" if (rows, columns) != (self.height, self.width) else "y", (n, rows, columns, c))
        _C.crop_images(x, ctx.offsets, window)
        ctx.resize = None
        if window.shape[1:3] == (self.height, self.width):
            return window
        # the window resized with TensorFlow's half-pixel rule: output pixel i reads (i + 0.5) * scale - 0.5
        scale_y, scale_x = rows / self.height, columns / self.width
        transform = np.array([scale_x, 0.0, 0.5 * scale_x - 0.5, 0.0, scale_y, 0.5 * scale_y - 0.5], np.float32)
        ctx.resize = np.tile(transform, (n, 1))
        return _C.affine_sample(window, ctx.resize, ctx.buffer("y", (n, self.height, self.width, c)),
                                _C.INTERPOLATIONS["bilinear"], _C.FILL_MODES["nearest"])

    def inference_backward(self, ctx, dy):
        if ctx.resize is not None:
            window = ctx.buffer("dwindow", (dy.shape[0],) + self._centred_window(*ctx.x_shape[1:3])[2:] + dy.shape[3:])
            dy = _C.affine_sample_backward(dy, ctx.resize, window, _C.INTERPOLATIONS["bilinear"],
                                           _C.FILL_MODES["nearest"])
        return _C.crop_images_backward(dy, ctx.offsets, ctx.buffer("dx", ctx.x_shape))

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width)
        return config
