"""`reviewq serve`: gunicorn's master with event-loop workers (reviewq.serving) in front of Flask."""

from __future__ import annotations

import ctypes
import gc
import logging

from gunicorn.app.base import BaseApplication

from reviewq.config import Settings, is_sqlite
from reviewq.serving.fd_limit import raise_fd_limit
from reviewq.serving.worker import ReviewqWorker
from reviewq.worker_balance import ConnectionBoard, assign_slot, vacate_slot

log = logging.getLogger(__name__)

GC_YOUNG = 10_000


class ReviewqServer(BaseApplication):
    """gunicorn with the app built in each worker from the given settings.

    The workers are reviewq.serving.worker.ReviewqWorker: an asyncio loop per process, with
    [server] threads request threads for the Flask app (long-polls and slow clients hold none).
    """

    def __init__(self, settings: Settings, *, run_scheduler: bool, extra: dict | None = None,
                 scheduler_setup=None):
        self.settings = settings
        self.run_scheduler = run_scheduler
        self.extra = extra or {}
        # Called with the in-process scheduler once it runs (the demo adds its traffic trickle).
        self.scheduler_setup = scheduler_setup
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        # SQLite has one writer and in-process approval wake-ups: exactly one worker process.
        workers = 1 if is_sqlite(s.database.url) else s.server.workers
        options = {
            "bind": f"{s.server.host}:{s.server.port}",
            "workers": workers,
            "worker_class": "reviewq.serving.worker.ReviewqWorker",
            # The master's heartbeat check: each worker's loop reports in well within this.
            "timeout": 60,
            "graceful_timeout": 10,
            "keepalive": 5,
            # Agents may open thousands of long-polls at once: room in the listen queue (the
            # kernel caps it at net.core.somaxconn).
            "backlog": 4096,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "reviewq",
            "post_worker_init": self._post_worker_init,
            "worker_exit": self._worker_exit,
        }
        ReviewqWorker.max_connections = s.server.max_connections
        ReviewqWorker.header_timeout_s = s.server.header_timeout_s
        ReviewqWorker.board = None
        if workers > 1:
            # Keep-alive connections spread evenly over the processes (see worker_balance).
            ReviewqWorker.board = ConnectionBoard(slots=max(8, workers * 2))
            options.update(pre_fork=assign_slot, child_exit=vacate_slot)
        options.update(self.extra)
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        from reviewq.serving.front import ReviewqFront
        from reviewq.web import create_app

        return ReviewqFront(create_app(self.settings), self.settings)

    def _post_worker_init(self, worker) -> None:
        # One in-process scheduler, in the single SQLite worker; never one per worker.
        if self.run_scheduler:
            from reviewq.scheduler import start_in_process

            worker._reviewq_scheduler = start_in_process(self.settings)
            if self.scheduler_setup is not None:
                self.scheduler_setup(worker._reviewq_scheduler)
        # The app, its libraries and the scheduler live as long as the worker: out of the
        # collector's sight, a full collection (which a dashboard's rows set off about once a
        # page) walks only what requests made, 70 ms less at 1M decisions.
        gc.freeze()
        # Young collections after GC_YOUNG allocations, not 700: a request's objects mostly die
        # (by reference count) before one, so fewer reach the old generation and set off a full
        # collection. With 10,000 long-polls parked (some 540,000 tracked objects) a full one
        # stops the process for 300 ms, and came every 15-40 s while reviewers worked (issue 11).
        gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])

    def _worker_exit(self, _arbiter, worker) -> None:
        scheduler = getattr(worker, "_reviewq_scheduler", None)
        if scheduler is not None:
            scheduler.shutdown(wait=False)


def tune_malloc(arenas: int = 2, mmap_threshold: int = 128 * 1024) -> None:
    """Keep glibc malloc from holding on to memory the server no longer uses.

    - Arenas: glibc gives threads their own (up to 8 per core), and memory freed into one is
      reused only by threads that land on it, so a pool of request threads grows the heap far
      past what the GIL-bound worker uses at once.
    - mmap threshold: by default it rises to the size of any large block freed, so after one
      login (scrypt's 16 MiB) blocks that size come from the heap and stay resident. A fixed
      threshold keeps large blocks in their own mappings, returned to the system when freed.

    Called in the master before the workers fork; they inherit it.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    libc.mallopt(_M_ARENA_MAX, arenas)
    libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)


# From glibc's malloc.h.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def serve(settings: Settings, *, run_scheduler: bool | None = None, extra: dict | None = None,
          scheduler_setup=None) -> None:
    tune_malloc()
    raise_fd_limit(settings.server.max_connections + 256)  # the workers inherit it
    if run_scheduler is None:
        run_scheduler = is_sqlite(settings.database.url)
    ReviewqServer(settings, run_scheduler=run_scheduler, extra=extra, scheduler_setup=scheduler_setup).run()
