"""Running the webhook outbox as soon as a delivery is committed, not at its next interval.

The interval job stays as the safety net (retries, a missed signal). A kick moves the job's next
run to now; a kick that arrives while the job runs makes it run once more right after, so a
delivery committed mid-run is not left for the next interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.base import BaseScheduler

from reviewq.db import Database
from reviewq.domain.wakeups import OUTBOX_CHANNEL, PgListener, delivery_committed

log = logging.getLogger(__name__)


class OutboxKicker:
    """Moves the outbox job's next run to now, from its own thread.

    `kick` only sets an event, so request threads, the LISTEN thread and the job itself never
    take the scheduler's locks: the job calling modify_job while `shutdown` held them (waiting
    for that very job) was a deadlock.
    """

    def __init__(self, scheduler: BaseScheduler, job_id: str):
        self._scheduler = scheduler
        self._job_id = job_id
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self._wanted = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reviewq-outbox-kick", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wanted.set()
        self._thread.join(timeout=5)

    def kick(self, *_payload: object) -> None:
        self._wanted.set()

    def _loop(self) -> None:
        while True:
            self._wanted.wait()
            if self._stopped.is_set():
                return
            self._wanted.clear()
            with self._lock:
                if self._running:  # the run in progress runs again when it ends (see wrap)
                    self._again = True
                    continue
            try:
                self._scheduler.modify_job(self._job_id, next_run_time=datetime.now(UTC))
            except Exception as exc:  # noqa: BLE001 - a scheduler shutting down: the kick is moot
                log.debug("outbox kick not delivered: %s", exc)

    def wrap(self, job: Callable[..., object]) -> Callable[..., object]:
        """The job, reporting when it runs, so kicks during a run are not lost."""

        def run(*args, **kwargs):
            with self._lock:
                self._running, self._again = True, False
            try:
                return job(*args, **kwargs)
            finally:
                with self._lock:
                    self._running, again = False, self._again
                if again:
                    self.kick()

        return run


def kick_on_delivery(scheduler: BaseScheduler, kicker: OutboxKicker, database: Database) -> None:
    """Kick on deliveries committed in this process and, on PostgreSQL, in any other."""
    kicker.start()
    delivery_committed.subscribe(kicker.kick)
    listener = None
    if not database.is_sqlite:
        listener = PgListener(database.settings.database.url, channel=OUTBOX_CHANNEL,
                              on_notify=kicker.kick, on_connect=kicker.kick)

    def _stop(_event) -> None:  # dispatched once shutdown has let go of the scheduler's locks
        delivery_committed.unsubscribe(kicker.kick)
        if listener is not None:
            listener.stop()
        kicker.stop()

    scheduler.add_listener(_stop, EVENT_SCHEDULER_SHUTDOWN)
