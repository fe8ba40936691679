"""Run a ModelApp behind the asyncio HTTP server: in the foreground (the CLI) or in a background thread."""
import asyncio
import logging
import signal
import threading

from .app import DEFAULT_MAX_BODY_BYTES, ModelApp
from .transport import ConnectionSet, HttpProtocol

__all__ = ["ModelServer"]

logger = logging.getLogger("fastnn.serve")

IDLE_TIMEOUT = 75.0


class ModelServer:
    """A model server on (host, port); port 0 picks a free port (see ``.port`` once started).

    Args:
        load: a function of no arguments returning the model to serve.
        name: the model's name in URLs and metrics.
        host, port: where to listen.
        max_body_bytes: larger request bodies are refused with 400.
        idle_timeout: seconds after which an idle connection is closed.
        **app_options: the options of ModelApp (workers, max_batch_rows, max_batch_delay, drift_window,
            use_prometheus_client).

    Example:
        >>> with ModelServer(lambda: fastnn.load_model("m.fnn"), "m", port=0).start() as server:
        ...     print(server.url)
    """

    def __init__(self, load, name, host="127.0.0.1", port=8000, max_body_bytes=DEFAULT_MAX_BODY_BYTES,
                 idle_timeout=IDLE_TIMEOUT, **app_options):
        self.app = ModelApp(load, name, max_body_bytes=max_body_bytes, **app_options)
        self.host, self.port, self.max_body_bytes, self.idle_timeout = host, port, max_body_bytes, idle_timeout
        self._loop = self._stopping = self._thread = self.connections = None
        self._started = threading.Event()
        self._start_error = None

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def _serve(self, on_loaded):
        loop = asyncio.get_running_loop()
        self._loop, self._stopping = loop, asyncio.Event()
        self.connections = connections = ConnectionSet(loop, self.idle_timeout)
        server = await loop.create_server(lambda: HttpProtocol(self.app, connections, self.max_body_bytes),
                                          self.host, self.port, reuse_address=True)
        self.port = server.sockets[0].getsockname()[1]
        logger.info("fastnn serving model %s on %s", self.app.name, self.url)
        self._started.set()
        sweeper = loop.create_task(self._sweep(connections))
        loaded = await self.app.load()
        on_loaded(loaded)
        try:
            await self._stopping.wait()
        finally:
            sweeper.cancel()
            server.close()
            connections.close_all()
            await server.wait_closed()
            self.app.close()
        return loaded

    async def _sweep(self, connections):
        while True:
            await asyncio.sleep(min(5.0, self.idle_timeout))
            connections.close_idle()

    def serve_forever(self):
        """Serve in this thread until SIGINT or SIGTERM (or until the model fails to load); the exit status."""
        def on_loaded(loaded):
            if not loaded:
                self._stopping.set()

        async def main():
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: self._stopping.set())
            return await self._serve(on_loaded)

        return 0 if asyncio.run(main()) else 1

    def start(self):
        """Serve from a background thread; returns once listening (the model may still be loading)."""
        def run():
            try:
                asyncio.run(self._serve(lambda loaded: None))
            except BaseException as e:  # handed to start()'s caller, e.g. the port is taken
                self._start_error = e
                self._started.set()

        self._thread = threading.Thread(target=run, name="fastnn-serve", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            raise self._start_error
        return self

    def stop(self):
        """Stop a server started with start(): close connections, finish running batches, join the thread."""
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join()
            self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
