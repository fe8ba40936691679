"""The request parsers of fastnn.serve.protocol on arbitrary input: a value or BadRequest, never another error."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.serve.protocol import BadRequest, Signature, parse_tf_predict, parse_v2_infer

from serve_helpers import INPUT, seed_model

SIGNATURE = Signature(seed_model())
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=9) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=40)
FIELDS = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from([INPUT, "x"]) | JSON, "shape": st.lists(st.integers(-2, 9), max_size=3) | JSON,
    "datatype": st.sampled_from(["FP32", "INT64", "BYTES"]) | JSON, "data": JSON,
    "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-4, 64) | JSON})})


def _accepted_or_refused(parse):
    try:
        inputs = parse()[0]
    except BadRequest:
        return
    assert len(inputs) == 1 and inputs[0].shape[1:] == (8,) and inputs[0].dtype == np.float32
    assert len(inputs[0]) >= 1 and np.isfinite(inputs[0]).all()


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(FIELDS, max_size=3), extra=JSON, tail=st.binary(max_size=80),
       header=st.none() | st.integers(-1, 400).map(str) | st.text(max_size=4))
def test_v2_parser_returns_inputs_or_bad_request(entries, extra, tail, header):
    body = json.dumps({"inputs": entries, "outputs": extra, "parameters": extra}).encode()
    if header is not None and header.isdigit() and header.isascii():
        header = str(len(body))
    _accepted_or_refused(lambda: parse_v2_infer(body + tail if header else body, header, SIGNATURE))


@settings(max_examples=300, deadline=None)
@given(value=JSON, key=st.sampled_from(["instances", "inputs", "other"]), noise=st.binary(max_size=12))
def test_tf_parser_returns_inputs_or_bad_request(value, key, noise):
    _accepted_or_refused(lambda: parse_tf_predict(json.dumps({key: value}).encode(), SIGNATURE))
    _accepted_or_refused(lambda: parse_tf_predict(noise + json.dumps({key: value}).encode(), SIGNATURE))


def test_rows_of_eight_numbers_are_accepted():
    inputs, _ = parse_tf_predict(json.dumps({"instances": [[1] * 8, [0.5] * 8]}).encode(), SIGNATURE)
    np.testing.assert_array_equal(inputs[0], np.array([[1] * 8, [0.5] * 8], np.float32))


def test_booleans_among_numbers_are_refused():
    """numpy reads [true, 1, 2] as integers; a flag sent where a feature belongs is a client error."""
    for row in ([True] + [1] * 7, [1] * 7 + [False]):
        v2 = {"inputs": [{"name": INPUT, "shape": [1, 8], "datatype": "FP32", "data": row}]}
        for parse in (lambda: parse_v2_infer(json.dumps(v2).encode(), None, SIGNATURE),
                      lambda: parse_tf_predict(json.dumps({"instances": [row]}).encode(), SIGNATURE)):
            with pytest.raises(BadRequest, match="must hold numbers"):
                parse()
