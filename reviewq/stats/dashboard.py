"""The data the dashboard pages render: `build_dashboard` (the lead's page, and what
`reviewq bench` times) and `build_reviewer_page`. Plain JSON-ready dicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain import vigilance as v
from reviewq.domain import vigilance_ability as va
from reviewq.domain.errors import NotFound, ValidationFailed
from reviewq.domain.judges import automated_ids
from reviewq.domain.vigilance_ability import SkipCounts
from reviewq.models import Role, User
from reviewq.models.rollups import ACTIVE_EDGES_S, DecisionRollup
from reviewq.stats import canary_queries as cq
from reviewq.stats import queue_health as qh
from reviewq.stats import vigilance_queries as vq
from reviewq.stats import vigilance_view as vv
from reviewq.stats.approval_attention import approval_attention
from reviewq.stats.filters import TEAMS, Filters
from reviewq.stats.time_on_task import TimeOnTask, time_on_task


def interval_json(iv: v.Interval) -> dict[str, Any]:
    return {"n": iv.n, "k": iv.k, "rate": iv.rate, "low": iv.low, "high": iv.high}


def rate_json(k: int, n: int, min_canaries: int) -> dict[str, Any]:
    shown = v.rate_display(k, n, min_canaries=min_canaries)
    return {
        **interval_json(shown.interval),
        "status": shown.status,  # §3 display rule: no_rate / provisional / rated
        "label": shown.label(),
        "fit_to_judge": shown.fit_to_judge,
    }


@dataclass
class TeamFigures:
    """Figures a reviewer's row needs from beyond their own canaries (issue 13, VIGILANCE.md §5, §7)."""

    drift: dict[int, list[bool]]
    skips: dict[int, SkipCounts]
    long_share: float
    long: dict[int, tuple[int, int]]
    hard: dict[int, tuple[int, int]]
    rasch: va.RaschFit
    split: va.SplitHalf
    fallbacks: dict[int, int]
    difficulties: list[va.Difficulty]


def team_figures(*, session: Session, filters: Filters, reviewer_id: int | None = None) -> TeamFigures:
    """Difficulty, ability and reliability always come from the whole team (the models need
    everyone); drift, skips and fallbacks only for the reviewer(s) asked for."""
    cells = vq.template_cells(session=session, filters=filters)
    diffs = va.difficulties(cells)
    known = {d.template for d in diffs}
    rates = sorted(d.interval.rate for d in diffs if d.interval.rate is not None)
    hard = {}
    if len(rates) >= 4:  # "hard" = a template caught less often than the median template
        median = rates[len(rates) // 2]
        hard_set = {d.template for d in diffs if d.interval.rate is not None and d.interval.rate < median}
        for rid, templates in vq.skipped_canary_templates(session=session, filters=filters,
                                                          reviewer_id=reviewer_id).items():
            rated = [t for t in templates if t in known]
            hard[rid] = (sum(t in hard_set for t in rated), len(rated))
    threshold = vq.long_item_threshold(session=session, filters=filters)
    long = {} if threshold is None else vq.skips_on_long_items(
        session=session, filters=filters, threshold=threshold, reviewer_id=reviewer_id)
    caught_seq = {rid: [not m for m in seq] for rid, seq in cq.miss_sequences(session=session, filters=filters).items()}
    return TeamFigures(
        drift=vq.drift_sequences(session=session, filters=filters, reviewer_id=reviewer_id),
        skips=vq.skip_counts(session=session, filters=filters, reviewer_id=reviewer_id),
        long_share=0.25, long=long, hard=hard,
        rasch=va.rasch(cells), split=va.split_half(caught_seq),
        fallbacks=vq.decision_fallbacks(session=session, filters=filters, reviewer_id=reviewer_id),
        difficulties=diffs,
    )


def _scoreboard_row(
    user: User, counts: cq.ReviewerCounts, tot: TimeOnTask, team: TeamFigures, settings: Settings
) -> dict[str, Any]:
    vs = settings.vigilance
    signals = vv.signals_json(counts.caught, counts.canaries, team.drift.get(user.id, []), settings)
    return {
        "reviewer": user.name,
        "reviewer_id": user.id,
        "role": Role(user.role).value,
        "canaries": counts.canaries,
        "caught": counts.caught,
        "diagnosed": counts.diagnosed,
        "catch": rate_json(counts.caught, counts.canaries, vs.min_canaries),
        "p_below_target": signals["below_target"]["probability"],  # §3 Jeffreys
        "below_target": signals["below_target"],
        "drift": signals["drift"],  # §5 own baseline
        "controls": counts.controls,
        "false_alarms": counts.false_alarms,
        "false_alarm": rate_json(counts.false_alarms, counts.controls, vs.min_canaries),
        "sdt": vv.sdt_json(counts.caught, counts.canaries, counts.false_alarms, counts.controls, vs.min_canaries),
        "skips": vv.skips_json(team.skips.get(user.id, SkipCounts()), vs.min_canaries, long=team.long.get(user.id),
                               long_share=team.long_share, hard=team.hard.get(user.id)),  # §7
        "adjusted_catch": vv.ability_json(team.rasch.abilities.get(user.id), counts.canaries, vs.min_canaries),
        "reliability": vv.reliability_json(counts.canaries, team.split, vs.reliability_target),
        "decisions": tot.decisions,
        "active_fallback": team.fallbacks.get(user.id, 0),  # §4: browser time missing or implausible
        "median_active_s": tot.median_active_s,
        "under_2s": tot.under_2s,
        "under_2s_share": tot.under_2s_share,
        "sessions": tot.sessions,
        "median_session_min": tot.median_session_ms / 60000 if tot.median_session_ms is not None else None,
        "last_active": tot.last_active.isoformat() if tot.last_active else None,
    }


def decay_for(
    *, session: Session, filters: Filters, settings: Settings, reviewer_id: int | None, reviewers: list[str],
    selected: str | None,
) -> dict[str, Any]:
    """The decay section: within-reviewer headline and curve, the pooled view, timing sources (§4)."""
    by_reviewer = vq.minute_slices_by_reviewer(session=session, filters=filters, reviewer_id=reviewer_id)
    timing = vq.canary_timing(session=session, filters=filters, reviewer_id=reviewer_id)
    return vv.decay_json(by_reviewer, settings, timing=timing, reviewers=reviewers, selected=selected)


def trend_json(weekly: cq.WeeklyCounts, names: dict[int, str]) -> dict[str, Any]:
    team = []
    per: dict[str, list] = {}
    for week in weekly.weeks:
        n = k = 0
        for (rid, w), (cn, ck) in weekly.cells.items():
            if w == week:
                n, k = n + cn, k + ck
                per.setdefault(names.get(rid, str(rid)), []).append(
                    {"week": week.date().isoformat(), **interval_json(v.wilson(ck, cn))}
                )
        team.append({"week": week.date().isoformat(), **interval_json(v.wilson(k, n))})
    for rows in per.values():
        rows.sort(key=lambda r: r["week"])
    return {"weeks": [w.date().isoformat() for w in weekly.weeks], "team": team, "reviewers": per}


def buckets_json(rows: list[tuple[str, int, int, int]]) -> list[dict[str, Any]]:
    return [{"bucket": b, "diagnosed": d, **interval_json(v.wilson(k, n))} for b, n, k, d in rows]


def _users(session: Session, filters: Filters, ids: set[int]) -> list[User]:
    """Everyone with figures in range, plus active reviewers (a silent reviewer is news too)."""
    query = select(User).where(sa.or_(User.id.in_(ids or {-1}), sa.and_(User.active, User.role == Role.REVIEWER)))
    if filters.team:
        query = query.where(User.role == filters.team)
    return list(session.exec(query.order_by(User.name)))


def categories(session: Session) -> list[str]:
    """Categories seen in decisions (from the small rollup table, not a scan of items)."""
    return list(session.execute(sa.select(DecisionRollup.category).distinct().order_by(DecisionRollup.category))
                .scalars())


def queue_json(session: Session, filters: Filters, settings: Settings, now: datetime) -> dict[str, Any]:
    week = qh.current_week_start(settings=settings, now=now)
    next_run = qh.next_injection_run(settings=settings, now=now)
    return {
        "backlog": qh.backlog(session=session, now=now, filters=filters),
        "approval_wait": qh.approval_waits(session=session, filters=filters),
        "approvals_expired": qh.approvals_expired(session=session, filters=filters),
        "webhooks": qh.webhook_failures(session=session, filters=filters),
        "attention": approval_attention(session=session, filters=filters),
        "injection": {
            "schedule": settings.canaries.schedule,
            "timezone": settings.canaries.timezone,
            "next_run": next_run.isoformat() if next_run else None,
            "week_start": week.isoformat(),
            "pending": cq.pending_this_week(session=session, week_start=week),
        },
    }


def filters_json(session: Session, filters: Filters) -> dict[str, Any]:
    return {**filters.as_args(), "teams": list(TEAMS), "categories": categories(session)}


def _settings_json(settings: Settings) -> dict[str, Any]:
    vs = settings.vigilance
    return {"min_canaries": vs.min_canaries, "target_catch_rate": vs.target_catch_rate,
            "drift_baseline_canaries": vs.drift_baseline_canaries, "cusum_h": vs.cusum_h,
            "reliability_target": vs.reliability_target, "skip_rule": vv.SKIP_RULE}


def build_dashboard(
    *, session: Session, now: datetime, filters: Filters | None, settings: Settings, curve_reviewer: str | None = None
) -> dict[str, Any]:
    """Everything /dashboard shows, for the filters given (None: the last 28 days, everyone).

    `curve_reviewer` narrows the decay section to one reviewer (the curve's reviewer filter).
    """
    filters = filters or Filters.default(now)
    counts = cq.counts_by_reviewer(session=session, filters=filters)
    tots = time_on_task(session=session, filters=filters)
    users = _users(session, filters, set(counts) | set(tots))
    names = {u.id: u.name for u in users}
    team = team_figures(session=session, filters=filters)
    scoreboard = [
        _scoreboard_row(u, counts.get(u.id, cq.ReviewerCounts()), tots.get(u.id, TimeOnTask()), team, settings)
        for u in users
    ]
    curve_id = None
    if curve_reviewer:
        curve_id = next((u.id for u in users if u.name == curve_reviewer), None)
        if curve_id is None:
            raise ValidationFailed(f"no reviewer {curve_reviewer!r} in this range", field="curve")
    # Judges are scored like people and marked as automated (VIGILANCE.md §8).
    automated = automated_ids(session=session)
    for row in scoreboard:
        row["automated"] = row["reviewer_id"] in automated
    total = cq.ReviewerCounts()
    for c in counts.values():
        total.canaries += c.canaries
        total.caught += c.caught
        total.controls += c.controls
        total.false_alarms += c.false_alarms
    return {
        "generated_at": now.isoformat(),
        "filters": filters_json(session, filters),
        "settings": _settings_json(settings),
        "team": {"catch": rate_json(total.caught, total.canaries, settings.vigilance.min_canaries),
                 "false_alarm": rate_json(total.false_alarms, total.controls, settings.vigilance.min_canaries),
                 "active_fallback": sum(team.fallbacks.values()),
                 "decisions": sum(t.decisions for t in tots.values()),
                 "reliability_r_single": team.split.r_single, "reliability_from": team.split.reviewers},
        "scoreboard": scoreboard,
        "decay": decay_for(session=session, filters=filters, settings=settings, reviewer_id=curve_id,
                           reviewers=[u.name for u in users if u.id in counts], selected=curve_reviewer or None),
        "difficulty": vv.difficulty_json(team.difficulties),
        "expired_by_kind": {kind: interval_json(v.wilson(k, n))
                            for kind, (k, n) in sorted(vq.expiry_by_kind(session=session, filters=filters).items())},
        "trend": trend_json(cq.weekly_counts(session=session, filters=filters), names),
        "buckets": buckets_json(cq.bucket_counts(session=session, filters=filters)),
        "queue": queue_json(session, filters, settings, now),
    }


def build_reviewer_page(
    *, session: Session, name: str, now: datetime, filters: Filters | None, settings: Settings
) -> dict[str, Any]:
    """One reviewer: their row, curve, trend, missed canaries and time-on-task histogram."""
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"no user {name!r}", field="name")
    filters = filters or Filters.default(now)
    mine = Filters(filters.start, filters.end, None, filters.category)  # the team filter is moot here
    counts = cq.counts_by_reviewer(session=session, filters=mine)
    tots = time_on_task(session=session, filters=mine, reviewer_id=user.id)
    tot = tots.get(user.id, TimeOnTask())
    team = team_figures(session=session, filters=mine, reviewer_id=user.id)
    return {
        "generated_at": now.isoformat(),
        "filters": filters_json(session, mine),
        "settings": _settings_json(settings),
        "reviewer": {**_scoreboard_row(user, counts.get(user.id, cq.ReviewerCounts()), tot, team, settings),
                     "automated": user.id in automated_ids(session=session)},
        "decay": decay_for(session=session, filters=mine, settings=settings, reviewer_id=user.id,
                           reviewers=[user.name], selected=user.name),
        "trend": trend_json(cq.weekly_counts(session=session, filters=mine, reviewer_id=user.id), {user.id: user.name}),
        "buckets": buckets_json(cq.bucket_counts(session=session, filters=mine, reviewer_id=user.id)),
        "missed": [
            {**m, "decided_at": m["decided_at"].isoformat() if m["decided_at"] else None}
            for m in cq.missed_canaries(session=session, filters=mine, reviewer_id=user.id)
        ],
        "active_histogram": {"edges_s": list(ACTIVE_EDGES_S), "counts": list(tot.histogram)},
    }
