"""The functional API: fastnn.ops.matmul, dense and the building blocks the layers call."""
from .linalg import dense, matmul

__all__ = ["matmul", "dense"]
