"""The functional API: fastnn.ops.matmul, dense and the building blocks the layers call."""
from . import conv as _conv
from . import conv_transpose as _conv_transpose
from . import depthwise as _depthwise
from . import normalization as _normalization
from . import pooling as _pooling
from . import resizing as _resizing
from .conv import *  # noqa: F401,F403
from .conv_transpose import *  # noqa: F401,F403
from .depthwise import *  # noqa: F401,F403
from .embedding import embedding_backward, embedding_lookup
from .image import affine_transform
from .linalg import dense, dense_backward, dense_backward_into, epilogue_code, matmul
from .nn import *  # noqa: F401,F403
from .nn import __all__ as _nn_all
from .normalization import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .recurrent import __all__ as _recurrent_all
from .recurrent import (gru, gru_backward, lstm, lstm_backward, rnn_workspace, rnn_workspace_size, simple_rnn,
                        simple_rnn_backward)
from .resizing import *  # noqa: F401,F403

__all__ = (["matmul", "dense", "dense_backward", "dense_backward_into", "epilogue_code", "embedding_lookup",
            "embedding_backward", "affine_transform"] + list(_nn_all) + list(_recurrent_all)
           + [name for module in (_conv, _conv_transpose, _depthwise, _pooling, _normalization, _resizing)
              for name in module.__all__])
