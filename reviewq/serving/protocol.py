"""HTTP/1.1 on h11 (uvicorn's protocol), plus a deadline for the request line and headers.

uvicorn times out idle keep-alive connections but not a client that sends part of its headers
and stalls (slowloris). On an event loop such a client costs no thread, yet each holds a file
descriptor; here it loses the connection after `header_timeout_s`. Requests h11 cannot parse
get the API's JSON error shape instead of uvicorn's plain text. A request's scope holds its
connection under CONNECTION, so a parked long-poll can learn of a hang-up without a task of
its own reading `receive()`.

Agents may hold 10,000 connections open at once, each with a request parked (issue 11), so a
connection's two asyncio.Events (uvicorn's flow control and its request's body signal) are
LeanEvents: a deque each, about 1.5 KB a connection, is made only while someone waits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# Largest request line plus headers h11 buffers; a request target over [server] max_url_bytes
# (a few KB) still arrives whole, so the app can answer it with a JSON 414.
MAX_HEAD_BYTES = 64 * 1024
# The scope key of the GuardedH11Protocol serving a request (see `when_lost`).
CONNECTION = "reviewq.connection"


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class LeanEvent:
    """asyncio.Event's set/clear/is_set/wait, with its list of waiters made only while someone waits."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


def _lean(event: asyncio.Event) -> LeanEvent:
    lean = LeanEvent()
    if event.is_set():
        lean.set()
    return lean


class GuardedH11Protocol(H11Protocol):
    """H11Protocol that closes a connection whose request head does not arrive in time."""

    # In slots, not the instance dict: H11Protocol's own attributes nearly fill the keys CPython
    # shares between instances, and three more gave every connection a dict of its own (1.3 KB of
    # allocations a connection, by tracemalloc; the server's RSS did not move measurably).
    __slots__ = ("_head_timer", "_lost", "_on_lost", "shutting_down")

    header_timeout_s: float = 15.0  # set per worker from [server] header_timeout_s

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        self._lost = False
        self._on_lost: Callable[[], None] | None = None
        self.shutting_down = False
        super().connection_made(transport)
        self.flow._is_writable_event = _lean(self.flow._is_writable_event)  # type: ignore[assignment]
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm_head_timer()
        elif self.conn.their_state is h11.IDLE:
            # Part of a request head (or the first bytes after a keep-alive pause) is here.
            self._arm_head_timer()
        else:
            self._disarm_head_timer()

    def handle_events(self) -> None:
        super().handle_events()
        # A new request's task is created but has not run yet: nothing waits on its event, and
        # its scope learns its connection.
        cycle = self.cycle
        if cycle is not None and CONNECTION not in cycle.scope:
            cycle.scope[CONNECTION] = self  # type: ignore[literal-required]
            cycle.message_event = _lean(cycle.message_event)  # type: ignore[assignment]

    def when_lost(self, callback: Callable[[], None] | None) -> None:
        """Call `callback` once if the client hangs up before it is answered; None: no longer."""
        self._on_lost = callback
        if callback is None:
            return
        if self._lost:
            self.loop.call_soon(callback)
        else:
            self.flow.resume_reading()  # a hang-up is seen only while reading

    def shutdown(self) -> None:
        # A long-poll whose view is still running when the server stops learns it here, when it
        # parks (reviewq.serving.front): it is no longer among the connections told to stop.
        self.shutting_down = True
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self._lost = True
        callback, self._on_lost = self._on_lost, None
        super().connection_lost(exc)
        if callback is not None:
            callback()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle between requests: uvicorn's keep-alive timer is running; ours restarts with data.
        self._disarm_head_timer()

    def send_400_response(self, msg: str) -> None:
        pending, _closed = self.conn.trailing_data
        if len(pending) > MAX_HEAD_BYTES:
            status, code, message = 431, "headers_too_large", "the request line and headers are too large"
        else:
            status, code, message = 400, "bad_request", f"malformed HTTP request: {msg}"
        body = error_body(code, message)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            self.transport.write(self.conn.send(h11.Response(status_code=status, headers=headers)))
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:
            pass  # h11 cannot answer in this state: just close
        self.transport.close()
