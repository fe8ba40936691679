"""Image operations on fastnn's C kernels (csrc/nn/augment.c): affine resampling, as Keras's
keras.ops.image.affine_transform."""
import numpy as np

from .. import _C
from ._convert import as_float32

__all__ = ["affine_transform"]


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0.0,
                     data_format=None):
    """Resample images through affine transforms, as keras.ops.image.affine_transform.

    Output pixel (row y, column x) of each image reads the input at column a0*x + a1*y + a2 and row
    b0*x + b1*y + b2, where the image's transform is [a0, a1, a2, b0, b1, b2, c0, c1] (Keras's
    layout; the projective terms c0, c1 must be 0) or just its first six values.

    Args:
        images: (height, width, channels) or a batch (n, height, width, channels), channels last.
        transform: (8,) or (6,) for all images, or one row per image (n, 8) or (n, 6).
        interpolation: 'bilinear' or 'nearest'.
        fill_mode: 'constant' (fill_value), 'reflect' (d c b a | a b c d | d c b a), 'wrap'
            (a b c d | a b c d) or 'nearest' (the edge pixel) for points outside the image.
        fill_value: the value of 'constant' fill.
        data_format: 'channels_last' (or None).

    Returns:
        float32 images of the input's shape.

    Example:
        >>> shifted = fastnn.ops.affine_transform(image, [1, 0, -2, 0, 1, 0, 0, 0])  # 2 pixels right
    """
    what = "affine_transform"
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{what}: only data_format='channels_last' is supported, got {data_format!r}")
    if interpolation not in _C.INTERPOLATIONS:
        raise ValueError(f"{what}: interpolation must be one of {', '.join(_C.INTERPOLATIONS)}, got {interpolation!r}")
    if fill_mode not in _C.FILL_MODES:
        raise ValueError(f"{what}: fill_mode must be one of {', '.join(_C.FILL_MODES)}, got {fill_mode!r}")
    x = np.ascontiguousarray(as_float32(images, f"{what}: images"))
    if x.ndim not in (3, 4):
        raise ValueError(f"{what}: images must be (height, width, channels) or (n, height, width, channels), got "
                         f"shape {x.shape}")
    batch = x if x.ndim == 4 else x[None]
    t = as_float32(transform, f"{what}: transform")
    if t.ndim not in (1, 2) or t.shape[-1] not in (6, 8):
        raise ValueError(f"{what}: transform must be (8,), (6,), (n, 8) or (n, 6), got shape {t.shape}")
    if t.ndim == 2 and len(t) not in (1, len(batch)):
        raise ValueError(f"{what}: transform has {len(t)} rows for {len(batch)} images; give one row per image or "
                         f"one transform for all")
    t = np.broadcast_to(t.reshape(-1, t.shape[-1]), (len(batch), t.shape[-1]))
    if t.shape[-1] == 8 and np.any(t[:, 6:] != 0):
        raise ValueError(f"{what}: projective transforms (c0, c1 not 0) are not supported")
    out = _C.affine_sample(batch, np.ascontiguousarray(t[:, :6]), np.empty_like(batch), _C.INTERPOLATIONS[interpolation],
                           _C.FILL_MODES[fill_mode], float(fill_value))
    return out if x.ndim == 4 else out[0]
