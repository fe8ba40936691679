"""Helpers of the model server tests: the seed example's model, a server on an ephemeral port, HTTP calls."""
import contextlib
import json
import threading
import time
import types
import urllib.error
import urllib.request

import numpy as np

import fastnn
from fastnn.layers import Dense
from fastnn.serve import ModelServer

INPUT, OUTPUT = "features", "probability"


def seed_model():
    """The classic Keras example's model (8 -> 10 -> 8 -> 1), untrained, with seeded weights and named input
    and output."""
    fastnn.set_seed(0)
    return fastnn.Sequential([fastnn.Input(shape=(8,), name=INPUT), Dense(10, activation="relu"),
                              Dense(8, activation="relu"), Dense(1, activation="sigmoid", name=OUTPUT)])


def save_seed_model(path, reference_rows=2000):
    """Save the seed model with reference statistics of uniform [0, 1) inputs; returns the model."""
    model = seed_model()
    reference = np.random.default_rng(0).random((reference_rows, 8), dtype=np.float32)
    model.save(path, reference_data=reference)
    return model


def start_server(path, name="seed", **options):
    """A ModelServer for the .fnn file at path on an ephemeral port, started and ready."""
    server = ModelServer(lambda: fastnn.load_model(path), name, port=0, **options).start()
    wait_ready(server)
    return server


@contextlib.contextmanager
def uvicorn_server(path, name="seed", **options):
    """The starlette app (fastnn[serve]) for the .fnn file at path under uvicorn on an ephemeral port, ready:
    yields an object with .url, as a ModelServer has."""
    import uvicorn
    from fastnn.serve.asgi import create_app

    app = create_app(lambda: fastnn.load_model(path), name, **options)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        served = types.SimpleNamespace(url=f"http://127.0.0.1:{port}")
        wait_ready(served)
        yield served
    finally:
        server.should_exit = True
        thread.join(30)


def wait_ready(server, timeout=30.0):
    deadline = time.monotonic() + timeout
    while call(server, "GET", "/v2/health/ready")[0] != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not become ready")
        time.sleep(0.01)


def call(server, method, path, body=None, headers=None):
    """(status, headers, body bytes) of one request; 4xx and 5xx are returned, not raised."""
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def call_json(server, method, path, value=None):
    """(status, decoded JSON body) of a request with a JSON body (or none)."""
    body = None if value is None else json.dumps(value).encode()
    status, _, data = call(server, method, path, body, {"Content-Type": "application/json"})
    return status, json.loads(data)


def v2_json_request(x, name=INPUT, datatype="FP32"):
    return {"inputs": [{"name": name, "shape": list(x.shape), "datatype": datatype, "data": x.ravel().tolist()}]}


def v2_binary_request(x, binary_output=True):
    """(body, headers) of a V2 request with x as a binary tensor, as tritonclient sends it."""
    header = {"inputs": [{"name": INPUT, "shape": list(x.shape), "datatype": "FP32",
                          "parameters": {"binary_data_size": x.nbytes}}],
              "parameters": {"binary_data_output": binary_output}}
    head = json.dumps(header).encode()
    return head + x.astype("<f4").tobytes(), {"Inference-Header-Content-Length": str(len(head)),
                                              "Content-Type": "application/octet-stream"}


def decode_v2_binary(headers, body):
    """{name: array} of a V2 response with binary outputs."""
    length = int(headers["Inference-Header-Content-Length"])
    response, at, out = json.loads(body[:length]), length, {}
    for entry in response["outputs"]:
        size = entry["parameters"]["binary_data_size"]
        out[entry["name"]] = np.frombuffer(body[at:at + size], "<f4").reshape(entry["shape"])
        at += size
    assert at == len(body)
    return out


def metric_values(text):
    """{(name, sorted label items): value} of Prometheus text; parsed by prometheus-client when installed."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return _parse_samples(text)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _parse_samples(text):
    """A strict reading of the sample lines we emit: name{label="value",...} number."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        items = tuple(sorted((k, v.strip('"')) for k, v in (p.split("=", 1) for p in labels.rstrip("}").split(",")
                                                              if p)))
        out[(name, items)] = float(value)
    return out

