"""StringLookup and IntegerLookup: tokens to vocabulary indices, with Keras's index layout.

Indices follow Keras: the mask token (when given) is 0, then num_oov_indices out-of-vocabulary
(OOV) indices, then the vocabulary in order. In the one_hot, multi_hot and count modes the mask has
no column (a masked token sets none) and every other index moves down by one. Lookups are sorted
searches in NumPy (no Python loop over tokens); the vocabulary lives in the layer's config.
"""
import numpy as np

from ..base import register
from .base import PreprocessingLayer, as_integers, as_tokens
from .encoding import ENCODED_MODES, check_output_mode, encode, encoded_shape, fnv1a64, unicode_array
from .statistics import ValueCounts

__all__ = ["StringLookup", "IntegerLookup"]


class IndexLookup(PreprocessingLayer):
    """What StringLookup and IntegerLookup share; subclasses say how tokens are converted, hashed into
    OOV indices, and written in the config."""

    any_input_shape = True

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=None, vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 **kwargs):
        super().__init__(**kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer))
                                       or max_tokens < 1):
            raise ValueError(f"{what}: max_tokens must be a positive int or None, got {max_tokens!r}")
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, (int, np.integer)) \
                or num_oov_indices < 0:
            raise ValueError(f"{what}: num_oov_indices must be a non-negative int, got {num_oov_indices!r}")
        if idf_weights is not None or sparse:
            raise ValueError(f"{what}: idf_weights (output_mode='tf_idf') and sparse outputs are not supported")
        self.output_mode = check_output_mode(output_mode, ("int",) + ENCODED_MODES, what)
        self.invert = bool(invert)
        if self.invert and self.output_mode != "int":
            raise ValueError(f"{what}: invert=True needs output_mode='int', got {output_mode!r}")
        if self.invert:
            self.input_dtype = "int64"  # indices in, tokens out
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = None if mask_token is None else self._token(mask_token, "mask_token")
        self.oov_token = self._token(oov_token, "oov_token")
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        if self.pad_to_max_tokens and self.max_tokens is None:
            raise ValueError(f"{what}: pad_to_max_tokens=True needs max_tokens")
        self._oov_start = 0 if self.mask_token is None else 1
        self._token_start = self._oov_start + self.num_oov_indices
        if self.max_tokens is not None and self.max_tokens < self._token_start:
            raise ValueError(f"{what}: max_tokens={self.max_tokens} leaves no room for the mask and OOV tokens")
        self._vocabulary = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        else:
            self._refresh_tables()

    # ----- vocabulary ------------------------------------------------------------------------------
    def set_vocabulary(self, vocabulary):
        """Use `vocabulary` (tokens in index order; it may start with the mask and OOV tokens exactly as
        get_vocabulary lists them, which are then skipped)."""
        what = f"{type(self).__name__} '{self.name}'"
        tokens = self._tokens(vocabulary, f"{what}: vocabulary").reshape(-1)
        special = self._special_tokens()
        if special and tokens[:len(special)].tolist() == special:
            tokens = tokens[len(special):]
        unique, counts = np.unique(tokens, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"{what}: the vocabulary repeats {unique[counts > 1][:5].tolist()}")
        for name, token in (("mask", self.mask_token), ("OOV", self.oov_token if self.num_oov_indices else None)):
            if token is not None and (tokens == token).any():
                raise ValueError(f"{what}: the {name} token {token!r} appears in the vocabulary after its reserved "
                                 f"place; the vocabulary need not list the mask and OOV tokens")
        if self.max_tokens is not None and self._token_start + tokens.size > self.max_tokens:
            raise ValueError(f"{what}: a vocabulary of {tokens.size} tokens plus {self._token_start} mask/OOV "
                             f"indices exceeds max_tokens={self.max_tokens}")
        if self.built and self.output_mode != "int" and self._depth(tokens.size) != self._depth():
            raise ValueError(f"{what}: the new vocabulary changes the output width from {self._depth()} to "
                             f"{self._depth(tokens.size)} after the layer was built into a model; adapt before "
                             f"building the model, or give max_tokens with pad_to_max_tokens=True")
        self._vocabulary = tokens
        self._refresh_tables()

    def _refresh_tables(self):
        """The sorted tokens and their indices that lookups search, and the index -> token table."""
        tokens = self._vocabulary if self._vocabulary is not None else self._tokens([], "vocabulary")
        order = np.argsort(tokens, kind="stable")
        self._sorted_tokens = tokens[order]
        self._sorted_indices = order.astype(np.int64) + self._token_start
        self._inverse_table = np.array(self.get_vocabulary(), dtype=object if self._is_string else np.int64)

    def _special_tokens(self):
        return [self.mask_token] * self._oov_start + [self.oov_token] * self.num_oov_indices

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index: the mask token, the OOV token(s), then the vocabulary."""
        tokens = [] if self._vocabulary is None else self._vocabulary.tolist()
        return (self._special_tokens() if include_special_tokens else []) + tokens

    def vocabulary_size(self):
        """The number of indices: mask, OOV and vocabulary tokens."""
        return len(self.get_vocabulary())

    def _depth(self, vocabulary_size=None):
        """Columns of the one_hot / multi_hot / count outputs (the mask has none), for the vocabulary in
        use or one of vocabulary_size tokens."""
        if self.pad_to_max_tokens:
            return self.max_tokens
        if vocabulary_size is None:
            vocabulary_size = 0 if self._vocabulary is None else self._vocabulary.size
        return self.num_oov_indices + vocabulary_size

    # ----- shapes and dtypes -----------------------------------------------------------------------
    def _output_dtype(self):
        if self.invert:
            return "string" if self._is_string else "int64"
        return "int64" if self.output_mode == "int" else "float32"

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        if self._vocabulary is None and not self.pad_to_max_tokens:
            raise ValueError(f"{type(self).__name__} '{self.name}': output_mode={self.output_mode!r} needs the "
                             f"vocabulary to know its width; adapt the layer (or give vocabulary=, or max_tokens "
                             f"with pad_to_max_tokens=True) before building the model")
        return encoded_shape(input_shape, self.output_mode, self._depth(), f"{type(self).__name__} '{self.name}'")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    # ----- lookups ---------------------------------------------------------------------------------
    def lookup(self, tokens):
        """The index of every token (int64, Keras's layout)."""
        if self._sorted_tokens.size:
            position = np.searchsorted(self._sorted_tokens, tokens)
            np.minimum(position, self._sorted_tokens.size - 1, out=position)
            found = self._sorted_tokens[position] == tokens
            indices = self._sorted_indices[position]
        else:
            found = np.zeros(tokens.shape, bool)
            indices = np.zeros(tokens.shape, np.int64)
        masked = None if self.mask_token is None else tokens == self.mask_token
        missing = ~found if masked is None else ~(found | masked)
        if missing.any():
            if self.num_oov_indices == 0:
                raise ValueError(f"{type(self).__name__} '{self.name}': num_oov_indices=0, so every token must be "
                                 f"in the vocabulary; {tokens[missing].reshape(-1)[0].item()!r} is not")
            indices[missing] = self._oov_start + (self._oov_bucket(tokens[missing]) if self.num_oov_indices > 1 else 0)
        if masked is not None:
            indices[masked] = 0
        return indices

    def forward(self, ctx, x):
        if self._vocabulary is None:
            raise ValueError(f"{type(self).__name__} '{self.name}' has no vocabulary: adapt it or give one")
        if self.invert:
            return self._invert(x)
        indices = self.lookup(self._forward_tokens(x))
        if self.output_mode == "int":
            return indices
        return encode(ctx, indices - self._oov_start, self.output_mode, self._depth())

    def _invert(self, indices):
        """The token of every index; indices outside the vocabulary give the OOV token."""
        table = self._inverse_table
        inside = (indices >= 0) & (indices < table.size)
        tokens = table[np.where(inside, indices, 0)]
        tokens[~inside] = self.oov_token
        return tokens

    # ----- adapt ----------------------------------------------------------------------------------
    def _adapt_begin(self, batch, what):
        if self.invert:
            raise ValueError(f"{what}: an inverting lookup cannot learn a vocabulary; adapt the forward lookup "
                             f"and pass its get_vocabulary()")
        self._counts = ValueCounts()

    def _adapt_update(self, batch, what):
        self._counts.update(batch)

    def _adapt_end(self, what):
        counts, self._counts = self._counts, None
        tokens, _ = counts.by_frequency()
        reserved = [t for t in (self.mask_token, self.oov_token) if t is not None]
        if tokens.size:
            tokens = tokens[~np.isin(tokens, reserved)]
        if self.max_tokens is not None:
            tokens = tokens[:self.max_tokens - self._token_start]
        self.set_vocabulary(tokens)

    def get_config(self):
        config = super().get_config()
        config.update(max_tokens=self.max_tokens, num_oov_indices=self.num_oov_indices,
                      mask_token=self.mask_token, oov_token=self.oov_token,
                      vocabulary=self.get_vocabulary(include_special_tokens=False) if self._vocabulary is not None
                      else None, idf_weights=None, invert=self.invert, output_mode=self.output_mode,
                      pad_to_max_tokens=self.pad_to_max_tokens, sparse=False)
        return config


@register
class StringLookup(IndexLookup):
    """Maps strings to integer indices from a vocabulary (given, or learnt with adapt()), as
    keras.layers.StringLookup, with Keras's indices: the mask token 0 (when mask_token is given), then
    num_oov_indices indices for unknown tokens, then the vocabulary. adapt() orders the vocabulary by
    frequency (ties: the larger string first), without the mask and OOV tokens, cut to max_tokens.

    With several OOV indices an unknown token goes to FNV-1a(token) % num_oov_indices (Keras uses
    FarmHash, so the bucket of a given token differs from Keras's).

    Args:
        max_tokens: the most indices (mask and OOV included), or None.
        num_oov_indices: indices for unknown tokens (0: an unknown token is an error).
        mask_token: the token that means padding (index 0), or None.
        oov_token: the token get_vocabulary lists for the OOV indices (and that invert returns).
        vocabulary: a list of tokens, or None to adapt.
        invert: map indices back to tokens.
        output_mode: 'int' (int64 indices), 'one_hot', 'multi_hot' or 'count' (float32 columns).
        pad_to_max_tokens: make the one_hot/multi_hot/count width max_tokens.
        encoding: 'utf-8' (bytes inputs are decoded with it).

    Input shape:
        strings (fastnn.Input(shape=(1,), dtype="string")). Output shape: as output_mode says.

    Example:
        >>> lookup = StringLookup(vocabulary=["a", "b", "c"])
        >>> lookup(np.array([["a"], ["c"], ["z"]]))
        array([[1],
               [3],
               [0]])
    """

    input_dtype = "string"
    _is_string = True

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", **kwargs):
        if encoding not in ("utf-8", "utf8"):
            raise ValueError(f"StringLookup: only encoding='utf-8' is supported, got {encoding!r}")
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, **kwargs)

    def _token(self, value, name):
        if not isinstance(value, str):
            raise TypeError(f"StringLookup '{self.name}': {name} must be a string, got {value!r}")
        return value

    def _tokens(self, values, what):
        return as_tokens(values, what)

    def _forward_tokens(self, x):
        return unicode_array(x)

    def _oov_bucket(self, tokens):
        return (fnv1a64(tokens) % np.uint64(self.num_oov_indices)).astype(np.int64)

    def get_config(self):
        config = super().get_config()
        config["encoding"] = "utf-8"
        return config


@register
class IntegerLookup(IndexLookup):
    """Maps integers to contiguous indices from a vocabulary (given, or learnt with adapt()), as
    keras.layers.IntegerLookup, with Keras's indices (mask 0 when mask_token is given, then the OOV
    indices, then the vocabulary). An unknown value goes to OOV index value mod num_oov_indices
    (Keras's 'floormod').

    Args:
        max_tokens, num_oov_indices, invert, output_mode, pad_to_max_tokens: as StringLookup.
        mask_token: the integer that means padding (index 0), or None.
        oov_token: the integer get_vocabulary lists for the OOV indices (default -1).
        vocabulary: a list of integers, or None to adapt.
        vocabulary_dtype: 'int64' (or 'int32', run as int64).

    Input shape:
        int64 (fastnn.Input(shape=(1,), dtype="int64")). Output shape: as output_mode says.
    """

    input_dtype = "int64"
    _is_string = False

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, oov_method="floormod", **kwargs):
        if vocabulary_dtype not in ("int64", "int32"):
            raise ValueError(f"IntegerLookup: vocabulary_dtype must be 'int64' or 'int32', got {vocabulary_dtype!r}")
        if oov_method != "floormod":
            raise ValueError(f"IntegerLookup: only oov_method='floormod' is supported, got {oov_method!r}")
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, sparse, **kwargs)

    def _token(self, value, name):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"IntegerLookup '{self.name}': {name} must be an int, got {value!r}")
        return int(value)

    def _tokens(self, values, what):
        return as_integers(values, what)

    def _forward_tokens(self, x):
        return x

    def _oov_bucket(self, tokens):
        return np.mod(tokens, self.num_oov_indices)

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_dtype="int64", oov_method="floormod")
        return config
