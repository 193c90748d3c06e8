"""Fixed-window counters in the database, bumped atomically by any number of processes.

One upsert both counts and reads the count back (`INSERT … ON CONFLICT DO UPDATE … RETURNING`),
so 24 simultaneous requests see 24 different counts instead of all reading "below the limit"
before any of them writes. Callers commit right after a bump: the row stays locked on
PostgreSQL until then.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from reviewq.lean_sql import Prebuilt
from reviewq.models import RateCounter
from reviewq.models.common import UTCDateTime

_COUNTERS = RateCounter.__table__


@dataclass(frozen=True)
class Count:
    count: int
    window_start: datetime

    def resets_in(self, *, now: datetime, window: timedelta) -> float:
        """Seconds until this window ends and the count starts again from zero."""
        return max(0.0, (self.window_start + window - now).total_seconds())


def hit(*, session: Session, key: str, now: datetime, window: timedelta, amount: int = 1) -> Count:
    """Add `amount` to `key`'s count (a new window if the last one has ended) and return the total."""
    stmt = _hit_statement(session.get_bind().dialect.name)
    row = stmt.run(session, {"key": key, "now": now, "amount": amount, "cutoff": now - window}).one()
    return Count(count=row.count, window_start=_aware(row.window_start))


@functools.cache
def _hit_statement(dialect: str):
    """The upsert, built once per dialect (building it on every request cost more than running
    it) and run off SQLite's bare cursor: every agent request runs it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_COUNTERS).values(key=sa.bindparam("key"), window_start=sa.bindparam("now", type_=UTCDateTime()),
                                    count=sa.bindparam("amount"))
    ended = _COUNTERS.c.window_start <= sa.bindparam("cutoff", type_=UTCDateTime())
    return Prebuilt(stmt.on_conflict_do_update(
        index_elements=[_COUNTERS.c.key],
        set_={
            "count": sa.case((ended, stmt.excluded.count), else_=_COUNTERS.c.count + stmt.excluded.count),
            "window_start": sa.case((ended, stmt.excluded.window_start), else_=_COUNTERS.c.window_start),
        },
    ).returning(_COUNTERS.c.count, _COUNTERS.c.window_start))


def peek(*, session: Session, key: str, now: datetime, window: timedelta) -> Count | None:
    """The running window's count for `key`, or None when there is none."""
    row = session.execute(
        sa.select(_COUNTERS.c.count, _COUNTERS.c.window_start).where(_COUNTERS.c.key == key)
    ).first()
    if row is None or _aware(row.window_start) <= now - window:
        return None
    return Count(count=row.count, window_start=_aware(row.window_start))


def peek_prefix(*, session: Session, prefix: str, now: datetime, window: timedelta) -> dict[str, Count]:
    """Running windows of every key starting with `prefix`, by the rest of the key."""
    rows = session.execute(
        sa.select(_COUNTERS.c.key, _COUNTERS.c.count, _COUNTERS.c.window_start)
        .where(_COUNTERS.c.key.startswith(prefix, autoescape=True),
               _COUNTERS.c.window_start > sa.bindparam("cutoff", now - window, type_=UTCDateTime()))
    ).all()
    return {r.key[len(prefix):]: Count(count=r.count, window_start=_aware(r.window_start)) for r in rows}


def restart(*, session: Session, key: str, now: datetime) -> None:
    """Start `key`'s window again at `now`, keeping its count (a lock then lasts a whole window)."""
    session.execute(sa.update(_COUNTERS).where(_COUNTERS.c.key == key).values(window_start=now))


def undo(*, session: Session, key: str, amount: int = 1) -> None:
    """Take back `amount` counted earlier (never below zero)."""
    session.execute(
        sa.update(_COUNTERS)
        .where(_COUNTERS.c.key == key)
        .values(count=sa.case((_COUNTERS.c.count > amount, _COUNTERS.c.count - amount), else_=0))
    )


def reset(*, session: Session, key: str) -> bool:
    """Forget `key`'s count. False if there was none."""
    return session.execute(sa.delete(_COUNTERS).where(_COUNTERS.c.key == key)).rowcount > 0


def sweep(*, session: Session, now: datetime, older_than: timedelta) -> int:
    """Delete counters whose window started more than `older_than` ago (longer than any window)."""
    cutoff = sa.bindparam("cutoff", now - older_than, type_=UTCDateTime())
    return session.execute(sa.delete(_COUNTERS).where(_COUNTERS.c.window_start < cutoff)).rowcount


def _aware(value: datetime) -> datetime:
    # Belt and braces: UTCDateTime tags results UTC, but a driver-level value may come back naive.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
