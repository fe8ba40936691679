"""Activations, losses, reductions and optimizer updates on fastnn's C kernels."""

__all__ = []
