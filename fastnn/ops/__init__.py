"""The functional API: fastnn.ops.matmul, dense and the building blocks the layers call."""
from .image import affine_transform
from .linalg import dense, dense_backward, dense_backward_into, epilogue_code, matmul
from .nn import *  # noqa: F401,F403
from .nn import __all__ as _nn_all

__all__ = ["matmul", "dense", "dense_backward", "dense_backward_into", "epilogue_code", "affine_transform"] + list(_nn_all)
