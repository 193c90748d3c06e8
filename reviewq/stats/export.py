"""Exports: the scoreboard metrics as CSV or JSON, raw decisions as CSV or JSONL (streamed)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.domain.vigilance import NO_RATE
from reviewq.models import Decision, Injection, Item, User
from reviewq.stats.dashboard_model import Dashboard
from reviewq.stats.filters import Filters

METRIC_COLUMNS = (
    "reviewer", "role", "canaries", "caught", "diagnosed", "catch_rate", "catch_low", "catch_high", "catch_status",
    "p_below_target", "controls", "false_alarms", "false_alarm_rate", "d_prime", "c", "ln_beta", "a_prime",
    "d_low", "d_high", "c_low", "c_high",
    "decisions", "median_active_s", "under_2s_share", "sessions", "median_session_min", "last_active",
    "below_target_alert", "drift_status", "drift_alarm", "drift_baseline_catch", "drift_in_control_run_length",
    "skip_rate_real", "skip_rate_planted", "canaries_skipped_expired", "canaries_expired_unseen",
    "skip_aware_catch_rate", "adjusted_catch_rate", "reliability", "canaries_until_reliable", "active_fallback",
)
DECISION_COLUMNS = (
    "decided_at", "reviewer", "item", "kind", "category", "agent", "verdict", "reason", "note",
    "active_ms", "server_ms", "minutes_into_session", "planted", "planted_outcome", "active_source",
    "planted_drill",  # a drill item: announced training, left out of every figure
)


def metric_rows(dashboard: Dashboard) -> list[dict[str, Any]]:
    """One flat row per reviewer, the scoreboard's numbers (rates only where §3 allows them)."""
    rows = []
    for r in dashboard.scoreboard:
        shown = r.catch.status != NO_RATE
        sdt = r.sdt or {}
        rows.append({
            "reviewer": r.reviewer, "role": r.role, "canaries": r.canaries, "caught": r.caught,
            "diagnosed": r.diagnosed,
            "catch_rate": r.catch.rate if shown else None,
            "catch_low": r.catch.low if shown else None,
            "catch_high": r.catch.high if shown else None,
            "catch_status": r.catch.status, "p_below_target": r.p_below_target,
            "controls": r.controls, "false_alarms": r.false_alarms,
            "false_alarm_rate": r.false_alarm.rate if r.false_alarm.status != NO_RATE else None,
            "d_prime": sdt.get("d_prime"), "c": sdt.get("c"), "ln_beta": sdt.get("ln_beta"),
            "a_prime": sdt.get("a_prime"), "decisions": r.decisions, "median_active_s": r.median_active_s,
            "under_2s_share": r.under_2s_share, "sessions": r.sessions,
            "median_session_min": r.median_session_min,
            "last_active": r.last_active.isoformat() if r.last_active else None,
            "d_low": sdt.get("d_low"), "d_high": sdt.get("d_high"), "c_low": sdt.get("c_low"),
            "c_high": sdt.get("c_high"),
            # VIGILANCE.md §3/§5: the two questions, separately
            "below_target_alert": r.below_target["alert"], "drift_status": r.drift["status"],
            "drift_alarm": r.drift["alarm"], "drift_baseline_catch": r.drift["baseline_catch"],
            "drift_in_control_run_length": r.drift["in_control_run_length"],
            # §7 skips, expiries, difficulty, reliability
            "skip_rate_real": r.skips["real"]["rate"], "skip_rate_planted": r.skips["planted"]["rate"],
            "canaries_skipped_expired": r.skips["canaries_skipped_expired"],
            "canaries_expired_unseen": r.skips["canaries_expired_unseen"],
            "skip_aware_catch_rate": r.skips["inclusive_catch"]["rate"],
            "adjusted_catch_rate": (r.adjusted_catch or {}).get("rate"),
            "reliability": r.reliability["value"], "canaries_until_reliable": r.reliability["more_for_target"],
            "active_fallback": r.active_fallback,
        })
    return rows


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in free text (CSV injection), leave numbers alone."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def to_csv(rows: Iterator[dict[str, Any]] | list[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    """CSV text in chunks: a header, then rows, so large exports stream."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for i, row in enumerate(rows, 1):
        writer.writerow([_cell(row.get(c)) for c in columns])
        if i % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def to_jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, default=str, separators=(",", ":")) + "\n"


def decision_rows(*, session: Session, filters: Filters, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every decision in range (team and category applied), oldest first, read in batches."""
    query = (
        sa.select(
            Decision.decided_at, User.name, Item.public_id, Item.kind, Item.category, Item.agent,
            Decision.verdict, Decision.reason, Decision.note, Decision.active_ms, Decision.server_ms,
            Decision.minutes_into_session, Injection.kind, Injection.outcome, Decision.active_source,
            Injection.drill,
        )
        .select_from(Decision)
        .join(Item, Item.id == Decision.item_id)
        .join(User, User.id == Decision.reviewer_id)
        .outerjoin(Injection, sa.and_(Injection.item_id == Decision.item_id,
                                      Injection.reviewer_id == Decision.reviewer_id))
        .where(Decision.decided_at >= filters.since, Decision.decided_at < filters.until)
        .order_by(Decision.decided_at, Decision.id)
        .execution_options(yield_per=batch)
    )
    if filters.team:
        query = query.where(User.role == filters.team)
    if filters.category:
        query = query.where(Item.category == filters.category)
    for row in session.execute(query):
        values = dict(zip(DECISION_COLUMNS, row, strict=True))
        values["decided_at"] = values["decided_at"].isoformat()
        for key in ("kind", "verdict", "reason", "planted", "planted_outcome", "active_source"):
            if values[key] is not None and hasattr(values[key], "value"):
                values[key] = values[key].value
        yield values
