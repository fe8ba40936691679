"""A model's trained weights in one flat vector, so that a training step updates every parameter with
one fused optimizer call.

At compile the model fixes which weights it trains (Keras: a change of `trainable` takes effect at
the next compile) and packs exactly those, in model.weights order, into one float32 vector, their
gradients into another; each layer then works on views into them. Weights that are not trained
(frozen layers, moving statistics) stay in arrays of their own, out of the optimizer's reach, and
their layers get no gradient array (None), so backward computes no gradient for them.

A layer shared by two models belongs to the pack of the one that trained last; the other re-packs
(copying the current values in) when it trains again, keeping its optimizer state.

Weights added with sparse_rows (embedding tables) are packed like the others; the pack also lists
them, and after each backward asks their layers which rows the step touched, so an optimizer for
which a zero gradient changes nothing updates those rows alone.
"""
import numpy as np

__all__ = ["Pack"]


class Pack:
    """The trained weights of a model as one flat vector.

    Args:
        layers: the model's leaf layers, in model.weights order.

    Attributes:
        layout: ((layer, weight index), ...) of the trained weights, in vector order.
        params, grads: the flat float32 vectors.
        slices: (offset, shape) per trained weight, for the optimizer.
        regularized: (weight view, gradient view, regularizer) of each trained weight with a regularizer.
        sparse: indices into slices of the trained weights added with sparse_rows.
    """

    def __init__(self, layers):
        self.layers = list(layers)
        self.layout = tuple((layer, i) for layer in self.layers for i in range(len(layer._weights))
                            if layer.weight_is_trainable(i))
        total = sum(layer._weights[i].size for layer, i in self.layout)
        self.params = np.zeros(total, np.float32)
        self.grads = np.zeros(total, np.float32)
        self.slices = []
        offset = 0
        self._views = {}
        for layer, i in self.layout:
            shape = layer._weights[i].shape
            size = layer._weights[i].size
            self._views[(id(layer), i)] = (self.params[offset:offset + size].reshape(shape),
                                           self.grads[offset:offset + size].reshape(shape))
            self.slices.append((offset, shape))
            offset += size
        self.sparse = [k for k, (layer, i) in enumerate(self.layout) if layer._sparse_rows[i]]
        self.bind()

    def bind(self):
        """Point every layer at this pack's views (copying the current weight values in); weights it
        does not train get standalone arrays and no gradient."""
        for layer in self.layers:
            weights, grads = [], []
            for i, current in enumerate(layer._weights):
                views = self._views.get((id(layer), i))
                if views is None:
                    weights.append(current if current.base is None else current.copy())
                    grads.append(None)
                else:
                    if views[0] is not current:
                        views[0][...] = current
                    weights.append(views[0])
                    grads.append(views[1])
            layer._bind_weights(weights, grads)
            layer._pack = self
        self.regularized = [(self._views[(id(layer), i)][0], self._views[(id(layer), i)][1], layer._regularizers[i])
                            for layer, i in self.layout if layer._regularizers[i] is not None]

    def is_bound(self):
        """Whether every layer still works on this pack's arrays (another model may have re-packed one)."""
        return all(getattr(layer, "_pack", None) is self for layer in self.layers)

    def touched_rows(self):
        """Per weight of `sparse`, the rows whose gradient the last backward may have made non-zero
        (None: any row); None when the pack has no such weight."""
        if not self.sparse:
            return None
        return [self.layout[k][0].touched_rows(self.layout[k][1]) for k in self.sparse]

    def add_regularizer_grads(self):
        for weight, grad, regularizer in self.regularized:
            regularizer.add_grad(weight, grad)
