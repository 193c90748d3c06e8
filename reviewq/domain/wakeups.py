"""Waking whoever waits on a commit: long-poll waiters on an approval, and the webhook outbox.

A settling transaction calls `announce_settled`; once it commits, every waiter on that id in
this process is woken (a SQLAlchemy after_commit hook), and on PostgreSQL `pg_notify` (sent
by the server only on commit) reaches one LISTEN connection per process, which wakes the
waiters of any other process. Waiters re-read the state after every wake-up, so a spurious
wake costs one query and a missed one is impossible: the state is checked after registering.
A settling transaction that knows what its waiters would read (the agent's view of the settled
approval, built inside it) hands it to this process's parked waiters with the wake-up instead,
and they answer without a re-read (`announce_settled(answer=...)`).

A transaction that queues a webhook calls `announce_delivery` the same way; the scheduler,
in this process (SQLite) or another (PostgreSQL), then runs the outbox at once instead of at
its next interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
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


class LoopEvent:
    """An event on one loop that any thread may set (a commit hook, the LISTEN thread).

    A waiter may be one of 10,000 parked at once, so it is lean: a flag and, only while it
    sleeps, one future and one timer. asyncio.Event plus wait_for cost a deque, a task and its
    coroutine per waiter (about 1.6 KB; issue 11).

    `set(answer)` also hands over what the commit that woke it settled (see `take_handed`).
    """

    __slots__ = ("_handed", "_loop", "_set", "_sleeping", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._set = False
        self._handed = None
        self._sleeping: asyncio.Future | None = None
        self._timer: asyncio.TimerHandle | None = None

    def set(self, answer=None) -> None:
        try:
            self._loop.call_soon_threadsafe(self._wake, answer)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass

    def _wake(self, answer=None) -> None:
        self._set = True
        # The latest wake-up decides: one without an answer (another process's commit, a
        # reconnected listener) means the state may have moved on, and only a re-read tells.
        self._handed = answer
        if self._sleeping is not None and not self._sleeping.done():
            self._sleeping.set_result(None)

    def take_handed(self):
        """The answer the last wake-up handed over, once; None if it brought none."""
        answer, self._handed = self._handed, None
        return answer

    def wait(self, timeout: float) -> asyncio.Future:
        """Done once set (at once if it already is) or after `timeout` seconds.

        A future, not a coroutine: awaiting it adds no frame to each parked waiter (240 bytes).
        """
        sleeping = self._loop.create_future()
        if self._set:
            sleeping.set_result(None)
            return sleeping
        self._sleeping = sleeping
        self._timer = self._loop.call_later(timeout, _resolve, sleeping)
        sleeping.add_done_callback(self._woke)  # also when the waiting task is cancelled
        return sleeping

    def _woke(self, _sleeping: asyncio.Future) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._sleeping = None

    def clear(self) -> None:
        self._set = False


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


Waiter = threading.Event | LoopEvent


class WaiterHub:
    """In-process registry of waiters on an id: threads (threading.Event) or coroutines (LoopEvent).

    An id nearly always has one waiter, held as it is; a set only once there are more (a set
    per id was a tenth of a parked long-poll's memory; issue 11).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, Waiter | set[Waiter]] = {}

    def register(self, key: str, ev: Waiter | None = None) -> Waiter:
        ev = ev if ev is not None else threading.Event()
        with self._lock:
            group = self._waiters.get(key)
            if group is None:
                self._waiters[key] = ev
            elif isinstance(group, set):
                group.add(ev)
            else:
                self._waiters[key] = {group, ev}
        return ev

    def unregister(self, key: str, ev: Waiter) -> None:
        with self._lock:
            group = self._waiters.get(key)
            if group is ev:
                del self._waiters[key]
            elif isinstance(group, set):
                group.discard(ev)
                if not group:
                    del self._waiters[key]

    def notify(self, key: str, answer=None) -> int:
        """Wake `key`'s waiters; event-loop waiters are also handed `answer` (if not None)."""
        with self._lock:
            group = _members(self._waiters.get(key))
        for ev in group:
            if answer is not None and isinstance(ev, LoopEvent):
                ev.set(answer)
            else:
                ev.set()
        return len(group)

    def waited_on_a_loop(self, key: str) -> bool:
        """Whether an event-loop waiter (the only kind `notify` hands an answer to) waits on `key`."""
        with self._lock:
            return any(isinstance(ev, LoopEvent) for ev in _members(self._waiters.get(key)))

    def notify_all(self) -> None:
        with self._lock:
            groups = [_members(g) for g in self._waiters.values()]
        for group in groups:
            for ev in group:
                ev.set()

    def waiting(self) -> int:
        with self._lock:
            return sum(len(_members(g)) for g in self._waiters.values())


def _members(group: Waiter | set[Waiter] | None) -> list[Waiter]:
    if group is None:
        return []
    return list(group) if isinstance(group, set) else [group]


hub = WaiterHub()


def announce_settled(*, session: Session, public_id: str, answer=None) -> None:
    """Inside the settling transaction: wake this id's waiters once (and only if) it commits.

    `answer`, if given, is what this process's event-loop waiters would read once it commits:
    they answer with it and do not read again. It must be the settled state as the waiter's own
    check returns it (reviewq.web.approval_wait), built last in this transaction. Inside a
    SAVEPOINT nothing is handed over: one rolled back while the transaction commits leaves its
    wake-up behind (a harmless re-read), and must not leave a settlement that never happened.
    """
    if session.in_nested_transaction():
        answer = None
    session.info.setdefault(_PENDING, []).append((public_id, answer))
    if session.get_bind().dialect.name == "postgresql":
        # Queued by the server and delivered to listeners only when this transaction commits.
        # Tagged with this process, whose own waiters the commit hook wakes (with the answer): its
        # listener skips it, or that second wake-up, arriving later without one, made them read.
        session.execute(sa.select(sa.func.pg_notify(CHANNEL, f"{public_id} {process_tag()}")))


_tag: tuple[int, str] = (0, "")
_tag_lock = threading.Lock()


def process_tag() -> str:
    """This process, among every process of every host on the database (a forked worker is new)."""
    global _tag
    pid = os.getpid()
    if _tag[0] != pid:
        with _tag_lock:  # two threads asking first must not each make one
            if _tag[0] != pid:
                _tag = (pid, secrets.token_hex(8))
    return _tag[1]


def wake_from_elsewhere(payload: str) -> None:
    """A settled-approval NOTIFY: wake its waiters unless this process sent it (woken already)."""
    public_id, _, sender = payload.partition(" ")
    if sender != process_tag():
        hub.notify(public_id)


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
    if session.in_nested_transaction():
        # SQLAlchemy sends after_commit for a released SAVEPOINT too, before the transaction
        # commits: a waiter woken then re-read the approval still pending and was never woken again.
        return
    for public_id, answer in session.info.pop(_PENDING, ()):
        hub.notify(public_id, answer)
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
                 on_notify: Callable[[str], object] = wake_from_elsewhere,
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


# A value that settles by itself at a deadline is re-read this long after it.
_DEADLINE_SLACK_S = 0.02
_MIN_SLEEP_S = 0.05


def _sleep_for(remaining: float, value, wake_in: Callable[[T], float | None] | None) -> float:
    """How long to sleep: until the wait's end, or just past the value's own deadline if sooner."""
    if wake_in is None:
        return remaining
    settles_in = wake_in(value)
    if settles_in is None:
        return remaining
    return min(remaining, max(_MIN_SLEEP_S, settles_in + _DEADLINE_SLACK_S))


def wait_until(
    key: str, *, check: Callable[[], tuple[bool, T]], timeout: float, database_url: str | None = None,
    wake_in: Callable[[T], float | None] | None = None,
) -> T:
    """Call `check` until it reports done or `timeout` seconds pass; sleep only between wake-ups.

    `check` must open and close its own short transaction: nothing is held while waiting.
    `wake_in(value)`, if given, says when the value settles by itself (an approval's deadline):
    the waiter re-checks then, so it sees the settled state without waiting for anyone.
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
            ev.wait(_sleep_for(remaining, value, wake_in))
            ev.clear()
    finally:
        hub.unregister(key, ev)


async def wait_until_async(
    key: str, *, check: Callable[[], tuple[bool, T]], timeout: float,
    run: Callable[[Callable[[], tuple[bool, T]]], Awaitable[tuple[bool, T]]],
    wake_in: Callable[[T], float | None] | None = None,
    waiter: LoopEvent | None = None, value: T | None = None,
    accept: Callable[[object], tuple[bool, T]] | None = None,
) -> T:
    """`wait_until` on an event loop: no thread is held between checks.

    `run(check)` runs the (blocking) check in a thread. The waiter registers before its first
    check, so a commit between that check and the sleep still wakes it. A caller that already
    registered `waiter` on `key` and then read `value` (unsettled) passes both: the first check
    is skipped. What it returns is always a check's own value (the sleep that ends the wait is
    followed by a check), so the caller's may be a lean summary: only `wake_in` reads it.
    `accept(answer)`, if given, turns an answer a wake-up handed over (`announce_settled`) into
    what `check` would have returned, read by the commit that woke it: no re-read then.
    Cancel the task to stop waiting (the client disconnected).
    """
    fresh = waiter is None
    if waiter is None:
        waiter = hub.register(key, LoopEvent(asyncio.get_running_loop()))
    try:
        done = False
        if fresh:
            done, value = await run(check)
        deadline = time.monotonic() + timeout
        checked = fresh  # is `value` a check's own (not the caller's, possibly lean, one)?
        while not done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return value if checked else (await run(check))[1]
            await waiter.wait(_sleep_for(remaining, value, wake_in))
            waiter.clear()
            handed = waiter.take_handed()
            if handed is not None and accept is not None:
                done, value = accept(handed)
            else:
                done, value = await run(check)
            checked = True
        return value
    finally:
        hub.unregister(key, waiter)
