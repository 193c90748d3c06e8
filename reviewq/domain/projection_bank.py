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
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from reviewq.canaries.bank import Bank
from reviewq.canaries.binding import Slot, slot_profile
from reviewq.db import database_key
from reviewq.domain.projection_sources import bank_items

FRESH_S = 60.0


class NotCached(Exception):
    """What choosing needs has to be built first (the caller asked for cached values only)."""


_lock = threading.Lock()
# database -> key -> (monotonic time built, the `now` built for, value). The queue page builds
# through the read engine and reuses through the write engine: both are one database.
_built: weakref.WeakKeyDictionary[Engine, dict[Hashable, tuple[float, datetime, Any]]] = weakref.WeakKeyDictionary()


def _database_of(session: Session) -> Engine:
    engine = session.get_bind()
    return database_key(getattr(engine, "engine", engine))  # a session bound to a Connection


def _fresh(session: Session, key: Hashable, now: datetime, build: Callable[[], Any], *, cached_only: bool) -> Any:
    database = _database_of(session)
    with _lock:
        cached = _built.get(database, {}).get(key)
    if cached is not None:
        built, built_for, value = cached
        if time.monotonic() - built < FRESH_S and abs((now - built_for).total_seconds()) < FRESH_S:
            return value
    if cached_only:
        raise NotCached(key)
    value = build()
    with _lock:
        _built.setdefault(database, {})[key] = (time.monotonic(), now, value)
    return value


def bank_for(*, session: Session, agent: str, now: datetime, days: int, cached_only: bool = False) -> Bank:
    return _fresh(session, ("bank", agent, days), now,
                  lambda: Bank.build(bank_items(session=session, agent=agent, now=now, days=days)),
                  cached_only=cached_only)


def slot_for(*, session: Session, agent: str, category: str, kind: str, now: datetime, days: int,
             cached_only: bool = False) -> Slot:
    return _fresh(session, ("slot", agent, category, kind, days), now,
                  lambda: slot_profile(session=session, agent=agent, category=category, kind=kind, now=now,
                                       days=days),
                  cached_only=cached_only)
