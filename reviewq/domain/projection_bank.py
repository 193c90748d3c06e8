"""The value bank and the slot profile of a projection, built once and reused for a minute.

Building a bank reads 600 recent payloads and scans every value in them (about 100 ms of CPU);
a slot profile reads 300 recent items of the served item's agent, category and kind (30-60 ms).
Each is a sample of the deployment's own recent data, and a minute-old sample is as good as a
fresh one, so each is kept per database (its write engine) and key, and rebuilt once it is FRESH_S old (by the
clock and by the `now` it was built for: a simulation that moves `now` on gets one of its own
time). Neither is changed after it is built, so threads share them.

`cached_only`: the queue page chooses a planted copy inside the claim's write transaction only
when nothing has to be built (NotCached otherwise): on SQLite every other reviewer's claim and
decision waits for that transaction, and a build is what made planted claims the review path's
p95 and p99.

Past FRESH_S in real time (the `now` asked for moved with the clock) and up to STALE_S, the
value in hand is served while a fresh one is built in a thread of its own, through a read
session: under `reviewq serve` on SQLite the queue calls run on the event loop's thread, and a
build there (77-100 ms) held every reviewer and every waiting agent. Only the first use of a key,
or one after STALE_S, builds in the caller. A simulation that moves `now` on faster than the
clock still gets its values built for its own time, in the caller.

A served process also builds them ahead, for the slots of open work (projection_warmer.py), so a
first use seldom builds in the caller; `warm` is its entry point.

A build aside lets go of the GIL after each item it reads (`_let_others_run`): run straight
through, it held the GIL for the interpreter's whole switch interval (5 ms) each time the event
loop's thread woke to serve a request, so every request during a rebuild waited that much longer.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from datetime import datetime
from time import sleep
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from reviewq.canaries.bank import Bank
from reviewq.canaries.binding import Slot, slot_profile
from reviewq.db import database_key, read_session_of
from reviewq.domain.projection_sources import bank_items

log = logging.getLogger(__name__)

FRESH_S = 60.0
STALE_S = 600.0


Pause = Callable[[], None]


class NotCached(Exception):
    """What choosing needs has to be built first (the caller asked for cached values only)."""


_lock = threading.Lock()
# database -> key -> (monotonic time built, the `now` built for, value). The queue page builds
# through the read engine and reuses through the write engine: both are one database.
_built: weakref.WeakKeyDictionary[Engine, dict[Hashable, tuple[float, datetime, Any]]] = weakref.WeakKeyDictionary()


def _database_of(session: Session) -> Engine:
    engine = session.get_bind()
    return database_key(getattr(engine, "engine", engine))  # a session bound to a Connection


def _fresh(session: Session, key: Hashable, build: Callable[[Session, Pause | None], Any], *, now: datetime,
           cached_only: bool) -> Any:
    """The value for `key`, built with `build(session, pause)` when what is kept will not do
    (`pause`: None in the caller, `_let_others_run` aside)."""
    database = _database_of(session)
    with _lock:
        cached = _built.get(database, {}).get(key)
    if cached is not None:
        built, built_for, value = cached
        age, moved = time.monotonic() - built, (now - built_for).total_seconds()
        if age < FRESH_S and abs(moved) < FRESH_S:
            return value
        if age < STALE_S and abs(moved - age) < FRESH_S:  # real time has passed, not a simulation's jump
            _rebuild_aside(database, key, now, build)
            return value
    if cached_only:
        raise NotCached(key)
    value = build(session, None)
    _keep(database, key, now, value)
    return value


def _keep(database: Engine, key: Hashable, now: datetime, value: Any, *, started: float | None = None) -> None:
    """`started`: a warm build's start (monotonic), when `now` was read; its value is dated from
    then, and not kept over one built for a later `now` meanwhile (a request's own build)."""
    with _lock:
        kept = _built.setdefault(database, {})
        if started is not None and (current := kept.get(key)) is not None and current[1] > now:
            return
        kept[key] = (time.monotonic() if started is None else started, now, value)


_rebuilding: set[tuple[int, Hashable]] = set()


def _rebuild_aside(database: Engine, key: Hashable, now: datetime,
                   build: Callable[[Session, Pause | None], Any]) -> None:
    """Build the value again in a thread of its own (one per database and key at a time)."""
    marker = (id(database), key)
    with _lock:
        if marker in _rebuilding:
            return
        _rebuilding.add(marker)

    def rebuild() -> None:
        try:
            _build_marked(database, key, now, build)
        except Exception:  # the stale value stays; the next use past FRESH_S tries again
            log.exception("rebuilding %s failed", key)

    threading.Thread(target=rebuild, name="reviewq-projection-rebuild", daemon=True).start()


def _build_marked(database: Engine, key: Hashable, now: datetime, build: Callable[[Session, Pause | None], Any], *,
                  started: float | None = None) -> None:
    """Build and keep `key` through a read session, pausing for other threads, then drop its
    _rebuilding marker (which the caller set)."""
    try:
        with read_session_of(database) as session:
            value = build(session, _let_others_run)
        _keep(database, key, now, value, started=started)
    finally:
        with _lock:
            _rebuilding.discard((id(database), key))


def _let_others_run() -> None:
    sleep(0)  # gives up the GIL: a thread waiting for it (the event loop's) takes it now


def rebuilding() -> int:
    """Rebuilds running now (for tests)."""
    with _lock:
        return len(_rebuilding)


# Each item's contribution to a value bank, per database, by its row: rebuilt once a minute in a
# served process and every few simulated minutes in a simulation, a bank reads mostly the same items.
KNOWN_CONTRIBUTIONS = 20_000


class _Known(dict):
    """Contributions by item key, forgotten all at once when full (reading one again is cheap)."""

    def __setitem__(self, key, value) -> None:
        if len(self) >= KNOWN_CONTRIBUTIONS:
            self.clear()
        super().__setitem__(key, value)


_known: weakref.WeakKeyDictionary[Engine, _Known] = weakref.WeakKeyDictionary()


def _known_of(session: Session) -> _Known:
    database = _database_of(session)
    with _lock:
        known = _known.get(database)
        if known is None:
            known = _known[database] = _Known()
        return known


def _bank_key(agent: str, days: int) -> Hashable:
    return "bank", agent, days


def _slot_key(agent: str, category: str, kind: str, days: int) -> Hashable:
    return "slot", agent, category, kind, days


def _bank(agent: str, now: datetime, days: int) -> tuple[Hashable, Callable[[Session, Pause | None], Any]]:
    def build(session: Session, pause: Pause | None) -> Bank:
        known = _known_of(session)
        return Bank.build(bank_items(session=session, agent=agent, now=now, days=days, known=known), pause=pause,
                          known=known)

    return _bank_key(agent, days), build


def _slot(agent: str, category: str, kind: str, now: datetime,
          days: int) -> tuple[Hashable, Callable[[Session, Pause | None], Any]]:
    return _slot_key(agent, category, kind, days), lambda s, pause: slot_profile(
        session=s, agent=agent, category=category, kind=kind, now=now, days=days, pause=pause)


def bank_for(*, session: Session, agent: str, now: datetime, days: int, cached_only: bool = False) -> Bank:
    return _fresh(session, *_bank(agent, now, days), now=now, cached_only=cached_only)


def slot_for(*, session: Session, agent: str, category: str, kind: str, now: datetime, days: int,
             cached_only: bool = False) -> Slot:
    return _fresh(session, *_slot(agent, category, kind, now, days), now=now, cached_only=cached_only)


def _cold(cached: tuple[float, datetime, Any] | None, now: datetime, older_than: float) -> bool:
    """Whether a use at `now` would build this kept value in the caller, or it is over `older_than` s old."""
    if cached is None:
        return True
    built, built_for, _ = cached
    age = time.monotonic() - built
    return age >= older_than or abs((now - built_for).total_seconds() - age) >= FRESH_S


def cold_for(database: Engine, *, agent: str, category: str, kind: str, now: datetime, days: int,
             older_than: float) -> bool:
    """Whether a plant for this slot at `now` would find its bank or profile missing (or over
    `older_than` s old) and nobody is building it."""
    with _lock:
        kept = _built.get(database, {})
        return any(_cold(kept.get(key), now, older_than) and (id(database), key) not in _rebuilding
                   for key in (_bank_key(agent, days), _slot_key(agent, category, kind, days)))


def warm(database: Engine, *, agent: str, category: str, kind: str, clock: Callable[[], datetime], days: int,
         older_than: float, stopping: Callable[[], bool] = lambda: False) -> int:
    """Build here, through a read session and pausing as a rebuild aside does, the bank and the
    profile a plant for this slot needs, each if missing or over `older_than` s old and nobody is
    building it; how many values were built. `now` is read from `clock` as each build starts."""
    built = 0
    for make in (lambda now: _bank(agent, now, days), lambda now: _slot(agent, category, kind, now, days)):
        if stopping():
            break
        now, started = clock(), time.monotonic()
        key, build = make(now)
        marker = (id(database), key)
        with _lock:
            if marker in _rebuilding or not _cold(_built.get(database, {}).get(key), now, older_than):
                continue
            _rebuilding.add(marker)
        _build_marked(database, key, now, build, started=started)
        built += 1
    return built
