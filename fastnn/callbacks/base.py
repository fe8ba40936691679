"""The Callback hooks, CallbackList (dispatch from the training loops), History and LambdaCallback."""

__all__ = ["Callback", "CallbackList", "History", "LambdaCallback"]


class Callback:
    """Base class: override any hook. `self.model` is the model being trained, `self.params` its settings.

    Batch hooks get the batch index and logs with the running loss and metrics; epoch hooks get the
    epoch index (from 0) and, at the end, the epoch's logs (including val_ entries).
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        """Same as on_train_batch_begin (Keras's older name)."""

    def on_batch_end(self, batch, logs=None):
        """Same as on_train_batch_end (Keras's older name)."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


def _overrides(callback, *names):
    """Whether a callback implements any of these hooks (a LambdaCallback sets them on the instance)."""
    return any(name in vars(callback) or getattr(type(callback), name) is not getattr(Callback, name)
               for name in names)


class CallbackList:
    """Dispatches each hook to every callback; the loops skip batch hooks nobody overrides.

    Args:
        callbacks: list of Callback (or None).
        model: the model, given to every callback.
        history: a History to append (or None).
        params: dict given to set_params (epochs, steps, verbose).
    """

    def __init__(self, callbacks, model, history, params):
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be fastnn.callbacks.Callback instances, got {type(cb).__name__}")
        if history is not None:
            callbacks.append(history)
        self.callbacks = callbacks
        for cb in callbacks:
            cb.set_model(model)
            cb.set_params(dict(params))
        self.has_train_batch_hooks = any(_overrides(cb, "on_train_batch_begin", "on_train_batch_end", "on_batch_begin",
                                                    "on_batch_end") for cb in callbacks)
        self.has_test_batch_hooks = any(_overrides(cb, "on_test_batch_begin", "on_test_batch_end")
                                        for cb in callbacks)

    def _each(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_train_begin(self, logs=None):
        self._each("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._each("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._each("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._each("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._each("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._each("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._each("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._each("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._each("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs=None):
        self._each("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._each("on_predict_end", logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._each("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._each("on_predict_batch_end", batch, logs)


class History(Callback):
    """Records every epoch's logs: `history.history['loss']` is the list of epoch losses; fit returns it."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)
        self.model.history = self


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch)).

    Args:
        on_epoch_begin, on_epoch_end: f(epoch, logs).
        on_train_begin, on_train_end: f(logs).
        on_train_batch_begin, on_train_batch_end: f(batch, logs).
        **kwargs: any other hook by name (on_test_begin, on_predict_batch_end, ...).
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}")
            if fn is not None:
                setattr(self, name, fn)
