"""How a layer that fuses its activation (Dense, the convolutions) applies ctx.activation: in its
GEMM epilogue when it can, otherwise as a separate pass after a linear product."""
from .. import ops

__all__ = ["activation_plan"]


def activation_plan(ctx):
    """(epilogue code, alpha, separate activation or None) of this call, decided once per context.

    softmax, and in training an activation whose backward needs its input z, run after a linear
    product (the layer then keeps z); every other activation runs in the epilogue, and its backward
    reads only the output y.
    """
    plan = getattr(ctx, "activation_plan", None)
    if plan is None:
        act = ctx.activation
        if act is None or act.name == "linear":
            plan = (0, 0.0, None)
        elif act.epilogue and not (ctx.training and act.backward_reads == "x"):
            plan = ops.epilogue_code(act.name, act.alpha) + (None,)
        else:
            plan = (0, 0.0, act)
        ctx.activation_plan = plan
    return plan
