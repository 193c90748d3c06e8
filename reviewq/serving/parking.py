"""Parked long-polls held off uvicorn's books: a socket, the poll and one task each.

A long-poll whose view deferred (reviewq.web.long_poll) says nothing over HTTP until its
answer, yet as uvicorn's connection it kept a transport, a protocol with its h11 state and flow
control, a request cycle with its scope, and three coroutine frames: about 10 KB a waiter, 100 MB
with 10,000 agents waiting (issue 11). Here the front takes its socket over (a duplicate of the
file descriptor; uvicorn's own is closed, which ends its side of the connection), and the waiter
becomes a ParkedPoll: the socket, the poll, the answer's status and headers, and one task that
waits, writes the answer, and hands a kept-alive connection back to uvicorn as a new one.

uvicorn still counts a ParkedPoll among its connections, so the accept loop's limit
(reviewq.serving.gated_server) holds, and a graceful shutdown asks it to answer at once.
"""

from __future__ import annotations

import asyncio
import http
import logging
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from reviewq.domain.wakeups import hub, wait_until_async
from reviewq.serving.protocol import error_body
from reviewq.web.long_poll import LongPoll

log = logging.getLogger(__name__)

# Bytes a parked client may send ahead of its answer (a pipelined request) before its socket is
# no longer read until then.
MAX_EARLY_BYTES = 64 * 1024

# (key, check): the check's value, read in a pool (reviewq.serving.shared_rechecks).
Recheck = Callable[[str, Callable[[], tuple[bool, Any]]], Awaitable[tuple[bool, Any]]]


def take_over(connection) -> tuple[socket.socket, bytes] | None:
    """The socket of a uvicorn connection (GuardedH11Protocol) whose request is being answered
    later, and what its client already sent beyond that request; uvicorn's side is closed.

    None, leaving the connection as it is, when it cannot move: TLS, an earlier answer still
    being written (it must leave first), or a client that already half-closed.
    """
    transport = getattr(connection, "transport", None)
    if transport is None or transport.is_closing() or transport.get_extra_info("sslcontext") is not None:
        return None
    if transport.get_write_buffer_size():
        return None
    early, closed = connection.conn.trailing_data
    raw = transport.get_extra_info("socket")
    if closed or raw is None:
        return None
    sock = raw.dup()
    sock.setblocking(False)
    # The app returns without answering: uvicorn must not answer for it (a 500) before the
    # close below reaches the protocol.
    connection.cycle.disconnected = True
    transport.close()  # uvicorn's descriptor only: the duplicate keeps the connection open
    return sock, bytes(early)


class ParkedPoll:
    """One parked long-poll: its socket and what answering it needs. Among uvicorn's connections."""

    __slots__ = ("answering", "closing", "early", "headers", "hung_up", "keep_alive", "origin", "poll", "sock",
                 "status", "task")

    def __init__(self, sock: socket.socket, early: bytes, poll: LongPoll, status: int,
                 headers: list[tuple[bytes, bytes]], keep_alive: bool, connection) -> None:
        self.sock, self.early, self.poll = sock, early, poll
        self.status, self.headers, self.keep_alive = status, headers, keep_alive
        self.origin = origin_of(connection)
        self.hung_up = self.closing = self.answering = False
        self.task: asyncio.Task | None = None

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown (or one begun before it parked): answer now, with the
        state as it is then, and close."""
        self.closing = True
        self.keep_alive = False
        if self.task is not None and not self.answering:
            self.task.cancel()

    def readable(self) -> None:
        """The client sent something while waiting: a hang-up ends the wait."""
        try:
            data = self.sock.recv(MAX_EARLY_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.hung_up = True
            self._stop_reading()
            if self.task is not None:
                self.task.cancel()
            return
        self.early += data
        if len(self.early) >= MAX_EARLY_BYTES:
            self._stop_reading()  # a hang-up is then seen when the answer is written

    def _stop_reading(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())


def origin_of(connection) -> tuple:
    """What a new uvicorn connection like this one is made of (see `hand_back`)."""
    return type(connection), connection.config, connection.server_state, connection.app_state


async def hand_back(origin: tuple, sock: socket.socket, data: bytes):
    """Make `sock` a uvicorn connection again, as if it had just sent `data`; its protocol."""
    cls, config, state, app_state = origin
    _, protocol = await asyncio.get_running_loop().connect_accepted_socket(
        lambda: cls(config=config, server_state=state, app_state=app_state), sock)
    if data:
        protocol.data_received(data)
    return protocol


def park(parked: ParkedPoll, recheck: Recheck) -> None:
    """Count `parked` among uvicorn's connections and start the task that waits and answers."""
    state = parked.origin[2]
    state.connections.add(parked)
    task = asyncio.get_running_loop().create_task(_serve(parked, recheck))
    parked.task = task
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def _serve(parked: ParkedPoll, recheck: Recheck) -> None:
    loop = asyncio.get_running_loop()
    state = parked.origin[2]
    handed_back = False
    try:
        if not parked.early:  # one that already sent more is not read again before its answer
            loop.add_reader(parked.sock.fileno(), parked.readable)
        try:
            status, body = parked.status, parked.poll.render(await _settled(parked, recheck))
        except asyncio.CancelledError:
            if parked.hung_up:
                return
            raise
        except Exception:
            log.exception("long-poll on %s failed", parked.poll.key)
            status, body, parked.keep_alive = 500, error_body("internal_error", "an unexpected error occurred"), False
        parked.answering = True
        loop.remove_reader(parked.sock.fileno())
        head = response_head(status, state.default_headers + parked.headers, len(body), parked.keep_alive)
        try:
            await loop.sock_sendall(parked.sock, head + body)
        except OSError:
            return  # the client is gone
        if parked.keep_alive:
            await hand_back(parked.origin, parked.sock, parked.early)
            handed_back = True
    finally:
        state.connections.discard(parked)
        if not handed_back:
            loop.remove_reader(parked.sock.fileno())
            parked.sock.close()


async def _settled(parked: ParkedPoll, recheck: Recheck) -> Any:
    """The value to answer with: once settled, at the wait's end, or at once when shutting down."""
    poll = parked.poll
    try:
        if parked.closing:  # parked after the server began stopping
            return (await recheck(poll.key, poll.check))[1]
        return await wait_until_async(poll.key, check=poll.check, timeout=poll.timeout, wake_in=poll.wake_in,
                                      waiter=poll.waiter, value=poll.value, accept=poll.accept,
                                      run=partial(recheck, poll.key))
    except asyncio.CancelledError:
        if parked.hung_up or not parked.closing:
            raise
        asyncio.current_task().uncancel()
        return (await recheck(poll.key, poll.check))[1]
    finally:
        if poll.waiter is not None:  # a wait cancelled before it ran never reached its own finally
            hub.unregister(poll.key, poll.waiter)


def response_head(status: int, headers: list[tuple[bytes, bytes]], length: int, keep_alive: bool) -> bytes:
    """An HTTP/1.1 status line and headers, as uvicorn writes them through h11."""
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, _phrase(status))]
    lines += [b"%s: %s\r\n" % pair for pair in headers]
    lines.append(b"content-length: %d\r\n" % length)
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def keeps_alive(http_version: str, request_headers, response_headers) -> bool:
    """Whether the connection stays open after this answer (HTTP/1.1 unless either side said close)."""
    if http_version != "1.1":
        return False
    for name, value in (*request_headers, *response_headers):
        if name.lower() == b"connection" and b"close" in (t.strip() for t in value.lower().split(b",")):
            return False
    return True


def _phrase(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
