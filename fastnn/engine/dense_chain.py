"""fit's fast path for a Sequential of Dense layers (the classic Keras example).

A training step of a small MLP is mostly Python: per layer a forward and a backward call, their
contexts and bindings, each costing more than the layer's GEMMs. When a training plan is a plain
chain of Dense layers whose activations run in the GEMM epilogue, the step runs the chain through
fastnn._C.DenseChain instead: one binding call for the forward and one for the backward, making the
same C calls in the same order as the layers would, so the weights after fit are bitwise the same.
With a pointwise loss (mse, mae, huber, binary cross-entropy) the loss kernel runs in the same call.
"""
from .. import _C, ops

__all__ = ["dense_chain", "chain_loss"]


def _epilogue(activation):
    """(code, alpha) of an activation the chain can run, or None."""
    if activation is None or activation.name == "linear":
        return 0, 0.0
    if activation.epilogue and activation.backward_reads == "y":
        return ops.epilogue_code(activation.name, activation.alpha)
    return None


def dense_chain(plan, model):
    """A DenseChain running `plan` (a training plan), or None when the plan is not such a chain."""
    from ..layers.core import Dense

    layers = [step.layer for step in plan.steps]
    if not plan.is_chain or not layers or len(model._input_tensors[0].shape) != 2 \
            or any(type(layer) is not Dense for layer in layers) or len({id(x) for x in layers}) != len(layers):
        return None
    epilogues = [_epilogue(step.activation) for step in plan.steps]
    if None in epilogues:
        return None
    backward = {id(step) for step in plan.backward_steps}
    visited = [k for k, step in enumerate(plan.steps) if id(step) in backward]
    if not visited or visited != list(range(visited[0], len(layers))):
        return None
    return _C.DenseChain(layers, [code for code, _ in epilogues], [alpha for _, alpha in epilogues], visited[0],
                         [id(step) in backward and step.need_dx for step in plan.steps])


def chain_loss(chain, outputs, trained):
    """Whether the chain takes over the loss (DenseChain.loss_step): the model's one output has a loss
    that is one pointwise kernel call, weighted 1 (trained: the Runner's (output, spec, index) list)."""
    if len(outputs) != 1 or len(trained) != 1:
        return False
    out, spec, _ = trained[0]
    kernel = out.loss.pointwise_kernel(spec.metric_activation is not None)
    if kernel is None or out.weight != 1.0:
        return False
    code, options = kernel
    chain.set_loss(code, **options)
    return True
