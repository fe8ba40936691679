"""Inference optimisation of trained models: int8 dynamic quantization (quantize_dynamic)."""
from .quantization import quantize_dynamic

__all__ = ["quantize_dynamic"]
