"""Callbacks that change the learning rate: ReduceLROnPlateau, LearningRateScheduler."""
import math
import warnings

import numpy as np

from .._terminal import write_line
from .base import Callback
from .monitoring import monitor_mode

__all__ = ["ReduceLROnPlateau", "LearningRateScheduler"]


def format_learning_rate(lr):
    """7 significant digits (what float32 holds): 0.01 * 0.7 prints as 0.007, not 0.006999999999999999."""
    return f"{lr:.7g}"


def current_learning_rate(model, who):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise RuntimeError(f"{who}: the model has no optimizer; compile it first")
    return float(optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when a monitored quantity stops improving.

    Args:
        monitor: log name to watch.
        factor: new_lr = lr * factor (must be < 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: 'auto', 'min' or 'max'.
        min_delta: smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound of the learning rate.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor!r}")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.mode = monitor_mode(mode, monitor, "ReduceLROnPlateau")
        self.min_delta = float(min_delta)
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improves(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        lr = current_learning_rate(self.model, "ReduceLROnPlateau")
        logs["learning_rate"] = lr
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"ReduceLROnPlateau: monitored quantity {self.monitor!r} is not in the logs",
                          RuntimeWarning, stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(value):
            self.best = value
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and lr > self.min_lr:
                new_lr = max(lr * self.factor, self.min_lr)
                self.model.optimizer.learning_rate = new_lr
                if self.verbose > 0:
                    write_line(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                               f"{format_learning_rate(new_lr)}.")
                self.cooldown_counter = self.cooldown
                self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch to schedule(epoch, current_lr).

    Args:
        schedule: function (epoch index from 0, current learning rate) -> new learning rate (float).
        verbose: 1 prints every change.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError("LearningRateScheduler: schedule must be callable (epoch, lr) -> lr")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.schedule(epoch, current_learning_rate(self.model, "LearningRateScheduler"))
        if isinstance(lr, np.ndarray) and lr.size == 1:
            lr = lr.item()
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)) or not math.isfinite(lr):
            raise ValueError(f"LearningRateScheduler: the schedule must return a finite float, got {lr!r}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            write_line(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                       f"{format_learning_rate(float(lr))}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(self.model, "LearningRateScheduler")
