"""Categorical encodings: the one_hot / multi_hot / count outputs every categorical layer shares,
CategoryEncoding, Hashing, and the hash (FNV-1a) that Hashing and StringLookup's OOV buckets use."""
import numpy as np

from ... import _C
from ..base import register
from .base import PreprocessingLayer, as_tokens

__all__ = ["CategoryEncoding", "Hashing", "ENCODED_MODES", "encoded_shape", "encode", "fnv1a64", "unicode_array"]

ENCODED_MODES = ("one_hot", "multi_hot", "count")

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def check_output_mode(mode, allowed, what):
    if mode not in allowed:
        raise ValueError(f"{what}: output_mode must be one of {', '.join(allowed)}, got {mode!r}")
    return mode


def encoded_shape(input_shape, mode, depth, what):
    """Keras's output shapes: one_hot replaces a last axis of size 1 by depth (else adds an axis);
    multi_hot and count give one row of depth per sample of shape (batch,) or (batch, tokens)."""
    input_shape = tuple(input_shape)
    if mode == "one_hot":
        if len(input_shape) > 1 and input_shape[-1] == 1:
            return input_shape[:-1] + (depth,)
        return input_shape + (depth,)
    if len(input_shape) > 2:
        raise ValueError(f"{what}: output_mode={mode!r} takes inputs of shape (batch,) or (batch, tokens), got "
                         f"{input_shape}")
    return (input_shape[0], depth)


def encode(ctx, indices, mode, depth):
    """int64 indices in [-1, depth) as float32 columns of `mode`; -1 (a masked token) sets none."""
    out = ctx.buffer("encoded", encoded_shape(indices.shape, mode, depth, "encode"))
    out.fill(0.0)
    if mode == "one_hot":
        flat, columns = out.reshape(-1, depth), indices.reshape(-1)
        rows = np.flatnonzero(columns >= 0)
        flat[rows, columns[rows]] = 1.0
        return out
    columns = indices.reshape(len(indices), -1)
    cells = (np.arange(len(indices))[:, None] * depth + columns)[columns >= 0]
    if mode == "multi_hot":
        out.reshape(-1)[cells] = 1.0
    else:
        out.reshape(-1)[...] = np.bincount(cells, minlength=out.size)
    return out


def unicode_array(x):
    """Strings a model feeds (str objects, bytes or unicode) as a numpy unicode array."""
    kind = x.dtype.kind
    if kind == "U":
        return x
    if kind == "S":
        return np.strings.decode(x, "utf-8")
    return x.astype(str) if x.size else x.astype("U1")


def fnv1a64(tokens, salt=None):
    """The 64-bit FNV-1a hash of each string's UTF-8 bytes (after the 8 little-endian bytes of salt,
    when given), as uint64: a published hash with fixed constants, so bins are the same on every
    machine, in every process and in any language. One C pass over the code points."""
    basis = FNV_OFFSET
    if salt is not None:
        for octet in int(salt).to_bytes(8, "little"):
            basis = ((basis ^ octet) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return _C.fnv1a_utf8(np.ascontiguousarray(tokens), basis)


@register
class CategoryEncoding(PreprocessingLayer):
    """Integer category ids as one_hot, multi_hot or count columns, as keras.layers.CategoryEncoding.

    Args:
        num_tokens: the number of categories; every input must be in [0, num_tokens).
        output_mode: 'one_hot' (a last axis of size 1 becomes num_tokens, else one is added),
            'multi_hot' (1 in the column of every id of a sample) or 'count' (how many times each
            id occurs), the last two for inputs (batch,) or (batch, tokens).

    Input shape:
        int64 ids. Output shape: float32, as output_mode says.

    Example:
        >>> CategoryEncoding(num_tokens=4, output_mode="multi_hot")(np.array([[0, 1], [3, 3]]))
        array([[1., 1., 0., 0.],
               [0., 0., 0., 1.]], dtype=float32)
    """

    input_dtype = "int64"

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, (int, np.integer)) or num_tokens < 1:
            raise ValueError(f"CategoryEncoding '{self.name}': num_tokens must be a positive int, got {num_tokens!r}")
        if sparse:
            raise ValueError(f"CategoryEncoding '{self.name}': sparse outputs are not supported")
        self.num_tokens = int(num_tokens)
        self.output_mode = check_output_mode(output_mode, ENCODED_MODES, f"CategoryEncoding '{self.name}'")

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.output_mode, self.num_tokens, f"CategoryEncoding '{self.name}'")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def forward(self, ctx, x):
        if x.size and (x.min() < 0 or x.max() >= self.num_tokens):
            bad = x[(x < 0) | (x >= self.num_tokens)].reshape(-1)[0]
            raise ValueError(f"CategoryEncoding '{self.name}': inputs must be in [0, {self.num_tokens}), got {bad}")
        return encode(ctx, x, self.output_mode, self.num_tokens)

    def get_config(self):
        config = super().get_config()
        config.update(num_tokens=self.num_tokens, output_mode=self.output_mode, sparse=False)
        return config


@register
class Hashing(PreprocessingLayer):
    """Maps strings or integers to num_bins bins by a stable hash, as keras.layers.Hashing does with
    its own hash.

    The hash is 64-bit FNV-1a over the UTF-8 bytes of the value (integers as their decimal text, as
    Keras hashes them, so 12 and "12" share a bin), bin = hash % num_bins: the same bins on every
    machine and in every process (never Python's randomised hash()). They are not Keras's bins,
    which come from FarmHash64 (SipHash with a salt). With mask_value, that value gets bin 0 and the
    others bins 1 .. num_bins - 1 (1 + hash % (num_bins - 1)).

    Args:
        num_bins: number of bins (with mask_value, including the mask's bin 0).
        mask_value: a value (of the input's kind) that maps to bin 0, or None.
        salt: a non-negative int below 2**64 hashed before every value (its 8 little-endian bytes),
            giving an independent hash, or None.
        output_mode: 'int' (bin ids, int64), 'one_hot', 'multi_hot' or 'count' (float32).

    Input shape:
        strings (an Input of dtype 'string') or int64. Output shape: as output_mode says.
    """

    any_input_shape = True

    input_dtype = "string"

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
            raise ValueError(f"Hashing '{self.name}': num_bins must be a positive int, got {num_bins!r}")
        if mask_value is not None and num_bins < 2:
            raise ValueError(f"Hashing '{self.name}': with mask_value, num_bins must be at least 2")
        if salt is not None and (isinstance(salt, bool) or not isinstance(salt, (int, np.integer))
                                 or not 0 <= salt < 2 ** 64):
            raise ValueError(f"Hashing '{self.name}': salt must be an int in [0, 2**64) or None, got {salt!r}")
        if mask_value is not None and not isinstance(mask_value, (str, int, np.integer)):
            raise TypeError(f"Hashing '{self.name}': mask_value must be a string or an int, got {mask_value!r}")
        if sparse:
            raise ValueError(f"Hashing '{self.name}': sparse outputs are not supported")
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.salt = None if salt is None else int(salt)
        self.output_mode = check_output_mode(output_mode, ("int",) + ENCODED_MODES, f"Hashing '{self.name}'")

    def _accepts_dtype(self, dtype):
        return dtype in ("string", "int64")

    def _output_dtype(self):
        return "int64" if self.output_mode == "int" else "float32"

    def _convert(self, x, what):
        array = np.asarray(x)
        return array.astype(np.int64) if array.dtype.kind in "iub" else as_tokens(x, what)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return encoded_shape(input_shape, self.output_mode, self.num_bins, f"Hashing '{self.name}'")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def bins(self, x):
        """The bin of every value of x (strings or integers), int64."""
        text = x.astype(str) if x.dtype.kind in "iu" else unicode_array(x)
        hashes = fnv1a64(text, self.salt)
        if self.mask_value is None:
            return (hashes % np.uint64(self.num_bins)).astype(np.int64)
        bins = (hashes % np.uint64(self.num_bins - 1)).astype(np.int64) + 1
        bins[text == str(self.mask_value)] = 0
        return bins

    def forward(self, ctx, x):
        bins = self.bins(x)
        return bins if self.output_mode == "int" else encode(ctx, bins, self.output_mode, self.num_bins)

    def get_config(self):
        config = super().get_config()
        config.update(num_bins=self.num_bins, mask_value=self.mask_value, salt=self.salt,
                      output_mode=self.output_mode, sparse=False)
        return config
