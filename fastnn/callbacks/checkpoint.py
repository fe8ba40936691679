"""ModelCheckpoint: save the model (or its weights) during training."""
import math
import os
import warnings

from .._fnnfile import refuse_keras_path
from .._terminal import write_line
from .base import Callback
from .monitoring import monitor_mode

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after every epoch, or only when the monitored quantity improves.

    With verbose=1 it prints Keras's messages, values to 5 decimals; before the first save the best value
    shows as inf (-inf when maximising), as tf.keras printed it (Keras 3.15 prints "None" there).

    Args:
        filepath: path, may hold format fields such as '{epoch:02d}' (1-based) and any log name ('{val_loss:.3f}').
        monitor: log name compared when save_best_only.
        verbose: 1 prints a message on every save.
        save_best_only: save only when `monitor` improves.
        save_weights_only: model.save_weights instead of model.save.
        mode: 'auto', 'min' or 'max'.
        save_freq: only 'epoch' is supported.
        initial_value_threshold: the value to beat for the first save when save_best_only.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint: only save_freq='epoch' is supported, got {save_freq!r}")
        self.filepath = os.fspath(filepath)
        refuse_keras_path(self.filepath, weights_only=bool(save_weights_only))
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.mode = monitor_mode(mode, monitor, "ModelCheckpoint")
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError) as exc:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} uses {exc}, which is not in the logs "
                           f"(available: epoch, {', '.join(logs)})") from None
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                warnings.warn(f"ModelCheckpoint: can save best model only with {self.monitor!r} in the logs",
                              RuntimeWarning, stacklevel=2)
                return
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            best = self.best if self.best is not None else math.inf if self.mode == "min" else -math.inf
            if not better:
                if self.verbose > 0:
                    write_line(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best:.5f}")
                return
            if self.verbose > 0:
                write_line(f"Epoch {epoch + 1}: {self.monitor} improved from {best:.5f} to {value:.5f}, "
                           f"saving model to {path}")
            self.best = value
        elif self.verbose > 0:
            write_line(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose > 0:
            write_line(f"Epoch {epoch + 1}: finished saving model to {path}")
