"""Writing the dashboard rollups, inside the decision's own transaction (stats/ only reads them).

Called from reviewq.domain.effects.after_decision. Each decision is one atomic upsert
(INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n), so concurrent decisions on
PostgreSQL add up instead of overwriting each other.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.domain.canary_scoring import may_be_planted
from reviewq.lean_sql import Prebuilt
from reviewq.models import ActiveTimeSource, Decision, Injection, Item, ItemKind, Verdict
from reviewq.models.rollups import (
    ACTIVE_COLUMNS,
    ACTIVE_EDGES_S,
    WAIT_COLUMNS,
    WAIT_EDGES_S,
    ApprovalWaitRollup,
    DecisionRollup,
)

RUBBER_STAMP_MS = 2000  # decisions faster than this are counted as possible rubber-stamping


def bucket_of(seconds: float, edges: tuple[int, ...]) -> int:
    """Index of the bucket [edges[i], edges[i+1]) holding `seconds` (last bucket open-ended)."""
    return max(0, bisect.bisect_right(edges, seconds) - 1)


_UPSERTS: dict[tuple[str, str], Prebuilt] = {}


def _upsert_statement(dialect: str, table: sa.Table, keys: tuple[str, ...], increments: tuple[str, ...]):
    """Built once per table and dialect: building it per decision cost more than running it."""
    cache_key = (dialect, table.name)
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        base = insert(table)
        stmt = base.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: table.c[name] + base.excluded[name] for name in increments},
        )
        stmt = _UPSERTS[cache_key] = Prebuilt(stmt)
    return stmt


def _upsert(session: Session, table: sa.Table, keys: dict, increments: dict) -> None:
    stmt = _upsert_statement(session.get_bind().dialect.name, table, tuple(keys), tuple(increments))
    stmt.run(session, {**keys, **increments})


def record_decision(*, session: Session, item: Item, decision: Decision, settled: bool) -> None:
    """Add one decision to its reviewer/day/category row, and a settled approval's wait."""
    day = decision.decided_at.astimezone(UTC).date()
    active_ms = max(0, decision.active_ms)
    hist = dict.fromkeys(ACTIVE_COLUMNS, 0)
    hist[ACTIVE_COLUMNS[bucket_of(active_ms / 1000, ACTIVE_EDGES_S)]] = 1
    _upsert(
        session,
        DecisionRollup.__table__,
        {"reviewer_id": decision.reviewer_id, "day": day, "category": item.category},
        {
            "decisions": 1,
            "rejects": int(decision.verdict == Verdict.REJECT),
            "under_2s": int(active_ms < RUBBER_STAMP_MS),
            "active_ms_sum": active_ms,
            # VIGILANCE.md §4: how many decisions' active time fell back to server time
            "active_fallback": int(decision.active_source not in (None, ActiveTimeSource.BROWSER)),
            **hist,
        },
    )
    if settled and item.kind == ItemKind.APPROVAL and not _is_planted(session, item):
        record_approval_wait(
            session=session, category=item.category, created_at=item.created_at,
            decided_at=decision.decided_at,
        )


def record_approval_wait(*, session: Session, category: str, created_at: datetime, decided_at: datetime) -> None:
    """Add one settled approval's wait (created to decided) to its day/category row."""
    wait_ms = max(0, int((decided_at - created_at).total_seconds() * 1000))
    hist = dict.fromkeys(WAIT_COLUMNS, 0)
    hist[WAIT_COLUMNS[bucket_of(wait_ms / 1000, WAIT_EDGES_S)]] = 1
    _upsert(
        session,
        ApprovalWaitRollup.__table__,
        {"day": decided_at.astimezone(UTC).date(), "category": category},
        {"settled": 1, "wait_ms_sum": wait_ms, **hist},
    )


def _is_planted(session: Session, item: Item) -> bool:
    """Planted approvals never count in agent-facing figures (DESIGN.md, Canaries: safety)."""
    if not may_be_planted(item):
        return False
    return session.execute(_PLANTED, {"item_id": item.id}).first() is not None


_PLANTED = select(Injection.id).where(Injection.item_id == sa.bindparam("item_id"))
