"""A lock that a forked child gets unlocked.

A thread of the parent holding a lock when another thread forks does not exist in the child, so in
the child nobody would ever release it: a child's fit or evaluate would wait forever for a step the
parent was running. After a fork, the child replaces the lock of every live ForkSafeLock.
"""
import os
import threading
import weakref

__all__ = ["ForkSafeLock"]


class ForkSafeLock:
    """threading.Lock as a context manager, fresh in a forked child."""

    _live = weakref.WeakSet()

    def __init__(self):
        self._lock = threading.Lock()
        ForkSafeLock._live.add(self)

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc_info):
        return self._lock.__exit__(*exc_info)

    def _renew(self):
        self._lock = threading.Lock()


def _renew_all_in_child():
    for lock in list(ForkSafeLock._live):
        lock._renew()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_all_in_child)
