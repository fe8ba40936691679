"""fastnn: a fast CPU deep-learning library with a Keras-style API over C/OpenMP kernels."""
__version__ = "0.1.0"

import importlib

from . import _C, ops
from ._config import get_num_threads, max_threads, set_num_threads, set_seed, show_config, simd_path, threads
from ._config import _init_from_environment

_init_from_environment()
del _init_from_environment

# The model stack loads on first use, so `import fastnn` stays cheap for code that only wants ops.
_LAZY_MODULES = ("activations", "callbacks", "data", "datasets", "engine", "evaluation", "initializers", "layers",
                 "losses", "metrics", "models", "optimizers", "plot", "regularizers", "saving", "utils", "wrappers")
_LAZY_NAMES = {"Sequential": "models", "Model": "models", "Input": "layers", "load_model": "saving"}


def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")  # e.g. a Keras API fastnn lacks


def __dir__():
    return sorted(list(globals()) + list(_LAZY_MODULES) + list(_LAZY_NAMES))
