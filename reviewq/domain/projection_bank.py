"""The value bank of a projection, built once and reused for a minute.

Building a bank reads 600 recent payloads and scans every value in them: about 100 ms of CPU,
spent inside the claim's write transaction, so on SQLite every other reviewer's claim and
decision queued behind it. A new reviewer's first session plants at 15 % of claims, which
made that build the review path's p95 and p99. The bank is a sample of the deployment's own
recent data, and a minute-old sample is as good as a fresh one, so it is kept per database
engine, agent and window, and rebuilt once it is FRESH_S old (by the clock and by the `now`
it was built for: a simulation that moves `now` on gets a bank of its own time). A bank is
never changed after it is built, so threads share it.
"""

from __future__ import annotations

import threading
import time
import weakref
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from reviewq.canaries.bank import Bank
from reviewq.domain.projection_sources import bank_items

FRESH_S = 60.0

_lock = threading.Lock()
# engine -> (agent, days) -> (monotonic time built, the `now` built for, bank)
_banks: weakref.WeakKeyDictionary[Engine, dict[tuple[str, int], tuple[float, datetime, Bank]]] = (
    weakref.WeakKeyDictionary())


def bank_for(*, session: Session, agent: str, now: datetime, days: int) -> Bank:
    engine = session.get_bind()
    engine = getattr(engine, "engine", engine)  # a session bound to a Connection
    key = (agent, days)
    with _lock:
        cached = _banks.get(engine, {}).get(key)
    if cached is not None:
        built, built_for, bank = cached
        if time.monotonic() - built < FRESH_S and abs((now - built_for).total_seconds()) < FRESH_S:
            return bank
    bank = Bank.build(bank_items(session=session, agent=agent, now=now, days=days))
    with _lock:
        _banks.setdefault(engine, {})[key] = (time.monotonic(), now, bank)
    return bank
