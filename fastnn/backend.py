"""What programs written for Keras call from keras.backend: clear_session."""
from .layers.base import reset_unique_names

__all__ = ["clear_session"]


def clear_session(free_memory=True):
    """Forgets the names given so far, as Keras does: the next Dense is 'dense' again. fastnn keeps no
    graph or session, and models free their memory when nothing refers to them, so there is nothing
    else to release; free_memory is accepted for Keras's signature."""
    reset_unique_names()
