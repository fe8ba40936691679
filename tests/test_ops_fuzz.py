"""Property-based fuzzing of the public fastnn.ops functions under a time budget (Hypothesis).

Every public function is called with arguments drawn at random: arrays of random shapes, dtypes and
layouts (transposed, strided, reversed, broadcast, read-only, misaligned), outputs that overlap an
input, and small scalars and names in place of arrays. Each call must return or raise TypeError or
ValueError: never another exception, a crash or a hang. FASTNN_OPS_FUZZ_SECONDS sets the budget
(default 5 s); the case count is printed in the test summary.
"""
import collections
import inspect
import os
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn import ops

from fuzz_budget import case_alarm, run_for

BUDGET_SECONDS = float(os.environ.get("FASTNN_OPS_FUZZ_SECONDS", "5"))
FIRST_SEED = int(os.environ.get("FASTNN_OPS_FUZZ_SEED", "808"))
CASE_SECONDS = 10  # one call taking longer than this is a hang
CHUNK = 200

OPS = {name: fn for name, fn in sorted(vars(ops).items())
       if callable(fn) and not name.startswith("_") and not inspect.isclass(fn) and not inspect.ismodule(fn)}
DTYPES = [np.float32, np.float32, np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_, np.float16,
          np.complex64]
SCALARS = [None, 0, 1, 2, 3, -1, 0.5, True, "relu", "tanh", "softmax", "same", "valid", "lstm", "gru", "x", (2, 2),
           [1, 2], "forward"]


@st.composite
def arrays(draw):
    shape = tuple(draw(st.lists(st.integers(0, 6), max_size=4)))
    dtype = draw(st.sampled_from(DTYPES))
    values = np.asarray(np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(shape) * 3)
    a = values.astype(dtype) if dtype is not np.bool_ else np.asarray(values > 0)
    layout = draw(st.sampled_from(["c", "c", "transposed", "strided", "reversed", "broadcast", "readonly",
                                   "misaligned", "nan"]))
    if layout == "transposed":
        a = a.T
    elif layout == "strided" and a.ndim:
        a = np.repeat(a, 2, axis=-1)[..., ::2]
    elif layout == "reversed" and a.ndim:
        a = a[::-1]
    elif layout == "broadcast" and a.ndim:
        a = np.broadcast_to(a[:1], a.shape)
    elif layout == "readonly":
        a.flags.writeable = False
    elif layout == "misaligned":
        buf = np.zeros(a.nbytes + 1, np.uint8)
        a = np.frombuffer(buf, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    elif layout == "nan" and a.dtype.kind == "f" and a.size:
        a.flat[0] = np.nan
    return a


@st.composite
def calls(draw):
    name = draw(st.sampled_from(list(OPS)))
    params = inspect.signature(OPS[name]).parameters.values()
    args, kwargs, made = [], {}, []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        required = p.default is p.empty
        if not required and not draw(st.booleans()):
            continue
        choice = draw(st.sampled_from(["array", "array", "scalar", "overlap"]))
        if choice == "overlap" and made:
            value = draw(st.sampled_from(made))  # an output or second operand sharing an input's memory
            if isinstance(value, np.ndarray) and value.size and draw(st.booleans()):
                value = value.reshape(-1)[: max(1, value.size // 2)]
        elif choice == "scalar":
            value = draw(st.sampled_from(SCALARS))
        else:
            value = draw(arrays())
            made.append(value)
        if p.kind is p.KEYWORD_ONLY or not required:
            kwargs[p.name] = value
        else:
            args.append(value)
    return name, args, kwargs


def test_fuzzed_ops_calls_work_or_raise_type_or_value_errors(fuzz_report):
    outcomes = collections.Counter()

    @settings(max_examples=CHUNK, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(calls())
    def case(call):
        name, args, kwargs = call
        try:
            with case_alarm(CASE_SECONDS), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                OPS[name](*args, **kwargs)
            outcomes["worked"] += 1
        except (TypeError, ValueError):
            outcomes["refused"] += 1

    chunks, elapsed = run_for(case, BUDGET_SECONDS, FIRST_SEED, CASE_SECONDS)
    total = sum(outcomes.values())
    fuzz_report(f"ops fuzz: {total} calls of {len(OPS)} fastnn.ops functions in {elapsed:.1f} s "
                f"(seeds {FIRST_SEED}..{FIRST_SEED + chunks - 1}): "
                + ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())))
    assert outcomes["worked"] > 0 and outcomes["refused"] > 0
