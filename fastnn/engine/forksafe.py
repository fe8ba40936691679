"""Locks that a forked child gets unlocked.

A thread of the parent holding a lock when another thread forks does not exist in the child, so in
the child nobody would ever release it: a child's fit or evaluate would wait forever for a step the
parent was running. After a fork, the child gives every registered owner a fresh lock. The owners
keep a plain threading.Lock, so a training step pays nothing for this.
"""
import os
import threading
import weakref

__all__ = ["set_fork_safe_lock"]

_owners = weakref.WeakValueDictionary()  # (id(owner), attribute) -> owner


def set_fork_safe_lock(owner, attribute):
    """Set owner.<attribute> to a threading.Lock that is replaced by a new one in a forked child."""
    setattr(owner, attribute, threading.Lock())
    _owners[(id(owner), attribute)] = owner


def _renew_all_in_child():
    for (_, attribute), owner in list(_owners.items()):
        setattr(owner, attribute, threading.Lock())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_all_in_child)
