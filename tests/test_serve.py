"""The model server (fastnn.serve): every endpoint, real clients, batching, metrics, drift and bad requests.

Each server listens on an ephemeral port of the loopback and is stopped by its fixture or context manager.
"""
import asyncio
import concurrent.futures
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest

import fastnn
from fastnn.layers import Dense
from fastnn.serve import ModelServer
from fastnn.drift import ReferenceStatistics
from fastnn.serve.metrics import Metrics
from fastnn.serve.monitor import DriftMonitor

from serve_helpers import (INPUT, OUTPUT, call, call_json, decode_v2_binary, metric_values, save_seed_model,
                           seed_model, start_server, uvicorn_server, v2_binary_request, v2_json_request, wait_ready)

MAX_BODY = 1 << 20


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, model) serving the seed model with reference statistics, 2 workers."""
    path = tmp_path_factory.mktemp("serve") / "seed.fnn"
    model = save_seed_model(path)
    server = start_server(path, workers=2, max_body_bytes=MAX_BODY)
    yield server, model
    server.stop()


def _rows(n, seed=1):
    return np.random.default_rng(seed).random((n, 8), dtype=np.float32)


def test_health_and_metadata_endpoints(served):
    server, _ = served
    assert call_json(server, "GET", "/v2/health/live") == (200, {"live": True})
    assert call_json(server, "GET", "/v2/health/ready") == (200, {"ready": True})
    assert call_json(server, "GET", "/v2")[1]["extensions"] == ["binary_tensor_data"]
    status, meta = call_json(server, "GET", "/v2/models/seed")
    assert status == 200 and meta["inputs"] == [{"name": INPUT, "datatype": "FP32", "shape": [-1, 8]}]
    assert meta["outputs"] == [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, 1]}]
    assert call_json(server, "GET", "/v2/models/seed/versions/1")[1] == meta
    assert call_json(server, "GET", "/v2/models/seed/ready") == (200, {"name": "seed", "ready": True})
    assert call_json(server, "GET", "/v1/models/seed")[1]["model_version_status"][0]["state"] == "AVAILABLE"
    for path in ("/v2/models/other", "/v2/models/seed/versions/2", "/nothing", "/v2/models/seed/infer/x"):
        status, body = call_json(server, "GET", path)
        assert status == 404 and "error" in body
    assert call_json(server, "POST", "/v2/models/seed", {})[0] == 405
    assert call_json(server, "GET", "/v2/models/seed/infer")[0] == 405


def test_ready_is_503_until_the_model_is_loaded(tmp_path):
    path = tmp_path / "seed.fnn"
    save_seed_model(path)
    gate = threading.Event()

    def load():
        gate.wait(30)
        return fastnn.load_model(path)

    with ModelServer(load, "seed", port=0).start() as server:
        assert call_json(server, "GET", "/v2/health/live") == (200, {"live": True})
        assert call_json(server, "GET", "/v2/health/ready") == (503, {"ready": False})
        assert call_json(server, "GET", "/v2/models/seed/ready")[0] == 503
        assert call_json(server, "POST", "/v2/models/seed/infer", v2_json_request(_rows(1)))[0] == 503
        gate.set()
        wait_ready(server)
        assert call_json(server, "POST", "/v2/models/seed/infer", v2_json_request(_rows(1)))[0] == 200
        text = call(server, "GET", "/metrics")[2].decode()
        assert metric_values(text)[("fastnn_model_load_duration_seconds", (("model", "seed"),))] > 0


def test_json_inference_equals_predict_bitwise(served):
    server, model = served
    x = _rows(5)
    status, response = call_json(server, "POST", "/v2/models/seed/infer", dict(v2_json_request(x), id="r1"))
    assert status == 200 and response["id"] == "r1" and response["model_name"] == "seed"
    (out,) = response["outputs"]
    assert out["name"] == OUTPUT and out["datatype"] == "FP32" and out["shape"] == [5, 1]
    np.testing.assert_array_equal(np.array(out["data"], np.float32).reshape(5, 1), model.predict(x, verbose=0))
    nested = v2_json_request(x)
    nested["inputs"][0]["data"] = x.tolist()
    assert call_json(server, "POST", "/v2/models/seed/versions/1/infer", nested)[1]["outputs"][0]["data"] == out["data"]


def test_binary_tensor_extension(served):
    server, model = served
    x = _rows(7)
    body, headers = v2_binary_request(x)
    status, response_headers, data = call(server, "POST", "/v2/models/seed/infer", body, headers)
    assert status == 200 and response_headers["Content-Type"] == "application/octet-stream"
    np.testing.assert_array_equal(decode_v2_binary(response_headers, data)[OUTPUT], model.predict(x, verbose=0))
    body, headers = v2_binary_request(x, binary_output=False)
    status, _, data = call(server, "POST", "/v2/models/seed/infer", body, headers)
    assert status == 200 and len(json.loads(data)["outputs"][0]["data"]) == 7


def test_tf_serving_predict(served):
    server, model = served
    x = _rows(3)
    expected = model.predict(x, verbose=0).tolist()
    assert call_json(server, "POST", "/v1/models/seed:predict", {"instances": x.tolist()}) == \
        (200, {"predictions": expected})
    assert call_json(server, "POST", "/v1/models/seed:predict", {"instances": [{INPUT: r} for r in x.tolist()]}) == \
        (200, {"predictions": expected})
    assert call_json(server, "POST", "/v1/models/seed/versions/1:predict", {"inputs": {INPUT: x.tolist()}}) == \
        (200, {"outputs": expected})


def test_tritonclient(served):
    http = pytest.importorskip("tritonclient.http")
    server, model = served
    client = http.InferenceServerClient(server.url[len("http://"):])
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("seed")
        assert client.get_model_metadata("seed")["inputs"][0]["name"] == INPUT
        x = _rows(4)
        for binary in (True, False):
            tensor = http.InferInput(INPUT, list(x.shape), "FP32")
            tensor.set_data_from_numpy(x, binary_data=binary)
            outputs = [http.InferRequestedOutput(OUTPUT, binary_data=binary)]
            for requested in (None, outputs):
                result = client.infer("seed", [tensor], outputs=requested)
                np.testing.assert_array_equal(result.as_numpy(OUTPUT), model.predict(x, verbose=0))
        with pytest.raises(Exception, match="datatype"):
            tensor = http.InferInput(INPUT, [1, 8], "FP64")
            tensor.set_data_from_numpy(np.zeros((1, 8)))
            client.infer("seed", [tensor])
    finally:
        client.close()


def test_kserve_client(served):
    kserve = pytest.importorskip("kserve")
    server, model = served
    x = _rows(3)

    async def run():
        v2 = kserve.InferenceRESTClient(kserve.RESTConfig(protocol="v2", retries=0))
        v1 = kserve.InferenceRESTClient(kserve.RESTConfig(protocol="v1", retries=0))
        try:
            assert await v2.is_server_ready(server.url) and await v2.is_model_ready(server.url, "seed")
            for binary in (False, True):
                tensor = kserve.InferInput(INPUT, list(x.shape), "FP32")
                tensor.set_data_from_numpy(x, binary_data=binary)
                result = await v2.infer(server.url, kserve.InferRequest("seed", [tensor], request_id="k"),
                                        model_name="seed")
                np.testing.assert_array_equal(result.outputs[0].as_numpy(), model.predict(x, verbose=0))
            predictions = await v1.infer(server.url, {"instances": x.tolist()}, model_name="seed")
            assert predictions == {"predictions": model.predict(x, verbose=0).tolist()}
        finally:
            await v2.close()
            await v1.close()

    asyncio.run(run())


def test_concurrent_requests_are_batched_and_equal_single_predictions(tmp_path):
    path = tmp_path / "seed.fnn"
    model = save_seed_model(path)
    requests = [_rows(1 + i % 3, seed=i) for i in range(120)]
    with start_server(path, workers=1, max_batch_delay=0.005, max_batch_rows=16) as server:
        def infer(x):
            body, headers = v2_binary_request(x)
            status, response_headers, data = call(server, "POST", "/v2/models/seed/infer", body, headers)
            assert status == 200
            return decode_v2_binary(response_headers, data)[OUTPUT]

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            results = list(pool.map(infer, requests))
        metrics = metric_values(call(server, "GET", "/metrics")[2].decode())
    for x, out in zip(requests, results):
        np.testing.assert_array_equal(out, model.predict(x, verbose=0))
    batches = metrics[("fastnn_batch_size_count", (("model", "seed"),))]
    rows = metrics[("fastnn_batch_size_sum", (("model", "seed"),))]
    assert rows == sum(len(x) for x in requests) and batches < len(requests)
    assert metrics[("fastnn_batch_size_bucket", (("le", "16.0"), ("model", "seed")))] == batches


@pytest.mark.parametrize("use_client", [False, True])
def test_metrics_text_parses_with_conventional_names(use_client):
    if use_client:
        pytest.importorskip("prometheus_client")
    metrics = Metrics("m", use_prometheus_client=use_client)
    for status, seconds in ((200, 0.002), (200, 0.03), (400, 0.0001), (503, 0.5)):
        metrics.request(status, seconds)
    metrics.batch(3)
    metrics.loaded(0.25)
    metrics.drift({("0", "ks"): 0.5, ("0", "psi"): 0.02}, {"ks": 0.0, "psi": 0.0}, 100)
    values = metric_values(metrics.render().decode())
    model = ("model", "m")
    assert values[("fastnn_requests_total", (model, ("outcome", "success")))] == 2
    assert values[("fastnn_requests_total", (model, ("outcome", "client_error")))] == 1
    assert values[("fastnn_requests_total", (model, ("outcome", "server_error")))] == 1
    assert values[("fastnn_request_duration_seconds_count", (model,))] == 4
    assert values[("fastnn_request_duration_seconds_bucket", (("le", "0.005"), model))] == 2
    assert values[("fastnn_request_duration_seconds_bucket", (("le", "+Inf"), model))] == 4
    assert values[("fastnn_batch_size_sum", (model,))] == 3
    assert values[("fastnn_model_load_duration_seconds", (model,))] == 0.25
    assert values[("fastnn_input_drift_score", (("feature", "0"), ("method", "psi"), model))] == 0.02
    assert values[("fastnn_input_drifted_features_ratio", (("method", "ks"), model))] == 0.0
    assert values[("fastnn_input_drift_window_rows", (model,))] == 100


def test_drift_gauges_move_with_shifted_inputs(tmp_path, caplog):
    path = tmp_path / "seed.fnn"
    save_seed_model(path)
    ratio = {m: ("fastnn_input_drifted_features_ratio", (("method", m), ("model", "seed"))) for m in ("ks", "psi")}
    batches = ("fastnn_batch_size_count", (("model", "seed"),))
    with start_server(path, drift_window=1000, use_prometheus_client=False) as server, \
            caplog.at_level(logging.INFO, "fastnn.serve"):
        def send(x, sent):
            assert call_json(server, "POST", "/v2/models/seed/infer", v2_json_request(x))[0] == 200
            deadline = time.monotonic() + 30  # the batch is monitored once its reply is on its way
            while (values := metric_values(call(server, "GET", "/metrics")[2].decode())).get(batches) != sent:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            return values

        same = send(np.random.default_rng(5).random((1000, 8), dtype=np.float32), 1)
        assert same[ratio["ks"]] <= 0.25 and same[ratio["psi"]] == 0.0
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        shifted = send(np.random.default_rng(6).random((1000, 8), dtype=np.float32) + 0.3, 2)
        assert shifted[ratio["ks"]] == 1.0 and shifted[ratio["psi"]] == 1.0
        assert shifted[("fastnn_input_drift_window_rows", (("model", "seed"),))] == 1000
        score = ("fastnn_input_drift_score", (("feature", "3"), ("method", "ks"), ("model", "seed")))
        assert shifted[score] < 0.05 < same[score]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("input drift (KS p < 0.05) on 8 of 8 features" in m for m in warnings)
    assert any("input drift (PSI > 0.1) on 8 of 8 features" in m for m in warnings)


def test_drift_window_keeps_the_latest_rows():
    reference = ReferenceStatistics.of([np.random.default_rng(0).random((50, 2), dtype=np.float32)])
    metrics = Metrics("m", use_prometheus_client=False)
    monitor = DriftMonitor(reference, "m", ["0", "1"], metrics, window=5, every=1, min_rows=1)
    rows = np.arange(18, dtype=np.float32).reshape(9, 2)
    for chunk in (rows[:3], rows[3:4], rows[4:8], rows[8:]):
        monitor.add([chunk])
    assert sorted(monitor._rows.tolist()) == rows[-5:].tolist()
    monitor.add([np.arange(24, dtype=np.float32).reshape(12, 2)])
    assert sorted(monitor._rows.tolist()) == np.arange(24).reshape(12, 2)[-5:].tolist()
    assert metric_values(metrics.render().decode())[("fastnn_input_drift_window_rows", (("model", "m"),))] == 5


def _v2(x):
    return json.dumps(v2_json_request(x)).encode()


def _binary_nan():
    x = _rows(2)
    x[1, 3] = np.nan
    return v2_binary_request(x)


BAD_REQUESTS = {
    "wrong shape": (_v2(_rows(2)[:, :7]), {}),
    "wrong datatype": (json.dumps(v2_json_request(_rows(1), datatype="FP64")).encode(), {}),
    "wrong name": (json.dumps(v2_json_request(_rows(1), name="x")).encode(), {}),
    "malformed JSON": (b'{"inputs": [', {}),
    "not UTF-8": (b'{"inputs": "\xff"}', {}),
    "NaN literal": (_v2(_rows(1)).replace(b"]}]}", b", NaN]}]}"), {}),
    "NaN in a binary tensor": _binary_nan(),
    "overflowing number": (_v2(_rows(1)).replace(b"]}]}", b", 1e400]}]}").replace(b"[1, 8]", b"[1, 9]"), {}),
    "beyond FP32": (json.dumps({"inputs": [{"name": INPUT, "shape": [1, 8], "datatype": "FP32",
                                           "data": [1e39] * 8}]}).encode(), {}),
    "strings as data": (json.dumps({"inputs": [{"name": INPUT, "shape": [1, 8], "datatype": "FP32",
                                               "data": ["1"] * 8}]}).encode(), {}),
    "too few values": (json.dumps({"inputs": [{"name": INPUT, "shape": [2, 8], "datatype": "FP32",
                                              "data": [1] * 8}]}).encode(), {}),
    "empty batch": (json.dumps({"inputs": [{"name": INPUT, "shape": [0, 8], "datatype": "FP32",
                                           "data": []}]}).encode(), {}),
    "input twice": (json.dumps({"inputs": v2_json_request(_rows(1))["inputs"] * 2}).encode(), {}),
    "no inputs": (b'{"inputs": []}', {}),
    "unknown output": (json.dumps(dict(v2_json_request(_rows(1)), outputs=[{"name": "y"}])).encode(), {}),
    "header length past the body": (_v2(_rows(1)), {"Inference-Header-Content-Length": "100000"}),
    "header length not a number": (_v2(_rows(1)), {"Inference-Header-Content-Length": "-3"}),
    "header length not ASCII": (_v2(_rows(1)), {"Inference-Header-Content-Length": "\u00b2"}),
    "binary size mismatch": (v2_binary_request(_rows(2))[0][:-4], v2_binary_request(_rows(2))[1]),
    "bytes after the tensors": (v2_binary_request(_rows(2))[0] + b"xx", v2_binary_request(_rows(2))[1]),
    "gzip header on a plain body": (_v2(_rows(1)), {"Content-Encoding": "gzip"}),
    "oversized body": (b" " * (MAX_BODY + 1), {}),
    "repeated key": (_v2(_rows(1)).replace(b'{"inputs"', b'{"id": "a", "id": "b", "inputs"'), {}),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_get_400_and_serving_goes_on(served, case):
    server, model = served
    body, headers = BAD_REQUESTS[case]
    status, _, data = call(server, "POST", "/v2/models/seed/infer", body, dict(headers))
    assert status == 400 and "error" in json.loads(data), (case, status, data[:200])
    x = _rows(1)
    assert call_json(server, "POST", "/v2/models/seed/infer", v2_json_request(x))[0] == 200


@pytest.mark.parametrize("body", [b"{}", b'{"instances": []}', b'{"instances": [[1, 2]]}', b'{"inputs": {"x": []}}',
                                  b'{"instances": [{"x": 1}]}', b'{"instances": [[1,2,3,4,5,6,7,8]], "inputs": 1}',
                                  b'[1]', b'{"inputs": [[1,2,3,4,5,6,7,8], [1]]}'])
def test_bad_tf_serving_requests_get_400(served, body):
    server, _ = served
    status, _, data = call(server, "POST", "/v1/models/seed:predict", body)
    assert status == 400 and "error" in json.loads(data)


def _raw(server, data):
    """Send raw bytes on a new connection; the status line of the reply."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(data)
        reply = sock.makefile("rb").readline()
    return reply


@pytest.mark.parametrize("data", [b"GARBAGE\r\n\r\n", b"GET / HTTP/2.0\r\n\r\n", b"GET /v2 HTTP/1.1\r\nbad\r\n\r\n",
                                  b"POST /v2 HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                                  b"POST /v2 HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n",
                                  b"POST /v2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                                  b"POST /v2 HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 0\r\n\r\nab",
                                  b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"])
def test_malformed_http_gets_400(served, data):
    server, _ = served
    assert _raw(server, data).startswith(b"HTTP/1.1 400 ")
    assert call_json(server, "GET", "/v2/health/ready")[0] == 200


def test_json_over_its_limit_gets_413(served, monkeypatch):
    """Parsing JSON holds the event loop, so JSON has its own, smaller limit than binary tensors."""
    server, _ = served
    monkeypatch.setattr(fastnn.serve.protocol, "MAX_JSON_BYTES", 300)
    status, _, data = call(server, "POST", "/v2/models/seed/infer", _v2(_rows(8)))
    assert status == 413 and b"binary tensor extension" in data
    body, headers = v2_binary_request(_rows(8))
    assert call(server, "POST", "/v2/models/seed/infer", body, headers)[0] == 200


def test_a_large_request_is_parsed_off_the_event_loop(served, monkeypatch):
    """A body over INLINE_BODY_BYTES is parsed on a worker thread: while its parse is held, health checks
    and small requests are answered; then it is answered too."""
    server, model = served
    release = threading.Event()
    parse = fastnn.serve.app.parse_v2_infer

    def held_parse(body, *args):
        if len(body) > fastnn.serve.app.INLINE_BODY_BYTES:
            assert release.wait(30)
        return parse(body, *args)
    monkeypatch.setattr(fastnn.serve.app, "parse_v2_infer", held_parse)
    x = _rows(4000)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        large = pool.submit(call, server, "POST", "/v2/models/seed/infer", _v2(x))
        time.sleep(0.2)
        assert call_json(server, "GET", "/v2/health/live")[0] == 200
        assert call_json(server, "POST", "/v2/models/seed/infer", v2_json_request(x[:2]))[0] == 200
        assert not large.done()
        release.set()
        status, _, data = large.result(timeout=60)
    assert status == 200
    got = np.array(json.loads(data)["outputs"][0]["data"], np.float32).reshape(-1, 1)
    np.testing.assert_array_equal(got, model.predict(x, verbose=0))


def test_a_refused_request_does_not_fail_the_batch_it_joined(tmp_path):
    """An id outside the Embedding's range fails its own request with 400; valid requests batched with it
    still get their rows."""
    fastnn.set_seed(0)
    model = fastnn.Sequential([fastnn.Input((3,), dtype="int64", name=INPUT), fastnn.layers.Embedding(50, 4),
                               fastnn.layers.Flatten(), Dense(1, name=OUTPUT)])
    path = tmp_path / "ids.fnn"
    model.save(path)
    requests = [np.full((1, 3), 99 if i % 3 == 0 else i % 50, np.int64) for i in range(60)]
    with start_server(path, "ids", workers=1, max_batch_delay=0.005, max_batch_rows=16) as server:
        def infer(x):
            return call_json(server, "POST", "/v2/models/ids/infer", v2_json_request(x, datatype="INT64"))

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            replies = list(pool.map(infer, requests))
        metrics = metric_values(call(server, "GET", "/metrics")[2].decode())
    for x, (status, reply) in zip(requests, replies):
        if x[0, 0] == 99:
            assert status == 400 and "out of range" in reply["error"], reply
        else:
            assert status == 200
            np.testing.assert_array_equal(reply["outputs"][0]["data"], model.predict(x, verbose=0).ravel())
    assert not any(key[0] == "fastnn_requests_total" and ("outcome", "server_error") in key[1] and value
                   for key, value in metrics.items())


def test_keep_alive_and_pipelined_requests(served):
    server, _ = served
    request = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(request * 3)
        reader = sock.makefile("rb")
        for _ in range(3):
            assert reader.readline() == b"HTTP/1.1 200 OK\r\n"
            headers = {}
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            assert headers["connection"] == "keep-alive"
            assert json.loads(reader.read(int(headers["content-length"]))) == {"live": True}
        sockets = [c.transport.get_extra_info("socket") for c in list(server.connections.open)]
        assert sockets and all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1 for s in sockets)


def _mutate(rng, body):
    kind = rng.integers(6)
    if kind == 0:
        return body[:rng.integers(len(body))]
    if kind == 1:
        data = bytearray(body)
        for at in rng.integers(0, len(data), rng.integers(1, 8)):
            data[at] = rng.integers(256)
        return bytes(data)
    if kind == 2:
        at = rng.integers(len(body))
        pieces = [b"[", b"]", b"{", b"}", b",", b"null", b'"', b"-", b"1e999", b"true"]
        return body[:at] + pieces[rng.integers(len(pieces))] + body[at:]
    if kind == 3:
        value = json.loads(body)
        field = rng.choice(["name", "shape", "datatype", "data"])
        choices = [None, 1, -1, "FP32", [], [[]], {"a": 1}, [1, 8], [-1, 8], 1.5]
        value["inputs"][0][field] = choices[rng.integers(len(choices))]
        return json.dumps(value).encode()
    if kind == 4:
        return rng.bytes(rng.integers(0, 64))
    return json.dumps({"inputs": [{"name": INPUT, "shape": [int(d) for d in rng.integers(-1, 10, rng.integers(0, 4))],
                                   "datatype": "FP32", "data": rng.random(int(rng.integers(0, 20))).tolist()}]}).encode()


def test_random_malformed_bodies_never_crash_or_5xx(served):
    server, _ = served
    rng = np.random.default_rng(99)
    valid = _v2(_rows(2))
    statuses = []
    for _ in range(300):
        body = _mutate(rng, valid)
        for path in ("/v2/models/seed/infer", "/v1/models/seed:predict"):
            status, _, data = call(server, "POST", path, body)
            statuses.append(status)
            assert status in (200, 400), (status, body[:200])
            assert status == 200 or "error" in json.loads(data)
    assert statuses.count(400) > len(statuses) // 2
    assert call_json(server, "GET", "/v2/health/ready")[0] == 200


def test_cli_serves_until_terminated(tmp_path):
    path = tmp_path / "seed.fnn"
    save_seed_model(path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    process = subprocess.Popen([sys.executable, "-m", "fastnn", "serve", str(path), "--name", "clf", "--port", "0"],
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stderr.readline()
        assert "serving model clf on http://127.0.0.1:" in line, line
        server = types.SimpleNamespace(url=line.split(" on ")[1].strip())
        wait_ready(server)
        assert call_json(server, "POST", "/v2/models/clf/infer", v2_json_request(_rows(1)))[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_uvicorn_backend_serves_the_same_app(tmp_path):
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    path = tmp_path / "seed.fnn"
    model = save_seed_model(path)
    with uvicorn_server(path, max_body_bytes=MAX_BODY) as served:
        x = _rows(4)
        body, headers = v2_binary_request(x)
        status, response_headers, data = call(served, "POST", "/v2/models/seed/infer", body, headers)
        assert status == 200
        np.testing.assert_array_equal(decode_v2_binary(response_headers, data)[OUTPUT], model.predict(x, verbose=0))
        assert call_json(served, "POST", "/v1/models/seed:predict", {"instances": x.tolist()}) == \
            (200, {"predictions": model.predict(x, verbose=0).tolist()})
        for case in ("wrong shape", "malformed JSON", "NaN in a binary tensor", "oversized body"):
            body, headers = BAD_REQUESTS[case]
            assert call(served, "POST", "/v2/models/seed/infer", body, dict(headers))[0] == 400, case
        values = metric_values(call(served, "GET", "/metrics")[2].decode())
        # the oversized body is refused before it is read, by the transport: not an inference request
        assert values[("fastnn_requests_total", (("model", "seed"), ("outcome", "client_error")))] == 3


def test_two_input_model_over_both_protocols(tmp_path):
    fastnn.set_seed(0)
    a, b = fastnn.Input(shape=(3,), name="a"), fastnn.Input(shape=(2, 2), name="b")
    joined = fastnn.layers.Concatenate()([a, fastnn.layers.Flatten()(b)])
    model = fastnn.Model([a, b], [Dense(2, name="y")(joined), Dense(1, activation="sigmoid", name="p")(joined)])
    rng = np.random.default_rng(0)
    xa, xb = rng.random((300, 3), dtype=np.float32), rng.random((300, 2, 2), dtype=np.float32)
    model.save(tmp_path / "two.fnn", reference_data=[xa, xb])
    expected = model.predict([xa[:3], xb[:3]], verbose=0)
    with start_server(tmp_path / "two.fnn", name="two", drift_window=100) as server:
        request = {"inputs": [{"name": "b", "shape": [3, 2, 2], "datatype": "FP32", "data": xb[:3].tolist()},
                              {"name": "a", "shape": [3, 3], "datatype": "FP32", "data": xa[:3].ravel().tolist()}],
                   "outputs": [{"name": "p"}]}
        status, response = call_json(server, "POST", "/v2/models/two/infer", request)
        assert status == 200 and [o["name"] for o in response["outputs"]] == ["p"]
        np.testing.assert_array_equal(np.array(response["outputs"][0]["data"], np.float32), expected[1].ravel())
        instances = [{"a": ra, "b": rb} for ra, rb in zip(xa[:3].tolist(), xb[:3].tolist())]
        status, response = call_json(server, "POST", "/v1/models/two:predict", {"instances": instances})
        assert status == 200 and response["predictions"][0] == {"y": expected[0][0].tolist(),
                                                                 "p": expected[1][0].tolist()}
        status, response = call_json(server, "POST", "/v1/models/two:predict",
                                     {"inputs": {"a": xa[:3].tolist(), "b": xb[:3].tolist()}})
        assert status == 200 and response["outputs"]["p"] == expected[1].tolist()
        assert call_json(server, "POST", "/v2/models/two/infer", {"inputs": request["inputs"][:1]})[0] == 400
        call_json(server, "POST", "/v2/models/two/infer", {"inputs": [
            {"name": "a", "shape": [200, 3], "datatype": "FP32", "data": xa[:200].tolist()},
            {"name": "b", "shape": [200, 2, 2], "datatype": "FP32", "data": xb[:200].tolist()}]})
        deadline = time.monotonic() + 30
        while ("fastnn_input_drift_score", (("feature", "b/3"), ("method", "psi"), ("model", "two"))) not in \
                metric_values(call(server, "GET", "/metrics")[2].decode()):
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_a_quantized_model_serves_like_any_other(tmp_path):
    """quantize_dynamic's int8 model saves, loads and answers as its own predict does, bitwise."""
    from fastnn.optimize import quantize_dynamic

    path = tmp_path / "int8.fnn"
    model = quantize_dynamic(seed_model())
    model.save(path)
    x = _rows(5, seed=7)
    with start_server(path, "int8") as server:
        body, headers = v2_binary_request(x)
        status, response_headers, data = call(server, "POST", "/v2/models/int8/infer", body, headers)
    assert status == 200
    np.testing.assert_array_equal(decode_v2_binary(response_headers, data)[OUTPUT], model.predict(x, verbose=0))
