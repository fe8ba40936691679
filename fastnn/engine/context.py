"""Per-call state of a layer, and the workspaces that hold it.

A layer object holds its configuration and weights only. What one call of it needs — the training
flag, the activation the compile pass chose for it, the buffers it writes, the arrays its backward
reads — lives in a CallContext (as PyTorch's autograd functions keep theirs in `ctx`). A model's plan
gives every layer call its own context inside a Workspace, so a layer shared by two calls keeps two
sets of saved arrays, and two threads predicting with one model use two workspaces, never each
other's buffers.

Buffers are sized for the largest batch seen and reused: a smaller batch gets a leading slice of the
same storage, so memory does not grow with the number of distinct batch sizes.
"""
import math

import numpy as np

__all__ = ["CallContext", "Workspace", "WorkspacePool"]

_F32 = np.dtype(np.float32)


class CallContext:
    """The state of one layer call.

    Attributes:
        training: whether this is a training call (dropout active, batch statistics, ...).
        activation: the Activation a layer that fuses one (Dense, Conv) applies to its output, as the
            compile pass decided (its own, another layer's it absorbed, or linear when a loss takes
            the logits); None for other layers.
        accumulate: add this call's weight gradients to the layer's gradient arrays instead of
            overwriting them (the layer is called more than once in the graph; an earlier-visited
            call wrote first).
        need_dx: whether backward must return input gradients (False for the first trained call).

    A layer's forward may store on the context whatever its backward reads (ctx.x = x).
    """

    def __init__(self, training=False, activation=None, accumulate=False, need_dx=True):
        self.training = training
        self.activation = activation
        self.accumulate = accumulate
        self.need_dx = need_dx
        self._storage = {}

    def buffer(self, name, shape, dtype=_F32):
        """A reused array of `shape` for this call to write (float32 unless dtype says otherwise).

        The storage grows to the largest size asked for under `name` and is never shrunk; the array
        returned is a view of its leading part. Contents are undefined until written.
        """
        entry = self._storage.get(name)
        if entry is not None and entry[1] == shape:
            return entry[2]
        size = math.prod(shape)
        storage = entry[0] if entry is not None else None
        if storage is None or storage.size < size or storage.dtype != dtype:
            storage = np.empty(size, dtype)
        view = storage[:size].reshape(shape)
        self._storage[name] = (storage, shape, view)
        return view

    def nbytes(self):
        """Bytes of buffer storage this context holds."""
        return sum(entry[0].nbytes for entry in self._storage.values())


class Workspace:
    """The contexts of every call in one plan, plus the plan's own scratch (gradient sums, loss
    gradients), for one thread of execution at a time."""

    def __init__(self, contexts):
        self.contexts = contexts
        self.scratch = CallContext()

    def nbytes(self):
        return self.scratch.nbytes() + sum(ctx.nbytes() for ctx in self.contexts)


class WorkspacePool:
    """Workspaces for concurrent inference: a caller takes one (or a new one when all are in use) and
    gives it back, so memory grows with the number of simultaneous calls, not of threads ever seen."""

    def __init__(self, make):
        self._make = make
        self._free = []

    def acquire(self):
        try:
            return self._free.pop()  # atomic under the GIL
        except IndexError:
            return self._make()

    def release(self, workspace):
        self._free.append(workspace)
