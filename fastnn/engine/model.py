"""Model: a graph of layer calls from symbolic inputs to outputs (Keras's functional API), with the
Keras model API — compile, fit, evaluate, predict, weights, config, files. Sequential is the same
engine with a chain for a graph.

A Model is itself a Layer: calling it on KerasTensors nests it in a bigger model (whose plan inlines
its calls), calling it on arrays runs it.
"""
import json

import numpy as np

from ..layers.base import Layer, checked_weight_value, deserialize_object, is_shape_list, unique_name
from . import data, trainer
from .compile_utils import resolve, result_names
from .forksafe import set_fork_safe_lock
from .graph import keras_layer_order, topological_nodes
from .packing import Pack
from .tensor import KerasTensor, Node

__all__ = ["Model"]

# compile() arguments Keras accepts that change nothing here.
_IGNORED_COMPILE_ARGS = {"run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss"}
# What compile() sets, restored when it fails part way.
_COMPILE_STATE = ("optimizer", "_compile_args", "_outputs_training", "loss", "compiled", "_compile_version",
                  "_pack", "_pack_version", "_runner_cache")


def _flatten_structure(value, what):
    """A KerasTensor, a list/tuple or a dict of them as (structure, flat list, dict keys or None)."""
    if isinstance(value, KerasTensor):
        return "single", [value], None
    if isinstance(value, dict):
        flat, keys = list(value.values()), list(value)
    elif isinstance(value, (list, tuple)):
        flat, keys = list(value), None
    else:
        raise TypeError(f"Model: {what} must be a KerasTensor (from fastnn.Input or a layer call), a list or "
                        f"a dict of them, got {type(value).__name__}")
    if not flat or not all(isinstance(t, KerasTensor) for t in flat):
        raise TypeError(f"Model: {what} must be KerasTensors (from fastnn.Input or a layer call), got {value!r}")
    return ("dict" if keys is not None else "list"), flat, keys


class Model(Layer):
    """A model from symbolic inputs to outputs, as keras.Model(inputs, outputs).

    Args:
        inputs: a KerasTensor from fastnn.Input, or a list or dict of them.
        outputs: the KerasTensor(s) computed from them (one, a list or a dict by name).
        name: the model name ('functional', 'functional_1', ... when omitted).
        trainable: whether fit trains its weights.

    Example:
        >>> a, b = fastnn.Input((8,)), fastnn.Input((4,))
        >>> h = fastnn.layers.Concatenate()([Dense(16, activation="relu")(a), Dense(16, activation="relu")(b)])
        >>> model = fastnn.Model([a, b], Dense(1, activation="sigmoid")(h))
        >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        >>> model.fit([xa, xb], y, epochs=5)
    """

    _is_model = True

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None or outputs is None:
            raise TypeError("Model(inputs, outputs) needs both: build the graph by calling layers on "
                            "fastnn.Input tensors (subclassing Model with a call() method is not supported; "
                            "write a custom Layer with forward/backward instead)")
        super().__init__(name=name or unique_name("functional"), **kwargs)
        self._init_model_state(True)
        self._set_graph(inputs, outputs)
        if not trainable:
            self.trainable = False

    def _init_model_state(self, trainable):
        self._trainable = bool(trainable)
        self._version = 0
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self._outputs_training = None
        self._compile_args = None
        self._compile_version = -1
        self._pack = None
        self._pack_version = -1
        self._runner_cache = None
        self._inference_cache = None
        set_fork_safe_lock(self, "_cache_lock")
        self.stop_training = False
        self.history = None
        self.reference_statistics = None

    def _set_graph(self, inputs, outputs):
        self._input_structure, self._input_tensors, self._input_keys = _flatten_structure(inputs, "inputs")
        self._output_structure, self._output_tensors, self._output_keys = _flatten_structure(outputs, "outputs")
        for t in self._input_tensors:
            if t.node.inputs:
                raise ValueError(f"Model '{self.name}': inputs must come from fastnn.Input, but {t.name} is the "
                                 f"output of {type(t.layer).__name__} '{t.layer.name}'")
        reached = []
        self._nodes = topological_nodes(self._input_tensors, self._output_tensors, f"Model '{self.name}'", reached)
        input_layers = [t.node.layer for t in self._input_tensors]
        self._model_layers = keras_layer_order(self._nodes, reached, input_layers)
        self.input_names = [layer.name for layer in input_layers]
        self.output_names = self._output_keys or [t.node.layer.name for t in self._output_tensors]
        shapes = [t.shape for t in self._input_tensors]
        self.input_shape = shapes[0] if self._input_structure == "single" else shapes
        self.built = True
        self._version += 1

    # ----- structure ---------------------------------------------------------------------------------
    def _graph_nodes(self):
        """The layer calls of this model (not its inputs), in an order that runs each after those it reads."""
        return self._nodes

    def _all_tensors(self):
        return list(self._input_tensors) + [t for node in self._graph_nodes() for t in node.outputs]

    @property
    def layers(self):
        """The model's layers, each once, in Keras 3's order: deepest first (see graph.keras_layer_order)."""
        return list(self._model_layers)

    def _leaf_layers(self):
        """Every layer that is not a model, each once, nested models expanded, in weights order."""
        seen, leaves = set(), []
        for layer in self.layers:
            for leaf in (layer._leaf_layers() if getattr(layer, "_is_model", False) else [layer]):
                if id(leaf) not in seen:
                    seen.add(id(leaf))
                    leaves.append(leaf)
        return leaves

    @property
    def inputs(self):
        return list(self._input_tensors)

    @property
    def outputs(self):
        return list(self._output_tensors)

    @property
    def input(self):
        """The model's input KerasTensor, or its list or dict of them, as it was given (Keras's model.input)."""
        return self._structure(self._input_structure, self._input_tensors, self._input_keys, "input")

    @property
    def output(self):
        """The model's output KerasTensor, or its list or dict of them, as it was given."""
        return self._structure(self._output_structure, self._output_tensors, self._output_keys, "output")

    def _structure(self, structure, tensors, keys, what):
        if not tensors:
            raise AttributeError(f"{type(self).__name__} model '{self.name}' has no defined {what} yet: give it an "
                                 f"Input first, or build it")
        if structure == "single":
            return tensors[0]
        return dict(zip(keys, tensors)) if structure == "dict" else list(tensors)

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._output_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    def compute_output_shape(self, input_shape):
        return self.output_shape

    def get_layer(self, name=None, index=None):
        """The layer called `name`, or at position `index` of model.layers."""
        layers = self.layers
        if index is not None:
            if name is not None:
                raise ValueError("get_layer: give name or index, not both")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range for {len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}; layers of model '{self.name}': "
                         f"{', '.join(l.name for l in layers)}")

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freeze or unfreeze every layer of the model (takes effect at the next compile, as in Keras)."""
        self._trainable = bool(value)
        for layer in getattr(self, "_model_layers", []):
            layer.trainable = value

    # ----- weights -----------------------------------------------------------------------------------
    @property
    def weights(self):
        """The live weight arrays, layer by layer in Keras order."""
        return [w for layer in self._leaf_layers() for w in layer._weights]

    @property
    def trainable_weights(self):
        return [w for layer in self._leaf_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer in self._leaf_layers() for w in layer.non_trainable_weights]

    def count_params(self):
        self._require_built("count_params")
        return int(sum(layer.count_params() for layer in self._leaf_layers()))

    def get_weights(self):
        """Copies of every weight, layer by layer in Keras order (Dense: kernel (in, out), then bias)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Copy a list of arrays (shaped as get_weights()) into the model; nothing changes on error."""
        self._require_built("set_weights")
        targets = [(layer, name, w) for layer in self._leaf_layers()
                   for name, w in zip(layer._weight_names, layer._weights)]
        weights = list(weights)
        if len(weights) != len(targets):
            raise ValueError(f"{type(self).__name__} '{self.name}': set_weights expected a list of {len(targets)} "
                             f"arrays, got {len(weights)}")
        values = [checked_weight_value(value, target, f"{type(self).__name__} '{self.name}': weight {i} "
                                                      f"({layer.name}/{name})")
                  for i, ((layer, name, target), value) in enumerate(zip(targets, weights))]
        for (_, _, target), value in zip(targets, values):
            target[...] = value
        for layer in self._leaf_layers():
            layer._weights_changed()

    # ----- compile -----------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                **kwargs):
        """Configure training.

        Args:
            optimizer: name ('adam', 'sgd', ...), optimizer instance or serialized optimizer.
            loss: a loss (name such as 'binary_crossentropy', fastnn.losses.Loss instance, config), or for
                a model with several outputs a list (output order) or dict (by output name) of them;
                None for an output that is not trained.
            loss_weights: weights of the outputs' losses in the total (list or dict), default 1.
            metrics: a list of metrics ('accuracy', 'mae', Metric instances), or with several outputs a
                dict by output name or a list of lists. They ignore sample_weight and class_weight.
            weighted_metrics: metrics as `metrics`, weighted by sample_weight or class_weight; one whose
                name a plain metric of the same output has logs as 'weighted_<name>' (as in Keras 3).

        Which weights are trained is fixed here: set layer.trainable before compiling.
        """
        from .. import losses, optimizers

        unknown = set(kwargs) - _IGNORED_COMPILE_ARGS
        if unknown:
            raise TypeError(f"compile: unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        # Everything is resolved before any state changes, so a compile that raises leaves the model
        # as it was (compiled as before, or not at all).
        optimizer = deserialize_object(optimizers, optimizer)
        args = {"loss": loss, "loss_weights": loss_weights, "metrics": metrics, "weighted_metrics": weighted_metrics}
        outputs_training, resolved_loss = None, None
        if loss is not None and self.built:
            outputs_training, resolved_loss = self._resolved_compile(args)
        elif loss is not None:
            # Unbuilt (a Sequential without an input shape): the output is unknown until the first
            # batch, but every identifier is checked now against a stand-in single output.
            resolve(loss, loss_weights, metrics, ["output"], [(None,)], weighted_metrics)
            resolved_loss = losses.get(loss) if not isinstance(loss, (list, dict)) else loss
        previous = {key: self.__dict__[key] for key in _COMPILE_STATE}
        self.optimizer, self._compile_args = optimizer, args
        self._outputs_training, self.loss = outputs_training, resolved_loss
        self.compiled = True
        self._compile_version += 1
        self._pack_version = -1
        self._runner_cache = None
        if self.built:
            try:
                self._ensure_packed()
            except BaseException:
                self.__dict__.update(previous)
                raise

    def _resolved_compile(self, args):
        """(OutputTraining per output, the loss or list of losses) for compile's arguments."""
        outputs_training = resolve(args["loss"], args["loss_weights"], args["metrics"], self.output_names,
                                   [t.shape for t in self._output_tensors], args["weighted_metrics"])
        losses_ = [o.loss for o in outputs_training]
        return outputs_training, losses_[0] if len(losses_) == 1 else losses_

    def _resolve_compile(self):
        self._outputs_training, self.loss = self._resolved_compile(self._compile_args)

    def compile_config(self):
        """The compile settings as a JSON-friendly dict (for compile_from_config), or None if not compiled."""
        if not self.compiled:
            return None
        from .. import losses, metrics as metrics_module, optimizers

        def loss_config(value):
            if value is None or isinstance(value, str):
                return value
            if isinstance(value, dict) and "class_name" not in value:
                return {k: loss_config(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [loss_config(v) for v in value]
            return losses.serialize(losses.get(value))

        def metric_config(value):
            if value is None or isinstance(value, str):
                return value
            if isinstance(value, dict) and "class_name" not in value:
                return {k: metric_config(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [metric_config(v) for v in value]
            return metrics_module.serialize(metrics_module.get(value))

        args = self._compile_args
        return {"optimizer": optimizers.serialize(self.optimizer), "loss": loss_config(args["loss"]),
                "metrics": metric_config(args["metrics"]), "loss_weights": args["loss_weights"],
                "weighted_metrics": metric_config(args["weighted_metrics"])}

    def compile_from_config(self, config):
        """compile() from what compile_config() returned."""
        if not isinstance(config, dict):
            raise TypeError(f"compile_from_config: expected a dict, got {type(config).__name__}")
        self.compile(**config)

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"{type(self).__name__} '{self.name}': you must call compile() before {what}()")
        if self._compile_args["loss"] is None:
            raise RuntimeError(f"{type(self).__name__} '{self.name}': {what}() needs a loss; pass loss= to compile()")
        if self._outputs_training is None and self.built:
            self._resolve_compile()

    def _ensure_packed(self):
        """Pack the trained weights at compile (and again when the model changed since); re-bind when
        another model sharing a layer has taken it over."""
        if self._pack is None or self._pack_version != (self._version, self._compile_version):
            self._pack = Pack(self._leaf_layers())
            self._pack_version = (self._version, self._compile_version)
            self.optimizer.build(self._pack.params, list(self._pack.slices), self._pack.sparse)
            self._runner_cache = None
        elif not self._pack.is_bound():
            self._pack.bind()

    def _runner(self):
        self._ensure_packed()
        runner = self._runner_cache
        if runner is None or runner.version != self._version:
            runner = self._runner_cache = trainer.Runner(self)
            runner.version = self._version
        return runner

    def _inference(self):
        cached = self._inference_cache
        if cached is not None and cached.version == self._version:
            return cached
        with self._cache_lock:
            cached = self._inference_cache
            if cached is None or cached.version != self._version:
                cached = trainer.Inference(self)
                cached.version = self._version
                self._inference_cache = cached
        return cached

    # ----- data --------------------------------------------------------------------------------------
    def _input_specs(self, x):
        """(name, shape, dtype) of each model input."""
        cached = self.__dict__.get("_specs")
        if cached is None or cached[0] != self._version:
            cached = self._specs = (self._version, [(layer_name, t.shape, t.dtype) for layer_name, t in
                                                    zip(self.input_names, self._input_tensors)])
        return cached[1]

    def _input_shape_error(self, name, expected, got):
        where = f"input '{name}' of model '{self.name}'" if len(self._input_tensors) > 1 else f"model '{self.name}'"
        return ValueError(f"Input shape mismatch: {where} expects inputs of shape {tuple(expected)}, got an array "
                          f"of shape {tuple(got)}")

    def _inputs_accepting_nan(self):
        """Per model input, whether NaN is valid training input for it: every layer reading that input
        fills gaps itself (a nested model: its own reader of that input does). So a numeric input read
        by an Imputation layer may hold NaN beside a string input read by a lookup."""
        accepting = []
        for tensor in self._input_tensors:
            verdicts = []
            for node in self._graph_nodes():
                for position, t in enumerate(node.inputs):
                    if t is not tensor:
                        continue
                    layer = node.layer
                    verdicts.append(layer._inputs_accepting_nan()[position] if getattr(layer, "_is_model", False)
                                    else getattr(layer, "accepts_nan", False))
            accepting.append(bool(verdicts) and all(verdicts))
        return accepting

    def _structure_outputs(self, arrays):
        return self._structure(self._output_structure, arrays, self._output_keys, "output")

    # ----- training and inference (loops in fastnn.engine.trainer) -----------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for `epochs` epochs; returns a History whose .history maps log names to per-epoch values.

        Args:
            x: inputs: an array, a list or dict (by input name) of arrays for several inputs; or a
                generator / fastnn.data.PyDataset yielding (x, y) or (x, y, sample_weight) batches.
            y: targets: an array, or a list / dict (by output name) for several outputs.
            batch_size: samples per step (default 32).
            epochs: index of the last epoch (training runs epochs initial_epoch..epochs-1).
            verbose: 'auto' or 1 (progress bar), 2 (one line per epoch), 0 (silent).
            callbacks: list of fastnn.callbacks.Callback.
            validation_split: fraction of the data, taken from the end before shuffling, to validate on.
            validation_data: (x_val, y_val) or (x_val, y_val, sample_weight_val), or a batch source;
                overrides validation_split.
            shuffle: reshuffle the training samples every epoch.
            class_weight: {class index: weight} applied to each sample's loss (single-output models only).
            sample_weight: per-sample loss weights, shape (samples,), applied to every output's loss.
            initial_epoch: epoch to start from (to resume training).
            steps_per_epoch: at most this many batches per epoch (needed for an endless generator).
        """
        return trainer.fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                           shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                           validation_batch_size, validation_freq)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics on (x, y): [loss, per-output losses..., metrics...] (the loss alone as a float
        when that is all), or a dict with return_dict=True."""
        return trainer.evaluate(self, x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for x as float32 arrays (a list or dict for several outputs).

        Every row's output is bitwise independent of the batch it is computed in, so predict chunks
        the work as it runs fastest; batch_size, when given, caps the rows computed at once.
        """
        return trainer.predict(self, x, batch_size, verbose, steps, callbacks)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on exactly this batch; returns the running [loss, *metrics] (Keras 3: not reset)."""
        return trainer.train_on_batch(self, x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics of one batch, accumulated into the running metrics."""
        return trainer.test_on_batch(self, x, y, sample_weight, return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch, in one pass."""
        return self._structure_outputs(self._inference().run(data.as_inputs(self, x, "predict_on_batch")))

    def reset_metrics(self):
        """Reset the running loss and every metric."""
        if self._runner_cache is not None:
            self._runner_cache.reset()

    @property
    def metrics(self):
        return [m for o in self._outputs_training or [] for m in o.metrics + o.weighted_metrics]

    @property
    def metrics_names(self):
        """The names of evaluate()'s list, in its order."""
        return result_names(self._outputs_training or [])

    # ----- calling ----------------------------------------------------------------------------------
    def _call_symbolic(self, flat, multi, training):
        shapes = [t.shape for t in flat] if multi else flat[0].shape
        self._check_built_for(shapes)
        node = Node(self, flat, [t.shape for t in self._output_tensors], [t.dtype for t in self._output_tensors],
                    multi, training)
        return list(node.outputs) if len(node.outputs) > 1 else node.outputs[0]

    def _call_eager(self, flat, multi, training):
        inputs = data.as_inputs(self, flat if multi else flat[0], f"Model '{self.name}'")
        plan = self._inference().plan
        values = plan.forward(plan.new_workspace(training), inputs)
        return self._structure_outputs([np.array(values[s.slot], dtype=np.float32, copy=True)
                                        for s in plan.outputs])

    # ----- config and files --------------------------------------------------------------------------
    def get_config(self):
        from .serialization import functional_config

        return functional_config(self)

    @classmethod
    def from_config(cls, config):
        """Rebuild a model (architecture only, fresh weights) from get_config()."""
        from .serialization import functional_from_config

        return functional_from_config(config)

    def to_json(self, **kwargs):
        """The architecture as a JSON string (fastnn.models.model_from_json rebuilds it)."""
        from .. import __version__

        return json.dumps({"class_name": type(self).__name__, "config": self.get_config(),
                           "fastnn_version": __version__}, **kwargs)

    def save(self, filepath, reference_data=None):
        """Save architecture, weights, compile settings and optimizer state (fastnn.saving.save_model);
        with reference_data, also the statistics of those inputs that a server monitors drift against."""
        from .. import saving

        saving.save_model(self, filepath, reference_data)

    def save_weights(self, filepath):
        """Save the weights only (fastnn.saving.save_weights)."""
        from .. import saving

        saving.save_weights(self, filepath)

    def load_weights(self, filepath):
        """Load weights saved by save_weights (or from a model file) into this built model."""
        from .. import saving

        saving.load_weights(self, filepath)

    def export(self, filepath, format="onnx", opset=21, verify=True, sample_inputs=None):
        """Write the model for inference in another runtime (Keras 3's method name); format 'onnx'.

        The graph is checked by onnx's checker and, with verify, run in ONNX Runtime on sample inputs
        at two batch sizes: every output must equal predict's within 1e-5 (relative beyond magnitude
        1; integer outputs exactly), or nothing is written. A BatchNormalization right after a Dense or
        convolution layer (no activation between) is folded into its weights first, as ONNX Runtime does
        not fold it after a MatMul. Needs `pip install 'fastnn[onnx]'`.

        Args:
            filepath: where to write the .onnx file (replaced atomically).
            format: 'onnx'.
            opset: the ONNX opset to target (18 to the installed onnx's newest).
            verify: run and compare in ONNX Runtime before writing.
            sample_inputs: optional inputs to verify on (one array per model input, at least 2 rows);
                by default random ones shaped as the inputs (token ids in each vocabulary's range).

        Returns:
            With verify, {output name: the largest absolute difference from predict}; else None.

        Raises:
            fastnn.export.ExportError: a layer cannot be expressed in ONNX (the error names it).
            fastnn.export.VerificationError: ONNX Runtime's outputs differ from predict's.
        """
        from ..export import export_model

        return export_model(self, filepath, format, opset, verify, sample_inputs)

    def summary(self, line_length=None, print_fn=None, **kwargs):
        """Print a table of layers (name (type), output shape, parameters[, connected to]) and the totals."""
        from .._summary import print_summary

        print_summary(self, line_length, print_fn)

    def __reduce__(self):
        """Models pickle (and deep-copy) as their .fnn file: architecture, weights, compile settings and
        optimizer state; an unbuilt one as its configs."""
        from .. import saving

        if self.built:
            return saving.model_from_bytes, (saving.model_to_bytes(self),)
        return _rebuild_unbuilt, (type(self), self.get_config(), self.compile_config())

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{type(self).__name__} '{self.name}': {what}() needs a built model; give the first "
                             f"layer an input shape (Input(shape=...) or input_dim=...) or call build()/fit() first")

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}, layers={len(self.layers)}, built={self.built}>"


def _rebuild_unbuilt(kind, config, compile_config):
    model = kind.from_config(config)
    if compile_config is not None:
        model.compile_from_config(compile_config)
    return model
