"""Building the projection caches of open work before a canary asks for them.

A copy standing in for a served item needs its agent's value bank and its slot's profile
(projection_bank.py). The first plant of an agent or of an (agent, category, kind) slot, and the
first after ten idle minutes, built them in the request: under `reviewq serve` on SQLite that is
the event loop's thread, so every reviewer and every waiting agent stalled 20-140 ms (230 ms on a
slow machine), several times in a review session's first minutes.

A served process runs one Warmer per database (the caches are the process's own). Every
SCAN_INTERVAL_S it looks at the slots of recent open work (real items queued or leased) and builds,
in its own thread and pausing between items as a rebuild aside does, what a plant there would find
missing; a value over REFRESH_S old is rebuilt only for a slot reviewers claimed from in the last
STALE_S (nobody reviewing, nothing is read). Newly submitted work hands its slot over at once, and
so does a claim, so a new agent or category is warm before its first plants, not after a scan.

Plants choose as before, by the same code from values built the same way: a value may now have
been built up to a minute before the plant that uses it, as any plant but a minute's first always
had; past a minute it is rebuilt aside on use, as before.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reviewq.db import database_key, read_session_of
from reviewq.domain import projection_bank
from reviewq.models import Item, ItemStatus

log = logging.getLogger(__name__)

SCAN_INTERVAL_S = 15.0
# A slot in use has its values rebuilt this old, well before projection_bank.STALE_S (past it a
# plant builds in the request); values a plant reads are rebuilt aside past FRESH_S anyway.
REFRESH_S = projection_bank.STALE_S / 2
# A scan looks at this many of the newest items (by the created_at index: bounded at any table
# size) and warms at most MAX_SLOTS_PER_SCAN slots (each costs 20-140 ms of CPU when cold). Slots
# with only older open work are warmed by their claims (note_served).
RECENT_ITEMS = 5000
MAX_SLOTS_PER_SCAN = 200

Slot = tuple[str, str, str]  # agent, category, kind

_RECENT = (
    sa.select(Item.agent, Item.category, Item.kind, Item.status)
    .order_by(Item.created_at.desc(), Item.id.desc())
    .limit(RECENT_ITEMS)
    .subquery()
)
_OPEN_SLOTS = (
    sa.select(_RECENT.c.agent, _RECENT.c.category, _RECENT.c.kind)
    .where(_RECENT.c.status.in_((ItemStatus.QUEUED, ItemStatus.LEASED)))
    .distinct()
    .limit(MAX_SLOTS_PER_SCAN)
)


def open_slots(*, session: Session) -> list[Slot]:
    """The (agent, category, kind) of recent work that can be served now or soon."""
    return [(agent, category, getattr(kind, "value", kind))
            for agent, category, kind in session.connection().execute(_OPEN_SLOTS)]


class Warmer:
    """One database's warming thread: a scan every `interval` seconds, and slots handed to it."""

    def __init__(self, database: Engine, *, days: int, clock: Callable[[], datetime],
                 interval: float = SCAN_INTERVAL_S):
        self.database, self.days, self.clock, self.interval = database, days, clock, interval
        self.built = self.scans = self.failures = 0  # so far (for tests)
        self._claimed: dict[Slot, float] = {}  # slot -> when a reviewer last claimed from it (monotonic)
        self._handed: queue.SimpleQueue[Slot | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reviewq-projection-warmer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._handed.put(None)
        self._thread.join(timeout)

    def open(self, slot: Slot, now: datetime) -> None:
        """`slot` has new open work: warm it soon if a plant there would build (cheap if not)."""
        if self._cold(slot, now, math.inf):
            self._handed.put(slot)

    def claimed(self, slot: Slot, now: datetime) -> None:
        """A reviewer claimed a real item of `slot`: keep it warm, and warm it soon if it is not."""
        self._claimed[slot] = time.monotonic()
        if self._cold(slot, now, REFRESH_S):
            self._handed.put(slot)

    def _cold(self, slot: Slot, now: datetime, older_than: float) -> bool:
        return projection_bank.cold_for(self.database, agent=slot[0], category=slot[1], kind=slot[2], now=now,
                                        days=self.days, older_than=older_than)

    def scan(self) -> int:
        """Warm every open slot once; the values built. A slot that fails does not stop the
        others; the first failure is raised after them."""
        with read_session_of(self.database) as session:
            slots = open_slots(session=session)
        built, failed = 0, None
        for slot in slots:
            if self._stopping.is_set():
                break
            try:
                built += self.warm(slot)
            except Exception as exc:
                failed = failed or exc
        self.scans += 1
        if failed is not None:
            raise failed
        return built

    def warm(self, slot: Slot) -> int:
        claimed = self._claimed.get(slot)
        in_use = claimed is not None and time.monotonic() - claimed < projection_bank.STALE_S
        built = projection_bank.warm(self.database, agent=slot[0], category=slot[1], kind=slot[2], clock=self.clock,
                                     days=self.days, older_than=REFRESH_S if in_use else math.inf,
                                     stopping=self._stopping.is_set)
        self.built += built
        return built

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self.scan()
                self._drain_handed()
                failures = 0
            except Exception:
                # The database down, or a build failing: a plant that finds a value missing builds
                # it as before. Back off (up to a scan's interval), and log the first failure of a
                # run and every twentieth after it.
                failures += 1
                self.failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.exception("warming the projection caches failed (%d in a row); retrying", failures)
                self._stopping.wait(min(self.interval, 0.5 * 2 ** failures))

    def _drain_handed(self) -> None:
        """Warm handed slots until the next scan is due."""
        due = time.monotonic() + self.interval
        while not self._stopping.is_set() and (left := due - time.monotonic()) > 0:
            try:
                slot = self._handed.get(timeout=left)
            except queue.Empty:
                return
            if slot is not None:
                self.warm(slot)


# Per database, until stop_warming (its thread holds the engine in any case).
_warmers: dict[Engine, Warmer] = {}
_warmers_lock = threading.Lock()


def start_warming(engine: Engine, *, days: int, clock: Callable[[], datetime],
                  interval: float = SCAN_INTERVAL_S) -> Warmer:
    """Start the database's warmer (one per process and database; a second call returns the first)."""
    database = database_key(engine)
    with _warmers_lock:
        warmer = _warmers.get(database)
        if warmer is None:
            warmer = _warmers[database] = Warmer(database, days=days, clock=clock, interval=interval)
            warmer.start()
        return warmer


def stop_warming(engine: Engine | None = None) -> None:
    """Stop the database's warmer (every warmer in this process, given no engine)."""
    with _warmers_lock:
        if engine is None:
            stopping = list(_warmers.values())
            _warmers.clear()
        else:
            stopping = [w for w in (_warmers.pop(database_key(engine), None),) if w is not None]
    for warmer in stopping:
        warmer.stop()


def _warmer_of(session: Session) -> Warmer | None:
    if not _warmers:
        return None
    engine = session.get_bind()
    return _warmers.get(database_key(getattr(engine, "engine", engine)))


def note_open(*, session: Session, slots: Iterable[Slot], now: datetime) -> None:
    """Committed work of these slots is open: the database's warmer, if one runs in this process,
    builds what a plant there would find missing (a dictionary look-up per slot if nothing)."""
    warmer = _warmer_of(session)
    if warmer is not None:
        for slot in slots:
            warmer.open(slot, now)


def note_served(*, session: Session, item: Item, now: datetime) -> None:
    """A reviewer claimed this real item: its slot is in use, so the warmer keeps it warm."""
    warmer = _warmer_of(session)
    if warmer is not None:
        warmer.claimed((item.agent, item.category, getattr(item.kind, "value", item.kind)), now)
