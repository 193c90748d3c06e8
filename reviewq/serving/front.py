"""The ASGI app in front of Flask: requests wait on the event loop, never in a thread.

A request takes a pool thread only once its headers and whole body are here, so slow or
stalled clients cost a socket, not a worker thread. On SQLite a reviewer's queue call runs on the
loop's own thread instead, in its turn (`_queue_call`). The body is read under [api]
max_body_bytes (413, also when chunked) and [server] body_timeout_s (408); a request target
over [server] max_url_bytes is a 414. All three answer in the API's JSON error shape.

A long-poll (GET /api/v1/approvals/<id>?wait=N) runs its view in a pool thread as usual: the
view authenticates, reads the approval and, if it is still pending, leaves a `LongPoll` in the
environ instead of blocking. The wait then happens on the loop, woken by the same wake-ups as
before (reviewq.domain.wakeups), with each re-read in a small pool of its own. Agents may park
10,000 of them at once, so a parked long-poll leaves uvicorn's books: its socket, its poll and
one task (reviewq.serving.parking). Agents' requests past [server] max_queued_requests wait as
their socket and bytes (reviewq.serving.agent_queue).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from reviewq.config import Settings, is_sqlite
from reviewq.db import connections_per_engine, sqlite_write_lock
from reviewq.domain.wakeups import hub, wait_until_async
from reviewq.python_turns import give_back, is_queue_call, take_call_turn
from reviewq.serving.agent_queue import AgentQueue
from reviewq.serving.parking import ParkedPoll, keeps_alive, park, take_over
from reviewq.serving.protocol import CONNECTION, MAX_HEAD_BYTES, error_body
from reviewq.serving.shared_rechecks import SharedRechecks
from reviewq.serving.wsgi_bridge import WsgiResponse, build_environ, call_app, pump
from reviewq.web.long_poll import ASYNC_WAIT, LONG_POLL, LongPoll

log = logging.getLogger(__name__)

_CLOSE = (b"connection", b"close")
# How long the loop's thread steps aside after handing the turn to a background transaction.
HAND_OVER_S = 0.0001
_FAILED = object()


class RequestRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ReviewqFront:
    """ASGI 3 app running a WSGI app in a bounded pool, with long-polls served on the loop."""

    def __init__(self, wsgi_app, settings: Settings):
        self.app = wsgi_app
        self.max_body = settings.api.max_body_bytes
        self.max_url = settings.server.max_url_bytes
        self.body_timeout = settings.server.body_timeout_s
        # Agents (/api/) and people (pages, the queue's calls, /healthz) get a pool each, so a
        # burst of agent traffic, such as thousands of long-polls arriving at once, queues
        # behind itself and not ahead of a reviewer's next item. Long-poll re-reads get their
        # own few threads: a burst of wake-ups queues there.
        each, rechecks = pool_threads(settings)
        self.agents = ThreadPoolExecutor(each, thread_name_prefix="reviewq-api")
        self.people = ThreadPoolExecutor(each, thread_name_prefix="reviewq-web")
        self.rechecks = ThreadPoolExecutor(rechecks, thread_name_prefix="reviewq-recheck")
        # Waiters woken together on one approval share a re-read (one decision wakes hundreds).
        # On SQLite the re-reads run on the loop's thread (see reviewq.serving.shared_rechecks).
        self.shared_rechecks = SharedRechecks(self.rechecks, on_loop=is_sqlite(settings.database.url))
        self.agent_queue = AgentQueue(settings.server.max_queued_requests)
        self.queue_calls_take_turns = is_sqlite(settings.database.url)  # reviewq.python_turns
        self.write_lock = sqlite_write_lock(settings.database.url) if self.queue_calls_take_turns else None
        # What of a parked long-poll's scope uvicorn reads once it answers (its access log, if
        # anything set one up, also reads the client, path and query).
        access_log = logging.getLogger("uvicorn.access").hasHandlers()
        self.scope_kept = _SCOPE_ANSWERING + (_SCOPE_ACCESS_LOG if access_log else ())

    def __call__(self, scope, receive, send):
        """ASGI 3. A plain function returning the coroutine: one frame less for each parked long-poll."""
        if scope["type"] == "lifespan":
            return _lifespan(receive, send)
        if scope["type"] != "http":
            return _ignore()
        return self._http(scope, receive, send)

    async def _answer(self, scope, receive, send) -> tuple[LongPoll, int, list] | None:
        """Answer the request, unless it is a long-poll to park: then its poll, status and headers."""
        try:
            if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > self.max_url:
                raise RequestRefused(414, "uri_too_long", f"the URL is longer than {self.max_url} bytes")
            # h11 limits only a head that arrives in pieces; one that arrives whole is checked here.
            if sum(len(k) + len(v) + 4 for k, v in scope.get("headers", ())) > MAX_HEAD_BYTES:
                raise RequestRefused(431, "headers_too_large", "the request headers are too large")
            body = await self._read_body(scope, receive)
        except RequestRefused as refused:
            await _send_error(send, refused.status, refused.code, refused.message)
            return None
        if body is None:  # the client went away
            return None
        loop = asyncio.get_running_loop()
        agent = scope["path"].startswith("/api/")
        if agent and not self.agent_queue.admit(scope, body):
            return None  # held until the queue has room (reviewq.serving.agent_queue)
        pool = self.agents if agent else self.people
        try:
            if not agent and self.queue_calls_take_turns and is_queue_call(scope["path"]):
                response, poll = await self._queue_call(scope, body, loop)
            else:
                response, poll = await loop.run_in_executor(pool, self._run_app, scope, body, loop)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            await _send_error(send, 500, "internal_error", "an unexpected error occurred")
            return None
        finally:
            if agent:
                self.agent_queue.done()
        del body
        if poll is not None:
            return poll, response.status, [h for h in response.headers if h[0] != b"content-length"]
        await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
        if response.rest is None:
            await send({"type": "http.response.body", "body": b"".join(response.body)})
        else:
            await self._stream(response, pool, receive, send, loop)
        return None

    async def _queue_call(self, scope, body: bytes, loop) -> tuple[WsgiResponse, LongPoll | None]:
        """On SQLite: a reviewer's queue call, in its turn (reviewq.python_turns), on the loop's own thread.

        Queue calls run one at a time anyway. Handed to a pool thread, each went loop -> pool ->
        loop, and at every SQLite statement the loop's thread, woken by other clients' bytes, took
        the GIL from it: 20 voluntary thread switches a call, under 1 here. The turn is awaited on
        the loop, which serves everything else meanwhile; the call itself (a few milliseconds)
        holds the loop. A call that waited its patience without a turn, or that would wait for the
        write lock another transaction holds, runs in a pool thread instead, so the loop never
        blocks on either.
        """
        held = await take_call_turn()
        try:
            if held and not self.write_lock.locked():
                return self._call(scope, body, loop)
            return await loop.run_in_executor(self.people, self._run_app, scope, body, loop)
        finally:
            if held and give_back():
                _step_aside()

    def _run_app(self, scope, body: bytes, loop) -> tuple[WsgiResponse, LongPoll | None]:
        """In a pool thread: the environ is made here, so a burst of thousands of queued requests
        (agents opening long-polls) holds a scope each, not an environ too (VmHWM; issue 11)."""
        return self._call(scope, body, loop)

    def _call(self, scope, body: bytes, loop) -> tuple[WsgiResponse, LongPoll | None]:
        environ = build_environ(scope, body)
        environ[ASYNC_WAIT] = loop
        return call_app(self.app, environ), environ.get(LONG_POLL)

    async def _read_body(self, scope, receive) -> bytes | None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            raise RequestRefused(413, "payload_too_large", f"the body is larger than {self.max_body} bytes")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        body = bytearray()
        more = True
        while more:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise RequestRefused(408, "request_timeout",
                                     f"the body did not arrive within {self.body_timeout:g} s") from None
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_body:
                raise RequestRefused(413, "payload_too_large", f"the body is larger than {self.max_body} bytes")
            more = message.get("more_body", False)
        return bytes(body)

    async def _stream(self, response: WsgiResponse, pool, receive, send, loop) -> None:
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone.set))
        try:
            if response.body:
                await send({"type": "http.response.body", "body": b"".join(response.body), "more_body": True})
            await loop.run_in_executor(pool, pump, response, send, loop, gone)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()

    async def _http(self, scope, receive, send) -> None:
        parked = await self._answer(scope, receive, send)
        if parked is None:
            return
        poll, status, headers = parked
        del parked
        connection = scope.get(CONNECTION)
        # A long-poll leaves uvicorn's books when it can: its socket and poll are all it keeps.
        taken = take_over(connection) if connection is not None else None
        if taken is not None:
            del scope[CONNECTION]  # the scope and the connection held each other: freed now, not by the collector
            sock, early = taken
            keep_alive = keeps_alive(scope.get("http_version", "1.1"), scope.get("headers", ()), headers)
            parked = ParkedPoll(sock, early, poll, status, headers, keep_alive, connection)
            if connection.shutting_down:  # the server began stopping while the view ran: answer now
                parked.shutdown()
            park(parked, self.shared_rechecks.run)
            return
        # Otherwise its wait happens in this frame, the only one of ours it keeps.
        _slim(scope, self.scope_kept)
        # A client that hangs up stops its wait: nobody is left to answer.
        hang_up = _HangUp(asyncio.current_task())
        watcher = None
        if connection is not None:
            connection.when_lost(hang_up)
        else:  # another ASGI server: a task reads receive() for the hang-up
            watcher = asyncio.create_task(_watch_disconnect(receive, hang_up))
        try:
            value = await wait_until_async(
                poll.key, check=poll.check, wake_in=poll.wake_in,
                timeout=0 if connection is not None and connection.shutting_down else poll.timeout,
                waiter=poll.waiter, value=poll.value, accept=poll.accept,
                run=partial(self.shared_rechecks.run, poll.key),
            )
        except asyncio.CancelledError:
            if not hang_up.called:
                raise  # this task itself is being cancelled (shutdown), not the client leaving
            hang_up.task.uncancel()
            return
        except Exception:
            log.exception("long-poll on %s failed", poll.key)
            value = _FAILED
        finally:
            if connection is not None:
                connection.when_lost(None)
            if watcher is not None:
                watcher.cancel()
            if poll.waiter is not None:  # a wait cancelled before it ran never reached its own finally
                hub.unregister(poll.key, poll.waiter)
        if value is _FAILED:
            await _send_error(send, 500, "internal_error", "an unexpected error occurred")
            return
        body = poll.render(value)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_SCOPE_ANSWERING = ("method", "headers", CONNECTION)
_SCOPE_ACCESS_LOG = ("client", "path", "query_string", "http_version")


def _slim(scope: dict, kept: tuple[str, ...]) -> None:
    """Shrink a parked long-poll's scope to what answering reads: about 0.8 KB a waiter less.

    In place: uvicorn's request cycle holds this dict, and its protocol the headers list, to the
    end. Of the headers it reads only a "connection: close".
    """
    scope["headers"][:] = [h for h in scope["headers"] if h == _CLOSE]
    keep = {key: scope[key] for key in kept if key in scope}
    scope.clear()  # a dict's table shrinks only when emptied
    scope.update(keep)


class _HangUp:
    """Cancels a parked long-poll's task when its client hangs up (and says that it did)."""

    __slots__ = ("called", "task")

    def __init__(self, task: asyncio.Task) -> None:
        self.task, self.called = task, False

    def __call__(self) -> None:
        self.called = True
        self.task.cancel()


def _step_aside() -> None:
    """A background transaction now holds the turn, and its thread needs the CPU and the GIL,
    which this loop's thread would otherwise keep for the next request. Without this pause, under
    a reviewer deciding without a break, background transactions waited 7 ms (p50) for their turn
    and a webhook's delivery p50 rose from 15 to 35-70 ms."""
    time.sleep(HAND_OVER_S)


def pool_threads(settings: Settings) -> tuple[int, int]:
    """(threads of each request pool, re-read threads), at most [server] threads each.

    All of them together never need more connections than an engine has, so a request waits in
    its pool's queue (first come, first served, no time limit), never on the connection pool:
    with 256 threads a pool and 15 connections, a burst of 10,000 long-polls starved some
    threads of a connection for 30 s, and their agents got a 500 (issue 11, bench of 10:15).
    """
    # A GET holds its read session and its usage counter's write session at once (api_auth):
    # two connections of one engine on PostgreSQL, one of each engine on SQLite.
    sqlite = is_sqlite(settings.database.url)
    per_request = 1 if sqlite else 2
    # On SQLite one connection more is the loop's own, for the queue call it runs (_queue_call).
    connections = connections_per_engine(settings) - (1 if sqlite else 0)
    threads = settings.server.threads
    rechecks = max(1, min(8, max(2, threads // 8), connections // 4))  # one short read each
    return max(1, min(threads, (connections - rechecks) // (2 * per_request))), rechecks


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # h11 has already refused a malformed length
    return None


async def _watch_disconnect(receive, on_gone: Callable[[], object]) -> None:
    """Call `on_gone()` once the client disconnects."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            on_gone()
            return


async def _send_error(send, status: int, code: str, message: str) -> None:
    """The JSON error shape; the connection closes (an unread body may follow)."""
    body = error_body(code, message)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})


async def _ignore() -> None:
    return None


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return

