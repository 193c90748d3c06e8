"""The data the dashboard pages render: `build_dashboard` (the lead's page, and what
`reviewq bench` times) and `build_reviewer_page`, typed in `dashboard_model` (`.to_json()` for
the pages, the JSON API and the export)."""

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
from reviewq.stats.dashboard_model import (
    ActiveHistogram,
    BucketRate,
    Dashboard,
    DashboardSettings,
    InjectionPlan,
    QueueHealth,
    Rate,
    ReviewerPage,
    ScoreboardRow,
    ShownRate,
    TeamSummary,
    Trend,
    WeekRate,
)
from reviewq.stats.filters import TEAMS, Filters
from reviewq.stats.time_on_task import TimeOnTask, time_on_task


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
    user: User, counts: cq.ReviewerCounts, tot: TimeOnTask, team: TeamFigures, settings: Settings, *,
    automated: set[int],
) -> ScoreboardRow:
    vs = settings.vigilance
    signals = vv.signals_json(counts.caught, counts.canaries, team.drift.get(user.id, []), settings)
    return ScoreboardRow(
        reviewer=user.name,
        reviewer_id=user.id,
        role=Role(user.role).value,
        canaries=counts.canaries,
        caught=counts.caught,
        diagnosed=counts.diagnosed,
        catch=ShownRate.shown(counts.caught, counts.canaries, vs.min_canaries),
        p_below_target=signals["below_target"]["probability"],
        below_target=signals["below_target"],
        drift=signals["drift"],
        controls=counts.controls,
        false_alarms=counts.false_alarms,
        false_alarm=ShownRate.shown(counts.false_alarms, counts.controls, vs.min_canaries),
        sdt=vv.sdt_json(counts.caught, counts.canaries, counts.false_alarms, counts.controls, vs.min_canaries),
        skips=vv.skips_json(team.skips.get(user.id, SkipCounts()), vs.min_canaries, long=team.long.get(user.id),
                            long_share=team.long_share, hard=team.hard.get(user.id)),
        adjusted_catch=vv.ability_json(team.rasch.abilities.get(user.id), counts.canaries, vs.min_canaries),
        reliability=vv.reliability_json(counts.canaries, team.split, vs.reliability_target),
        decisions=tot.decisions,
        active_fallback=team.fallbacks.get(user.id, 0),
        median_active_s=tot.median_active_s,
        under_2s=tot.under_2s,
        under_2s_share=tot.under_2s_share,
        sessions=tot.sessions,
        median_session_min=tot.median_session_ms / 60000 if tot.median_session_ms is not None else None,
        last_active=tot.last_active,
        automated=user.id in automated,
    )


def decay_for(
    *, session: Session, filters: Filters, settings: Settings, reviewer_id: int | None, reviewers: list[str],
    selected: str | None,
) -> dict[str, Any]:
    """The decay section: within-reviewer headline and curve, the pooled view, timing sources (§4)."""
    by_reviewer = vq.minute_slices_by_reviewer(session=session, filters=filters, reviewer_id=reviewer_id)
    timing = vq.canary_timing(session=session, filters=filters, reviewer_id=reviewer_id)
    return vv.decay_json(by_reviewer, settings, timing=timing, reviewers=reviewers, selected=selected)


def trend(weekly: cq.WeeklyCounts, names: dict[int, str]) -> Trend:
    team = []
    per: dict[str, list[WeekRate]] = {}
    for week in weekly.weeks:
        n = k = 0
        for (rid, w), (cn, ck) in weekly.cells.items():
            if w == week:
                n, k = n + cn, k + ck
                per.setdefault(names.get(rid, str(rid)), []).append(WeekRate.of(v.wilson(ck, cn), week=week.date()))
        team.append(WeekRate.of(v.wilson(k, n), week=week.date()))
    for rows in per.values():
        rows.sort(key=lambda r: r.week)
    return Trend(weeks=[w.date() for w in weekly.weeks], team=team, reviewers=per)


def buckets(rows: list[tuple[str, int, int, int]]) -> list[BucketRate]:
    return [BucketRate.of(v.wilson(k, n), bucket=b, diagnosed=d) for b, n, k, d in rows]


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


def queue_health(session: Session, filters: Filters, settings: Settings, now: datetime) -> QueueHealth:
    week = qh.current_week_start(settings=settings, now=now)
    return QueueHealth(
        backlog=qh.backlog(session=session, now=now, filters=filters),
        approval_wait=qh.approval_waits(session=session, filters=filters),
        approvals_expired=qh.approvals_expired(session=session, filters=filters),
        webhooks=qh.webhook_failures(session=session, filters=filters),
        attention=approval_attention(session=session, filters=filters),
        injection=InjectionPlan(
            schedule=settings.canaries.schedule,
            timezone=settings.canaries.timezone,
            next_run=qh.next_injection_run(settings=settings, now=now),
            week_start=week,
            pending=cq.pending_this_week(session=session, week_start=week),
        ),
    )


def filters_json(session: Session, filters: Filters) -> dict[str, Any]:
    return {**filters.as_args(), "teams": list(TEAMS), "categories": categories(session)}


def _quoted_settings(settings: Settings) -> DashboardSettings:
    vs = settings.vigilance
    return DashboardSettings(min_canaries=vs.min_canaries, target_catch_rate=vs.target_catch_rate,
                             drift_baseline_canaries=vs.drift_baseline_canaries, cusum_h=vs.cusum_h,
                             reliability_target=vs.reliability_target, skip_rule=vv.SKIP_RULE)


def build_dashboard(
    *, session: Session, now: datetime, filters: Filters | None, settings: Settings, curve_reviewer: str | None = None
) -> Dashboard:
    """Everything /dashboard shows, for the filters given (None: the last 28 days, everyone).

    `curve_reviewer` narrows the decay section to one reviewer (the curve's reviewer filter).
    """
    filters = filters or Filters.default(now)
    counts = cq.counts_by_reviewer(session=session, filters=filters)
    tots = time_on_task(session=session, filters=filters)
    users = _users(session, filters, set(counts) | set(tots))
    names = {u.id: u.name for u in users}
    team = team_figures(session=session, filters=filters)
    automated = automated_ids(session=session)
    scoreboard = [
        _scoreboard_row(u, counts.get(u.id, cq.ReviewerCounts()), tots.get(u.id, TimeOnTask()), team, settings,
                        automated=automated)
        for u in users
    ]
    curve_id = None
    if curve_reviewer:
        curve_id = next((u.id for u in users if u.name == curve_reviewer), None)
        if curve_id is None:
            raise ValidationFailed(f"no reviewer {curve_reviewer!r} in this range", field="curve")
    total = cq.ReviewerCounts()
    for c in counts.values():
        total.canaries += c.canaries
        total.caught += c.caught
        total.controls += c.controls
        total.false_alarms += c.false_alarms
    min_canaries = settings.vigilance.min_canaries
    return Dashboard(
        generated_at=now,
        filters=filters_json(session, filters),
        settings=_quoted_settings(settings),
        team=TeamSummary(catch=ShownRate.shown(total.caught, total.canaries, min_canaries),
                         false_alarm=ShownRate.shown(total.false_alarms, total.controls, min_canaries),
                         active_fallback=sum(team.fallbacks.values()),
                         decisions=sum(t.decisions for t in tots.values()),
                         reliability_r_single=team.split.r_single, reliability_from=team.split.reviewers),
        scoreboard=scoreboard,
        decay=decay_for(session=session, filters=filters, settings=settings, reviewer_id=curve_id,
                        reviewers=[u.name for u in users if u.id in counts], selected=curve_reviewer or None),
        difficulty=vv.difficulty_json(team.difficulties),
        expired_by_kind={kind: Rate.of(v.wilson(k, n))
                         for kind, (k, n) in sorted(vq.expiry_by_kind(session=session, filters=filters).items())},
        trend=trend(cq.weekly_counts(session=session, filters=filters), names),
        buckets=buckets(cq.bucket_counts(session=session, filters=filters)),
        queue=queue_health(session, filters, settings, now),
    )


def build_reviewer_page(
    *, session: Session, name: str, now: datetime, filters: Filters | None, settings: Settings
) -> ReviewerPage:
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
    return ReviewerPage(
        generated_at=now,
        filters=filters_json(session, mine),
        settings=_quoted_settings(settings),
        reviewer=_scoreboard_row(user, counts.get(user.id, cq.ReviewerCounts()), tot, team, settings,
                                 automated=automated_ids(session=session)),
        decay=decay_for(session=session, filters=mine, settings=settings, reviewer_id=user.id,
                        reviewers=[user.name], selected=user.name),
        trend=trend(cq.weekly_counts(session=session, filters=mine, reviewer_id=user.id), {user.id: user.name}),
        buckets=buckets(cq.bucket_counts(session=session, filters=mine, reviewer_id=user.id)),
        missed=cq.missed_canaries(session=session, filters=mine, reviewer_id=user.id),  # decided_at: ISO in to_json
        active_histogram=ActiveHistogram(edges_s=list(ACTIVE_EDGES_S), counts=list(tot.histogram)),
    )
