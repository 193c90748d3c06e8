"""uvicorn's Server accepting connections through its own loop, within the worker's limits.

See reviewq.serving.worker: at most [server] max_connections open, and with several workers
no more than the least-loaded sibling plus one (plus a sixteenth, for bursts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from uvicorn.config import Config
from uvicorn.server import Server

from reviewq.worker_balance import ConnectionBoard

log = logging.getLogger(__name__)

# How soon a worker holding back looks again at its own and its siblings' counts.
RECHECK_S = 0.01
# A worker may run ahead of its least-loaded sibling by this share of that sibling's count
# (and by one): exact while counts are small, and a burst of thousands of connections (agents
# opening long-polls) is not accepted in lockstep, one pair per recheck.
BALANCE_SLACK = 1 / 16
# Connections taken from the backlog per wake-up of the accept loop.
ACCEPT_BATCH = 64


class GatedServer(Server):
    """uvicorn's Server, accepting through its own loop (see the module docstring)."""

    def __init__(self, config: Config, *, max_connections: int, board: ConnectionBoard | None, slot: int):
        super().__init__(config)
        self.max_connections = max_connections
        self.board = board
        self.slot = slot
        self.accepting_now = 0  # accepted, transport not made yet

    def open_connections(self) -> int:
        return len(self.server_state.connections) + self.accepting_now

    def may_accept(self) -> bool:
        held = self.open_connections()
        if held >= self.max_connections:
            return False
        if self.board is None or self.slot >= self.board.slots:
            return True
        self.board.publish(self.slot, held)
        fewest = self.board.fewest_besides(self.slot)
        return held <= fewest + int(fewest * BALANCE_SLACK)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if not sockets:
            await super().startup(sockets)
            return
        await self.lifespan.startup()
        config = self.config

        def create_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(config=config, server_state=self.server_state,
                                              app_state=self.lifespan.state)

        self.servers = [_Acceptor(sock, create_protocol, self) for sock in sockets]  # type: ignore[misc]
        self.started = True


class _Acceptor:
    """Accepts from one listening socket while the server may; closed like an asyncio.Server."""

    def __init__(self, sock: socket.socket, factory, server: GatedServer):
        sock.setblocking(False)
        self.sock, self.factory, self.server = sock, factory, server
        self.connecting: set[asyncio.Task] = set()  # strong references until each is done
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            if not self.server.may_accept():
                await asyncio.sleep(RECHECK_S)
                continue
            # Wait until a connection is pending, then take it without blocking. Waiting for
            # readiness (not inside accept) can be given up safely: a timed-out sock_accept could
            # drop a connection it had just accepted.
            try:
                await self._readable(RECHECK_S * 20)
            except TimeoutError:
                continue  # look at the counts again, even if no one connects
            for _ in range(ACCEPT_BATCH):
                try:
                    conn, _ = self.sock.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    break  # a sibling took it, or the backlog is empty
                except OSError as exc:  # out of file descriptors, most likely: let some close
                    log.warning("accept failed: %s", exc)
                    await asyncio.sleep(0.1)
                    break
                self._start(conn)
                if self.server.board is not None or not self.server.may_accept():
                    break  # several workers: one at a time, so the counts stay even

    async def _readable(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = self.sock.fileno()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await asyncio.wait_for(ready, timeout)
        finally:
            loop.remove_reader(fd)

    def _start(self, conn: socket.socket) -> None:
        self.server.accepting_now += 1
        task = asyncio.get_running_loop().create_task(self._connect(conn))
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(False)
            await asyncio.get_running_loop().connect_accepted_socket(self.factory, conn)
        except OSError:
            conn.close()
        finally:
            self.server.accepting_now -= 1

    def close(self) -> None:
        self.task.cancel()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
