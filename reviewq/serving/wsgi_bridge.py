"""One WSGI call (PEP 3333) for a request whose body has already been read, in a pool thread.

The response is buffered when it is small (nearly all are) and streamed otherwise: the CSV
export of a million decisions must not sit in memory whole. A streamed body is pulled in the
pool thread, which sends each chunk through the event loop and waits for it to drain. The app
and its body iterator run in one contextvars.Context throughout: Flask keeps the request in
context variables, and a streamed generator may resume in another pool thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

# Bytes buffered before a response switches to streaming.
BUFFER_LIMIT = 256 * 1024


def build_environ(scope: dict, body: bytes) -> dict:
    """The WSGI environ of an ASGI HTTP scope with its whole body in `wsgi.input`."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client") or ("", 0)
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        # WSGI wants the decoded path as latin-1 code points of its bytes.
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "RAW_URI": (raw_path + (b"?" + query if query else b"")).decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "80",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue  # the body is whole: its length is the one above, it is no longer chunked
        key = f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


@dataclass
class WsgiResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: list[bytes]
    # The rest of a large body, still to be pulled (in a pool thread), then `close`d.
    rest: Iterator[bytes] | None = None
    close: Callable[[], None] = field(default=lambda: None)
    context: contextvars.Context | None = None


def call_app(app: Callable, environ: dict) -> WsgiResponse:
    """Run the WSGI app; buffer up to BUFFER_LIMIT bytes of its body."""
    started: dict = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
        if exc_info is not None and started.get("sent"):
            raise exc_info[1].with_traceback(exc_info[2])
        started["status"], started["headers"] = status, headers
        return written.append  # the legacy write() callable

    context = contextvars.Context()
    result: Iterable[bytes] = context.run(app, environ, start_response)
    result_close = getattr(result, "close", None)

    def close() -> None:
        if result_close is not None:
            context.run(result_close)

    chunks, size = written, sum(len(c) for c in written)
    iterator = iter(result)
    try:
        while (chunk := context.run(next, iterator, None)) is not None:
            if chunk:
                chunks.append(chunk)
                size += len(chunk)
            if size >= BUFFER_LIMIT:
                rest = _in_context(context, iterator)
                return WsgiResponse(_status(started), _headers(started), chunks, rest=rest, close=close,
                                    context=context)
    except BaseException:
        close()
        raise
    close()
    return WsgiResponse(_status(started), _headers(started), chunks)


def _in_context(context: contextvars.Context, iterator: Iterator[bytes]) -> Iterator[bytes]:
    while (chunk := context.run(next, iterator, None)) is not None:
        yield chunk


def _status(started: dict) -> int:
    started["sent"] = True
    return int(started["status"].split(" ", 1)[0])


def _headers(started: dict) -> list[tuple[bytes, bytes]]:
    return [_header(k, v) for k, v in started["headers"]]


# Nearly every response repeats the same few headers (content type, the security headers): one
# encoded pair each, shared, instead of a copy kept by each of 10,000 parked long-polls (issue
# 11). Headers whose values vary are not kept, and the cache stops growing at its size.
_SHARED_HEADERS: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_SHARED_MAX = 256
_VARYING = frozenset({"content-length", "set-cookie", "location", "etag", "last-modified", "date",
                      "content-disposition", "retry-after"})


def _header(name: str, value: str) -> tuple[bytes, bytes]:
    pair = _SHARED_HEADERS.get((name, value))
    if pair is None:
        lower = name.lower()
        pair = (lower.encode("latin-1"), value.encode("latin-1"))
        if lower not in _VARYING and len(_SHARED_HEADERS) < _SHARED_MAX:
            _SHARED_HEADERS[(name, value)] = pair
    return pair


def pump(response: WsgiResponse, send: Callable, loop: asyncio.AbstractEventLoop, gone: asyncio.Event) -> None:
    """In a pool thread: send the rest of a streamed body chunk by chunk; stop if the client left."""
    try:
        for chunk in response.rest or ():
            if gone.is_set():
                return
            if chunk:
                asyncio.run_coroutine_threadsafe(
                    send({"type": "http.response.body", "body": chunk, "more_body": True}), loop
                ).result()
    finally:
        response.close()
