"""Agents' requests waiting for a request thread, held as a socket and the request's bytes.

Agents may open thousands of connections at once (10,000 long-polls in `reviewq bench`). Each
request then waited in the agents' pool queue as a whole uvicorn connection and request: a
transport, a protocol with its h11 state, a scope, a task and its coroutine frames, about 12 KB.
The worker's memory never came back down from that burst (issue 11: 45 MB of a 250 MB peak).

Past `limit` requests queued, a request is held instead: its socket (taken over as a parked
long-poll's is, reviewq.serving.parking) and the request's own bytes, rebuilt from the scope and
body. When a queued request leaves for its thread, the oldest held one is handed back to uvicorn
as a new connection that has just sent those bytes, and runs. Held requests go in arrival order,
ahead of any that arrive while some are held. People's requests (pages, the queue's calls) never
wait here: they have their own pool, and a reviewer's next item must not queue behind agents.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections import deque

from reviewq.serving.parking import hand_back, origin_of, response_head, take_over
from reviewq.serving.protocol import CONNECTION, error_body

log = logging.getLogger(__name__)

# Request headers not replayed: the body is replayed whole, with its length (not chunked), and
# has arrived already (no 100 Continue to wait for).
_NOT_REPLAYED = frozenset({b"content-length", b"transfer-encoding", b"expect"})


class HeldRequest:
    """One agent's request waiting for a thread: its socket and bytes. Among uvicorn's connections."""

    __slots__ = ("data", "origin", "sock")

    def __init__(self, sock: socket.socket, data: bytes, origin: tuple) -> None:
        self.sock, self.data, self.origin = sock, data, origin

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: the request never ran; say so, and close."""
        body = error_body("shutting_down", "the server is shutting down; send the request again")
        head = response_head(503, [(b"content-type", b"application/json"), (b"retry-after", b"1")], len(body),
                             keep_alive=False)
        try:
            self.sock.send(head + body)
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        self.origin[2].connections.discard(self)
        self.sock.close()


class AgentQueue:
    """Counts agents' requests queued for a thread; holds those past `limit` (see the module doc)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.queued = 0  # admitted, not yet done (in the pool's queue or running)
        self.held: deque[HeldRequest] = deque()
        self._handing_back = 0
        self._handed_back: weakref.WeakSet = weakref.WeakSet()  # connections whose request was held

    def admit(self, scope: dict, body: bytes) -> bool:
        """On the loop, with the request's whole body: True to run it now (call `done` after),
        False if it is held (nothing more to do with it here)."""
        connection = scope.get(CONNECTION)
        if connection in self._handed_back:
            self._handed_back.discard(connection)  # its turn came: it runs
        elif (self.held or self.queued >= self.limit) and self._hold(scope, body):
            return False
        self.queued += 1
        return True

    def done(self) -> None:
        self.queued -= 1
        self._hand_back_some()

    def _hold(self, scope: dict, body: bytes) -> bool:
        connection = scope.get(CONNECTION)
        taken = take_over(connection) if connection is not None else None
        if taken is None:
            return False
        del scope[CONNECTION]  # the scope and the connection held each other
        sock, early = taken
        held = HeldRequest(sock, replayed(scope, body) + early, origin_of(connection))
        held.origin[2].connections.add(held)
        self.held.append(held)
        self._hand_back_some()
        return True

    def _hand_back_some(self) -> None:
        while self.held and self.queued + self._handing_back < self.limit:
            held = self.held.popleft()
            if held.sock.fileno() == -1:  # closed by a shutdown
                continue
            self._handing_back += 1
            asyncio.get_running_loop().create_task(self._hand_back(held))

    async def _hand_back(self, held: HeldRequest) -> None:
        try:
            protocol = await hand_back(held.origin, held.sock, b"")
        except OSError:
            held.close()
            return
        finally:
            self._handing_back -= 1
            held.origin[2].connections.discard(held)
        self._handed_back.add(protocol)
        protocol.data_received(held.data)


def replayed(scope: dict, body: bytes) -> bytes:
    """The request as its client sent it, for uvicorn to read again (the body with its length)."""
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    lines = [b"%s %s HTTP/%s\r\n" % (scope["method"].encode(), target, scope.get("http_version", "1.1").encode())]
    lines += [b"%s: %s\r\n" % (name, value) for name, value in scope["headers"] if name not in _NOT_REPLAYED]
    if body or scope["method"] not in ("GET", "HEAD"):
        lines.append(b"content-length: %d\r\n" % len(body))
    lines.append(b"\r\n")
    return b"".join(lines) + body
