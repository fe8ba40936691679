"""fastnn: a fast CPU deep-learning library with a Keras-style API over C/OpenMP kernels."""
__version__ = "0.1.0"

import importlib
import os


def _load_kernels_with_a_yielding_wait_policy():
    """Import the C extension with OpenMP's idle threads sleeping rather than spinning, unless the user
    chose a policy. libgomp reads its environment once, when it is loaded with the extension; the
    environment is then restored, so child processes see the user's own. With spinning workers, two
    threads on a machine where another process holds a core took up to 1.5x the time of one thread
    (benchmarks/busy_rows.py); sleeping workers are woken promptly by the OS instead."""
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        from . import _C
        return _C
    os.environ["OMP_WAIT_POLICY"] = "passive"
    try:
        from . import _C
    finally:
        del os.environ["OMP_WAIT_POLICY"]
    return _C


_C = _load_kernels_with_a_yielding_wait_policy()
del _load_kernels_with_a_yielding_wait_policy, os
from . import ops  # noqa: E402
from ._config import get_num_threads, max_threads, set_num_threads, set_seed, show_config, simd_path  # noqa: E402
from ._config import _init_from_environment, threads  # noqa: E402

_init_from_environment()
del _init_from_environment

# The model stack loads on first use, so `import fastnn` stays cheap for code that only wants ops.
_LAZY_MODULES = ("activations", "backend", "callbacks", "data", "datasets", "engine", "evaluation", "initializers",
                 "layers", "losses", "metrics", "models", "optimize", "optimizers", "plot", "regularizers", "saving",
                 "text", "utils", "wrappers")
_LAZY_NAMES = {"Sequential": "models", "Model": "models", "Input": "layers", "load_model": "saving"}


def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")  # e.g. a Keras API fastnn lacks


def __dir__():
    return sorted(list(globals()) + list(_LAZY_MODULES) + list(_LAZY_NAMES))
