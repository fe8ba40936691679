"""The execution plan of a model: its layer calls as one flat list that fit, evaluate and predict
replay, never walking the graph again.

Building a plan:
- inlines nested models (a Model used as a layer contributes its own calls, so one plan covers the
  whole network and nothing runs through a second interpreter loop);
- numbers every tensor (a "slot" in the list of values one run fills);
- runs the compile pass that fuses: an Activation layer that alone reads the output of a layer that
  fuses activations (Dense, Conv) moves into that layer's GEMM epilogue, and in a training plan the
  sigmoid or softmax that feeds a loss computed from logits is taken out of the graph (the loss
  kernel applies it, stably, together with its gradient);
- works out the backward: which calls lie between a trained weight and a loss, which of them need
  input gradients, and which calls of a shared layer add to its gradients rather than write them.
"""
import numpy as np

from .context import CallContext, Workspace

__all__ = ["Plan"]


class Step:
    """One layer call of the flat plan."""

    __slots__ = ("layer", "inputs", "outputs", "multi_input", "multi_output", "training", "activation",
                 "accumulate", "need_dx", "trained")

    def __init__(self, layer, inputs, outputs, multi_input, multi_output, training):
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs
        self.multi_input = multi_input
        self.multi_output = multi_output
        self.training = training
        self.activation = getattr(layer, "activation", None) if layer.fuses_activation else None
        self.accumulate = False
        self.need_dx = False
        self.trained = False


def _flatten(model, input_slots, training, steps, counter):
    """Append the steps of `model`'s calls (nested models inlined) reading `input_slots`; returns the
    slots of the model's outputs."""
    slot_of = {id(t): s for t, s in zip(model._input_tensors, input_slots)}
    for node in model._graph_nodes():
        inputs = [slot_of[id(t)] for t in node.inputs]
        call_training = training if node.training is None else node.training
        if getattr(node.layer, "_is_model", False):
            outputs = _flatten(node.layer, inputs, call_training, steps, counter)
        else:
            outputs = [counter.__next__() for _ in node.outputs]
            steps.append(Step(node.layer, inputs, outputs, node.multi_input, len(node.outputs) > 1, call_training))
        for tensor, slot in zip(node.outputs, outputs):
            slot_of[id(tensor)] = slot
    return [slot_of[id(t)] for t in model._output_tensors]


class OutputSpec:
    """How a model output leaves the plan: its slot, and the activation metrics must apply when the
    training plan hands the loss its logits."""

    __slots__ = ("slot", "metric_activation")

    def __init__(self, slot):
        self.slot = slot
        self.metric_activation = None


class Plan:
    """The flat list of a model's layer calls for one mode.

    Args:
        model: a built Model.
        training: build the training plan (loss fusion, backward) rather than the inference one.
        has_loss: for a training plan, per output whether a loss reads it.
        fused_losses: for a training plan, per output the activation its loss takes logits for
            ('sigmoid', 'softmax') or None.
    """

    def __init__(self, model, training=False, has_loss=None, fused_losses=None):
        counter = iter(range(1 << 62))
        self.input_slots = [next(counter) for _ in model._input_tensors]
        steps = []
        output_slots = _flatten(model, self.input_slots, None, steps, counter)
        self.slot_count = next(counter)
        self.outputs = [OutputSpec(slot) for slot in output_slots]
        self.steps = steps
        self.uses_masks = any(step.layer.makes_mask for step in steps)
        self.is_chain = self._is_chain()
        self._fuse_activation_layers(training)
        self.backward_steps = []
        if training:
            self._fuse_losses(fused_losses or [None] * len(self.outputs))
            self._plan_backward(has_loss or [True] * len(self.outputs))

    def _is_chain(self):
        """Whether the plan is one input through single-input, single-output steps, each reading the
        previous one's output, to one output (a Sequential model): inference then skips the slots."""
        previous = self.input_slots
        for step in self.steps:
            if step.multi_input or step.multi_output or step.inputs != previous[:1] or len(previous) != 1:
                return False
            previous = step.outputs
        return len(self.outputs) == 1 and self.outputs[0].slot == previous[0] and not self.uses_masks

    # ----- the compile pass ------------------------------------------------------------------------
    def _readers(self):
        readers = {}
        for step in self.steps:
            for slot in step.inputs:
                readers.setdefault(slot, []).append(step)
        for spec in self.outputs:
            readers.setdefault(spec.slot, []).append(None)  # the model's caller reads it too
        return readers

    def _producers(self):
        return {slot: step for step in self.steps for slot in step.outputs}

    def _remove(self, step, alias_of):
        """Drop `step` (one input, one output) and let its output slot stand for `alias_of`."""
        self.steps.remove(step)
        gone = step.outputs[0]
        for other in self.steps:
            other.inputs = [alias_of if s == gone else s for s in other.inputs]
        for spec in self.outputs:
            if spec.slot == gone:
                spec.slot = alias_of

    def _fuse_activation_layers(self, training):
        """An elementwise Activation layer alone reading a linear fusing layer's output runs in that
        layer's epilogue. A training plan only fuses activations whose backward reads y, which the
        fused layer keeps (one whose backward needs its input would have to keep that too)."""
        for step in list(self.steps):
            act = getattr(step.layer, "activation", None)
            if type(step.layer).__name__ != "Activation" or not act.epilogue:
                continue
            if training and act.backward_reads == "x":
                continue
            source = self._producers().get(step.inputs[0])
            if (source is None or source.activation is None or source.activation.name != "linear"
                    or source.multi_output or self._readers()[step.inputs[0]] != [step]
                    or source.training != step.training):
                continue
            source.activation = act
            self._remove(step, source.outputs[0])

    def _fuse_losses(self, fused_losses):
        """Where a loss takes logits for the activation that makes its output, drop that activation
        from the plan (metrics apply it to the logits)."""
        for spec, fused in zip(self.outputs, fused_losses):
            if fused is None:
                continue
            step = self._producers().get(spec.slot)
            if step is None or step.multi_output or self._readers()[spec.slot] != [None]:
                continue
            if step.activation is not None and step.activation.name == fused:
                spec.metric_activation = step.activation
                step.activation = None
            elif type(step.layer).__name__ == "Activation" and step.layer.activation.name == fused:
                spec.metric_activation = step.layer.activation
                self._remove(step, step.inputs[0])

    # ----- backward --------------------------------------------------------------------------------
    def _plan_backward(self, has_loss):
        """Which steps run backward (between a trained weight and a loss), which need input
        gradients, and which add to a shared layer's gradients."""
        trained_slots = set()  # slots whose value depends on a trained weight
        for step in self.steps:
            step.trained = any(g is not None for g in step.layer._grads)
            if step.trained or any(s in trained_slots for s in step.inputs):
                trained_slots.update(step.outputs)
        loss_slots = {spec.slot for spec, loss in zip(self.outputs, has_loss) if loss}
        reaching = set(loss_slots)  # slots from which a loss can be reached
        backward = []
        for step in reversed(self.steps):
            if not any(s in reaching for s in step.outputs):
                continue
            if not (step.trained or any(s in trained_slots for s in step.inputs)):
                continue
            reaching.update(step.inputs)
            step.need_dx = any(s in trained_slots for s in step.inputs)
            backward.append(step)
        written = set()
        for step in backward:
            step.accumulate = id(step.layer) in written
            if step.trained:
                written.add(id(step.layer))
        self.backward_steps = backward
        self.trained_slots = trained_slots

    # ----- running ---------------------------------------------------------------------------------
    def new_workspace(self, training):
        contexts = [CallContext(training if step.training is None else step.training, step.activation,
                                step.accumulate, step.need_dx) for step in self.steps]
        workspace = Workspace(contexts)
        index = {id(step): ctx for step, ctx in zip(self.steps, contexts)}
        workspace.backward = [(step, index[id(step)]) for step in self.backward_steps]
        return workspace

    def forward(self, workspace, inputs):
        """Run every step on `inputs` (one array per model input); returns the list of slot values."""
        values = [None] * self.slot_count
        for slot, x in zip(self.input_slots, inputs):
            values[slot] = x
        if self.uses_masks:
            return self._forward_masked(workspace, values)
        for step, ctx in zip(self.steps, workspace.contexts):
            x = [values[s] for s in step.inputs] if step.multi_input else values[step.inputs[0]]
            y = step.layer.forward(ctx, x)
            if step.multi_output:
                for slot, value in zip(step.outputs, y):
                    values[slot] = value
            else:
                values[step.outputs[0]] = y
        workspace.values = values
        return values

    def infer(self, workspace, inputs):
        """The model's outputs for `inputs` (a list per output), without keeping the other values."""
        if self.is_chain:
            h = inputs[0]
            for step, ctx in zip(self.steps, workspace.contexts):
                h = step.layer.forward(ctx, h)
            return [h]
        values = self.forward(workspace, inputs)
        return [values[spec.slot] for spec in self.outputs]

    def _forward_masked(self, workspace, values):
        """forward, tracking a (batch, steps) mask per value: each call reads its input's in ctx.mask."""
        masks = [None] * self.slot_count
        for step, ctx in zip(self.steps, workspace.contexts):
            if step.multi_input:
                x, mask = [values[s] for s in step.inputs], [masks[s] for s in step.inputs]
            else:
                x, mask = values[step.inputs[0]], masks[step.inputs[0]]
            ctx.mask = mask
            y = step.layer.forward(ctx, x)
            out_mask = step.layer.compute_mask(x, mask)
            if step.multi_output:
                for k, (slot, value) in enumerate(zip(step.outputs, y)):
                    values[slot] = value
                    masks[slot] = out_mask[k] if isinstance(out_mask, (list, tuple)) else out_mask
            else:
                values[step.outputs[0]] = y
                masks[step.outputs[0]] = out_mask
        workspace.values, workspace.masks = values, masks
        return values

    def output_mask(self, workspace, spec):
        """The mask of a model output after forward (None when the plan tracks none)."""
        return workspace.masks[spec.slot] if self.uses_masks else None

    def backward(self, workspace, output_grads):
        """Backpropagate {slot: gradient} from the losses through the steps of backward_steps; each
        layer writes (or adds to) its weight gradients."""
        grads = output_grads
        scratch = workspace.scratch
        trained_slots = self.trained_slots
        for step, ctx in workspace.backward:
            if step.multi_output:
                dy = [grads.get(s) for s in step.outputs]
            else:
                dy = grads.get(step.outputs[0])
                if dy is None:
                    continue
            dx = step.layer.backward(ctx, dy)
            if not step.need_dx:
                continue
            dxs = dx if step.multi_input else [dx]
            for slot, g in zip(step.inputs, dxs):
                if g is None or slot not in trained_slots:
                    continue
                held = grads.get(slot)
                if held is None:
                    grads[slot] = g
                else:  # a tensor read by several calls: its gradient is the sum, kept in the plan's own buffer
                    total = scratch.buffer(f"sum{slot}", g.shape)
                    if held is not total:
                        np.add(held, g, out=total)
                    else:
                        total += g
                    grads[slot] = total
