"""Geometric image augmentation: random rotation, translation and zoom, each one affine map per
image, resampled in C with Keras's interpolations and fill modes."""
import numpy as np

from ... import _C
from ..base import register
from .augmentation import ImageAugmentation, check_factor, config_factor

__all__ = ["RandomRotation", "RandomTranslation", "RandomZoom"]


class AffineAugmentation(ImageAugmentation):
    """Base of the layers that resample each training image through a random affine map.

    Subclasses implement transforms(n, height, width, rng): (n, 6) float64 rows (a0, a1, a2, b0, b1,
    b2), output pixel (row i, column j) reading the input at column a0*j + a1*i + a2 and row
    b0*j + b1*i + b2, as Keras's affine_transform.

    Args:
        fill_mode: how points outside the image are filled: 'reflect' (d c b a | a b c d | d c b a),
            'wrap' (a b c d | a b c d: periodic, also between the last and first pixel, where
            TensorFlow's kernel clamps), 'constant' (fill_value) or 'nearest' (the edge pixel).
        interpolation: 'bilinear' or 'nearest'.
        fill_value: the value of 'constant' fill.
    """

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed, data_format, **kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        if fill_mode not in _C.FILL_MODES:
            raise ValueError(f"{what}: fill_mode must be one of {', '.join(_C.FILL_MODES)}, got {fill_mode!r}")
        if interpolation not in _C.INTERPOLATIONS:
            raise ValueError(f"{what}: interpolation must be one of {', '.join(_C.INTERPOLATIONS)}, got "
                             f"{interpolation!r}")
        if isinstance(fill_value, bool) or not isinstance(fill_value, (int, float)):
            raise ValueError(f"{what}: fill_value must be a number, got {fill_value!r}")
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)
        self._codes = (_C.INTERPOLATIONS[interpolation], _C.FILL_MODES[fill_mode])

    def augment(self, ctx, x, rng):
        n, h, w, _ = x.shape
        ctx.transforms = self.transforms(n, h, w, rng).astype(np.float32)
        return _C.affine_sample(x, ctx.transforms, ctx.buffer("y", x.shape), *self._codes, self.fill_value)

    def augment_backward(self, ctx, dy):
        return _C.affine_sample_backward(dy, ctx.transforms, ctx.buffer("dx", dy.shape), *self._codes)

    def get_config(self):
        config = super().get_config()
        config.update(fill_mode=self.fill_mode, interpolation=self.interpolation, fill_value=self.fill_value)
        return config


@register
class RandomRotation(AffineAugmentation):
    """Rotates each training image by a random angle about its centre, as keras.layers.RandomRotation.

    Args:
        factor: the angle as a fraction of a full turn: a number f draws from [-f, f] (f = 0.1: up to
            36 degrees either way), a pair (lower, upper) from [lower, upper]; within [-1, 1].
        fill_mode, interpolation, fill_value: see AffineAugmentation (default 'reflect', 'bilinear').
        seed: an int for this layer's own generator, or None for fastnn's.

    Input shape:
        (batch, height, width, channels). Output shape: the same.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = factor
        self._range = check_factor(factor, "factor", f"RandomRotation '{self.name}'")

    def transforms(self, n, h, w, rng):
        angle = rng.uniform(self._range[0], self._range[1], n) * 2.0 * np.pi
        cos, sin = np.cos(angle), np.sin(angle)
        cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
        return np.stack([cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos], axis=1)

    def get_config(self):
        config = super().get_config()
        config["factor"] = config_factor(self.factor)
        return config


@register
class RandomTranslation(AffineAugmentation):
    """Shifts each training image by a random offset, as keras.layers.RandomTranslation.

    Args:
        height_factor, width_factor: the shift as a fraction of the height / width: a number f draws
            from [-f, f], a pair (lower, upper) from [lower, upper]; within [-1, 1]. Positive moves
            the content down / right.
        fill_mode, interpolation, fill_value: see AffineAugmentation (default 'reflect', 'bilinear').
        seed: an int for this layer's own generator, or None for fastnn's.

    Input shape:
        (batch, height, width, channels). Output shape: the same.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        what = f"RandomTranslation '{self.name}'"
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = check_factor(height_factor, "height_factor", what)
        self._width = check_factor(width_factor, "width_factor", what)

    def transforms(self, n, h, w, rng):
        dy = rng.uniform(self._height[0], self._height[1], n) * h
        dx = rng.uniform(self._width[0], self._width[1], n) * w
        ones, zeros = np.ones(n), np.zeros(n)
        return np.stack([ones, zeros, -dx, zeros, ones, -dy], axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=config_factor(self.height_factor), width_factor=config_factor(self.width_factor))
        return config


@register
class RandomZoom(AffineAugmentation):
    """Zooms each training image about its centre by a random factor, as keras.layers.RandomZoom.

    Args:
        height_factor: the zoom as a fraction: the image is sampled at 1 + z times its size, z drawn
            from [-f, f] for a number f or from [lower, upper] for a pair, within (-1, 1]: positive
            zooms out (the content shrinks), negative zooms in.
        width_factor: the same for the width, or None to zoom both axes by the same draw.
        fill_mode, interpolation, fill_value: see AffineAugmentation (default 'reflect', 'bilinear').
        seed: an int for this layer's own generator, or None for fastnn's.

    Input shape:
        (batch, height, width, channels). Output shape: the same.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        what = f"RandomZoom '{self.name}'"
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = check_factor(height_factor, "height_factor", what)
        self._width = None if width_factor is None else check_factor(width_factor, "width_factor", what)
        if -1.0 in self._height + (self._width or ()):
            raise ValueError(f"{what}: a zoom factor of -1 would shrink the sampled area to nothing")

    def transforms(self, n, h, w, rng):
        zoom_y = 1.0 + rng.uniform(self._height[0], self._height[1], n)
        zoom_x = zoom_y if self._width is None else 1.0 + rng.uniform(self._width[0], self._width[1], n)
        zeros = np.zeros(n)
        return np.stack([zoom_x, zeros, 0.5 * (w - 1) * (1.0 - zoom_x), zeros, zoom_y, 0.5 * (h - 1) * (1.0 - zoom_y)],
                        axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=config_factor(self.height_factor), width_factor=config_factor(self.width_factor))
        return config
