"""TextVectorization: raw strings to token indices or token columns, inside a model.

Each string is standardized, split into tokens and, with ngrams, extended by its n-grams (joined by a
space), as Keras does; the tokens then go through a StringLookup that holds the vocabulary (mask ''
at index 0 and '[UNK]' at 1 in the int mode; '[UNK]' at 0 in the column modes). The vocabulary and
the idf weights live in the layer's config, so a saved model takes raw text.
"""
import string

import numpy as np

from ..base import register
from .base import PreprocessingLayer, as_tokens
from .encoding import check_output_mode, encode
from .lookup import StringLookup
from .statistics import ValueCounts

__all__ = ["TextVectorization"]

# Keras's DEFAULT_STRIP_REGEX: ASCII punctuation
_PUNCTUATION = str.maketrans("", "", "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'")
# Keras lowercases with tf.strings.lower, which changes ASCII letters only ('ÀÉÎ' stays as it is)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation", None)
_SPLIT = ("whitespace", "character", None)
_MODES = ("int", "multi_hot", "count", "tf_idf")


def _ngram_sizes(ngrams, what):
    """The n-gram sizes a string yields: None one; an int n 1..n; a tuple those given."""
    if ngrams is None:
        return (1,)
    if isinstance(ngrams, (int, np.integer)) and not isinstance(ngrams, bool) and ngrams >= 1:
        return tuple(range(1, int(ngrams) + 1))
    if isinstance(ngrams, (tuple, list)) and ngrams and all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in ngrams):
        return tuple(int(n) for n in ngrams)
    raise ValueError(f"{what}: ngrams must be None, a positive int or a tuple of positive ints, got {ngrams!r}")


@register
class TextVectorization(PreprocessingLayer):
    """Maps raw strings to token indices (or multi_hot / count / tf_idf columns), as
    keras.layers.TextVectorization.

    Args:
        max_tokens: the most vocabulary indices (mask and OOV included), or None.
        standardize: 'lower_and_strip_punctuation' (default), 'lower', 'strip_punctuation' or None.
        split: 'whitespace' (default; empty tokens dropped), 'character' (every code point) or None.
        ngrams: None, an int n (the 1- to n-grams) or a tuple of sizes.
        output_mode: 'int' (int64 indices: 0 padding, 1 unknown), 'multi_hot', 'count' or 'tf_idf'
            (float32 columns, one row per string).
        output_sequence_length: int mode: pad or cut every row to this length (else to the batch's
            longest).
        pad_to_max_tokens: the column modes' width is max_tokens.
        vocabulary: a list of tokens, or None to adapt().
        idf_weights: tf_idf with a given vocabulary: one weight per vocabulary token.
        **kwargs: name, input_shape.

    Input shape:
        strings (batch,) or (batch, 1): fastnn.Input(shape=(1,), dtype="string").
    Output shape:
        int: (batch, output_sequence_length); else (batch, columns).

    Example:
        >>> vectorize = TextVectorization(output_sequence_length=4)
        >>> vectorize.adapt(["the cat sat", "the dog"])
        >>> vectorize(np.array(["The cat!"]))
        array([[2, 3, 0, 0]])
    """

    any_input_shape = True

    input_dtype = "string"

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", **kwargs):
        super().__init__(**kwargs)
        what = f"TextVectorization '{self.name}'"
        if standardize not in _STANDARDIZE:
            raise ValueError(f"{what}: standardize must be one of {_STANDARDIZE} (callables are not supported), "
                             f"got {standardize!r}")
        if split not in _SPLIT:
            raise ValueError(f"{what}: split must be one of {_SPLIT} (callables are not supported), got {split!r}")
        if sparse or ragged:
            raise ValueError(f"{what}: sparse and ragged outputs are not supported")
        if encoding not in ("utf-8", "utf8"):
            raise ValueError(f"{what}: only encoding='utf-8' is supported, got {encoding!r}")
        self.output_mode = check_output_mode(output_mode, _MODES, what)
        if output_sequence_length is not None:
            if self.output_mode != "int":
                raise ValueError(f"{what}: output_sequence_length is only for output_mode='int'")
            if isinstance(output_sequence_length, bool) or not isinstance(output_sequence_length, (int, np.integer)) \
                    or output_sequence_length < 1:
                raise ValueError(f"{what}: output_sequence_length must be a positive int or None, "
                                 f"got {output_sequence_length!r}")
            output_sequence_length = int(output_sequence_length)
        self.standardize, self.split = standardize, split
        self._ngram_sizes = _ngram_sizes(ngrams, what)
        self.ngrams = ngrams if ngrams is None else int(ngrams) if np.ndim(ngrams) == 0 else self._ngram_sizes
        self.output_sequence_length = output_sequence_length
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.max_tokens = max_tokens
        self._lookup = StringLookup(max_tokens=max_tokens, mask_token="" if self.output_mode == "int" else None,
                                    pad_to_max_tokens=self.pad_to_max_tokens, name=f"{self.name}_lookup")
        self._idf = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError(f"{what}: idf_weights needs a vocabulary")

    # ----- vocabulary ------------------------------------------------------------------------------
    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index: in the int mode '' (padding) and '[UNK]' first, else '[UNK]' first."""
        return self._lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self._lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Use `vocabulary` (tokens in index order, optionally led by the special tokens as
        get_vocabulary lists them); tf_idf needs idf_weights, one per vocabulary token."""
        what = f"TextVectorization '{self.name}'"
        if (idf_weights is None) != (self.output_mode != "tf_idf"):
            raise ValueError(f"{what}: idf_weights go with output_mode='tf_idf' and a vocabulary, and only then")
        width = self._width() if self.built and self.output_mode != "int" else None
        previous = self._lookup.get_vocabulary(include_special_tokens=False) \
            if self._lookup._vocabulary is not None else None
        self._lookup.set_vocabulary(vocabulary)
        if width is not None and self._width() != width:
            if previous is None:
                self._lookup._vocabulary = None
                self._lookup._refresh_tables()
            else:
                self._lookup.set_vocabulary(previous)
            raise ValueError(f"{what}: the new vocabulary changes the output width from {width} after the layer was "
                             f"built into a model; adapt before building the model, or give max_tokens with "
                             f"pad_to_max_tokens=True")
        if idf_weights is not None:
            # float32 first: the OOV mean is then the same after a save and load of the config
            weights = np.asarray(idf_weights, np.float32).reshape(-1).astype(np.float64)
            size = self._lookup.vocabulary_size() - 1
            if weights.size == size + 1:  # led by the OOV weight, as get_config lists none but Keras may
                weights = weights[1:]
            if weights.size != size or not np.isfinite(weights).all():
                raise ValueError(f"{what}: idf_weights must be {size} finite numbers, one per vocabulary token")
            self._idf = self._idf_columns(weights)

    def _idf_columns(self, weights):
        """The tf_idf multipliers per column: the OOV column the mean weight, padding columns zero."""
        columns = np.zeros(self._width(), np.float32)
        columns[0] = weights.mean() if weights.size else 0.0
        columns[1:1 + weights.size] = weights
        return columns

    def _width(self):
        return self._lookup._depth()

    # ----- text to tokens --------------------------------------------------------------------------
    def _standardize(self, text):
        if self.standardize in ("lower_and_strip_punctuation", "lower"):
            text = text.translate(_ASCII_LOWER)
        if self.standardize in ("lower_and_strip_punctuation", "strip_punctuation"):
            text = text.translate(_PUNCTUATION)
        return text

    def _tokens_of(self, text):
        """The tokens of one string: its words (or characters), then each n-gram size's n-grams."""
        text = self._standardize(text)
        words = text.split() if self.split == "whitespace" else list(text) if self.split == "character" else [text]
        tokens = []
        for n in self._ngram_sizes:
            tokens += words if n == 1 else [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
        return tokens

    def _tokenize(self, x, what):
        """The tokens of every string of a batch (batch,) or (batch, 1), as one flat unicode array and
        each string's count."""
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 1:
            raise ValueError(f"{what}: expects strings of shape (batch,) or (batch, 1), got shape {x.shape}")
        per_string = [self._tokens_of(text) for text in x.tolist()]
        lengths = np.array([len(t) for t in per_string], np.int64)
        flat = [token for tokens in per_string for token in tokens]
        return (np.array(flat) if flat else np.zeros(0, "U1")), lengths

    # ----- shapes ----------------------------------------------------------------------------------
    def _output_dtype(self):
        return "int64" if self.output_mode == "int" else "float32"

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        what = f"TextVectorization '{self.name}'"
        if not (len(input_shape) == 1 or (len(input_shape) == 2 and input_shape[1] in (1, None))):
            raise ValueError(f"{what}: expects strings of shape (batch,) or (batch, 1), got {input_shape}")
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        if self._lookup._vocabulary is None and not self.pad_to_max_tokens:
            raise ValueError(f"{what}: output_mode={self.output_mode!r} needs the vocabulary to know its width; adapt "
                             f"the layer (or give vocabulary=, or max_tokens with pad_to_max_tokens=True) before "
                             f"building the model")
        return (input_shape[0], self._width())

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def _call_eager(self, flat, multi, training):
        # Keras takes one plain string as a scalar input: its tokens come back without a batch axis
        if not multi and isinstance(flat[0], str):
            return super()._call_eager([[flat[0]]], False, training)[0]
        return super()._call_eager(flat, multi, training)

    # ----- running ---------------------------------------------------------------------------------
    def forward(self, ctx, x):
        what = f"TextVectorization '{self.name}'"
        if self._lookup._vocabulary is None:
            raise ValueError(f"{what} has no vocabulary: adapt it or give one")
        if not isinstance(x, np.ndarray) or x.dtype.kind not in "USO":
            raise TypeError(f"{what}: expected strings, got {type(x).__name__}")
        tokens, lengths = self._tokenize(as_tokens(x, what), what)
        indices = self._lookup.lookup(tokens)
        length = self.output_sequence_length if self.output_mode == "int" and self.output_sequence_length \
            else int(lengths.max(initial=0))
        # each string's tokens left-aligned in a row; the rest padding (0), or -1 (no column) for encode
        kept = np.arange(length)[None, :] < lengths[:, None]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        rows = np.full((len(lengths), length), 0 if self.output_mode == "int" else -1, np.int64)
        rows[kept] = indices[(starts[:, None] + np.arange(length)[None, :])[kept]]
        if self.output_mode == "int":
            return rows
        out = encode(ctx, rows, "count" if self.output_mode == "tf_idf" else self.output_mode, self._width())
        if self.output_mode == "tf_idf":
            out *= self._idf
        return out

    # ----- adapt -----------------------------------------------------------------------------------
    def _adapt_begin(self, batch, what):
        self._token_counts, self._document_counts, self._documents = ValueCounts(), ValueCounts(), 0

    def _adapt_update(self, batch, what):
        tokens, lengths = self._tokenize(batch, what)
        self._token_counts.update(tokens)
        if self.output_mode == "tf_idf":  # each token once per string it occurs in
            ends = np.cumsum(lengths)
            self._document_counts.update(np.concatenate(
                [np.unique(tokens[end - n:end]) for end, n in zip(ends, lengths)] or [tokens[:0]]))
            self._documents += len(lengths)

    def _adapt_end(self, what):
        counts, documents = self._token_counts, self._document_counts
        self._token_counts = self._document_counts = None
        vocabulary, _ = counts.by_frequency()
        reserved = self._lookup._token_start
        vocabulary = vocabulary[vocabulary != ""] if vocabulary.size else vocabulary
        vocabulary = vocabulary[vocabulary != self._lookup.oov_token] if vocabulary.size else vocabulary
        if self.max_tokens is not None:
            vocabulary = vocabulary[:self.max_tokens - reserved]
        idf = None
        if self.output_mode == "tf_idf":  # Keras's idf: log(1 + documents / (1 + documents with the token))
            with_token = documents.counts[np.searchsorted(documents.values, vocabulary)] if vocabulary.size else []
            idf = np.log1p(self._documents / (1.0 + np.asarray(with_token, np.float64)))
        self.set_vocabulary(vocabulary.tolist(), idf)

    def get_config(self):
        config = super().get_config()
        has_vocabulary = self._lookup._vocabulary is not None
        config.update(max_tokens=self.max_tokens, standardize=self.standardize, split=self.split,
                      ngrams=list(self.ngrams) if isinstance(self.ngrams, tuple) else self.ngrams,
                      output_mode=self.output_mode, output_sequence_length=self.output_sequence_length,
                      pad_to_max_tokens=self.pad_to_max_tokens,
                      vocabulary=self.get_vocabulary(include_special_tokens=False) if has_vocabulary else None,
                      idf_weights=self._idf[1:1 + self.vocabulary_size() - 1].tolist()
                      if self._idf is not None else None, sparse=False, ragged=False, encoding="utf-8")
        return config
