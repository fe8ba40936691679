"""Requests that arrive together become one predict call.

The event loop queues each request's inputs; a batch is dispatched to a predict thread when it reaches
``max_rows`` or when ``max_delay`` seconds have passed since a worker was free and the first request of it
came, and at once when a worker finishes with requests waiting (they have waited already). Only requests
whose inputs have the same trailing shapes go together. fastnn's inference is batch-invariant (a row's
output does not depend on its batch), so a client cannot tell whether its request was batched.
"""
import asyncio
import collections
import concurrent.futures
import logging

import numpy as np

__all__ = ["Batcher"]

logger = logging.getLogger("fastnn.serve")


class _Request:
    __slots__ = ("inputs", "rows", "key", "future")

    def __init__(self, inputs, future):
        self.inputs, self.rows, self.future = inputs, len(inputs[0]), future
        self.key = tuple(a.shape[1:] for a in inputs)


class Batcher:
    """Batch predict calls from the event loop's requests onto `workers` threads.

    Args:
        predict: called in a worker thread with one batch-first array per input; returns one array per output.
        workers: predict threads (batches computed at once).
        max_rows: rows of a batch at most (a larger request runs alone).
        max_delay: seconds a free worker waits for more requests before it starts a batch.
        after_batch: called in the worker thread, once the replies are on their way, with the batch's
            inputs (metrics, drift monitoring); None for nothing.
    """

    def __init__(self, predict, workers, max_rows, max_delay, after_batch=None):
        self._predict, self.workers, self.max_rows, self.max_delay = predict, workers, max_rows, max_delay
        self._after_batch = after_batch
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="fastnn-predict")
        self._loop = None
        self._pending = collections.deque()
        self._pending_rows = 0
        self._busy = 0
        self._timer = None

    async def predict(self, inputs):
        """The model's outputs for one request's inputs (from the loop thread), computed in some batch."""
        self._loop = self._loop or asyncio.get_running_loop()
        request = _Request(inputs, self._loop.create_future())
        self._pending.append(request)
        self._pending_rows += request.rows
        if self._busy < self.workers:
            if self._pending_rows >= self.max_rows or self.max_delay <= 0:
                self._dispatch()
            elif self._timer is None:
                self._timer = self._loop.call_later(self.max_delay, self._timer_fired)
        return await request.future

    def shutdown(self):
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _timer_fired(self):
        self._timer = None
        if self._busy < self.workers:
            self._dispatch()

    def _take_batch(self):
        """The oldest request and the next ones of its shapes, up to max_rows; the rest stay queued."""
        first = self._pending.popleft()
        batch, rows, kept = [first], first.rows, collections.deque()
        while self._pending and rows < self.max_rows:
            request = self._pending.popleft()
            if request.key == first.key and rows + request.rows <= self.max_rows:
                batch.append(request)
                rows += request.rows
            else:
                kept.append(request)
        kept.extend(self._pending)
        self._pending = kept
        self._pending_rows -= rows
        return batch

    def _dispatch(self):
        while self._pending and self._busy < self.workers:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._busy += 1
            self._executor.submit(self._run, self._take_batch())

    def _run(self, batch):
        """In a worker thread: one predict call for the batch, replies posted back to the loop. If the batch
        fails, its requests run one by one, so that a request the model refuses (an id outside an
        Embedding's range, say) fails alone and the others still get their answers."""
        try:
            inputs = _joined(batch)
            results = _split(self._predict(inputs), batch)
        except Exception as e:
            results = [e] if len(batch) == 1 else [self._predict_alone(request) for request in batch]
            served = [request for request, result in zip(batch, results) if not isinstance(result, Exception)]
            inputs = _joined(served) if served else None
        self._loop.call_soon_threadsafe(self._finish, batch, results)
        if self._after_batch is not None and inputs is not None:
            try:
                self._after_batch(inputs)
            except Exception:
                logger.exception("monitoring a batch failed")

    def _predict_alone(self, request):
        try:
            return self._predict(list(request.inputs))
        except Exception as e:
            return e

    def _finish(self, batch, results):
        self._busy -= 1
        for request, result in zip(batch, results):
            if not request.future.done():
                if isinstance(result, Exception):
                    request.future.set_exception(result)
                else:
                    request.future.set_result(result)
        self._dispatch()


def _joined(batch):
    """One batch-first array per input: the requests' rows in order."""
    return [a[0] if len(a) == 1 else np.concatenate(a) for a in zip(*(request.inputs for request in batch))]


def _split(outputs, batch):
    """Each request's rows of the batch's outputs."""
    results, at = [], 0
    for request in batch:
        results.append([o[at:at + request.rows] for o in outputs])
        at += request.rows
    return results
