"""The gunicorn worker class of `reviewq serve`: an asyncio loop serving the ASGI front.

gunicorn's master keeps what it did before (binding, forking, restarting workers, the hooks
that start the in-process scheduler); each worker serves HTTP with uvicorn's h11 protocol on
its own event loop. It accepts connections itself, so that it can hold back:
- at [server] max_connections open connections (the rest wait in the listen backlog);
- with several workers, while it holds more connections than its least-loaded sibling plus
  one (plus a sixteenth, for bursts; reviewq.worker_balance): kept-alive reviewer connections
  spread over the processes instead of queueing on one process's GIL while another idles.
That accept loop is reviewq.serving.gated_server.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from reviewq.serving.fd_limit import raise_fd_limit
from reviewq.worker_balance import ConnectionBoard


class ReviewqWorker(Worker):
    board: ConnectionBoard | None = None  # set in the master before the workers fork
    reviewq_slot: int = 0  # set on the worker object by the master's pre_fork hook
    max_connections: int = 12000
    header_timeout_s: float = 15.0

    def init_process(self) -> None:
        # Counted as a live sibling (with no connections) before the app loads, so that the
        # worker up first does not take every early connection.
        if self.board is not None and self.reviewq_slot < self.board.slots:
            self.board.publish(self.reviewq_slot, 0)
        super().init_process()

    def init_signals(self) -> None:
        # uvicorn's Server installs SIGINT/SIGTERM (graceful); gunicorn's own must not swallow them.
        for s in self.SIGNALS:
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.siginterrupt(signal.SIGUSR1, False)

    def run(self) -> None:
        raise_fd_limit(self.max_connections + 256)
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        # Imported here, in the worker: gunicorn's master loads this class too, and its memory
        # counts in the server's (VmHWM of master plus workers; issue 11).
        from uvicorn.config import Config

        from reviewq.serving.gated_server import GatedServer
        from reviewq.serving.protocol import MAX_HEAD_BYTES, GuardedH11Protocol

        protocol = type("ReviewqH11Protocol", (GuardedH11Protocol,), {"header_timeout_s": self.header_timeout_s})
        config = Config(
            app=self.wsgi, http=protocol, ws="none", interface="asgi3", lifespan="off", loop="asyncio",
            log_config=None, access_log=False, proxy_headers=False,  # ProxyFix in the app decides
            server_header=False, headers=[("server", "reviewq")],
            timeout_keep_alive=self.cfg.keepalive, timeout_notify=self.timeout,
            callback_notify=self._notify, timeout_graceful_shutdown=self.cfg.graceful_timeout,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            # No WebSocket route exists: uvicorn would otherwise import and wire a WebSocket protocol.
        )
        server = GatedServer(config, max_connections=self.max_connections, board=self.board, slot=self.reviewq_slot)
        asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, server.handle_exit, signal.SIGQUIT, None)
        await server.serve(sockets=[s.sock for s in self.sockets])
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

    async def _notify(self) -> None:
        self.notify()
