"""Inference-time rewrites of trained models: fold_batchnorm and int8 dynamic quantization (quantize_dynamic)."""
from .folding import fold_batchnorm, for_inference
from .quantization import quantize_dynamic

__all__ = ["fold_batchnorm", "quantize_dynamic"]
