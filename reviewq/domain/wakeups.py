"""Waking whoever waits on a commit: long-poll waiters on an approval, and the webhook outbox.

A settling transaction calls `announce_settled`; once it commits, every waiter on that id in
this process is woken (a SQLAlchemy after_commit hook), and on PostgreSQL `pg_notify` (sent
by the server only on commit) reaches one LISTEN connection per process, which wakes the
waiters of any other process. Waiters re-read the state after every wake-up, so a spurious
wake costs one query and a missed one is impossible: the state is checked after registering.

A transaction that queues a webhook calls `announce_delivery` the same way; the scheduler,
in this process (SQLite) or another (PostgreSQL), then runs the outbox at once instead of at
its next interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "reviewq_approvals"
OUTBOX_CHANNEL = "reviewq_outbox"
_PENDING = "reviewq.settled_approvals"
_DELIVERY = "reviewq.delivery_queued"
T = TypeVar("T")


class WaiterHub:
    """In-process registry of threads waiting on an id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}

    def register(self, key: str) -> threading.Event:
        ev = threading.Event()
        with self._lock:
            self._waiters.setdefault(key, set()).add(ev)
        return ev

    def unregister(self, key: str, ev: threading.Event) -> None:
        with self._lock:
            group = self._waiters.get(key)
            if group is not None:
                group.discard(ev)
                if not group:
                    del self._waiters[key]

    def notify(self, key: str) -> int:
        with self._lock:
            group = list(self._waiters.get(key, ()))
        for ev in group:
            ev.set()
        return len(group)

    def notify_all(self) -> None:
        with self._lock:
            groups = [list(g) for g in self._waiters.values()]
        for group in groups:
            for ev in group:
                ev.set()

    def waiting(self) -> int:
        with self._lock:
            return sum(len(g) for g in self._waiters.values())


hub = WaiterHub()


def announce_settled(*, session: Session, public_id: str) -> None:
    """Inside the settling transaction: wake this id's waiters once (and only if) it commits."""
    session.info.setdefault(_PENDING, []).append(public_id)
    if session.get_bind().dialect.name == "postgresql":
        # Queued by the server and delivered to listeners only when this transaction commits.
        session.execute(sa.select(sa.func.pg_notify(CHANNEL, public_id)))


class Signal:
    """Callbacks run in this process when something happens (here: a delivery was committed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks.append(callback)

    def unsubscribe(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def fire(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()


# Fired after a commit that queued a webhook delivery in this process.
delivery_committed = Signal()


def announce_delivery(*, session: Session) -> None:
    """Inside a transaction that queued a webhook: have the outbox run once it commits."""
    if session.info.get(_DELIVERY):
        return
    session.info[_DELIVERY] = True
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_notify(OUTBOX_CHANNEL, "")))


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    for public_id in session.info.pop(_PENDING, ()):
        hub.notify(public_id)
    if session.info.pop(_DELIVERY, False):
        delivery_committed.fire()


@event.listens_for(Session, "after_transaction_end")
def _forget_rolled_back(session: Session, transaction) -> None:
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_PENDING, None)
        session.info.pop(_DELIVERY, None)


class PgListener:
    """One LISTEN connection on one channel, calling `on_notify(payload)` for each NOTIFY.

    `on_connect` runs after every (re)connection: anything sent meanwhile was missed.
    """

    def __init__(self, sqlalchemy_url: str, *, channel: str = CHANNEL,
                 on_notify: Callable[[str], object] = hub.notify,
                 on_connect: Callable[[], object] = hub.notify_all) -> None:
        url = make_url(sqlalchemy_url).set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.channel = channel
        self.on_notify = on_notify
        self.on_connect = on_connect
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reviewq-listen-{channel}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        backoff = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.ready.set()
                    backoff = 0.1
                    self.on_connect()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.on_notify(note.payload)
            except Exception as exc:  # noqa: BLE001 - reconnect on any connection failure
                self.ready.clear()
                log.warning("%s listener lost its connection (%s); reconnecting", self.channel, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


_listeners: dict[str, PgListener] = {}
_listeners_lock = threading.Lock()


def listener_for(url: str, *, ready_timeout: float = 5.0) -> PgListener:
    """This process's listener for `url`, started on first use and ready before returning."""
    with _listeners_lock:
        listener = _listeners.get(url)
        if listener is None:
            listener = _listeners[url] = PgListener(url)
    if not listener.ready.wait(ready_timeout):
        raise RuntimeError("the approval listener could not connect to PostgreSQL")
    return listener


def wait_until(
    key: str, *, check: Callable[[], tuple[bool, T]], timeout: float, database_url: str | None = None
) -> T:
    """Call `check` until it reports done or `timeout` seconds pass; sleep only between wake-ups.

    `check` must open and close its own short transaction: nothing is held while waiting.
    """
    if database_url is not None and database_url.startswith("postgresql"):
        listener_for(database_url)
    ev = hub.register(key)
    try:
        deadline = time.monotonic() + timeout
        while True:
            done, value = check()
            remaining = deadline - time.monotonic()
            if done or remaining <= 0:
                return value
            ev.wait(remaining)
            ev.clear()
    finally:
        hub.unregister(key, ev)
