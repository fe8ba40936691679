"""The same ModelApp as an ASGI application on starlette, served by uvicorn (the ``fastnn[serve]`` extra).

``python -m fastnn serve MODEL.fnn --backend uvicorn`` uses it; ``create_app`` gives the application for any
ASGI server. Routes, checks, batching, metrics and drift monitoring are ModelApp's, so both transports
answer alike; this module only moves requests and responses between starlette and ModelApp.
"""
import asyncio
import contextlib

from .app import ModelApp, error_response

__all__ = ["create_app", "run_uvicorn"]

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def create_app(load, name, max_body_bytes, **app_options):
    """A starlette application serving the model `load()` returns (see ModelApp for the options).

    The model loads in the background once the application starts, so readiness is 503 until it is there.
    """
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    model_app = ModelApp(load, name, max_body_bytes=max_body_bytes, **app_options)

    async def body_within_limit(request):
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def endpoint(request):
        body = await body_within_limit(request)
        if body is None:
            response = error_response(400, f"the body is larger than the limit of {max_body_bytes} bytes")
        else:
            headers = {k.lower(): v for k, v in request.headers.items()}
            response = await model_app.handle(request.method, request.url.path, headers, body)
        return Response(response.body, response.status, dict(response.headers), media_type=response.content_type)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        loading = asyncio.get_running_loop().create_task(model_app.load())
        try:
            yield
        finally:
            await loading
            model_app.close()

    application = Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)], lifespan=lifespan)
    application.state.model_app = model_app
    return application


def run_uvicorn(load, name, host, port, max_body_bytes, **app_options):
    """Serve with uvicorn until interrupted; the exit status."""
    import uvicorn

    application = create_app(load, name, max_body_bytes, **app_options)
    uvicorn.run(application, host=host, port=port, log_level="info", access_log=False)
    return 0 if application.state.model_app.ready else 1
