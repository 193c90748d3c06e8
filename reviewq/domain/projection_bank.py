"""The value bank and the slot profile of a projection, built once and reused for a minute.

Building a bank reads 600 recent payloads and scans every value in them (about 100 ms of CPU);
a slot profile reads 300 recent items of the served item's agent, category and kind (30-60 ms).
Both were spent inside the claim's write transaction, so on SQLite every other reviewer's claim
and decision queued behind them; a new reviewer's first session plants at 15 % of claims, which
made them the review path's p95 and p99. Each is a sample of the deployment's own recent data,
and a minute-old sample is as good as a fresh one, so each is kept per database engine and key,
and rebuilt once it is FRESH_S old (by the clock and by the `now` it was built for: a
simulation that moves `now` on gets one of its own time). Neither is changed after it is built,
so threads share them.
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
from reviewq.domain.projection_sources import bank_items

FRESH_S = 60.0

_lock = threading.Lock()
# engine -> key -> (monotonic time built, the `now` built for, value)
_built: weakref.WeakKeyDictionary[Engine, dict[Hashable, tuple[float, datetime, Any]]] = weakref.WeakKeyDictionary()


def _fresh(session: Session, key: Hashable, now: datetime, build: Callable[[], Any]) -> Any:
    engine = session.get_bind()
    engine = getattr(engine, "engine", engine)  # a session bound to a Connection
    with _lock:
        cached = _built.get(engine, {}).get(key)
    if cached is not None:
        built, built_for, value = cached
        if time.monotonic() - built < FRESH_S and abs((now - built_for).total_seconds()) < FRESH_S:
            return value
    value = build()
    with _lock:
        _built.setdefault(engine, {})[key] = (time.monotonic(), now, value)
    return value


def bank_for(*, session: Session, agent: str, now: datetime, days: int) -> Bank:
    return _fresh(session, ("bank", agent, days), now,
                  lambda: Bank.build(bank_items(session=session, agent=agent, now=now, days=days)))


def slot_for(*, session: Session, agent: str, category: str, kind: str, now: datetime, days: int) -> Slot:
    return _fresh(session, ("slot", agent, category, kind, days), now,
                  lambda: slot_profile(session=session, agent=agent, category=category, kind=kind, now=now,
                                       days=days))
