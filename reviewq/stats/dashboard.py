"""The data the dashboard pages render: `build_dashboard` (the lead's page, and what
`reviewq bench` times) and `build_reviewer_page`. Plain JSON-ready dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain import vigilance as v
from reviewq.domain.errors import NotFound
from reviewq.domain.judges import automated_ids
from reviewq.models import Role, User
from reviewq.models.rollups import ACTIVE_EDGES_S, DecisionRollup
from reviewq.stats import canary_queries as cq
from reviewq.stats import queue_health as qh
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


def _scoreboard_row(
    user: User, counts: cq.ReviewerCounts, tot: TimeOnTask, misses: list[bool], settings: Settings
) -> dict[str, Any]:
    vs = settings.vigilance
    catch = rate_json(counts.caught, counts.canaries, vs.min_canaries)
    fa = rate_json(counts.false_alarms, counts.controls, vs.min_canaries)
    sdt = None
    if catch["status"] != v.NO_RATE and fa["status"] != v.NO_RATE:  # §3: no figure below the minimum
        s = v.signal_detection(
            hits=counts.caught, n_canary=counts.canaries, false_alarms=counts.false_alarms, n_good=counts.controls
        )
        sdt = {"h": s.h, "f": s.f, "d_prime": s.d_prime, "c": s.c, "ln_beta": s.ln_beta, "a_prime": s.a_prime}
    p_below = None
    if catch["status"] != v.NO_RATE:
        p_below = v.prob_rate_below(counts.caught, counts.canaries, vs.target_catch_rate)  # §3 Jeffreys
    cusum = v.bernoulli_cusum(misses, p0=vs.cusum_p0, p1=vs.cusum_p1, h=vs.cusum_h)  # §5
    return {
        "reviewer": user.name,
        "reviewer_id": user.id,
        "role": Role(user.role).value,
        "canaries": counts.canaries,
        "caught": counts.caught,
        "diagnosed": counts.diagnosed,
        "catch": catch,
        "p_below_target": p_below,
        "controls": counts.controls,
        "false_alarms": counts.false_alarms,
        "false_alarm": fa,
        "sdt": sdt,
        "decisions": tot.decisions,
        "median_active_s": tot.median_active_s,
        "under_2s": tot.under_2s,
        "under_2s_share": tot.under_2s_share,
        "sessions": tot.sessions,
        "median_session_min": tot.median_session_ms / 60000 if tot.median_session_ms is not None else None,
        "last_active": tot.last_active.isoformat() if tot.last_active else None,
        "cusum": {"value": cusum.value, "alarm": cusum.alarm, "n": cusum.n, "first_alarm_at": cusum.first_alarm_at,
                  "h": vs.cusum_h, "path": list(cusum.path)},
    }


def decay_json(slices: list[v.MinuteCounts], settings: Settings) -> dict[str, Any]:
    bins = v.decay_bins(slices, bin_minutes=settings.vigilance.decay_bin_minutes)  # §4
    split = v.early_vs_late(slices, split_minutes=20)  # §4 headline and Fisher test
    fit = v.logistic_slope(slices)  # §4 trend test
    logistic = None
    if fit is not None:
        enough = fit.n >= 2 * v.MIN_PER_GROUP and fit.converged
        logistic = {
            "slope_per_min": fit.slope, "se": fit.se_slope, "p_decrement": fit.p_decrement, "n": fit.n,
            "verdict": v.NOT_ENOUGH if not enough else ("decrement" if fit.p_decrement < 0.05 else "no_decrement"),
        }
    return {
        "bin_minutes": settings.vigilance.decay_bin_minutes,
        "bins": [{"start": b.start, "end": b.end, **interval_json(b.interval)} for b in bins],
        "headline": split.headline(),
        "early": interval_json(split.early),
        "late": interval_json(split.late),
        "fisher_p": split.p_value,
        "verdict": split.verdict,
        "min_per_group": v.MIN_PER_GROUP,
        "logistic": logistic,
    }


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


def build_dashboard(*, session: Session, now: datetime, filters: Filters | None, settings: Settings) -> dict[str, Any]:
    """Everything /dashboard shows, for the filters given (None: the last 28 days, everyone)."""
    filters = filters or Filters.default(now)
    counts = cq.counts_by_reviewer(session=session, filters=filters)
    tots = time_on_task(session=session, filters=filters)
    misses = cq.miss_sequences(session=session, filters=filters)
    users = _users(session, filters, set(counts) | set(tots))
    names = {u.id: u.name for u in users}
    scoreboard = [
        _scoreboard_row(u, counts.get(u.id, cq.ReviewerCounts()), tots.get(u.id, TimeOnTask()),
                        misses.get(u.id, []), settings)
        for u in users
    ]
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
        "settings": {"min_canaries": settings.vigilance.min_canaries,
                     "target_catch_rate": settings.vigilance.target_catch_rate},
        "team": {"catch": rate_json(total.caught, total.canaries, settings.vigilance.min_canaries),
                 "false_alarm": rate_json(total.false_alarms, total.controls, settings.vigilance.min_canaries)},
        "scoreboard": scoreboard,
        "decay": decay_json(cq.minute_slices(session=session, filters=filters), settings),
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
    misses = cq.miss_sequences(session=session, filters=mine, reviewer_id=user.id)
    tot = tots.get(user.id, TimeOnTask())
    return {
        "generated_at": now.isoformat(),
        "filters": filters_json(session, mine),
        "settings": {"min_canaries": settings.vigilance.min_canaries,
                     "target_catch_rate": settings.vigilance.target_catch_rate},
        "reviewer": {**_scoreboard_row(user, counts.get(user.id, cq.ReviewerCounts()), tot,
                                       misses.get(user.id, []), settings),
                     "automated": user.id in automated_ids(session=session)},
        "decay": decay_json(cq.minute_slices(session=session, filters=mine, reviewer_id=user.id), settings),
        "trend": trend_json(cq.weekly_counts(session=session, filters=mine, reviewer_id=user.id), {user.id: user.name}),
        "buckets": buckets_json(cq.bucket_counts(session=session, filters=mine, reviewer_id=user.id)),
        "missed": [
            {**m, "decided_at": m["decided_at"].isoformat() if m["decided_at"] else None}
            for m in cq.missed_canaries(session=session, filters=mine, reviewer_id=user.id)
        ],
        "active_histogram": {"edges_s": list(ACTIVE_EDGES_S), "counts": list(tot.histogram)},
    }
