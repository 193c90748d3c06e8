"""A fast bulk generator of review history for timing the dashboard at 10k to 1M decisions.

It writes the same tables the real decision path writes (items, decisions, review sessions,
injections and the dashboard rollups) with multi-row Core inserts, since a million decisions
through HTTP or the ORM would take longer than the benchmark itself.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa

from reviewq.db import Database
from reviewq.domain.rollups import RUBBER_STAMP_MS, bucket_of
from reviewq.domain.users import create_user
from reviewq.models import (
    Decision,
    Injection,
    InjectionKind,
    InjectionOutcome,
    InjectionSource,
    Item,
    ItemKind,
    ItemStatus,
    Outcome,
    ReviewSession,
    Role,
    UserCreate,
    Verdict,
    new_public_id,
)
from reviewq.models.rollups import ACTIVE_COLUMNS, ACTIVE_EDGES_S, DecisionRollup

CHUNK = 5000
CATEGORIES = ("customer_support", "billing", "search", "scheduling")
BUCKETS = ("hallucinated_fact", "schema_violation", "wrong_refusal", "wrong_tool_call", "infinite_loop",
           "off_topic")
CANARY_SHARE = 0.01
CONTROL_SHARE = 0.005
ITEMS_PER_SESSION = 40


def generate(database: Database, *, decisions: int, now: datetime, days: int = 28, seed: int = 5) -> None:
    """Add `decisions` decided items, spread over the last `days`, with canaries among them."""
    rng = random.Random(seed)
    # Enough reviewers that each one's working time fits inside the window.
    reviewers = max(20, decisions // 20000)
    with database.session_scope() as session:
        users = [
            create_user(session=session, data=UserCreate(name=f"bulk-{i:03d}", role=Role.REVIEWER,
                                                         password="bulk-password"), now=now, actor="system:bench")
            for i in range(reviewers)
        ]
        reviewer_ids = [u.id for u in users]
        next_item_id = (session.execute(sa.select(sa.func.max(Item.id))).scalar() or 0) + 1
        next_session_id = (session.execute(sa.select(sa.func.max(ReviewSession.id))).scalar() or 0) + 1
    start = now - timedelta(days=days)
    span_s = days * 86400
    per_reviewer = decisions // reviewers
    rollups: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(
        ("decisions", "rejects", "under_2s", "active_ms_sum", *ACTIVE_COLUMNS), 0))
    item_id, session_id = next_item_id, next_session_id
    with database.engine.begin() as conn:
        for reviewer_index, reviewer_id in enumerate(reviewer_ids):
            count = per_reviewer + (decisions - per_reviewer * reviewers if reviewer_index == 0 else 0)
            # Idle time between sittings, so that ~40 s per item and the gaps fill the window.
            gap_s = max(60.0, (span_s - count * 40) / max(1.0, count / ITEMS_PER_SESSION))
            items, decs, injections, sessions = [], [], [], []
            t = start + timedelta(seconds=rng.uniform(0, 3600))
            minutes = 0.0
            session_active = 0
            in_session = 0
            session_start = t
            for _ in range(count):
                if in_session >= ITEMS_PER_SESSION:
                    sessions.append(_session_row(session_id, reviewer_id, session_start, t, session_active,
                                                 in_session))
                    session_id += 1
                    t += timedelta(seconds=gap_s * rng.uniform(0.8, 1.2))
                    session_start, minutes, session_active, in_session = t, 0.0, 0, 0
                active_ms = int(rng.lognormvariate(3.4, 0.6) * 1000)
                shown = t
                t = t + timedelta(milliseconds=active_ms + rng.randint(200, 3000))
                minutes += active_ms / 60000
                session_active += active_ms
                in_session += 1
                roll = rng.random()
                planted = roll < CANARY_SHARE + CONTROL_SHARE
                canary = roll < CANARY_SHARE
                verdict = Verdict.REJECT if (canary and rng.random() < 0.8) or rng.random() < 0.03 else Verdict.APPROVE
                category = rng.choice(CATEGORIES)
                items.append({
                    "id": item_id, "public_id": new_public_id("itm"), "kind": ItemKind.OUTPUT,
                    "status": ItemStatus.DECIDED, "trace_id": f"bulk-{item_id}", "agent": "bulk-agent",
                    "category": category, "payload": {"input": "q", "output": "a"}, "priority": 0,
                    "required_approvals": 1,
                    "outcome": Outcome.APPROVE if verdict == Verdict.APPROVE else Outcome.REJECT,
                    "assigned_to": reviewer_id if planted else None, "created_at": shown - timedelta(minutes=5),
                    "updated_at": t, "decided_at": t,
                })
                decs.append({
                    "id": item_id, "item_id": item_id, "reviewer_id": reviewer_id, "verdict": verdict,
                    "reason": "other" if verdict == Verdict.REJECT else None, "note": "", "shown_at": shown,
                    "decided_at": t, "active_ms": active_ms, "server_ms": active_ms + 500,
                    "review_session_id": session_id, "minutes_into_session": minutes,
                })
                if planted:
                    outcome = (InjectionOutcome.CAUGHT if verdict == Verdict.REJECT else InjectionOutcome.MISSED) \
                        if canary else (InjectionOutcome.FALSE_ALARM if verdict == Verdict.REJECT
                                        else InjectionOutcome.CORRECT)
                    week = (t - timedelta(days=t.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
                    injections.append({
                        "item_id": item_id, "reviewer_id": reviewer_id,
                        "kind": InjectionKind.CANARY if canary else InjectionKind.CONTROL,
                        "source": InjectionSource.LIBRARY, "bucket": rng.choice(BUCKETS) if canary else None,
                        "library_entry_id": None, "source_item_id": None, "explanation": "planted by the bench",
                        "week_start": week, "scheduled_for": shown, "created_at": week, "outcome": outcome,
                        "diagnosed": False, "decision_id": item_id, "decided_at": t,
                        "minutes_into_session": minutes, "active_ms": active_ms,
                    })
                _add_rollup(rollups, reviewer_id, t, category, verdict, active_ms)
                item_id += 1
            sessions.append(_session_row(session_id, reviewer_id, session_start, t, session_active, in_session))
            session_id += 1
            _insert(conn, ReviewSession.__table__, sessions)
            _insert(conn, Item.__table__, items)
            _insert(conn, Decision.__table__, decs)
            _insert(conn, Injection.__table__, injections)
        rows = [{"reviewer_id": r, "day": d, "category": c, **v} for (r, d, c), v in rollups.items()]
        _insert(conn, DecisionRollup.__table__, rows)
        if conn.dialect.name == "postgresql":
            for table in ("items", "decisions", "review_sessions"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608 - fixed names
                )
            conn.exec_driver_sql("ANALYZE")
        # No ANALYZE on SQLite: its statistics are averages, and with nearly every item decided
        # they would steer the planner off the status indexes for the rare open or expired items.


def _session_row(session_id, reviewer_id, started, last, active_ms, count) -> dict:
    return {"id": session_id, "reviewer_id": reviewer_id, "started_at": started, "last_activity_at": last,
            "active_ms": active_ms, "decisions": count}


def _add_rollup(rollups, reviewer_id, t, category, verdict, active_ms) -> None:
    row = rollups[(reviewer_id, t.date(), category)]
    row["decisions"] += 1
    row["rejects"] += int(verdict == Verdict.REJECT)
    row["under_2s"] += int(active_ms < RUBBER_STAMP_MS)
    row["active_ms_sum"] += active_ms
    row[ACTIVE_COLUMNS[bucket_of(active_ms / 1000, ACTIVE_EDGES_S)]] += 1


def _insert(conn, table: sa.Table, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        conn.execute(table.insert(), rows[start:start + CHUNK])
