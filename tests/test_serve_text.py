"""Serving raw text (BYTES tensors) and compressed bodies, through tritonclient, plain HTTP and both transports."""
import gzip
import importlib.util
import json
import struct
import time
import zlib

import numpy as np
import pytest

import fastnn
from fastnn.layers import Dense, Embedding, GlobalAveragePooling1D, TextVectorization
from fastnn.serve.monitor import feature_names
from fastnn.serve.protocol import Signature
from fastnn.serve.strings import MAX_STRING_CHARS

from serve_helpers import (call, call_json, decode_v2_binary, metric_values, save_seed_model, start_server,
                           uvicorn_server, v2_binary_request, v2_json_request, OUTPUT)

TEXTS = ["win a free prize now", "see you at lunch", "free cash, text WIN", "the notes are ready", "héllo ünïcode"]
MAX_BODY = 1 << 20


def text_model():
    fastnn.set_seed(0)
    vectorize = TextVectorization(output_sequence_length=6)
    vectorize.adapt(TEXTS)
    text = fastnn.Input(shape=(1,), dtype="string", name="text")
    x = GlobalAveragePooling1D()(Embedding(vectorize.vocabulary_size(), 4)(vectorize(text)))
    return fastnn.Model(text, Dense(1, activation="sigmoid", name="spam")(x))


@pytest.fixture(scope="module")
def text_served(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve_text") / "text.fnn"
    model = text_model()
    model.save(path)
    server = start_server(path, name="text", max_body_bytes=MAX_BODY)
    yield server, model
    server.stop()


def _expected(model, texts):
    return model.predict(np.array(texts, dtype=object).reshape(-1, 1), verbose=0)


def _serialized(texts):
    return b"".join(struct.pack("<I", len(t)) + t for t in texts)


def _binary_request(blob, count):
    header = json.dumps({"inputs": [{"name": "text", "shape": [count, 1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(blob)}}]}).encode()
    return header + blob, {"Inference-Header-Content-Length": str(len(header))}


def test_metadata_reports_bytes_for_a_string_input(text_served):
    server, _ = text_served
    status, metadata = call_json(server, "GET", "/v2/models/text")
    assert status == 200 and metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1, 1]}]


def test_tritonclient_sends_text_as_binary_and_json(text_served):
    http = pytest.importorskip("tritonclient.http")
    server, model = text_served
    client = http.InferenceServerClient(server.url[len("http://"):])
    try:
        assert client.get_model_metadata("text")["inputs"][0]["datatype"] == "BYTES"
        texts = np.array([[t.encode()] for t in TEXTS], dtype=object)
        for binary in (True, False):
            tensor = http.InferInput("text", list(texts.shape), "BYTES")
            tensor.set_data_from_numpy(texts, binary_data=binary)
            result = client.infer("text", [tensor], outputs=[http.InferRequestedOutput("spam", binary_data=binary)])
            np.testing.assert_array_equal(result.as_numpy("spam"), _expected(model, TEXTS))
        with pytest.raises(Exception, match="expected datatype BYTES, got 'FP32'"):
            tensor = http.InferInput("text", [1, 1], "FP32")
            tensor.set_data_from_numpy(np.zeros((1, 1), np.float32))
            client.infer("text", [tensor])
    finally:
        client.close()


def test_json_and_tf_serving_strings(text_served):
    server, model = text_served
    request = {"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": [["see you"], ["free"]]}]}
    status, response = call_json(server, "POST", "/v2/models/text/infer", request)
    assert status == 200
    np.testing.assert_array_equal(np.array(response["outputs"][0]["data"], np.float32),
                                  _expected(model, ["see you", "free"]).ravel())
    for instances in (TEXTS, [[t] for t in TEXTS]):
        assert call_json(server, "POST", "/v1/models/text:predict", {"instances": instances}) == \
            (200, {"predictions": _expected(model, TEXTS).tolist()})


def test_uvicorn_backend_serves_text_alike(tmp_path):
    http = pytest.importorskip("tritonclient.http")
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    model = text_model()
    model.save(tmp_path / "text.fnn")
    texts = np.array([[t.encode()] for t in TEXTS], dtype=object)
    with uvicorn_server(tmp_path / "text.fnn", name="text", max_body_bytes=MAX_BODY) as server:
        assert call_json(server, "GET", "/v2/models/text")[1]["inputs"][0]["datatype"] == "BYTES"
        client = http.InferenceServerClient(server.url[len("http://"):])
        try:
            for binary in (True, False):
                tensor = http.InferInput("text", list(texts.shape), "BYTES")
                tensor.set_data_from_numpy(texts, binary_data=binary)
                result = client.infer("text", [tensor], request_compression_algorithm="gzip")
                np.testing.assert_array_equal(result.as_numpy("spam"), _expected(model, TEXTS))
        finally:
            client.close()
        body, headers = _binary_request(_serialized([b"\xff"]), 1)
        status, _, data = call(server, "POST", "/v2/models/text/infer", body, headers)
        assert status == 400 and "not valid UTF-8" in json.loads(data)["error"]


BAD_TEXT = {
    "numbers for BYTES": {"inputs": [{"name": "text", "shape": [1, 1], "datatype": "BYTES", "data": [1]}]},
    "FP32 for a string input": {"inputs": [{"name": "text", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]},
    "lone surrogate": {"inputs": [{"name": "text", "shape": [1, 1], "datatype": "BYTES", "data": ["\ud800"]}]},
    "ragged": {"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": [["a"], "b"]}]},
    "too few strings": {"inputs": [{"name": "text", "shape": [3, 1], "datatype": "BYTES", "data": ["a", "b"]}]},
    "too long a string": {"inputs": [{"name": "text", "shape": [1, 1], "datatype": "BYTES",
                                      "data": ["a" * (MAX_STRING_CHARS + 1)]}]},
}


@pytest.mark.parametrize("case", sorted(BAD_TEXT))
def test_bad_json_text_gets_400(text_served, case):
    server, _ = text_served
    status, response = call_json(server, "POST", "/v2/models/text/infer", BAD_TEXT[case])
    assert status == 400 and "error" in response, (case, response)
    if case == "FP32 for a string input":
        assert "expected datatype BYTES, got 'FP32'" in response["error"]


@pytest.mark.parametrize("blob, count, message", [
    (_serialized([b"ok", b"\xff\xfe"]), 2, "not valid UTF-8"),
    (_serialized([b"ok"])[:-1], 1, "runs past"),
    (_serialized([b"ok"]) + b"\0", 1, "after the 1 strings"),
    (b"\1\0", 1, "cannot hold"),
    (_serialized([b"a"]), 1000, "cannot hold"),
    (struct.pack("<I", 2 ** 32 - 1) + b"abcd", 1, "runs past"),
])
def test_bad_binary_text_gets_400(text_served, blob, count, message):
    server, model = text_served
    body, headers = _binary_request(blob, count)
    status, _, data = call(server, "POST", "/v2/models/text/infer", body, headers)
    assert status == 400 and message in json.loads(data)["error"]
    body, headers = _binary_request(_serialized([b"free prize"]), 1)
    status, response_headers, data = call(server, "POST", "/v2/models/text/infer", body, headers)
    assert status == 200
    assert json.loads(data)["outputs"][0]["data"] == _expected(model, ["free prize"]).ravel().tolist()


def test_drift_skips_string_inputs(tmp_path):
    fastnn.set_seed(0)
    vectorize = TextVectorization(output_sequence_length=4)
    vectorize.adapt(TEXTS)
    text, score = fastnn.Input(shape=(1,), dtype="string", name="text"), fastnn.Input(shape=(2,), name="score")
    pooled = GlobalAveragePooling1D()(Embedding(vectorize.vocabulary_size(), 3)(vectorize(text)))
    model = fastnn.Model([text, score], Dense(1, name="y")(fastnn.layers.Concatenate()([pooled, score])))
    rng = np.random.default_rng(0)
    texts = np.array([[TEXTS[i % len(TEXTS)]] for i in range(300)], dtype=object)
    model.save(tmp_path / "mixed.fnn", reference_data=[texts, rng.random((300, 2), dtype=np.float32)])
    assert len(fastnn.load_model(tmp_path / "mixed.fnn").reference_statistics.features) == 2
    assert feature_names(Signature(model)) == ["score/0", "score/1"]
    with start_server(tmp_path / "mixed.fnn", name="mixed", drift_window=100) as server:
        for _ in range(3):
            request = {"inputs": [{"name": "text", "shape": [100, 1], "datatype": "BYTES", "data": ["free"] * 100},
                                  {"name": "score", "shape": [100, 2], "datatype": "FP32",
                                   "data": (5 + rng.random(200)).tolist()}]}
            assert call_json(server, "POST", "/v2/models/mixed/infer", request)[0] == 200
        deadline = time.monotonic() + 30
        while True:
            values = metric_values(call(server, "GET", "/metrics")[2].decode())
            drifted = {k: v for k, v in values.items() if k[0] == "fastnn_input_drift_score"}
            if drifted or time.monotonic() > deadline:
                break
            time.sleep(0.01)
    assert {dict(labels)["feature"] for _, labels in drifted} == {"score/0", "score/1"}


# ------------------------------------------------------------------------------------ compressed bodies

def _both_transports(tmp_path):
    """(name, context manager) of the seed model served by the core server and by uvicorn when installed."""
    path = tmp_path / "seed.fnn"
    model = save_seed_model(path)
    yield "core", start_server(path, max_body_bytes=MAX_BODY), model
    if importlib.util.find_spec("uvicorn") and importlib.util.find_spec("starlette"):
        yield "uvicorn", uvicorn_server(path, max_body_bytes=MAX_BODY), model


def test_tritonclient_compressed_requests_and_responses_on_both_transports(tmp_path):
    http = pytest.importorskip("tritonclient.http")
    x = np.random.default_rng(3).random((200, 8), dtype=np.float32)
    for name, context, model in _both_transports(tmp_path):
        with context as server:
            client = http.InferenceServerClient(server.url[len("http://"):])
            try:
                for request_coding in (None, "gzip", "deflate"):
                    for response_coding in (None, "gzip", "deflate"):
                        tensor = http.InferInput("features", list(x.shape), "FP32")
                        tensor.set_data_from_numpy(x)
                        result = client.infer("seed", [tensor], request_compression_algorithm=request_coding,
                                              response_compression_algorithm=response_coding)
                        np.testing.assert_array_equal(result.as_numpy(OUTPUT), model.predict(x, verbose=0))
            finally:
                client.close()
            body, headers = v2_binary_request(x)
            status, response_headers, data = call(server, "POST", "/v2/models/seed/infer", gzip.compress(body),
                                                  dict(headers, **{"Content-Encoding": "gzip",
                                                                   "Accept-Encoding": "br;q=1, gzip;q=0.5"}))
            assert status == 200 and response_headers["Content-Encoding"] == "gzip", name
            np.testing.assert_array_equal(decode_v2_binary(response_headers, gzip.decompress(data))[OUTPUT],
                                          model.predict(x, verbose=0))
            status, response_headers, _ = call(server, "POST", "/v2/models/seed/infer", body,
                                               dict(headers, **{"Accept-Encoding": "gzip;q=0"}))
            assert status == 200 and "Content-Encoding" not in response_headers, name


def test_bad_compressed_bodies_on_both_transports(tmp_path):
    bomb = gzip.compress(b" " * (64 * MAX_BODY))  # 64 MiB of spaces in about 64 KiB
    plain = json.dumps(v2_json_request(np.ones((1, 8), np.float32))).encode()
    cases = {"zip bomb": (bomb, "gzip", 413), "deflate bomb": (zlib.compress(b"0" * (8 * MAX_BODY)), "deflate", 413),
             "unknown coding": (plain, "br", 415), "corrupt gzip": (b"\x1f\x8b" + plain, "gzip", 400),
             "truncated deflate": (zlib.compress(plain)[:-6], "deflate", 400),
             "bytes after the gzip stream": (gzip.compress(plain) + b"xyz", "gzip", 400)}
    for name, context, _ in _both_transports(tmp_path):
        with context as server:
            for case, (body, coding, expected) in cases.items():
                start = time.perf_counter()
                status, _, data = call(server, "POST", "/v2/models/seed/infer", body, {"Content-Encoding": coding})
                assert status == expected and "error" in json.loads(data), (name, case, status, data[:200])
                assert time.perf_counter() - start < 5, (name, case)
            assert call(server, "POST", "/v2/models/seed/infer", gzip.compress(plain),
                        {"Content-Encoding": "gzip"})[0] == 200
