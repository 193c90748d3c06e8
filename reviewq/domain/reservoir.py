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
from sqlmodel import Session, select

from reviewq.config import CanarySettings
from reviewq.models import ReservoirOutput

# Unsampled outputs kept per agent and category from one batch: keeps ingest cheap and the
# reservoir spread over time instead of filled by one large batch.
PER_BATCH = 8


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
    session.execute(sa.insert(ReservoirOutput), rows)
    for category in by_category:
        _trim(session, agent, category, settings.reservoir_per_category)
    return len(rows)


def _trim(session: Session, agent: str, category: str, cap: int) -> None:
    """Keep the newest `cap` outputs of one slot."""
    keep = (
        select(ReservoirOutput.id)
        .where(ReservoirOutput.agent == agent, ReservoirOutput.category == category)
        .order_by(ReservoirOutput.created_at.desc(), ReservoirOutput.id.desc())
        .limit(cap)
    )
    cutoff = session.exec(select(sa.func.min(keep.subquery().c.id))).one()
    if cutoff is None:
        return
    session.execute(
        sa.delete(ReservoirOutput).where(
            ReservoirOutput.agent == agent, ReservoirOutput.category == category, ReservoirOutput.id < cutoff
        )
    )


def purge(*, session: Session, settings: CanarySettings, now: datetime) -> int:
    """Delete what is past the source window (everything, when the reservoir is switched off)."""
    query = sa.delete(ReservoirOutput)
    if settings.reservoir:
        query = query.where(ReservoirOutput.created_at < now - timedelta(days=settings.source_days))
    return session.execute(query).rowcount
