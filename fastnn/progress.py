"""The Keras-style progress bar printed by fit, evaluate and predict."""
import sys
import time

import numpy as np

from . import _terminal

__all__ = ["ProgressBar"]

_WIDTH = 20
_MIN_WIDTH = 5  # how far the bar shrinks on a terminal too narrow for it
_UNICODE_BAR = ("━", "─")
_ASCII_BAR = ("=", ".")


def _format_duration(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds >= 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def _format_per_step(seconds, unit):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def format_values(values):
    """' - name: value' for each (name, value), 4 decimals (scientific for tiny values); a metric of
    several values (one per threshold) shows their mean, as Keras's progress bar does."""
    parts = []
    for name, value in values:
        value = float(np.mean(value))
        parts.append(f" - {name}: {value:.4f}" if abs(value) > 1e-3 or value == 0 else f" - {name}: {value:.4e}")
    return "".join(parts)


class ProgressBar:
    """Progress over `target` steps: `32/32 ━━━━━━━━━━━━━━━━━━━━ 0s 1ms/step - loss: 0.69`.

    With verbose=1 the line is redrawn in place (at most every `interval` seconds) when the output is a
    terminal, and printed once at the end otherwise; verbose=2 prints one summary line at the end.
    On a terminal every redraw fits its width (the values are cut, and on very narrow terminals the bar
    shrinks), since a wrapped line cannot be redrawn in place; the final line is whole. Streams that
    cannot encode the bar characters get '=' and '.'.

    Args:
        target: total number of steps.
        verbose: 1 (bar) or 2 (one line).
        unit: the word after the per-step time.
        file: where to write (default sys.stdout at creation).
        interval: minimum seconds between redraws.
    """

    def __init__(self, target, verbose=1, unit="step", file=None, interval=0.05):
        self.target = max(int(target), 1)
        self.verbose = verbose
        self.unit = unit
        self.file = file if file is not None else sys.stdout
        self.interval = interval
        isatty = getattr(self.file, "isatty", None)
        self._terminal = isatty is not None and isatty()
        self.dynamic = verbose == 1 and (self._terminal or "ipykernel" in sys.modules)
        self._bar_chars = _UNICODE_BAR if _terminal.can_encode(self.file, "".join(_UNICODE_BAR)) else _ASCII_BAR
        self.start = time.perf_counter()
        self._next_draw = self.start + interval
        self._last_len = 0

    def update(self, current, values=None, finalize=False):
        """Record that `current` steps are done; `values` is a list of (name, value) or a callable giving it.

        The callable is only evaluated when a line is actually drawn, so running metrics cost nothing
        between redraws.
        """
        if not finalize:
            if not self.dynamic:
                return
            now = time.perf_counter()
            if now < self._next_draw:
                return
            self._next_draw = now + self.interval
        if callable(values):
            values = values()
        self._draw(current, values or [], finalize)

    def _draw(self, current, values, finalize):
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / current if current else 0.0
        count = f"{current:{len(str(self.target))}d}/{self.target}"
        if self.verbose == 2:
            line = f"{count} - {_format_duration(elapsed)} - {_format_per_step(per_step, self.unit)}"
            self.file.write(_terminal.printable(line + format_values(values), self.file) + "\n")
            self.file.flush()
            return
        shown = elapsed if finalize else per_step * (self.target - current)
        timing = f" {_format_duration(shown)} {_format_per_step(per_step, self.unit)}"
        # writing a terminal's last column wraps on some terminals; the final line is never redrawn
        room = _terminal.width(self.file) - 1 if self._terminal and not finalize else None
        if room is None:
            bar_width = _WIDTH
        else:
            bar_width = max(_MIN_WIDTH, min(_WIDTH, room - len(count) - 1 - len(timing)))
        done_char, todo_char = self._bar_chars
        done = min(int(bar_width * current / self.target), bar_width)
        line = f"{count} {done_char * done}{todo_char * (bar_width - done)}{timing}{format_values(values)}"
        line = _terminal.printable(line[:room], self.file)
        if self.dynamic:
            padding = " " * max(self._last_len - len(line), 0)
            self.file.write("\r" + line + padding + ("\n" if finalize else ""))
            self._last_len = len(line)
        else:
            self.file.write(line + "\n")
        self.file.flush()
