"""TextVectorization's converter: raw strings to token ids inside the ONNX graph.

Standardizing needs string operators ONNX does not have (lower-casing, regular-expression
replacement), so they come from onnxruntime-extensions (domain ai.onnx.contrib: StringLower,
StringRegexReplace); splitting is ONNX's StringSplit and the vocabulary a LabelEncoder table. Without
onnxruntime-extensions the export stops with an error that says so; the model after the layer (its
integer ids) exports on its own.
"""
import functools
import sys

import numpy as np

from ..layers.preprocessing import TextVectorization
from .preprocessing import encode
from .registry import converts, samples

CONTRIB_DOMAIN = "ai.onnx.contrib"
_SEPARATORS = (" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000 ", "\x0b\x0c")
# Keras's DEFAULT_STRIP_REGEX: ASCII punctuation, as a character class (RE2 syntax)
_PUNCTUATION = r"""[!"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']"""


@functools.cache
def _whitespace_runs():
    """RE2 pattern of a run of the characters str.split() splits on (tab, newline, no-break space, ...):
    ONNX's StringSplit without a delimiter splits on ' ' alone."""
    spaces = (chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in spaces) + "]+"


def _extensions_installed():
    try:
        import onnxruntime_extensions  # noqa: F401
    except ImportError:
        return False
    return True


@converts(TextVectorization)
def text_vectorization(call):
    layer, g = call.layer, call.g
    if not _extensions_installed():
        raise call.error("standardizing and splitting text needs string operators from onnxruntime-extensions "
                         "(pip install onnxruntime-extensions); without them the export has to stop at the integer "
                         "ids: export a model that starts after this layer and run the layer in fastnn")
    if g.opset < 20:
        raise call.error(f"splitting text needs ONNX's StringSplit (opset 20), the export targets opset {g.opset}")
    if layer._ngram_sizes != (1,) or layer.split == "character":
        raise call.error("n-grams and split='character' have no ONNX string operator")
    vocabulary = layer.get_vocabulary(include_special_tokens=False)
    if not vocabulary:
        raise call.error("it has no vocabulary yet (adapt it or give one)")
    text = call.x if len(call.shape) == 1 else g.squeeze(call.x, [1], call.hint("text"))
    if layer.standardize in ("lower_and_strip_punctuation", "lower"):
        text = g.op("StringLower", [text], call.hint("lower"), domain=CONTRIB_DOMAIN)
    if layer.standardize in ("lower_and_strip_punctuation", "strip_punctuation"):
        text = g.op("StringRegexReplace", [text, g.const([_PUNCTUATION], "punctuation", None),
                                           g.const([""], "nothing", None)], call.hint("stripped"),
                    domain=CONTRIB_DOMAIN, global_replace=1)
    if layer.split == "whitespace":  # runs of spaces split, ends trimmed, as str.split() once all are ' '
        text = g.op("StringRegexReplace", [text, g.const([_whitespace_runs()], "whitespace", None),
                                           g.const([" "], "space", None)], call.hint("spaced"),
                    domain=CONTRIB_DOMAIN, global_replace=1)
        tokens = g.op("StringSplit", [text], call.hint("tokens"), outputs=2)[0]
    else:
        tokens = g.unsqueeze(text, [1], call.hint("tokens"))
    lookup = layer._lookup
    # the padding StringSplit adds is '': the mask token (index 0) in the int mode, no column otherwise
    keys = vocabulary + [""]
    values = list(range(lookup._token_start, lookup._token_start + len(vocabulary))) + [0 if layer.output_mode == "int"
                                                                                          else -1]
    indices = g.op("LabelEncoder", [tokens], call.hint("ids"), domain="ai.onnx.ml", keys_strings=keys,
                   values_int64s=values, default_int64=lookup._oov_start)
    if layer.output_mode == "int":
        if layer.output_sequence_length is None:
            return indices
        length = layer.output_sequence_length
        padded = g.op("Pad", [indices, g.ints([0, 0, 0, length]), g.const(np.int64(0), "zero", np.int64)])
        return g.op("Slice", [padded, g.ints([0]), g.ints([length]), g.ints([1])], call.hint())
    mode = "count" if layer.output_mode == "tf_idf" else layer.output_mode
    columns = encode(call, indices, mode, layer._width(), (None, None))
    if layer.output_mode != "tf_idf":
        return columns
    return g.op("Mul", [columns, g.const(layer._idf, call.hint("idf"))], call.hint())


@samples(TextVectorization)
def sentences(layer, shape, dtype, rng):
    """Sentences of vocabulary words, unknown words, capitals, punctuation and runs of whitespace of every
    kind predict splits on (tabs, line breaks, no-break and ideographic spaces)."""
    words = layer.get_vocabulary(include_special_tokens=False) + ["Unseen", "zebra!"]
    texts = []
    for _ in range(int(np.prod(shape))):
        picked = [words[i] for i in rng.integers(0, len(words), rng.integers(0, 9))]
        separator = _SEPARATORS[rng.integers(0, len(_SEPARATORS))]
        texts.append(separator.join(w.upper() if rng.random() < 0.2 else w + "," if rng.random() < 0.2 else w
                               for w in picked))
    return np.array(texts, dtype=object).reshape(shape)
