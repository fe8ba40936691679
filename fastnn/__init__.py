"""fastnn: a fast CPU deep-learning library with a Keras-style API over C/OpenMP kernels."""
__version__ = "0.1.0"

from . import _C, ops
from ._config import get_num_threads, set_num_threads, show_config, simd_path, threads
from ._config import _init_from_environment

_init_from_environment()
del _init_from_environment
