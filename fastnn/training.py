"""The fit / evaluate / predict loops of Sequential, and the per-model step functions they run.

A step is a closure over bound methods, prepared once per model structure and compile: it walks the
layers' forward and backward with no temporaries (layers reuse per-shape buffers), calls the loss
(fused with the last activation when possible), applies the optimizer to the flat gradient vector and
updates the metrics.
"""
import math
import warnings

import numpy as np

from . import _config, _inputs
from .callbacks import CallbackList, History, TerminateOnNaN
from .progress import ProgressBar

__all__ = ["fit", "evaluate", "predict", "train_on_batch", "test_on_batch", "predict_on_batch", "call",
           "reset_metrics"]

class _Engine:
    """Step functions and running loss for one model structure + compile."""

    def __init__(self, model):
        self.version = model._version
        self.model = model
        layers = model._layers
        self.infer = [layer.forward for layer in layers]
        self.loss_total = 0.0
        self.loss_count = 0
        self.train_step = self.test_step = None
        if model.compiled and model.loss is not None:
            self._make_steps(model, layers)

    def _make_steps(self, model, layers):
        loss = model.loss
        last = layers[-1]
        activation = getattr(last, "activation", None)
        fused = (loss.fused_activation is not None and hasattr(last, "forward_logits")
                 and activation is not None and activation.name == loss.fused_activation)
        self.fused = fused
        body = layers[:-1] if fused else layers
        train_body = [layer.forward for layer in body]
        test_body = list(train_body)
        trained = layers[model._first_trained:]
        backward = [layer.backward for layer in reversed(trained)]
        if fused and trained:
            backward[0] = last.backward_logits
        last_logits = last.forward_logits if fused else None
        activate = last.activate_logits if fused else None
        value_and_grad = loss.value_and_grad_from_logits if fused else loss.value_and_grad
        metric_updates = [m.update_state for m in model.metrics]
        penalties = [layer.regularization_penalty for layer in layers
                     if any(r is not None for r in layer._regularizers)]
        apply = model.optimizer.apply
        flat_grads = model._flat_grads
        grad_buffers = {}
        engine = self

        def grad_buffer(shape):
            buffer = grad_buffers.get(shape)
            if buffer is None:
                buffer = grad_buffers[shape] = np.empty(shape, np.float32)
            return buffer

        def forward_loss(xb, yb, swb, training, body):
            h = xb
            for forward in body:
                h = forward(h, training)
            if fused:
                z = last_logits(h)
                value, grad = value_and_grad(yb, z, swb, grad_buffer(z.shape))
                y_pred = activate() if metric_updates else None
            else:
                value, grad = value_and_grad(yb, h, swb, grad_buffer(h.shape))
                y_pred = h
            for penalty in penalties:
                value += penalty()
            return value, grad, y_pred

        def train_step(xb, yb, swb):
            value, grad, y_pred = forward_loss(xb, yb, swb, True, train_body)
            for backward_fn in backward:
                grad = backward_fn(grad)
            if backward:
                apply(flat_grads)
            for update in metric_updates:
                update(yb, y_pred, swb)
            engine.loss_total += value * xb.shape[0]
            engine.loss_count += xb.shape[0]
            return value

        def test_step(xb, yb, swb):
            value, _, y_pred = forward_loss(xb, yb, swb, False, test_body)
            for update in metric_updates:
                update(yb, y_pred, swb)
            engine.loss_total += value * xb.shape[0]
            engine.loss_count += xb.shape[0]
            return value

        self.train_step, self.test_step = train_step, test_step

    def reset(self):
        self.loss_total = 0.0
        self.loss_count = 0
        for metric in self.model.metrics:
            metric.reset_state()

    def logs(self):
        """Running loss and metric results, keys sorted as Keras logs them."""
        logs = {"loss": self.loss_total / self.loss_count if self.loss_count else 0.0}
        for metric in self.model.metrics:
            logs[metric.name] = float(metric.result())
        return dict(sorted(logs.items()))

    def log_items(self):
        return list(self.logs().items())

    def ordered_results(self, logs):
        """[loss, *metrics] in compile order, or the loss alone without metrics (Keras's evaluate)."""
        if not self.model.metrics:
            return logs["loss"]
        return [logs["loss"]] + [logs[m.name] for m in self.model.metrics]


def _engine(model, need_training=False):
    engine = getattr(model, "_engine", None)
    if engine is None or engine.version != model._version or engine.model is not model:
        engine = model._engine = _Engine(model)
    if need_training and engine.train_step is None:
        raise RuntimeError(f"Sequential '{model.name}': compile() the model with a loss before training or "
                           f"evaluating it")
    return engine


def _ensure_optimizer(model):
    if model._optimizer_version != model._version:
        model._build_optimizer()


# ----- loops -------------------------------------------------------------------------------------
def fit(model, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
        steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
    """Sequential.fit (see there)."""
    _inputs.require_compiled(model, "fit")
    batch_size = _inputs.batch_size(batch_size, "fit")
    verbose = _inputs.verbosity(verbose, "fit")
    x, y, sw = _inputs.training_arrays(model, x, y, sample_weight, class_weight, "fit")
    validation = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("fit: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val)")
        vx, vy, vsw = (tuple(validation_data) + (None,))[:3]
        validation = _inputs.training_arrays(model, vx, vy, vsw, None, "fit: validation_data")
    elif validation_split:
        if not 0.0 < validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
        split_at = int(math.floor(len(x) * (1.0 - validation_split)))
        if split_at == 0 or split_at == len(x):
            raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or validation "
                             f"set for {len(x)} samples")
        validation = (x[split_at:], y[split_at:], None if sw is None else sw[split_at:])
        x, y, sw = x[:split_at], y[:split_at], None if sw is None else sw[:split_at]
    if isinstance(validation_freq, bool) or not isinstance(validation_freq, int) or validation_freq < 1:
        raise ValueError(f"fit: validation_freq must be a positive int, got {validation_freq!r}")
    n = len(x)
    if n == 0:
        raise ValueError("fit: x has no samples")
    steps = math.ceil(n / batch_size)
    if steps_per_epoch is not None:
        steps = max(1, min(steps, int(steps_per_epoch)))
    _ensure_optimizer(model)
    engine = _engine(model, need_training=True)
    train_step = engine.train_step
    history = History()
    callback_list = CallbackList(callbacks, model, history, {"epochs": epochs, "steps": steps, "verbose": verbose})
    batch_hooks = callback_list.has_train_batch_hooks
    warn_nan = not any(isinstance(cb, TerminateOnNaN) for cb in callback_list.callbacks)
    buffers = {}
    model.stop_training = False
    logs = {}
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        engine.reset()
        callback_list.on_epoch_begin(epoch)
        if verbose == 1 and epochs > 1 or verbose == 2:
            print(f"Epoch {epoch + 1}/{epochs}")
        bar = ProgressBar(steps, verbose) if verbose else None
        order = _config.generator().permutation(n) if shuffle else None
        done = 0
        for step in range(steps):
            start, stop = step * batch_size, min(step * batch_size + batch_size, n)
            if batch_hooks:
                callback_list.on_train_batch_begin(step)
            if order is None:
                xb, yb, swb = x[start:stop], y[start:stop], None if sw is None else sw[start:stop]
            else:
                xb, yb, swb = _gather(buffers, order[start:stop], x, y, sw)
            value = train_step(xb, yb, swb)
            done = step + 1
            if warn_nan and not math.isfinite(value):
                warnings.warn(f"fit: the loss is {value} at epoch {epoch + 1}, batch {step}; training continues "
                              f"(add fastnn.callbacks.TerminateOnNaN() to stop)", RuntimeWarning, stacklevel=3)
                warn_nan = False
            if batch_hooks:
                callback_list.on_train_batch_end(step, engine.logs())
            if bar is not None:
                bar.update(done, engine.log_items)
            if model.stop_training:
                break
        logs = engine.logs()
        if validation is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
            val_batch = _inputs.batch_size(validation_batch_size, "fit") if validation_batch_size else batch_size
            callback_list.on_test_begin()
            val_logs = _run_test(model, engine, *validation, val_batch, validation_steps, callback_list, None)
            callback_list.on_test_end(val_logs)
            logs.update({"val_" + name: value for name, value in val_logs.items()})
        if bar is not None:
            bar.update(done, list(logs.items()), finalize=True)
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    model.history = history
    return history


def _gather(buffers, indices, x, y, sw):
    """The batch of `indices` copied into reusable buffers (mode='clip' avoids numpy's extra buffering)."""
    rows = len(indices)
    batch = buffers.get(rows)
    if batch is None:
        batch = buffers[rows] = (np.empty((rows,) + x.shape[1:], x.dtype), np.empty((rows,) + y.shape[1:], y.dtype),
                                 None if sw is None else np.empty(rows, sw.dtype))
    xb, yb, swb = batch
    x.take(indices, axis=0, out=xb, mode="clip")
    y.take(indices, axis=0, out=yb, mode="clip")
    if sw is not None:
        sw.take(indices, axis=0, out=swb, mode="clip")
    return batch


def _run_test(model, engine, x, y, sw, batch_size, steps, callback_list, bar):
    engine.reset()
    test_step = engine.test_step
    n = len(x)
    total = math.ceil(n / batch_size) if steps is None else min(int(steps), math.ceil(n / batch_size))
    batch_hooks = callback_list is not None and callback_list.has_test_batch_hooks
    for step in range(total):
        start, stop = step * batch_size, min(step * batch_size + batch_size, n)
        if batch_hooks:
            callback_list.on_test_batch_begin(step)
        test_step(x[start:stop], y[start:stop], None if sw is None else sw[start:stop])
        if batch_hooks:
            callback_list.on_test_batch_end(step, engine.logs())
        if bar is not None:
            bar.update(step + 1, engine.log_items)
    logs = engine.logs()
    if bar is not None:
        bar.update(total, list(logs.items()), finalize=True)
    return logs


def evaluate(model, x, y, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None,
             return_dict=False):
    """Sequential.evaluate (see there)."""
    _inputs.require_compiled(model, "evaluate")
    batch_size = _inputs.batch_size(batch_size, "evaluate")
    verbose = _inputs.verbosity(verbose, "evaluate")
    x = _inputs.as_inputs(model, x, "evaluate")
    y = _inputs.as_targets(model, y, len(x), "evaluate")
    sw = _inputs.as_sample_weight(sample_weight, None, y, len(x), "evaluate")
    engine = _engine(model, need_training=True)
    total = max(1, math.ceil(len(x) / batch_size))
    callback_list = CallbackList(callbacks, model, None, {"steps": total, "verbose": verbose})
    callback_list.on_test_begin()
    bar = ProgressBar(total, verbose) if verbose else None
    logs = _run_test(model, engine, x, y, sw, batch_size, steps, callback_list, bar)
    callback_list.on_test_end(logs)
    return dict(logs) if return_dict else engine.ordered_results(logs)


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
    """Sequential.predict (see there)."""
    batch_size = _inputs.batch_size(batch_size, "predict")
    x = _inputs.as_inputs(model, x, "predict")
    n = len(x)
    verbose = _inputs.verbosity(verbose, "predict", default=1 if n > batch_size else 0)
    infer = _engine(model).infer
    if n <= batch_size and not verbose and not callbacks and n:
        h = x
        for forward in infer:
            h = forward(h, False)
        return h.copy()
    total = math.ceil(n / batch_size)
    if steps is not None:
        total = min(total, int(steps))
        n = min(n, total * batch_size)
    callback_list = CallbackList(callbacks, model, None, {"steps": total, "verbose": verbose})
    callback_list.on_predict_begin()
    bar = ProgressBar(total, verbose) if verbose else None
    out = np.empty((n,) + model.output_shape[1:], np.float32)
    for step in range(total):
        start, stop = step * batch_size, min(step * batch_size + batch_size, n)
        callback_list.on_predict_batch_begin(step)
        h = x[start:stop]
        for forward in infer:
            h = forward(h, False)
        out[start:stop] = h
        callback_list.on_predict_batch_end(step, {"outputs": out[start:stop]})
        if bar is not None:
            bar.update(step + 1, finalize=step + 1 == total)
    callback_list.on_predict_end()
    return out


def train_on_batch(model, x, y, sample_weight=None, class_weight=None, return_dict=False):
    """Sequential.train_on_batch (see there)."""
    _inputs.require_compiled(model, "train_on_batch")
    x, y, sw = _inputs.training_arrays(model, x, y, sample_weight, class_weight, "train_on_batch")
    _ensure_optimizer(model)
    engine = _engine(model, need_training=True)
    engine.train_step(x, y, sw)
    logs = engine.logs()
    return logs if return_dict else engine.ordered_results(logs)


def test_on_batch(model, x, y, sample_weight=None, return_dict=False):
    """Sequential.test_on_batch (see there)."""
    _inputs.require_compiled(model, "test_on_batch")
    x = _inputs.as_inputs(model, x, "test_on_batch")
    y = _inputs.as_targets(model, y, len(x), "test_on_batch")
    sw = _inputs.as_sample_weight(sample_weight, None, y, len(x), "test_on_batch")
    engine = _engine(model, need_training=True)
    engine.test_step(x, y, sw)
    logs = engine.logs()
    return logs if return_dict else engine.ordered_results(logs)


def predict_on_batch(model, x):
    """Sequential.predict_on_batch (see there)."""
    h = _inputs.as_inputs(model, x, "predict_on_batch")
    for forward in _engine(model).infer:
        h = forward(h, False)
    return h.copy()


def call(model, x, training=False):
    """model(x): the forward pass on one batch, as a new array."""
    h = _inputs.as_inputs(model, x, "Sequential call")
    for forward in _engine(model).infer:
        h = forward(h, training)
    return h.copy()


def reset_metrics(model):
    """Zero the running loss and reset every metric."""
    _engine(model).reset()
