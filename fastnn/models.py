"""Sequential: a linear stack of layers with the Keras model API (compile, fit, evaluate, predict, weights).

All parameters of a model live in one flat float32 vector, and all gradients in another; each layer's
weights are reshaped views into them, so the optimizer updates everything with one fused kernel call.
"""
import numpy as np

from . import training
from ._summary import print_summary
from .layers.base import Layer, checked_weight_value, deserialize_object, get_layer_class, unique_name
from .layers.core import InputLayer

__all__ = ["Sequential"]

_call = training.call

# compile() arguments Keras accepts that change nothing here.
_IGNORED_COMPILE_ARGS = {"weighted_metrics", "run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss"}


class Sequential:
    """A linear stack of layers.

    Args:
        layers: optional list of layers (an Input/InputLayer may come first).
        trainable: kept for the Keras API.
        name: model name; 'sequential', 'sequential_1', ... when omitted.

    Example:
        >>> model = Sequential([Input(shape=(8,)), Dense(10, activation='relu'), Dense(1, activation='sigmoid')])
        >>> model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
        >>> history = model.fit(x, y, epochs=10, batch_size=32)
    """

    def __init__(self, layers=None, trainable=True, name=None):
        self.name = name or unique_name("sequential")
        self.trainable = bool(trainable)
        self._layers = []
        self._input_layer = None
        self.built = False
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self.stop_training = False
        self.history = None
        self._compile_args = None
        self._flat_params = np.zeros(0, np.float32)
        self._flat_grads = np.zeros(0, np.float32)
        self._slices = []
        self._version = 0
        self._optimizer_version = -1
        self._build_input_shape = None
        for layer in layers or []:
            self.add(layer)

    # ----- structure ----------------------------------------------------------------------------
    @property
    def layers(self):
        """The layers, without the InputLayer (as Keras)."""
        return list(self._layers)

    def add(self, layer):
        """Append a layer; the model builds as soon as its input shape is known."""
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(f"Sequential '{self.name}': an Input can only be the first element of the model")
            self._input_layer = layer
        elif isinstance(layer, Layer):
            if any(existing.name == layer.name for existing in self._layers):
                raise ValueError(f"Sequential '{self.name}': all layers need unique names; "
                                 f"'{layer.name}' is already in the model")
            if not self._layers and self._input_layer is None and layer._input_shape_arg is not None:
                self._input_layer = InputLayer(shape=layer._input_shape_arg)
            self._layers.append(layer)
        else:
            raise TypeError(f"Sequential '{self.name}': add() expects a fastnn layer, got {type(layer).__name__}")
        self.built = False
        if self._input_layer is not None and self._layers:
            self.build(self._input_layer.batch_shape)
        elif self._build_input_shape is not None and self._layers:
            self.build(self._build_input_shape)

    def pop(self):
        """Remove and return the last layer."""
        if not self._layers:
            raise ValueError(f"Sequential '{self.name}' has no layers to pop")
        layer = self._layers.pop()
        self.built = False
        if self._layers and self._build_input_shape is not None:
            self.build(self._build_input_shape)
        return layer

    def build(self, input_shape=None):
        """Build every layer for inputs of `input_shape` (batch first) and pack the weights into flat vectors."""
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"Sequential '{self.name}': build() needs an input shape (or an Input layer)")
            input_shape = self._input_layer.batch_shape
        shape = (None,) + tuple(input_shape)[1:]
        if not self._layers:
            raise ValueError(f"Sequential '{self.name}' has no layers to build")
        for layer in self._layers:
            if not layer.built:
                layer.build(shape)
            elif layer.input_shape is not None and tuple(layer.input_shape[1:]) != tuple(shape[1:]):
                raise ValueError(f"{type(layer).__name__} '{layer.name}' was built for inputs of shape "
                                 f"{layer.input_shape}, but receives {shape} in this model")
            shape = tuple(layer.compute_output_shape(shape))
        self._build_input_shape = (None,) + tuple(input_shape)[1:]
        self._pack()
        self.built = True

    def _pack(self):
        """Move every weight into one flat vector (and gradients into another); layers get views."""
        arrays = [w for layer in self._layers for w in layer._weights]
        total = sum(w.size for w in arrays)
        params = np.empty(total, np.float32)
        grads = np.zeros(total, np.float32)
        self._slices = []
        offset = 0
        for layer in self._layers:
            views, grad_views = [], []
            for w in layer._weights:
                view = params[offset:offset + w.size].reshape(w.shape)
                view[...] = w
                views.append(view)
                grad_views.append(grads[offset:offset + w.size].reshape(w.shape))
                self._slices.append((offset, tuple(w.shape)))
                offset += w.size
            layer._bind_weights(views, grad_views)
        self._flat_params, self._flat_grads = params, grads
        # Backward stops at the first layer with weights, which need not compute its input gradient.
        first = next((i for i, layer in enumerate(self._layers) if layer._weights), len(self._layers))
        for i, layer in enumerate(self._layers):
            layer._need_dx = i != first
        self._first_trained = first
        self._version += 1
        if self.compiled:
            self._build_optimizer()

    def _build_optimizer(self):
        self.optimizer.build(self._flat_params, list(self._slices))
        self._optimizer_version = self._version

    @property
    def input_shape(self):
        return self._build_input_shape

    @property
    def output_shape(self):
        if not self.built:
            raise RuntimeError(f"Sequential '{self.name}' is not built yet")
        shape = self._build_input_shape
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return tuple(shape)

    # ----- weights ------------------------------------------------------------------------------
    @property
    def weights(self):
        """The live weight arrays (views into the flat parameter vector), in Keras order."""
        return [w for layer in self._layers for w in layer._weights]

    def count_params(self):
        """Total number of parameters."""
        self._require_built("count_params")
        return int(self._flat_params.size)

    def get_weights(self):
        """Copies of every weight, layer by layer in Keras order (Dense: kernel (in, out), then bias)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Copy a list of arrays (shaped as get_weights()) into the model; nothing changes on error."""
        self._require_built("set_weights")
        targets = [(layer, name, w) for layer in self._layers for name, w in zip(layer._weight_names, layer._weights)]
        weights = list(weights)
        if len(weights) != len(targets):
            raise ValueError(f"Sequential '{self.name}': set_weights expected a list of {len(targets)} arrays, "
                             f"got {len(weights)}")
        values = [checked_weight_value(value, target, f"Sequential '{self.name}': weight {i} ({layer.name}/{name})")
                  for i, ((layer, name, target), value) in enumerate(zip(targets, weights))]
        for (_, _, target), value in zip(targets, values):
            target[...] = value

    # ----- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **kwargs):
        """Configure training.

        Args:
            optimizer: name ('adam', 'sgd', ...), optimizer instance or serialized optimizer.
            loss: name ('binary_crossentropy', 'mse', ...), loss instance or serialized loss.
            metrics: list of metric names ('accuracy', 'mae', ...) or metric instances.
            loss_weights: ignored (single output), accepted for Keras compatibility.
        """
        from . import losses, metrics as metrics_module, optimizers

        unknown = set(kwargs) - _IGNORED_COMPILE_ARGS
        if unknown:
            raise TypeError(f"compile: unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        if isinstance(metrics, (str, dict)) or (metrics is not None and not isinstance(metrics, (list, tuple))):
            metrics = [metrics]
        self.optimizer = deserialize_object(optimizers, optimizer)
        self.loss = None if loss is None else deserialize_object(losses, loss)
        resolved = []
        for m in metrics or []:
            if isinstance(m, dict):
                resolved.append(metrics_module.deserialize(m))
            else:
                resolved.append(metrics_module.get(m, loss=self.loss,
                                                   output_shape=self.output_shape if self.built else None))
        self.metrics = resolved
        self._compile_args = {"metrics": list(metrics or [])}
        self.compiled = True
        self._version += 1
        self._optimizer_version = -1
        if self.built:
            self._build_optimizer()

    def compile_config(self):
        """The compile settings as a JSON-friendly dict (for compile_from_config), or None if not compiled."""
        if not self.compiled:
            return None
        from . import losses, metrics as metrics_module, optimizers

        metric_configs = [m if isinstance(m, str) else metrics_module.serialize(metrics_module.get(m))
                          for m in self._compile_args["metrics"]]
        return {"optimizer": optimizers.serialize(self.optimizer),
                "loss": None if self.loss is None else losses.serialize(self.loss),
                "metrics": metric_configs, "loss_weights": None}

    def compile_from_config(self, config):
        """compile() from what compile_config() returned."""
        if not isinstance(config, dict):
            raise TypeError(f"compile_from_config: expected a dict, got {type(config).__name__}")
        self.compile(**config)

    # ----- training and inference (loops in fastnn.training) -------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for `epochs` epochs; returns a History whose .history maps log names to per-epoch values.

        Args:
            x, y: training inputs and targets (arrays with the same number of samples).
            batch_size: samples per step (default 32).
            epochs: index of the last epoch (training runs epochs initial_epoch..epochs-1).
            verbose: 'auto' or 1 (progress bar), 2 (one line per epoch), 0 (silent).
            callbacks: list of fastnn.callbacks.Callback.
            validation_split: fraction of the data, taken from the end before shuffling, to validate on.
            validation_data: (x_val, y_val) or (x_val, y_val, sample_weight_val); overrides validation_split.
            shuffle: reshuffle the training samples every epoch.
            class_weight: {class index: weight} applied to each sample's loss.
            sample_weight: per-sample loss weights, shape (samples,).
            initial_epoch: epoch to start from (to resume training).
            steps_per_epoch: at most this many batches per epoch.
        """
        return training.fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                            validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
                            class_weight=class_weight, sample_weight=sample_weight, initial_epoch=initial_epoch,
                            steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                            validation_batch_size=validation_batch_size, validation_freq=validation_freq)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics on (x, y): [loss, *metrics] (a float when there are no metrics) or a dict."""
        return training.evaluate(self, x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight,
                                 steps=steps, callbacks=callbacks, return_dict=return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for x as a float32 array. verbose='auto' shows a bar only when x spans several batches."""
        return training.predict(self, x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on exactly this batch; returns the running [loss, *metrics] (Keras 3: not reset)."""
        return training.train_on_batch(self, x, y, sample_weight=sample_weight, class_weight=class_weight,
                                       return_dict=return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics of one batch, accumulated into the running metrics."""
        return training.test_on_batch(self, x, y, sample_weight=sample_weight, return_dict=return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch, without batching or progress machinery."""
        return training.predict_on_batch(self, x)

    def __call__(self, x, training=False):
        return _call(self, x, training)

    def reset_metrics(self):
        """Reset the loss average and every metric."""
        training.reset_metrics(self)

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.metrics]

    # ----- config and files ---------------------------------------------------------------------
    def get_config(self):
        """{"name", "trainable", "layers": [{"class_name", "config"}, ...], "build_input_shape"}."""
        layers = []
        if self._input_layer is not None:
            input_config = self._input_layer.get_config()
        elif self._build_input_shape is not None:
            input_config = {"batch_shape": list(self._build_input_shape), "dtype": "float32", "sparse": False,
                            "name": unique_name("input_layer")}
        else:
            input_config = None
        if input_config is not None:
            layers.append({"class_name": "InputLayer", "config": input_config})
        layers += [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self._layers]
        build_shape = None if self._build_input_shape is None else list(self._build_input_shape)
        return {"name": self.name, "trainable": self.trainable, "layers": layers, "build_input_shape": build_shape}

    @classmethod
    def from_config(cls, config):
        """Rebuild a model (architecture only, fresh weights) from get_config()."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("Sequential.from_config: expected a dict with a 'layers' list")
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for i, entry in enumerate(config["layers"]):
            if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
                raise ValueError(f"Sequential.from_config: layers[{i}] must be {{'class_name', 'config'}}")
            model.add(get_layer_class(entry.get("class_name")).from_config(entry["config"]))
        build_shape = config.get("build_input_shape")
        if build_shape is not None and not model.built and model._layers:
            model.build(tuple(build_shape))
        return model

    def save(self, filepath):
        """Save architecture, weights, compile settings and optimizer state (fastnn.saving.save_model)."""
        from . import saving

        saving.save_model(self, filepath)

    def save_weights(self, filepath):
        """Save the weights only (fastnn.saving.save_weights)."""
        from . import saving

        saving.save_weights(self, filepath)

    def load_weights(self, filepath):
        """Load weights saved by save_weights (or from a model file) into this built model."""
        from . import saving

        saving.load_weights(self, filepath)

    def summary(self, line_length=None, print_fn=None, **kwargs):
        """Print a table of layers (name (type), output shape, parameters) and the parameter totals."""
        print_summary(self, line_length, print_fn)

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"Sequential '{self.name}': {what}() needs a built model; give the first layer an "
                             f"input shape (Input(shape=...) or input_dim=...) or call build()/fit() first")

    def __repr__(self):
        return f"<Sequential name={self.name!r}, layers={len(self._layers)}, built={self.built}>"
