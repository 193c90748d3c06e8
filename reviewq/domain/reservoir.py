"""The reservoir: a bounded sample of the outputs sampling did not queue, kept as projection sources.

Nobody is ever served a reservoir output, so a mutated copy of one is a planted item that no
reviewer can have seen, and planting it leaves no real item unreviewed (DESIGN.md "Canaries").
Bounded per agent and category (`[canaries] reservoir_per_category`), purged after
`source_days`, and off entirely with `[canaries] reservoir = false`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.config import CanarySettings
from reviewq.models import ReservoirOutput

# Unsampled outputs kept per agent and category from one batch: keeps ingest cheap and the
# reservoir spread over time instead of filled by one large batch.
PER_BATCH = 8

# Built once, run as Core on the session's connection: the ORM's bulk insert and its delete with
# session synchronisation cost a third of a batch's ingest.
_TABLE = ReservoirOutput.__table__
_INSERT = _TABLE.insert()
_IN_SLOT = sa.and_(_TABLE.c.agent == sa.bindparam("agent"), _TABLE.c.category == sa.bindparam("category"))
_NEWEST = (
    sa.select(_TABLE.c.id).where(_IN_SLOT)
    .order_by(_TABLE.c.created_at.desc(), _TABLE.c.id.desc())
    .limit(sa.bindparam("cap")).subquery()
)
# Everything older than the oldest of the newest `cap`; nothing when the slot is empty (id < NULL).
_TRIM = _TABLE.delete().where(_IN_SLOT, _TABLE.c.id < sa.select(sa.func.min(_NEWEST.c.id)).scalar_subquery())


def keep_unsampled(
    *, session: Session, agent: str, outputs: Iterable[tuple[str, str, dict]], settings: CanarySettings,
    now: datetime, rng: random.Random,
) -> int:
    """Store up to PER_BATCH (category, trace_id, payload) outputs per category, then trim each slot."""
    if not settings.reservoir or settings.reservoir_per_category <= 0:
        return 0
    by_category: dict[str, list[tuple[str, dict]]] = {}
    for category, trace_id, payload in outputs:
        by_category.setdefault(category, []).append((trace_id, payload))
    rows = []
    for category, found in by_category.items():
        picked = found if len(found) <= PER_BATCH else rng.sample(found, PER_BATCH)
        rows += [{"agent": agent, "category": category, "trace_id": t[:128], "payload": p, "created_at": now}
                 for t, p in picked]
    if not rows:
        return 0
    connection = session.connection()
    connection.execute(_INSERT, rows)
    # Each slot keeps its newest outputs: one statement per touched slot, sent as one executemany.
    connection.execute(_TRIM, [{"agent": agent, "category": category, "cap": settings.reservoir_per_category}
                               for category in by_category])
    return len(rows)


def purge(*, session: Session, settings: CanarySettings, now: datetime) -> int:
    """Delete what is past the source window (everything, when the reservoir is switched off)."""
    query = sa.delete(ReservoirOutput)
    if settings.reservoir:
        query = query.where(ReservoirOutput.created_at < now - timedelta(days=settings.source_days))
    return session.execute(query).rowcount
