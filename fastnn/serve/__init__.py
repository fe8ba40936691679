"""Serve a saved model over HTTP: ``python -m fastnn serve MODEL.fnn``.

The Open Inference Protocol (KServe V2) REST API, JSON and binary tensors, TF Serving's ``:predict``,
Prometheus ``/metrics`` and input drift monitoring, on the standard library (asyncio). Modules, top down:

- server: ModelServer runs the app on an asyncio loop, in the foreground or in a background thread
- transport: the HTTP/1.1 transport (keep-alive, TCP_NODELAY, limits)
- app: the routes and the model's lifecycle (loading, readiness)
- protocol: request and response bodies, checked (BadRequest -> 400)
- batching: concurrent requests become one predict call on a worker thread
- monitor, metrics: drift window and Prometheus metrics
"""
from .app import ModelApp
from .protocol import BadRequest
from .server import ModelServer

__all__ = ["ModelServer", "ModelApp", "BadRequest"]
