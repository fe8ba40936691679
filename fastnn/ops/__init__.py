"""The functional API: fastnn.ops.matmul, dense and the building blocks the layers call."""
from .embedding import embedding_backward, embedding_lookup
from .linalg import dense, dense_backward, dense_backward_into, epilogue_code, matmul
from .nn import *  # noqa: F401,F403
from .nn import __all__ as _nn_all
from .recurrent import __all__ as _recurrent_all
from .recurrent import (gru, gru_backward, lstm, lstm_backward, rnn_workspace, rnn_workspace_size, simple_rnn,
                        simple_rnn_backward)

__all__ = (["matmul", "dense", "dense_backward", "dense_backward_into", "epilogue_code", "embedding_lookup",
            "embedding_backward"] + list(_nn_all) + list(_recurrent_all))
