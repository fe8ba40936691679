"""Quantized layers for int8 inference: what fastnn.optimize.quantize_dynamic puts in place of Dense."""
import numpy as np

from .. import _C
from .base import Layer, register
from .core import as_rows, restore_rows
from .fused_activation import activation_plan

__all__ = ["QuantizedDense", "quantize_kernel", "Int8Kernel"]

INT8_LEVELS = 127  # symmetric int8: weights in [-127, 127], so -w is always representable
# The largest scale quantize_kernel makes (float32's largest magnitude over 127): a larger one overflows.
MAX_SCALE = float(np.finfo(np.float32).max) / INT8_LEVELS


def check_int8_weights(layer, kernel, scale, names):
    """Refuse, as ValueError (a ModelFileError when loading), int8 weights quantize_kernel never makes: a
    kernel value of -128, or a scale that is not in (0, MAX_SCALE]."""
    if np.any(kernel == -INT8_LEVELS - 1):
        raise layer._error(f"{names[0]} must hold values in [-{INT8_LEVELS}, {INT8_LEVELS}], got -128")
    if not np.all((scale > 0) & (scale <= MAX_SCALE)):
        raise layer._error(f"{names[1]} must be finite, > 0 and <= {MAX_SCALE:.3g}, got min {scale.min()!r}, "
                           f"max {scale.max()!r}")


def quantize_kernel(kernel, what="quantize_kernel"):
    """Symmetric per-output-channel int8 quantization of a (in, out) float kernel.

    Each column j gets scale_j = max |kernel[:, j]| / 127 (1 for an all-zero column) and
    q[:, j] = rint(kernel[:, j] / scale_j), so kernel ~= q * scale.

    Returns:
        (q, scale): an int8 array shaped as kernel, and float32 scales (out,).
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D kernel, got shape {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise ValueError(f"{what}: the kernel holds NaN or infinity; it cannot be quantized")
    peak = np.max(np.abs(kernel), axis=0) if kernel.shape[0] else np.zeros(kernel.shape[1], np.float32)
    scale = np.where(peak > 0, peak / np.float32(INT8_LEVELS), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(kernel / scale), -INT8_LEVELS, INT8_LEVELS).astype(np.int8)
    return q, scale


class Int8Kernel:
    """What every quantized layer shares: an int8 kernel whose last axis is the output channels, with one
    float32 scale per channel (the weights `kernel` and `kernel_scale`), packed for the int8 GEMM as a
    (inputs, outputs) matrix, and no backward."""

    def _add_int8_weights(self, shapes):
        """The weights kernel (int8), kernel_scale and, with use_bias, bias, of `shapes` (weight_shapes's)."""
        self.add_weight("kernel", shapes[0], np.zeros, trainable=False, dtype=np.int8)
        self.add_weight("kernel_scale", shapes[1], np.ones, trainable=False)
        if self.use_bias:
            self.add_weight("bias", shapes[2], np.zeros, trainable=False)
        self._weights_bound()

    def _weights_bound(self):
        self.kernel, self.kernel_scale = self._weights[0], self._weights[1]
        self.bias = self._weights[2] if self.use_bias else None
        self._weights_changed()

    def weights_from_float(self, weights):
        """This layer's weights ([kernel int8, kernel_scale, bias...]) from the float layer's [kernel, bias...]."""
        kernel = np.asarray(weights[0], dtype=np.float32)
        q, scale = quantize_kernel(kernel.reshape(-1, kernel.shape[-1]), f"{type(self).__name__} '{self.name}'")
        return [q.reshape(kernel.shape), scale] + list(weights[1:])

    def _weights_changed(self):
        """Repack the int8 kernel for the GEMM and refresh its column sums (the zero-point correction)."""
        check_int8_weights(self, self.kernel, self.kernel_scale, ("kernel", "kernel_scale"))
        kernel = self.kernel.reshape(-1, self.kernel.shape[-1])
        self._packed = _C.qgemm_pack(kernel)
        self._col_sums = kernel.sum(axis=0, dtype=np.int32)

    def backward(self, ctx, dy):
        raise self._error("is for inference only (int8 weights have no gradient): train the float model, "
                          "then quantize it again")


@register
class QuantizedDense(Int8Kernel, Layer):
    """Dense with int8 weights for inference: activation(x @ (kernel * kernel_scale) + bias).

    The kernel is held as int8 with one float32 scale per output column. Each call quantizes every input
    row on the fly to uint8 over its own range [min(x, 0), max(x, 0)] (7 bits with reduce_range), sums
    the products exactly in int32 (AVX-512 VNNI, AVX2 or portable kernels, all giving the same integers),
    then dequantizes, adds the bias and applies the activation in one epilogue. A row's output depends on
    that row only (batch invariance) and is bitwise the same on every SIMD path and thread count; a row
    holding NaN or infinity gives a row of NaN.

    Inference only: it has no trainable weights and no backward. Make one with
    `fastnn.optimize.quantize_dynamic(model)` or `QuantizedDense.from_dense(dense)`.

    Args:
        units: output size (positive int).
        activation: name or fastnn.activations.Activation; None means linear.
        use_bias: whether a bias is added.
        reduce_range: quantize activations to 7 bits ([0, 127]) instead of 8; less precise, and on CPUs
            without VNNI it lets the AVX2 kernel use vpmaddubsw (see docs/ARCHITECTURE.md).
        **kwargs: name, input_dim / input_shape.

    Weights: kernel (input_dim, units) int8, kernel_scale (units,), bias (units,), all non-trainable.

    Input shape:
        (batch, ..., input_dim).
    Output shape:
        (batch, ..., units).
    """

    supports_masking = True

    fuses_activation = True

    def __init__(self, units, activation=None, use_bias=True, reduce_range=False, **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"QuantizedDense '{self.name}': units must be a positive int, got {units!r}")
        from .. import activations

        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.reduce_range = bool(reduce_range)
        self.kernel = self.kernel_scale = self.bias = None

    @classmethod
    def from_dense(cls, dense, reduce_range=False):
        """A built QuantizedDense computing what the built Dense `dense` does, with its kernel quantized."""
        if not dense.built:
            raise ValueError(f"QuantizedDense.from_dense: Dense '{dense.name}' is not built yet")
        from .. import activations

        layer = cls(dense.units, activations.serialize(dense.activation), dense.use_bias, reduce_range,
                    name=dense.name)
        layer.build(dense.input_shape)
        layer.set_weights(layer.weights_from_float(dense.get_weights()))
        return layer

    def weight_shapes(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"QuantizedDense '{self.name}' needs inputs of rank >= 2 with a known last dimension, "
                             f"got shape {input_shape}")
        if input_shape[-1] > _C.QGEMM_MAX_K:
            raise ValueError(f"QuantizedDense '{self.name}': at most {_C.QGEMM_MAX_K} inputs, got {input_shape[-1]}")
        shapes = [(int(input_shape[-1]), self.units), (self.units,)]
        return shapes + [(self.units,)] if self.use_bias else shapes

    def build(self, input_shape):
        shapes = self.weight_shapes(input_shape)
        self.input_dim = shapes[0][0]
        self._add_int8_weights(shapes)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, ctx, x):
        x, in_shape = as_rows(self, x)
        code, alpha, separate = activation_plan(ctx)
        rows = x.shape[0]
        y = ctx.buffer("y", (rows, self.units))
        z = y if separate is None else ctx.buffer("z", y.shape)
        _C.qdense_forward(x, self._packed, self._col_sums, self.kernel_scale, self.bias, code, alpha,
                          self.reduce_range, z, ctx.buffer("q", (rows, (self.input_dim + 3) // 4 * 4), np.uint8),
                          ctx.buffer("row_scale", (rows,)), ctx.buffer("row_zero", (rows,), np.int32))
        if separate is not None:
            separate.forward(z, out=y)
        return restore_rows(y, in_shape)

    def get_config(self):
        from .. import activations

        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      reduce_range=self.reduce_range)
        return config
