"""The training, test and inference steps of a model, and the fit / evaluate / predict loops over them.

A step is prepared once per model structure and compile: the plan's layer calls, the loss of each
output (fused with the last activation when the plan allows), one fused optimizer call on the flat
parameter vector, the metrics. Inference runs its own plan (no loss fusion) in a workspace taken from
a pool, so any number of threads can predict with one model; training is one thread at a time.
"""
import itertools
import math
import warnings

import numpy as np

from .. import _config
from ..callbacks import CallbackList, History, TerminateOnNaN
from ..progress import ProgressBar
from . import data
from .compile_utils import result_names
from .context import WorkspacePool
from .dense_chain import chain_loss, dense_chain
from .forksafe import set_fork_safe_lock
from .plan import Plan

__all__ = ["Runner", "Inference", "fit", "evaluate", "predict", "train_on_batch", "test_on_batch"]

# predict without a batch_size runs chunks whose activations take about this much memory.
PREDICT_CHUNK_BYTES = 16 << 20
# fit gathers the shuffled rows of this many bytes of batches at once.
GATHER_BLOCK_BYTES = 1 << 20
_NUMPY_DTYPES = {"float32": np.float32, "int64": np.int64, "string": object}


class Runner:
    """The training and test steps of one compiled model, with the running loss and metrics."""

    def __init__(self, model):
        self.model = model
        outputs = model._outputs_training
        self.outputs = outputs
        self.plan = plan = Plan(model, True, [o.loss is not None for o in outputs],
                                [o.loss.fused_activation if o.loss is not None else None for o in outputs])
        self.workspace = plan.new_workspace(True)
        self.chain = dense_chain(plan, model)
        self.trained = [(o, spec, k) for k, (o, spec) in enumerate(zip(outputs, plan.outputs)) if o.loss is not None]
        self.chain_loss = self.chain is not None and chain_loss(self.chain, outputs, self.trained)
        self.test_workspace = plan.new_workspace(False)
        set_fork_safe_lock(self, "lock")
        self.penalties = [(layer, i) for layer in model._leaf_layers() for i in range(len(layer._weights))
                          if layer._regularizers[i] is not None]
        self.metrics = [m for o in outputs for m in o.metrics + o.weighted_metrics]
        self.state = [(layer, i) for layer in model._leaf_layers() for i in range(len(layer._weights))
                      if not layer._weight_trainable[i]]
        self.stepped = False
        self.reset()

    def reset(self):
        self.count = 0
        self.loss_total = 0.0
        self.output_totals = [0.0] * len(self.outputs)
        for metric in self.metrics:
            metric.reset_state()

    def _losses(self, workspace, values, targets, sw, n):
        """Total loss and {slot: gradient} of one batch; updates the running means and the metrics."""
        scratch = workspace.scratch
        total, grads = 0.0, {}
        for out, spec, k in self.trained:
            pred = values[spec.slot]
            grad_out = scratch.buffer(f"loss{k}", pred.shape)
            mask = self.plan.output_mask(workspace, spec)
            weights = sw if mask is None else _masked_weights(mask, sw, scratch.buffer(f"mask{k}", mask.shape))
            if spec.metric_activation is not None:
                value, grad = out.loss.value_and_grad_from_logits(targets[k], pred, weights, grad_out)
            else:
                value, grad = out.loss.value_and_grad(targets[k], pred, weights, grad_out)
            if out.weight != 1.0:
                np.multiply(grad, np.float32(out.weight), out=grad)
            grads[spec.slot] = grad
            total += self._count_output(scratch, out, spec, k, value, n, targets[k], pred, mask, weights, sw)
        return self._add_penalties(total, n), grads

    def _count_output(self, scratch, out, spec, k, value, n, target, pred, mask, weights, sw):
        """Adds an output's loss value to its running total and its batch to its metrics; returns the
        output's weighted share of the batch's loss."""
        self.output_totals[k] += value * n
        if out.metrics or out.weighted_metrics:
            y_pred = pred if spec.metric_activation is None else \
                spec.metric_activation.forward(pred, out=scratch.buffer(f"pred{k}", pred.shape))
            # Plain metrics see the mask only, weighted metrics the sample weights too (Keras 3).
            if sw is None:
                unweighted = weights
            elif mask is None:
                unweighted = None
            else:
                unweighted = _masked_weights(mask, None, scratch.buffer(f"maskonly{k}", mask.shape))
            for metric in out.metrics:
                metric.update_state(target, y_pred, unweighted)
            for metric in out.weighted_metrics:
                metric.update_state(target, y_pred, weights)
        return out.weight * value

    def _add_penalties(self, total, n):
        """The batch's loss with the regularizer penalties; counted into the running loss."""
        for layer, i in self.penalties:
            total += layer._regularizers[i].penalty(layer._weights[i])
        self.loss_total += total * n
        self.count += n
        return total

    def train_step(self, inputs, targets, sw):
        """One optimizer step on a batch; returns its loss."""
        n = len(inputs[0])
        with self.lock:
            # A layer that cannot train (an inference-only one) raises in backward, after the forward
            # has updated state such as moving statistics: the first step keeps a copy to put back.
            saved = None if self.stepped else [w.copy() for w in self._state_weights()]
            try:
                if self.chain is not None:
                    total = self._chain_step(inputs[0], targets, sw, n)
                else:
                    values = self.plan.forward(self.workspace, inputs)
                    total, grads = self._losses(self.workspace, values, targets, sw, n)
                    self.plan.backward(self.workspace, grads)
            except BaseException:
                if saved is not None:
                    self._restore_state(saved)
                raise
            self.stepped = True
            pack = self.model._pack
            pack.add_regularizer_grads()
            self.model.optimizer.apply(pack.grads, pack.touched_rows())
        return total

    def _chain_step(self, x, targets, sw, n):
        """train_step's forward, losses and backward through the dense chain: with the loss too when
        the chain runs it (chain_loss) and the batch's targets are in its layout."""
        if self.chain_loss:
            value = self.chain.loss_step(x, targets[0], sw)
            if value is not None:
                out, spec, _ = self.trained[0]
                total = self._count_output(self.workspace.scratch, out, spec, 0, value, n, targets[0],
                                           self.chain.output, None, sw, sw)
                return self._add_penalties(total, n)
        slot = self.plan.outputs[0].slot
        values = [None] * self.plan.slot_count
        values[slot] = self.chain.forward(x)
        total, grads = self._losses(self.workspace, values, targets, sw, n)
        if slot in grads:
            self.chain.backward(grads[slot])
        return total

    def _state_weights(self):
        return [layer._weights[i] for layer, i in self.state]

    def _restore_state(self, saved):
        for target, value in zip(self._state_weights(), saved):
            target[...] = value
        for layer in {id(layer): layer for layer, _ in self.state}.values():
            layer._weights_changed()

    def test_step(self, inputs, targets, sw):
        with self.lock:
            values = self.plan.forward(self.test_workspace, inputs)
            return self._losses(self.test_workspace, values, targets, sw, len(inputs[0]))[0]

    def logs(self):
        """Running loss, per-output losses and metrics, keys sorted as Keras logs them."""
        count = self.count
        logs = {"loss": self.loss_total / count if count else 0.0}
        for out, total in zip(self.outputs, self.output_totals):
            if out.log_name is not None and out.loss is not None:
                logs[out.log_name] = total / count if count else 0.0
        for metric in self.metrics:
            logs[metric.name] = _log_value(metric.result())
        return dict(sorted(logs.items()))

    def log_items(self):
        return list(self.logs().items())

    def ordered_results(self, logs):
        """Keras's evaluate order (compile_utils.result_names), or the loss alone."""
        names = result_names(self.outputs)
        return logs["loss"] if len(names) == 1 else [logs[name] for name in names]


def _masked_weights(mask, sample_weight, out):
    """Per-step weights for an output with a mask: masked steps weigh 0 and the others are scaled so
    that the loss is the mean over the steps that count (Keras's masked reduction)."""
    np.copyto(out, mask)
    if sample_weight is not None:
        out *= sample_weight.reshape(sample_weight.shape + (1,) * (out.ndim - sample_weight.ndim))
    valid = float(np.count_nonzero(mask))
    if valid:
        out *= np.float32(mask.size / valid)
    return out


class Inference:
    """The inference plan of a model and a pool of workspaces, one per concurrent call."""

    def __init__(self, model):
        self.plan = plan = Plan(model, training=False)
        self.pool = WorkspacePool(lambda: plan.new_workspace(False))
        row_floats = sum(math.prod(d for d in t.shape[1:] if d is not None) for t in model._all_tensors())
        self.chunk_rows = max(data.DEFAULT_BATCH_SIZE, PREDICT_CHUNK_BYTES // max(4 * row_floats, 1))

    def run(self, inputs, outs=None, at=0):
        """Outputs for one chunk of inputs: written into outs[k][at:at + n] when given, else returned
        as new arrays."""
        workspace = self.pool.acquire()
        try:
            results = self.plan.infer(workspace, inputs)
            if outs is None:
                return [r.copy() for r in results]
            for out, r in zip(outs, results):
                out[at:at + len(r)] = r
            return outs
        finally:
            workspace.values = None
            self.pool.release(workspace)


# ----- batching --------------------------------------------------------------------------------------
def _gather(buffers, indices, arrays):
    """The rows `indices` of each array, copied into reusable buffers (one set, grown to the largest
    gather)."""
    rows = len(indices)
    out = []
    for k, arr in enumerate(arrays):
        if arr is None:
            out.append(None)
            continue
        shape = (rows,) + arr.shape[1:]
        buffer = buffers.get(k)
        if buffer is None or buffer.shape[0] < rows or buffer.shape[1:] != arr.shape[1:]:
            buffer = buffers[k] = np.empty(shape, arr.dtype)
        view = buffer[:rows]
        arr.take(indices, axis=0, out=view, mode="clip")
        out.append(view)
    return out


def _block_rows(arrays, batch_size):
    """How many shuffled rows to gather at once: whole batches, about GATHER_BLOCK_BYTES of them (one
    take per array per block instead of per batch: a small model's step costs less than a gather)."""
    row_bytes = sum(a.itemsize * math.prod(a.shape[1:]) for a in arrays if a is not None)
    return batch_size * max(1, GATHER_BLOCK_BYTES // max(row_bytes * batch_size, 1))


def _rows(arrays, start, stop):
    return [None if a is None else a[start:stop] for a in arrays]


def _batch_tuple(batch, what):
    """A batch from a generator or PyDataset as (x, y, sample_weight)."""
    if not isinstance(batch, tuple) or not 1 <= len(batch) <= 3:
        raise ValueError(f"{what}: a batch source must yield (x, y) or (x, y, sample_weight) tuples, "
                         f"got {type(batch).__name__}")
    return tuple(batch) + (None,) * (3 - len(batch))


class _BatchSource:
    """Epochs of converted batches from arrays (shuffled or in order), a generator or a PyDataset."""

    def __init__(self, model, x, y, sw, batch_size, shuffle, steps, what, training=True, replays=False):
        self.model, self.what, self.training, self.replays = model, what, training, replays
        self.source = x if data.is_batch_source(x) else None
        if self.source is not None:
            if y is not None:
                raise ValueError(f"{what}: y must be None when x yields (x, y) batches itself")
            # Keras refuses a source without batches up front, rather than reporting a loss of 0.0
            self._indexed = hasattr(x, "__getitem__") and hasattr(x, "__len__")
            if self._indexed:
                self.steps = len(x)
                if self.steps == 0:
                    raise ValueError(f"{what}: the {type(x).__name__} has no batches (its __len__ is 0)")
            else:
                self._iterator = _with_first_batch(iter(x), what)
                self.steps = None
                self._replay = []  # with replays: the last epoch of batches (_source_epoch)
            if steps is not None:
                self.steps = steps if self.steps is None else min(self.steps, steps)
            return
        self.x, self.y, self.sw = x, y, sw
        self.n = len(x[0])
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.steps = math.ceil(self.n / batch_size)
        if steps is not None:
            self.steps = min(self.steps, steps)
        self.buffers = {}

    def epoch(self):
        """Yield (inputs, targets, sample_weight) for one epoch."""
        if self.source is not None:
            yield from self._source_epoch()
            return
        if not self.shuffle:
            for step in range(self.steps):
                start, stop = step * self.batch_size, min((step + 1) * self.batch_size, self.n)
                yield _rows(self.x, start, stop), _rows(self.y, start, stop), \
                    None if self.sw is None else self.sw[start:stop]
            return
        order = _config.generator().permutation(self.n)
        sources = self.x + self.y + [self.sw]
        k, m = len(self.x), len(self.x) + len(self.y)
        block_rows, batch_size = _block_rows(sources, self.batch_size), self.batch_size
        end = min(self.steps * batch_size, self.n)
        for step in range(self.steps):
            start = step * batch_size
            at = start % block_rows
            if at == 0:
                block = _gather(self.buffers, order[start:min(start + block_rows, end)], sources)
            stop = at + min(batch_size, self.n - start)
            arrays = [None if a is None else a[at:stop] for a in block]
            yield arrays[:k], arrays[k:m], arrays[m]

    def _source_epoch(self):
        """A generator is iterated once, but fit scores its validation generator every epoch: such a
        source (replays) keeps the batches of its last epoch and replays them once the generator is
        dry, so each epoch gets real validation metrics (as in Keras), not 0.0."""
        if self.replays and not self._indexed:
            batches = []
            for batch in self._converted_batches():
                batches.append(batch)
                yield batch
            if batches:
                self._replay = batches
            else:
                yield from self._replay
            return
        yield from self._converted_batches()

    def _converted_batches(self):
        source, model, what, indexed = self.source, self.model, self.what, self._indexed
        step = 0
        while self.steps is None or step < self.steps:
            try:
                batch = source[step] if indexed else next(self._iterator)
            except (StopIteration, IndexError):
                if self.steps is not None and step < self.steps and not (self.replays and self._replay):
                    warnings.warn(f"{what}: the batch source ran out of data after {step} of {self.steps} steps",
                                  RuntimeWarning, stacklevel=5)
                break
            bx, by, bsw = _batch_tuple(batch, what) if self.training or isinstance(batch, tuple) else (batch, None, None)
            inputs = data.as_inputs(model, bx, what)
            n = len(inputs[0])
            targets = data.as_targets(model._outputs_training, by, n, what) if self.training else None
            if targets is not None:
                _check_targets(model, inputs, targets, what)
            yield inputs, targets, data.as_sample_weight(bsw, None, targets, n, what) if targets else None
            step += 1
        if indexed and hasattr(source, "on_epoch_end"):
            source.on_epoch_end()


def _with_first_batch(iterator, what):
    """The iterator, refused when it yields no batch at all (its first batch is read and put back)."""
    for first in iterator:
        return itertools.chain([first], iterator)
    raise ValueError(f"{what}: the generator yielded no batches")


def _check_targets(model, inputs, targets, what):
    """The whole-data checks done before any weight changes: finite values (unless the model reads
    NaN on purpose), labels in range."""
    checked = [None if accepting else x for x, accepting in zip(inputs, model._inputs_accepting_nan())]
    data.check_finite(checked, [f"input '{n}'" if len(inputs) > 1 else "x" for n in model.input_names], what)
    for out, y in zip(model._outputs_training, targets):
        if y is None or out.loss is None:
            continue
        data.check_finite([y], [f"y['{out.name}']" if len(targets) > 1 else "y"], what)
        out.loss.check_targets(y, out.shape, what)


def _arrays(model, x, y, sample_weight, class_weight, what):
    inputs = data.as_inputs(model, x, what)
    n = len(inputs[0])
    if n == 0:
        raise ValueError(f"{what}: x has no samples")
    targets = data.as_targets(model._outputs_training, y, n, what)
    _check_targets(model, inputs, targets, what)
    return inputs, targets, data.as_sample_weight(sample_weight, class_weight, targets, n, what)


# ----- loops -----------------------------------------------------------------------------------------
def _log_value(result):
    """A metric's result as logs hold it: a float, or for a metric of several values (Precision with a
    list of thresholds) a float32 array, as Keras logs it."""
    return float(result) if np.ndim(result) == 0 else np.array(result, np.float32)


def _warn_nan(value, epoch, step):
    warnings.warn(f"fit: the loss is {value} at epoch {epoch + 1}, batch {step}; training continues "
                  f"(add fastnn.callbacks.TerminateOnNaN() to stop)", RuntimeWarning, stacklevel=4)


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
        class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps, validation_batch_size,
        validation_freq):
    """Model.fit (see there)."""
    what = "fit"
    model._require_compiled(what)
    batch_size = data.batch_size(batch_size, what)
    epochs, initial_epoch = data.epochs(epochs, initial_epoch)
    steps_per_epoch = data.steps(steps_per_epoch, "steps_per_epoch", what)
    validation_steps = data.steps(validation_steps, "validation_steps", what)
    verbose = data.verbosity(verbose, what)
    validation = None
    if data.is_batch_source(x):
        source = _BatchSource(model, x, y, None, batch_size, shuffle, steps_per_epoch, what)
    else:
        inputs, targets, sw = _arrays(model, x, y, sample_weight, class_weight, what)
        if validation_data is None and validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
            n = len(inputs[0])
            split_at = int(math.floor(n * (1.0 - validation_split)))
            if split_at == 0 or split_at == n:
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or validation "
                                 f"set for {n} samples")
            # class_weight weighs the training loss only; the validation rows are scored as evaluate scores them.
            val_sw = None if sw is None or class_weight is not None else sw[split_at:]
            validation = (_rows(inputs, split_at, n), _rows(targets, split_at, n), val_sw)
            inputs, targets = _rows(inputs, 0, split_at), _rows(targets, 0, split_at)
            sw = None if sw is None else sw[:split_at]
        source = _BatchSource(model, inputs, targets, sw, batch_size, shuffle, steps_per_epoch, what)
    val_source = None
    if validation_data is not None:
        if data.is_batch_source(validation_data):
            val_source = _BatchSource(model, validation_data, None, None, batch_size, False, validation_steps,
                                      "fit: validation_data", replays=True)
        else:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val)")
            vx, vy, vsw = (tuple(validation_data) + (None,))[:3]
            validation = _arrays(model, vx, vy, vsw, None, "fit: validation_data")
    if validation is not None:
        val_batch = data.batch_size(validation_batch_size, what) if validation_batch_size else batch_size
        val_source = _BatchSource(model, *validation, val_batch, False, validation_steps, what)
    if isinstance(validation_freq, bool) or not isinstance(validation_freq, int) or validation_freq < 1:
        raise ValueError(f"fit: validation_freq must be a positive int, got {validation_freq!r}")
    runner = model._runner()
    history = History()
    callback_list = CallbackList(callbacks, model, history, {"epochs": epochs, "steps": source.steps,
                                                             "verbose": verbose})
    batch_hooks = callback_list.has_train_batch_hooks
    warn_nan = not any(isinstance(cb, TerminateOnNaN) for cb in callback_list.callbacks)
    train_step = runner.train_step
    model.stop_training = False
    logs = {}
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        runner.reset()
        callback_list.on_epoch_begin(epoch)
        if verbose == 1 and epochs > 1 or verbose == 2:
            print(f"Epoch {epoch + 1}/{epochs}")
        bar = ProgressBar(source.steps or 1, verbose) if verbose else None
        done = 0
        for step, (inputs, targets, sw) in enumerate(source.epoch()):
            if batch_hooks:
                callback_list.on_train_batch_begin(step)
            value = train_step(inputs, targets, sw)
            done = step + 1
            if warn_nan and not math.isfinite(value):
                _warn_nan(value, epoch, step)
                warn_nan = False
            if batch_hooks:
                callback_list.on_train_batch_end(step, runner.logs())
            if bar is not None:
                bar.update(done, runner.log_items)
            if model.stop_training:
                break
        if not done:  # a generator used up by the earlier epochs: stop, as Keras does, rather than log 0.0
            warnings.warn(f"fit: the batch source ran out of data at epoch {epoch + 1}; training stops (give a "
                          f"generator that yields steps_per_epoch * epochs batches)", RuntimeWarning, stacklevel=3)
            break
        logs = runner.logs()
        if val_source is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
            callback_list.on_test_begin()
            val_logs = _run_test(runner, val_source, callback_list, None)
            callback_list.on_test_end(val_logs)
            logs.update({"val_" + name: value for name, value in val_logs.items()})
        if bar is not None:
            bar.update(max(done, 1), list(logs.items()), finalize=True)
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    model.history = history
    return history


def _run_test(runner, source, callback_list, bar):
    runner.reset()
    batch_hooks = callback_list is not None and callback_list.has_test_batch_hooks
    step = -1
    for step, (inputs, targets, sw) in enumerate(source.epoch()):
        if batch_hooks:
            callback_list.on_test_batch_begin(step)
        runner.test_step(inputs, targets, sw)
        if batch_hooks:
            callback_list.on_test_batch_end(step, runner.logs())
        if bar is not None:
            bar.update(step + 1, runner.log_items)
    logs = runner.logs()
    if bar is not None:
        bar.update(max(step + 1, 1), list(logs.items()), finalize=True)
    return logs


def evaluate(model, x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict):
    """Model.evaluate (see there)."""
    what = "evaluate"
    model._require_compiled(what)
    batch_size = data.batch_size(batch_size, what)
    steps = data.steps(steps, "steps", what)
    verbose = data.verbosity(verbose, what)
    if data.is_batch_source(x):
        source = _BatchSource(model, x, y, None, batch_size, False, steps, what)
    else:
        source = _BatchSource(model, *_arrays(model, x, y, sample_weight, None, what), batch_size, False, steps, what)
    runner = model._runner()
    callback_list = CallbackList(callbacks, model, None, {"steps": source.steps, "verbose": verbose})
    callback_list.on_test_begin()
    bar = ProgressBar(source.steps or 1, verbose) if verbose else None
    logs = _run_test(runner, source, callback_list, bar)
    callback_list.on_test_end(logs)
    return dict(logs) if return_dict else runner.ordered_results(logs)


def predict(model, x, batch_size, verbose, steps, callbacks):
    """Model.predict (see there)."""
    what = "predict"
    steps = data.steps(steps, "steps", what)
    if type(x) is not np.ndarray and data.is_batch_source(x):
        return _predict_batches(model, x, steps, verbose, callbacks)
    inputs = data.as_inputs(model, x, what)
    n = len(inputs[0])
    inference = model._inference()
    chunk = inference.chunk_rows if batch_size is None else data.batch_size(batch_size, what)
    verbose = data.verbosity(verbose, what, default=1 if n > chunk else 0)
    if n <= chunk and not verbose and not callbacks:
        return model._structure_outputs(inference.run(inputs))
    total = math.ceil(n / chunk)
    if steps is not None:
        total = min(total, steps)
        n = min(n, total * chunk)
    callback_list = CallbackList(callbacks, model, None, {"steps": total, "verbose": verbose})
    callback_list.on_predict_begin()
    bar = ProgressBar(total, verbose) if verbose else None
    outs = [np.empty((n,) + tuple(t.shape[1:]), _NUMPY_DTYPES[t.dtype]) for t in model._output_tensors] \
        if all(None not in t.shape[1:] for t in model._output_tensors) else None
    pieces = []
    for step in range(total):
        start, stop = step * chunk, min((step + 1) * chunk, n)
        callback_list.on_predict_batch_begin(step)
        if outs is not None:
            inference.run(_rows(inputs, start, stop), outs, start)
            batch_out = [o[start:stop] for o in outs]
        else:
            batch_out = inference.run(_rows(inputs, start, stop))
            pieces.append(batch_out)
        callback_list.on_predict_batch_end(step, {"outputs": model._structure_outputs(batch_out)})
        if bar is not None:
            bar.update(step + 1, finalize=step + 1 == total)
    callback_list.on_predict_end()
    if outs is None:
        outs = [np.concatenate([p[k] for p in pieces]) for k in range(len(model._output_tensors))]
    return model._structure_outputs(outs)


def _predict_batches(model, source, steps, verbose, callbacks):
    verbose = data.verbosity(verbose, "predict", default=0)
    batches = _BatchSource(model, source, None, None, data.DEFAULT_BATCH_SIZE, False, steps, "predict",
                           training=False)
    inference = model._inference()
    callback_list = CallbackList(callbacks, model, None, {"steps": batches.steps, "verbose": verbose})
    callback_list.on_predict_begin()
    pieces = []
    for step, (inputs, _, _) in enumerate(batches.epoch()):
        callback_list.on_predict_batch_begin(step)
        pieces.append(inference.run(inputs))
        callback_list.on_predict_batch_end(step, {"outputs": model._structure_outputs(pieces[-1])})
    callback_list.on_predict_end()
    if not pieces:
        raise ValueError("predict: the batch source yielded no batches")
    return model._structure_outputs([np.concatenate([p[k] for p in pieces]) for k in range(len(pieces[0]))])


def train_on_batch(model, x, y, sample_weight, class_weight, return_dict):
    """Model.train_on_batch (see there)."""
    what = "train_on_batch"
    model._require_compiled(what)
    inputs, targets, sw = _arrays(model, x, y, sample_weight, class_weight, what)
    runner = model._runner()
    runner.train_step(inputs, targets, sw)
    logs = runner.logs()
    return logs if return_dict else runner.ordered_results(logs)


def test_on_batch(model, x, y, sample_weight, return_dict):
    """Model.test_on_batch (see there)."""
    what = "test_on_batch"
    model._require_compiled(what)
    inputs, targets, sw = _arrays(model, x, y, sample_weight, None, what)
    runner = model._runner()
    runner.test_step(inputs, targets, sw)
    logs = runner.logs()
    return logs if return_dict else runner.ordered_results(logs)
