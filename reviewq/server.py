"""`reviewq serve`: gunicorn's master with event-loop workers (reviewq.serving) in front of Flask.

The master is a fresh interpreter (`serve` execs reviewq.serving.master) that imports gunicorn
and the worker class, not the settings' pydantic models, the ORM or the canary library: the
settings, validated here, reach it as JSON and are parsed again only in each worker. A master
that kept the CLI's imports held 15 MB more, for the server's whole life (issue 11).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import importlib
import json
import logging
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from gunicorn.app.base import BaseApplication

from reviewq.serving.fd_limit import raise_fd_limit
from reviewq.serving.worker import ReviewqWorker
from reviewq.worker_balance import ConnectionBoard, assign_slot, vacate_slot

if TYPE_CHECKING:
    from reviewq.config import Settings

log = logging.getLogger(__name__)

GC_YOUNG = 10_000


@dataclass(frozen=True)
class ServeSpec:
    """What the master needs, in plain values, and the workers' settings as JSON."""

    settings_json: str
    bind: str
    workers: int  # 1 with SQLite: one writer and in-process approval wake-ups
    max_connections: int
    header_timeout_s: float
    run_scheduler: bool
    # "module:function", called in the worker with (scheduler, settings, *setup_args) once the
    # in-process scheduler runs (the demo adds its traffic trickle).
    scheduler_setup: str | None = None
    setup_args: tuple = ()
    # The command line that started `reviewq serve`: gunicorn's USR2 upgrade re-runs it (the spec's
    # file is long closed by then).
    argv: tuple = ()

    @classmethod
    def of(cls, settings: Settings, *, run_scheduler: bool, scheduler_setup: str | None = None,
           setup_args: tuple = ()) -> ServeSpec:
        from reviewq.config import is_sqlite

        s = settings.server
        return cls(settings_json=settings.model_dump_json(), bind=f"{s.host}:{s.port}",
                   workers=1 if is_sqlite(settings.database.url) else s.workers,
                   max_connections=s.max_connections, header_timeout_s=s.header_timeout_s,
                   run_scheduler=run_scheduler, scheduler_setup=scheduler_setup, setup_args=tuple(setup_args),
                   argv=tuple(sys.argv))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSpec:
        data = json.loads(text)
        data["setup_args"], data["argv"] = tuple(data["setup_args"]), tuple(data["argv"])
        return cls(**data)


class ReviewqServer(BaseApplication):
    """gunicorn with the app built in each worker from the given settings.

    The workers are reviewq.serving.worker.ReviewqWorker: an asyncio loop per process, with
    [server] threads request threads for the Flask app (long-polls and slow clients hold none).
    """

    def __init__(self, spec: ServeSpec):
        self.spec = spec
        super().__init__()

    @functools.cached_property
    def settings(self) -> Settings:
        """Parsed on first use, in the worker (the master never needs them)."""
        from reviewq.config import Settings

        return Settings.model_validate_json(self.spec.settings_json)

    def load_config(self) -> None:
        spec = self.spec
        options = {
            "bind": spec.bind,
            "workers": spec.workers,
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
        ReviewqWorker.max_connections = spec.max_connections
        ReviewqWorker.header_timeout_s = spec.header_timeout_s
        ReviewqWorker.board = None
        if spec.workers > 1:
            # Keep-alive connections spread evenly over the processes (see worker_balance).
            ReviewqWorker.board = ConnectionBoard(slots=max(8, spec.workers * 2))
            options.update(pre_fork=assign_slot, child_exit=vacate_slot)
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        from reviewq.serving.front import ReviewqFront
        from reviewq.web import create_app

        return ReviewqFront(create_app(self.settings), self.settings)

    def _post_worker_init(self, worker) -> None:
        # One in-process scheduler, in the single SQLite worker; never one per worker.
        if self.spec.run_scheduler:
            from reviewq.scheduler import start_in_process

            worker._reviewq_scheduler = start_in_process(self.settings)
            if self.spec.scheduler_setup is not None:
                module, _, name = self.spec.scheduler_setup.partition(":")
                setup = getattr(importlib.import_module(module), name)
                setup(worker._reviewq_scheduler, self.settings, *self.spec.setup_args)
        _start_warming(worker)
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
        from reviewq.domain.projection_warmer import stop_warming

        stop_warming()


def _start_warming(worker) -> None:
    """Each worker keeps its own projection caches warm (domain/projection_warmer.py): its queue
    calls read them, and on SQLite they run on the event loop's thread, where a build stalls all.
    Not when nothing is planted (no canaries and no controls a week)."""
    from reviewq.domain.projection_warmer import start_warming
    from reviewq.web.clock import app_clock
    from reviewq.web.database import get_database, get_settings

    app = worker.wsgi.app
    with app.app_context():
        settings = get_settings()
        if settings.canaries.per_reviewer_per_week or settings.canaries.controls_per_reviewer_per_week:
            start_warming(get_database().engine, days=settings.canaries.source_days, clock=app_clock())


def tune_malloc(arenas: int = 2, mmap_threshold: int = 128 * 1024) -> None:
    """Keep glibc malloc from holding on to memory the server no longer uses.

    - Arenas: glibc gives threads their own (up to 8 per core), and memory freed into one is
      reused only by threads that land on it, so a pool of request threads grows the heap far
      past what the GIL-bound worker uses at once.
    - mmap threshold: by default it rises to the size of any large block freed, so after one
      login (scrypt's 8 MiB) blocks that size come from the heap and stay resident. A fixed
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


def serve(settings: Settings, *, run_scheduler: bool, scheduler_setup: str | None = None,
          setup_args: tuple = ()) -> None:
    """Become the gunicorn master: exec a fresh interpreter running reviewq.serving.master.

    The spec travels in an anonymous in-memory file the new process inherits (it holds the
    secret key, so not in the command line or the environment). The pid stays the same.
    """
    spec = ServeSpec.of(settings, run_scheduler=run_scheduler, scheduler_setup=scheduler_setup,
                        setup_args=setup_args)
    fd = _spec_file(spec.to_json().encode())
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "reviewq.serving.master", str(fd)])


def run_master(spec: ServeSpec) -> None:
    """In the fresh interpreter: tune memory, make room for the sockets, run gunicorn."""
    tune_malloc()
    raise_fd_limit(spec.max_connections + 256)  # the workers inherit it
    if spec.argv:
        sys.argv = list(spec.argv)  # what gunicorn's arbiter re-executes on USR2
    ReviewqServer(spec).run()


def read_spec(fd: int) -> ServeSpec:
    with os.fdopen(fd, "rb") as handle:
        return ServeSpec.from_json(handle.read().decode())


def _spec_file(data: bytes) -> int:
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("reviewq-serve-spec", 0)  # no MFD_CLOEXEC: the exec'd master reads it
    else:
        handle = tempfile.TemporaryFile()
        fd = os.dup(handle.fileno())
        handle.close()
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd
