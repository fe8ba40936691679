"""Merge layers: combine several tensors of one shape (Add, Subtract, Multiply, Average, Maximum,
Minimum) or join them along an axis (Concatenate). Called on a list: Add()([a, b])."""
import numpy as np

from .base import Layer, is_shape_list, register

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "add", "subtract",
           "multiply", "average", "maximum", "minimum", "concatenate"]


def _all_masks(masks):
    present = [m for m in masks or [] if m is not None]
    if not present:
        return None
    return np.logical_and.reduce(present) if len(present) > 1 else present[0]


class _Merge(Layer):
    """The shared checks of the elementwise merges: a list of at least two inputs of one shape."""

    _exact_inputs = None  # Subtract takes exactly two

    def _check_shapes(self, shapes):
        if not is_shape_list(shapes) or len(shapes) < 2:
            raise self._error(f"must be called on a list of at least 2 inputs, got {shapes!r}")
        if self._exact_inputs is not None and len(shapes) != self._exact_inputs:
            raise self._error(f"takes exactly {self._exact_inputs} inputs, got {len(shapes)}")
        first = shapes[0]
        for shape in shapes[1:]:
            if len(shape) != len(first) or any(a is not None and b is not None and a != b
                                               for a, b in zip(first[1:], shape[1:])):
                raise self._error(f"needs inputs of one shape, got {', '.join(map(str, shapes))}")

    def build(self, input_shape):
        self._check_shapes(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        return tuple(input_shape[0])

    def compute_mask(self, xs, masks):
        """A step counts when it counts in every input that has a mask."""
        return _all_masks(masks)


@register
class Add(_Merge):
    """The sum of its inputs. Example: Add()([a, b])."""

    def forward(self, ctx, xs):
        y = np.add(xs[0], xs[1], out=ctx.buffer("y", xs[0].shape))
        for x in xs[2:]:
            np.add(y, x, out=y)
        ctx.count = len(xs)
        return y

    def backward(self, ctx, dy):
        return [dy] * ctx.count


@register
class Subtract(_Merge):
    """inputs[0] - inputs[1]."""

    _exact_inputs = 2

    def forward(self, ctx, xs):
        return np.subtract(xs[0], xs[1], out=ctx.buffer("y", xs[0].shape))

    def backward(self, ctx, dy):
        return [dy, np.negative(dy, out=ctx.buffer("minus_dy", dy.shape))]


@register
class Multiply(_Merge):
    """The elementwise product of its inputs."""

    def forward(self, ctx, xs):
        y = np.multiply(xs[0], xs[1], out=ctx.buffer("y", xs[0].shape))
        for x in xs[2:]:
            np.multiply(y, x, out=y)
        if ctx.training:
            ctx.xs = xs
        return y

    def backward(self, ctx, dy):
        grads = []
        for i in range(len(ctx.xs)):
            dx = ctx.buffer(f"dx{i}", dy.shape)
            np.copyto(dx, dy)
            for j, x in enumerate(ctx.xs):
                if j != i:
                    np.multiply(dx, x, out=dx)
            grads.append(dx)
        return grads


@register
class Average(_Merge):
    """The mean of its inputs."""

    def forward(self, ctx, xs):
        y = np.add(xs[0], xs[1], out=ctx.buffer("y", xs[0].shape))
        for x in xs[2:]:
            np.add(y, x, out=y)
        ctx.count = len(xs)
        return np.multiply(y, np.float32(1.0 / len(xs)), out=y)

    def backward(self, ctx, dy):
        return [np.multiply(dy, np.float32(1.0 / ctx.count), out=ctx.buffer("dx", dy.shape))] * ctx.count


class _Extremum(_Merge):
    """Maximum or Minimum: the gradient goes to the input that gave the output (the first on ties,
    as TensorFlow's gradient does); NaN in any input gives NaN."""

    _pick = None  # np.maximum or np.minimum

    def forward(self, ctx, xs):
        y = type(self)._pick(xs[0], xs[1], out=ctx.buffer("y", xs[0].shape))
        for x in xs[2:]:
            type(self)._pick(y, x, out=y)
        if ctx.training:
            ctx.xs, ctx.y = xs, y
        return y

    def backward(self, ctx, dy):
        taken = ctx.buffer("taken", dy.shape, np.dtype(bool))
        taken[...] = False
        grads = []
        for i, x in enumerate(ctx.xs):
            hit = ctx.buffer(f"hit{i}", dy.shape, np.dtype(bool))
            np.equal(x, ctx.y, out=hit)
            np.logical_and(hit, np.logical_not(taken), out=hit)
            np.logical_or(taken, hit, out=taken)
            grads.append(np.multiply(dy, hit, out=ctx.buffer(f"dx{i}", dy.shape)))
        return grads


@register
class Maximum(_Extremum):
    """The elementwise maximum of its inputs."""

    _pick = np.maximum


@register
class Minimum(_Extremum):
    """The elementwise minimum of its inputs."""

    _pick = np.minimum


@register
class Concatenate(Layer):
    """Joins its inputs along `axis` (default the last); the other dimensions must agree.

    Args:
        axis: the axis to join along (not the batch axis).
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Concatenate '{self.name}': axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _axis(self, rank):
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise self._error(f"axis {self.axis} is not a non-batch axis of inputs of rank {rank}")
        return axis

    def compute_output_shape(self, input_shape):
        if not is_shape_list(input_shape) or len(input_shape) < 2:
            raise self._error(f"must be called on a list of at least 2 inputs, got {input_shape!r}")
        rank = len(input_shape[0])
        axis = self._axis(rank)
        for shape in input_shape:
            if len(shape) != rank or any(a is not None and b is not None and a != b
                                         for d, (a, b) in enumerate(zip(input_shape[0], shape)) if d != axis):
                raise self._error(f"needs inputs that agree except along axis {self.axis}, got "
                                  f"{', '.join(map(str, input_shape))}")
        sizes = [shape[axis] for shape in input_shape]
        joined = None if None in sizes else sum(sizes)
        return tuple(input_shape[0][:axis]) + (joined,) + tuple(input_shape[0][axis + 1:])

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def compute_mask(self, xs, masks):
        return _all_masks(masks)

    def forward(self, ctx, xs):
        axis = self._axis(xs[0].ndim)
        shape = list(xs[0].shape)
        shape[axis] = sum(x.shape[axis] for x in xs)
        y = np.concatenate(xs, axis=axis, out=ctx.buffer("y", tuple(shape)))
        ctx.splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        ctx.axis = axis
        return y

    def backward(self, ctx, dy):
        """Each input's part of dy, C-contiguous (the layers before take their gradients as kernels do)."""
        grads = []
        for i, part in enumerate(np.split(dy, ctx.splits, axis=ctx.axis)):
            if not part.flags.c_contiguous:
                copy = ctx.buffer(f"dx{i}", part.shape)
                np.copyto(copy, part)
                part = copy
            grads.append(part)
        return grads

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


# Keras's functional spellings: add([a, b]) is Add()([a, b]); kwargs (name=...) go to the layer.
def add(inputs, **kwargs):
    """The sum of `inputs` (a list of tensors of one shape), through an Add layer."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """inputs[0] - inputs[1], through a Subtract layer."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """The elementwise product of `inputs`, through a Multiply layer."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """The elementwise mean of `inputs`, through an Average layer."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """The elementwise maximum of `inputs`, through a Maximum layer."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """The elementwise minimum of `inputs`, through a Minimum layer."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """`inputs` joined along `axis`, through a Concatenate layer.

    Example: h = concatenate([Dense(8)(a), Dense(8)(b)])  # (None, 16)
    """
    return Concatenate(axis=axis, **kwargs)(inputs)
