"""compile()'s loss, loss_weights, metrics and weighted_metrics arguments, resolved to one entry per
model output with Keras's structure rules and names: a single model output logs 'loss' and each metric
by its own name; with several outputs each also logs '<output>_loss' and '<output>_<metric>'. As in
Keras 3, `metrics` ignore sample and class weights and `weighted_metrics` apply them; a weighted metric
whose name an unweighted one of the same output already has logs as 'weighted_<metric>'."""
import numpy as np

__all__ = ["OutputTraining", "resolve", "result_names"]


class OutputTraining:
    """What compile attached to one model output.

    Attributes:
        name: the output's name (its layer's name).
        shape: the output's shape (batch first).
        loss: a fastnn.losses.Loss, or None when this output is not trained.
        weight: its loss weight.
        metrics: the fastnn.metrics.Metric objects that follow it, unweighted.
        weighted_metrics: those that follow it weighted by the sample (or class) weights.
        log_name: the key of its loss in the logs ('<name>_loss'), or None with a single output.
    """

    def __init__(self, name, shape, loss, weight, metrics, weighted_metrics, log_name):
        self.name, self.shape, self.loss, self.weight = name, tuple(shape), loss, weight
        self.metrics, self.weighted_metrics, self.log_name = metrics, weighted_metrics, log_name


def _per_output(value, names, what, is_leaf):
    """value as one entry per output: a dict by output name, a list/tuple in output order, or (for a
    single output, or a leaf given for all) the value itself."""
    if isinstance(value, dict) and not is_leaf(value):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"compile: {what} names unknown output(s) {unknown}; the outputs are {names}")
        return [value.get(name) for name in names]
    if len(names) == 1:
        if isinstance(value, (list, tuple)) and len(value) == 1 and not is_leaf(value):
            return [value[0]]
        return [value]
    if isinstance(value, (list, tuple)) and not is_leaf(value):
        if len(value) != len(names):
            raise ValueError(f"compile: {what} must be a dict by output name or a list with one entry per "
                             f"output ({len(names)}: {names}), got {len(value)} entries")
        return list(value)
    if is_leaf(value):
        return [value] * len(names)
    raise ValueError(f"compile: {what} must be a dict by output name or a list with one entry per output "
                     f"({names}), got {value!r}")


def _metric_list(entry):
    if entry is None:
        return []
    return list(entry) if isinstance(entry, (list, tuple)) else [entry]


def _metric_entries(metrics, output_names, what):
    """compile()'s metrics (or weighted_metrics) as one list of metric entries per output."""
    if metrics is None:
        return [[] for _ in output_names]
    if not isinstance(metrics, dict) and len(output_names) == 1:
        return [_metric_list(metrics)]
    entries = [_metric_list(e) for e in _per_output(
        metrics, output_names, what, lambda v: not isinstance(v, (list, tuple, dict)) or (
            isinstance(v, dict) and "class_name" in v))]
    if len(output_names) > 1 and isinstance(metrics, (list, tuple)) and any(not isinstance(e, (list, tuple))
                                                                              for e in metrics):
        raise ValueError(f"compile: with several outputs, {what} must be a dict by output name or a list "
                         f"of lists (one per output: {output_names}), got {metrics!r}")
    return entries


def resolve(loss, loss_weights, metrics, output_names, output_shapes, weighted_metrics=None):
    """The OutputTraining of every output.

    Args:
        loss: a loss (name, object, config, callable Loss), or a list / dict of them per output.
        loss_weights: None, a float (single output), or a list / dict of floats per output.
        metrics: None, a list of metrics (single output), or a dict / list of lists per output.
        output_names: the model's output names.
        output_shapes: their shapes, for resolving 'accuracy'.
        weighted_metrics: as metrics, for the metrics that sample and class weights apply to.
    """
    from .. import losses as losses_module
    from .. import metrics as metrics_module

    multi = len(output_names) > 1
    loss_entries = _per_output(loss, output_names, "loss",
                               lambda v: not isinstance(v, (list, tuple, dict)) or (
                                   isinstance(v, dict) and "class_name" in v))
    loss_objects = [None if entry is None else losses_module.get(entry) for entry in loss_entries]
    if all(l is None for l in loss_objects):
        raise ValueError("compile: no output has a loss; pass loss= (one per output for several outputs)")
    if loss_weights is None:
        weights = [1.0] * len(output_names)
    else:
        weights = _per_output(loss_weights, output_names, "loss_weights",
                              lambda v: isinstance(v, (int, float, np.floating, np.integer)))
        weights = [1.0 if w is None else float(w) for w in weights]
    plain_entries = _metric_entries(metrics, output_names, "metrics")
    weighted_entries = _metric_entries(weighted_metrics, output_names, "weighted_metrics")

    def metric_objects(entries, loss_obj, shape):
        objects = [metrics_module.deserialize(entry) if isinstance(entry, dict) else
                   metrics_module.get(entry, loss=loss_obj, output_shape=shape) for entry in entries]
        for metric in objects:
            if not metric.result_is_scalar:
                raise ValueError(f"compile: the metric {metric!r} gives one value per class, and the training "
                                 f"logs hold numbers; average the classes (F1Score/FBetaScore(average='macro', "
                                 f"'micro' or 'weighted'), R2Score(class_aggregation='uniform_average'))")
        return objects

    outputs = []
    for name, shape, loss_obj, weight, plain, weighted in zip(output_names, output_shapes, loss_objects, weights,
                                                               plain_entries, weighted_entries):
        plain = metric_objects(plain, loss_obj, shape)
        weighted = metric_objects(weighted, loss_obj, shape)
        taken = {metric.name for metric in plain}
        for metric in weighted:
            if metric.name in taken:
                metric.name = f"weighted_{metric.name}"
        if multi:
            for metric in plain + weighted:
                metric.name = f"{name}_{metric.name}"
        outputs.append(OutputTraining(name, shape, loss_obj, weight, plain, weighted,
                                      f"{name}_loss" if multi else None))
    return outputs


def result_names(outputs):
    """The log keys of evaluate()'s list, in Keras 3's order: 'loss', each output's loss, then the
    metrics: in compile order for one output, sorted by name for several (Keras looks its metrics up
    by their own names, misses the '<output>_' keys and appends those sorted)."""
    names = ["loss"] + [o.log_name for o in outputs if o.log_name is not None and o.loss is not None]
    metrics = [m.name for o in outputs for m in o.metrics + o.weighted_metrics]
    return names + (sorted(metrics) if any(o.log_name is not None for o in outputs) else metrics)
