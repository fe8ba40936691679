"""Every _C binding that takes arrays, fed 0-d and 1-d arrays in each array argument, raises TypeError or
ValueError (or accepts them), and never reads a shape it has not checked: an unchecked 0-d array crashes."""
import re
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import _C

# Cython arguments by declared type; untyped ones are arrays too (object), the rest get a plain value.
_SIGNATURE = re.compile(r"^def (\w+)\((.*?)\):", re.S | re.M)
_SCALARS = {"int": 1, "idx_t": 1, "bint": False, "float": 1.0, "double": 1.0, "tuple": (), "str": ""}


def _bindings():
    for source in sorted(Path(fastnn.__file__).parent.glob("_bind_*.pxi")):
        for name, params in _SIGNATURE.findall(source.read_text()):
            kinds = []
            for param in filter(None, (p.strip() for p in params.replace("\n", " ").split(","))):
                words = param.split("=")[0].split()
                kinds.append(words[0] if len(words) > 1 and words[0] in _SCALARS else "array")
            if "array" in kinds and hasattr(_C, name):
                yield pytest.param(getattr(_C, name), kinds, id=name)


@pytest.mark.parametrize("binding, kinds", list(_bindings()))
def test_low_rank_arrays_are_refused_not_read(binding, kinds):
    arrays = [i for i, kind in enumerate(kinds) if kind == "array"]
    for target in arrays:
        for bad in (np.zeros((), np.float32), np.zeros(2, np.float32), np.zeros((), np.int32)):
            for rank in range(1, 5):
                for dtype in (np.float32, np.int32):
                    args = [np.zeros((2,) * rank, dtype) if kind == "array" else _SCALARS[kind] for kind in kinds]
                    args[target] = bad
                    try:
                        binding(*args)
                    except (TypeError, ValueError):
                        pass
