"""A small HTTP/1.1 server on asyncio (standard library only) in front of a ModelApp.

Keep-alive by default (HTTP/1.0 clients may ask for it), TCP_NODELAY on every connection (without it, Nagle's
algorithm and delayed ACKs add about 40 ms to each reply), one request at a time per connection (pipelined
requests wait in the buffer and are answered in order), ``Expect: 100-continue`` honoured. Bodies need a
Content-Length; heads over MAX_HEAD_BYTES, bodies over the server's limit and anything unparsable are
answered 400 with ``{"error": ...}`` and the connection closed. Idle connections close after a timeout.
"""
import asyncio
import logging
import socket

from .app import error_response

__all__ = ["HttpProtocol", "ConnectionSet", "MAX_HEAD_BYTES"]

logger = logging.getLogger("fastnn.serve")

MAX_HEAD_BYTES = 16 << 10
MAX_HEADERS = 100
MAX_DRAIN_BYTES = 256 << 20
_REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            413: "Content Too Large", 415: "Unsupported Media Type", 500: "Internal Server Error", 503: "Service Unavailable"}


class _Malformed(Exception):
    """A request that cannot be parsed: answered 400, then the connection closes."""


class _TooLarge(_Malformed):
    """A body over the limit: answered 400; what the client still sends of it is read and dropped (closing
    with unread data would reset the connection before the client reads the answer)."""

    def __init__(self, message, length):
        super().__init__(message)
        self.length = length


# Headers that frame or decode the body: a second copy is refused rather than one of them believed.
_SINGLE_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding",
                             "inference-header-content-length"})


def _parse_head(head):
    """(method, path, version, headers) of a request head (bytes up to the blank line)."""
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise _Malformed("malformed request line") from None
    if version not in ("HTTP/1.1", "HTTP/1.0") or not method.isalpha():
        raise _Malformed(f"unsupported request line {lines[0][:80]!r}")
    if len(lines) - 1 > MAX_HEADERS:
        raise _Malformed(f"more than {MAX_HEADERS} headers")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _Malformed(f"malformed header line {line[:80]!r}")
        name = name.lower()
        if name in headers and name in _SINGLE_HEADERS:  # two framings of one body: request smuggling
            raise _Malformed(f"repeated {name} header")
        headers[name] = value.strip()
    return method, target.split("?", 1)[0], version, headers


def _content_length(headers, limit):
    if "transfer-encoding" in headers:
        raise _Malformed("Transfer-Encoding is not supported; send a Content-Length")
    value = headers.get("content-length", "0")
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise _Malformed(f"invalid Content-Length {value[:40]!r}")
    if int(value) > limit:
        raise _TooLarge(f"the body of {int(value)} bytes is larger than the limit of {limit} bytes", int(value))
    return int(value)


def _wire(response, keep_alive):
    head = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}",
            f"Content-Type: {response.content_type}", f"Content-Length: {len(response.body)}"]
    head += [f"{name}: {value}" for name, value in response.headers]
    head.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body


class ConnectionSet:
    """The open connections, so that idle ones can be closed and all of them at shutdown."""

    def __init__(self, loop, idle_timeout):
        self.loop, self.idle_timeout, self.open = loop, idle_timeout, set()

    def close_idle(self):
        now = self.loop.time()
        for connection in [c for c in self.open
                           if (not c.busy or c.draining) and now - c.last_active > self.idle_timeout]:
            connection.transport.close()

    def close_all(self):
        for connection in list(self.open):
            connection.transport.close()


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, app, connections, max_body_bytes):
        self.app, self.connections, self.max_body_bytes = app, connections, max_body_bytes
        self.transport = None
        self.buffer = bytearray()
        self.busy = False
        self.continued = False
        self.draining = 0
        self.last_active = connections.loop.time()

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections.open.add(self)

    def connection_lost(self, exc):
        self.connections.open.discard(self)

    def data_received(self, data):
        self.last_active = self.connections.loop.time()
        if self.draining:
            self.draining -= min(self.draining, len(data))
            if not self.draining:
                self.transport.close()
            return
        self.buffer += data
        if len(self.buffer) > MAX_HEAD_BYTES + self.max_body_bytes:
            self.transport.pause_reading()
        if not self.busy:
            self._next_request()

    def _next_request(self):
        """Start answering the request at the front of the buffer once it is complete."""
        end = self.buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                self._refuse(f"the request head is larger than {MAX_HEAD_BYTES} bytes")
            return
        try:
            method, path, version, headers = _parse_head(bytes(self.buffer[:end]))
            length = _content_length(headers, self.max_body_bytes)
        except _TooLarge as e:
            self._refuse(str(e), unread=e.length - (len(self.buffer) - end - 4))
            return
        except _Malformed as e:
            self._refuse(str(e))
            return
        start = end + 4
        if len(self.buffer) < start + length:
            if headers.get("expect", "").lower() == "100-continue" and not self.continued:
                self.continued = True
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        body = bytes(self.buffer[start:start + length])
        del self.buffer[:start + length]
        self.continued = False
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        self.busy = True
        asyncio.ensure_future(self._answer(method, path, headers, body, keep_alive))

    async def _answer(self, method, path, headers, body, keep_alive):
        try:
            response = await self.app.handle(method, path, headers, body)
        except Exception as e:  # a bug of ours must not take the server down: 500, logged
            logger.exception("handling %s %s failed", method, path)
            response = error_response(500, f"internal error: {type(e).__name__}")
        if self.transport.is_closing():
            return
        self.transport.write(_wire(response, keep_alive))
        self.busy = False
        self.last_active = self.connections.loop.time()
        if not keep_alive:
            self.transport.close()
            return
        self.transport.resume_reading()
        if self.buffer:
            self._next_request()

    def _refuse(self, message, unread=0):
        self.busy = True
        self.buffer.clear()
        self.transport.write(_wire(error_response(400, message), keep_alive=False))
        if 0 < unread <= MAX_DRAIN_BYTES:
            self.draining = unread
            self.transport.resume_reading()
        else:
            self.transport.close()
