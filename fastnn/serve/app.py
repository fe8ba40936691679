"""The served model and its routes, independent of the HTTP transport.

:class:`ModelApp` answers ``handle(method, path, headers, body)`` with a :class:`Response`; the transport
(fastnn.serve.transport) only turns bytes into those calls and responses back into bytes. The model is loaded in
a thread once the server listens, so ``/v2/health/live`` answers at once and ``/v2/health/ready`` says 503
until the model is ready. The loader is the function the server was given (the model path comes from the
command line): nothing of a request ever reaches it.
"""
import asyncio
import json
import logging
import math
import re
import time

import numpy as np

from .. import __version__
from .batching import Batcher
from .encoding import decode_body, encode_body
from .metrics import Metrics
from .monitor import DriftMonitor, feature_names, numeric_inputs
from .protocol import (BadRequest, Signature, encode_tf_response, encode_v2_response, error_body, parse_tf_predict,
                       parse_v2_infer)

__all__ = ["ModelApp", "Response", "error_response", "MODEL_NAME", "DEFAULT_MAX_BODY_BYTES"]

logger = logging.getLogger("fastnn.serve")

MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
JSON_TYPE = "application/json"
DEFAULT_MAX_BODY_BYTES = 64 << 20
# A request body up to this size is parsed, and its answer encoded and compressed, on the event loop;
# a larger one on a worker thread, so that health checks and small requests are not held behind it
# (an 800k-string request took the loop ~1.5 s to parse and encode).
INLINE_BODY_BYTES = 64 << 10


async def _off_the_loop(size, work, *args):
    """work(*args), on a worker thread when size (the bytes it reads) is over INLINE_BODY_BYTES."""
    if size <= INLINE_BODY_BYTES:
        return work(*args)
    return await asyncio.get_running_loop().run_in_executor(None, work, *args)
_V2_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(|/ready|/infer)")
_V1_MODEL = re.compile(r"/v1/models/([^/:]+)(?:/versions/([^/:]+))?(|:predict)")


class Response:
    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, status, body, content_type=JSON_TYPE, headers=()):
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers


def _json(status, value):
    return Response(status, json.dumps(value, separators=(",", ":")).encode("utf-8"))


def error_response(status, message):
    return Response(status, error_body(message))


def _outputs_as_list(model, outputs):
    if isinstance(outputs, dict):
        return [np.asarray(outputs[name]) for name in model.output_names]
    return [np.asarray(o) for o in outputs] if isinstance(outputs, (list, tuple)) else [np.asarray(outputs)]


class ModelApp:
    """One model served over the Open Inference Protocol and TF Serving's predict.

    Args:
        load: a function of no arguments returning the built model (``lambda: fastnn.load_model(path)``).
        name: the model's name in URLs and metrics.
        workers: predict threads.
        max_batch_rows: rows of one batched predict call at most.
        max_batch_delay: seconds a free worker waits to gather requests into a batch.
        drift_window: recent input rows kept for drift monitoring (when the model has reference statistics).
        use_prometheus_client: see fastnn.serve.metrics.Metrics.
        max_body_bytes: the largest request body once inflated (a gzip or deflate body inflating beyond it
            is refused with 413); the transports refuse larger bodies as they come.
    """

    def __init__(self, load, name, workers=2, max_batch_rows=64, max_batch_delay=0.0005, drift_window=1000,
                 use_prometheus_client=None, max_body_bytes=DEFAULT_MAX_BODY_BYTES):
        if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
            raise ValueError(f"serve: model name must match {MODEL_NAME.pattern}, got {name!r}")
        self.name, self._load, self.workers = name, load, workers
        self.max_batch_rows, self.max_batch_delay, self.drift_window = max_batch_rows, max_batch_delay, drift_window
        self.max_body_bytes = max_body_bytes
        self.metrics = Metrics(name, use_prometheus_client)
        self.model = self.signature = self.batcher = self.monitor = None
        self.load_error = None
        self.ready = False

    # ----- lifecycle -------------------------------------------------------------------------------
    async def load(self):
        """Load the model in a thread; returns True when it is ready to serve (else see load_error)."""
        start = time.perf_counter()
        try:
            model = await asyncio.get_running_loop().run_in_executor(None, self._load)
            self.signature = Signature(model)
        except Exception as e:  # any failure to load is reported, and the server says it is not ready
            self.load_error = e
            logger.error("model %s failed to load: %s", self.name, e)
            return False
        seconds = time.perf_counter() - start
        self.metrics.loaded(seconds)
        self.model = model
        reference = getattr(model, "reference_statistics", None)
        self._numeric_inputs, names = numeric_inputs(self.signature), feature_names(self.signature)
        if reference is not None and len(reference.features) != len(names):
            logger.warning("model %s: its reference statistics have %d features, its numeric inputs %d; drift "
                           "monitoring is off", self.name, len(reference.features), len(names))
        elif reference is not None:
            self.monitor = DriftMonitor(reference, self.name, names, self.metrics, window=self.drift_window)
        self.batcher = Batcher(self._predict, self.workers, self.max_batch_rows, self.max_batch_delay,
                               self._after_batch)
        self.ready = True
        logger.info("model %s loaded in %.3f s (inputs %s, drift monitoring %s)", self.name, seconds,
                    [t.metadata() for t in self.signature.inputs], "on" if self.monitor else "off")
        return True

    def close(self):
        if self.batcher is not None:
            self.batcher.shutdown()

    def _predict(self, inputs):
        try:
            outputs = self.model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0)
        except ValueError as e:  # values the model refuses (an id outside an Embedding's range): the client's
            raise BadRequest(f"the model refused the inputs: {e}") from None
        return _outputs_as_list(self.model, outputs)

    def _after_batch(self, inputs):
        if self.monitor is not None:
            self.monitor.add([inputs[i] for i in self._numeric_inputs])
        self.metrics.batch(len(inputs[0]))

    # ----- routes ----------------------------------------------------------------------------------
    async def handle(self, method, path, headers, body):
        """The Response to one request; headers is a dict of lower-case names. The response body is
        compressed when the client's Accept-Encoding allows gzip or deflate."""
        response = await self._route(method, path, headers, body)
        payload, coding = await _off_the_loop(len(response.body), encode_body, response.body,
                                              headers.get("accept-encoding"))
        if coding is not None:
            response.body = payload
            response.headers = tuple(response.headers) + (("Content-Encoding", coding), ("Vary", "Accept-Encoding"))
        return response

    async def _route(self, method, path, headers, body):
        if path == "/v2/health/live":
            return _json(200, {"live": True})
        if path == "/v2/health/ready":
            return _json(200 if self.ready else 503, {"ready": self.ready})
        if path == "/metrics":
            return Response(200, self.metrics.render(), self.metrics.content_type)
        if path == "/v2":
            return _json(200, {"name": "fastnn", "version": __version__, "extensions": ["binary_tensor_data"]})
        match = _V2_MODEL.fullmatch(path) or _V1_MODEL.fullmatch(path)
        if match is None:
            return error_response(404, f"no such endpoint: {path[:200]}")
        name, version, action = match.groups()
        if name != self.name or version not in (None, "1"):
            return error_response(404, f"unknown model {name[:200]!r}" + (f" version {version[:40]!r}" if version else "")
                          + f"; this server serves {self.name!r} version 1")
        if action in ("/infer", ":predict"):
            return await self._inference(method, path.startswith("/v2"), headers, body)
        if method != "GET":
            return error_response(405, f"{path[:200]} takes GET, not {method[:20]}")
        return self._model_status(path.startswith("/v2"), action)

    def _model_status(self, v2, action):
        if not v2:
            state = "AVAILABLE" if self.ready else "LOADING"
            return _json(200, {"model_version_status": [{"version": "1", "state": state,
                                                        "status": {"error_code": "OK", "error_message": ""}}]})
        if action == "/ready":
            return _json(200 if self.ready else 503, {"name": self.name, "ready": self.ready})
        if not self.ready:
            return error_response(503, f"model {self.name!r} is not loaded yet")
        return _json(200, {"name": self.name, "versions": ["1"], "platform": "fastnn",
                           "inputs": [t.metadata() for t in self.signature.inputs],
                           "outputs": [t.metadata() for t in self.signature.outputs]})

    async def _inference(self, method, v2, headers, body):
        start = time.perf_counter()
        try:
            response = await self._infer(method, v2, headers, body)
        except BadRequest as e:
            response = error_response(e.status, e)
        except Exception as e:  # a fault of ours (the request was checked): 500, logged, and serving goes on
            logger.exception("inference failed")
            response = error_response(500, f"internal error: {type(e).__name__}")
        self.metrics.request(response.status, time.perf_counter() - start)
        return response

    async def _infer(self, method, v2, headers, body):
        if method != "POST":
            raise BadRequest(f"inference takes POST, not {method}", 405)
        if not self.ready:
            raise BadRequest(f"model {self.name!r} is not loaded yet", 503)
        # a compressed body's size is known only once it is inflated
        size = len(body) if headers.get("content-encoding", "identity") == "identity" else math.inf
        inputs, request = await _off_the_loop(size, self._parse, v2, headers, body)
        outputs = await self.batcher.predict(inputs)
        return await _off_the_loop(size, self._answer, v2, outputs, request)

    def _parse(self, v2, headers, body):
        """The request's input arrays, and what its answer needs: (requested outputs, request id) for
        V2, the row format for TF Serving."""
        body = decode_body(body, headers.get("content-encoding"), self.max_body_bytes, BadRequest)
        if v2:
            inputs, requested, request_id = parse_v2_infer(body, headers.get("inference-header-content-length"),
                                                           self.signature)
            return inputs, (requested, request_id)
        return parse_tf_predict(body, self.signature)

    def _answer(self, v2, outputs, request):
        if not v2:
            return Response(200, encode_tf_response(self.signature, outputs, request))
        payload, header_length = encode_v2_response(self.name, self.signature, outputs, *request)
        if header_length is None:
            return Response(200, payload)
        return Response(200, payload, "application/octet-stream",
                        (("Inference-Header-Content-Length", str(header_length)),))
