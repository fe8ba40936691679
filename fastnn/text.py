"""Text helpers: pretrained word vectors for an Embedding layer.

Example:
    >>> vocabulary = vectorizer.get_vocabulary()
    >>> matrix = fastnn.text.load_word_vectors("glove.6B.100d.txt", vocabulary)
    >>> Embedding(len(vocabulary), 100, embeddings_initializer=fastnn.initializers.Constant(matrix),
    ...           trainable=False)
"""
import gzip
import os

import numpy as np

__all__ = ["load_word_vectors"]


def _rows_of(vocabulary):
    """{word: row} and the number of rows, from a sequence of words (row = position) or a dict."""
    if isinstance(vocabulary, dict):
        rows = dict(vocabulary)
        if not all(isinstance(r, (int, np.integer)) and not isinstance(r, bool) and r >= 0 for r in rows.values()):
            raise ValueError("load_word_vectors: a vocabulary dict must map words to non-negative int rows")
        return rows, max(rows.values(), default=-1) + 1
    if isinstance(vocabulary, (str, bytes)) or not hasattr(vocabulary, "__iter__"):
        raise TypeError(f"load_word_vectors: vocabulary must be a sequence of words or a dict word -> row, got "
                        f"{type(vocabulary).__name__}")
    words = list(vocabulary)
    rows = {}
    for row, word in enumerate(words):
        rows.setdefault(word, row)  # a repeated word keeps its first row
    return rows, len(words)


def _header_dimension(fields):
    """word2vec / fastText .vec files start with 'count dimension'; GloVe files have no header."""
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return int(fields[1])
    return None


def load_word_vectors(path, vocabulary, dim=None, missing_initializer="zeros", encoding="utf-8", verbose=1,
                      return_counts=False):
    """The embedding matrix of a vocabulary from word vectors in the common text format.

    One word a line, then its floats, separated by spaces (GloVe; word2vec and fastText .vec files,
    whose first line 'count dimension' is read as a header); a .gz file is read compressed. A word
    may hold spaces (its last `dim` fields are the vector). The first occurrence of a word counts.

    Args:
        path: the vectors file.
        vocabulary: the words in row order (e.g. TextVectorization.get_vocabulary(), whose padding ''
            and '[UNK]' rows are then "not found"), or a dict word -> row.
        dim: the expected vector size; None takes it from the header or the first line.
        missing_initializer: the rows of words the file lacks: an initializer name or object
            ('zeros' by default; e.g. RandomUniform(-0.05, 0.05) to train them).
        encoding: of the file.
        verbose: 1 prints how many words were found, filled in and skipped.
        return_counts: also return {'found', 'missing', 'malformed_lines'}.

    Returns:
        float32 array (rows, dim); with return_counts, (matrix, counts).

    Raises:
        ValueError: the file's vector size differs from dim, or the file has no well-formed line.

    Lines that do not hold a word and dim fields are skipped and counted (malformed_lines), as are the
    lines of vocabulary words whose fields are not numbers (other words' numbers are not parsed).
    """
    from . import initializers

    rows, count = _rows_of(vocabulary)
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    vectors, malformed, expected, first = {}, 0, dim, True
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                fields = raw.decode(encoding).rstrip("\r\n").rstrip(" ").split(" ")
            except UnicodeDecodeError:
                malformed += 1
                continue
            if first:
                first = False
                header = _header_dimension(fields)
                if header is not None:
                    if expected is not None and header != expected:
                        raise ValueError(f"load_word_vectors: {path} holds vectors of size {header} (its header), "
                                         f"expected {expected}")
                    expected = header
                    continue
                if expected is None:
                    expected = len(fields) - 1
                elif len(fields) - 1 != expected:
                    raise ValueError(f"load_word_vectors: {path} holds vectors of size {len(fields) - 1} (line 1), "
                                     f"expected {expected}")
            if expected < 1 or len(fields) < expected + 1:
                malformed += 1
                continue
            word = " ".join(fields[:len(fields) - expected])
            if word not in rows or word in vectors:
                continue
            try:
                vectors[word] = np.array(fields[len(fields) - expected:], dtype=np.float32)
            except ValueError:
                malformed += 1
    if expected is None or expected < 1:
        raise ValueError(f"load_word_vectors: {path} has no line holding a word and its vector")
    matrix = np.asarray(initializers.get(missing_initializer)((count, expected)), dtype=np.float32)
    for word, vector in vectors.items():
        matrix[rows[word]] = vector
    found = len({rows[word] for word in vectors})
    counts = {"found": found, "missing": count - found, "malformed_lines": malformed}
    if verbose:
        print(f"load_word_vectors: {found} of {count} words found in {os.path.basename(os.fspath(path))} "
              f"(vectors of size {expected}); {count - found} rows from {missing_initializer!r}; "
              f"{malformed} malformed lines skipped")
    return (matrix, counts) if return_counts else matrix
