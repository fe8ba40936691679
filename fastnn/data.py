"""Batches from Python code: fastnn.data.PyDataset, Keras's way of feeding fit, evaluate and predict
data that is produced (or loaded) batch by batch.

Example:
    >>> class Batches(fastnn.data.PyDataset):
    ...     def __init__(self, x, y, batch_size):
    ...         super().__init__()
    ...         self.x, self.y, self.batch_size = x, y, batch_size
    ...     def __len__(self):
    ...         return -(-len(self.x) // self.batch_size)
    ...     def __getitem__(self, index):
    ...         part = slice(index * self.batch_size, (index + 1) * self.batch_size)
    ...         return self.x[part], self.y[part]
    >>> model.fit(Batches(x, y, 32), epochs=5)

A plain Python generator yielding (x, y) or (x, y, sample_weight) batches works too; give fit
steps_per_epoch when it never ends.
"""

__all__ = ["PyDataset"]


class PyDataset:
    """Base class of a dataset that returns whole batches: subclass it and define __len__ (the number
    of batches per epoch) and __getitem__(index) (batch `index` as (x, y), (x, y, sample_weight) or,
    for predict, x). on_epoch_end() runs after every epoch (reshuffle there).

    Args:
        workers, use_multiprocessing, max_queue_size: Keras's arguments, accepted for compatibility;
            batches are produced in the training thread, in order.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of batches)")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning a batch")

    def on_epoch_end(self):
        """Called at the end of every epoch."""
