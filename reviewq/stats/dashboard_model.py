"""The shapes `build_dashboard` and `build_reviewer_page` return, and their one step to JSON.

The pages, the JSON API and the metrics export all start from these; `to_json()` is the only
place they become plain dicts (the pages render that JSON, so page and API cannot differ). The
per-reviewer signal views (drift, skips, reliability, ...) are already JSON-ready dicts worded in
`vigilance_view`, and stay so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from reviewq.domain import vigilance as v

JsonView = dict[str, Any]


def to_json(value: Any) -> Any:
    """Dataclasses become dicts (field order kept) and datetimes ISO text; other values pass as they are."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Rate:
    """k of n with its 95% Wilson interval (VIGILANCE.md §3)."""

    n: int
    k: int
    rate: float | None
    low: float
    high: float

    @classmethod
    def of(cls, iv: v.Interval, **extra: Any) -> Any:
        return cls(n=iv.n, k=iv.k, rate=iv.rate, low=iv.low, high=iv.high, **extra)


@dataclass(frozen=True)
class ShownRate(Rate):
    status: str  # §3 display rule: no_rate / provisional / rated
    label: str
    fit_to_judge: bool

    @classmethod
    def shown(cls, k: int, n: int, min_canaries: int) -> ShownRate:
        display = v.rate_display(k, n, min_canaries=min_canaries)
        return cls.of(display.interval, status=display.status, label=display.label(),
                      fit_to_judge=display.fit_to_judge)


@dataclass(frozen=True)
class WeekRate(Rate):
    week: date


@dataclass(frozen=True)
class BucketRate(Rate):
    bucket: str
    diagnosed: int


@dataclass(frozen=True)
class Trend:
    weeks: list[date]
    team: list[WeekRate]
    reviewers: dict[str, list[WeekRate]]


@dataclass(frozen=True)
class DashboardSettings:
    """The settings the pages quote beside the figures."""

    min_canaries: int
    target_catch_rate: float
    drift_baseline_canaries: int
    cusum_h: float
    reliability_target: float
    skip_rule: str


@dataclass(frozen=True)
class ScoreboardRow:
    reviewer: str
    reviewer_id: int
    role: str
    canaries: int
    caught: int
    diagnosed: int
    catch: ShownRate
    p_below_target: float | None  # §3 Jeffreys
    below_target: JsonView
    drift: JsonView  # §5 own baseline
    controls: int
    false_alarms: int
    false_alarm: ShownRate
    sdt: JsonView | None
    skips: JsonView  # §7
    adjusted_catch: JsonView | None
    reliability: JsonView
    decisions: int
    active_fallback: int  # §4: browser time missing or implausible
    median_active_s: float | None
    under_2s: int
    under_2s_share: float | None
    sessions: int
    median_session_min: float | None
    last_active: datetime | None
    automated: bool  # judges are scored like people and marked (VIGILANCE.md §8)


@dataclass(frozen=True)
class TeamSummary:
    catch: ShownRate
    false_alarm: ShownRate
    active_fallback: int
    decisions: int
    reliability_r_single: float | None
    reliability_from: int


@dataclass(frozen=True)
class InjectionPlan:
    schedule: str
    timezone: str
    next_run: datetime | None
    week_start: datetime
    pending: dict[str, int]


@dataclass(frozen=True)
class QueueHealth:
    backlog: list[JsonView]
    approval_wait: JsonView
    approvals_expired: int
    webhooks: JsonView | None
    attention: JsonView
    injection: InjectionPlan


@dataclass(frozen=True)
class Dashboard:
    """Everything /dashboard shows."""

    generated_at: datetime
    filters: JsonView
    settings: DashboardSettings
    team: TeamSummary
    scoreboard: list[ScoreboardRow]
    decay: JsonView
    difficulty: list[JsonView]
    expired_by_kind: dict[str, Rate]
    trend: Trend
    buckets: list[BucketRate]
    queue: QueueHealth

    def to_json(self) -> JsonView:
        return to_json(self)


@dataclass(frozen=True)
class ActiveHistogram:
    edges_s: list[float]
    counts: list[int]


@dataclass(frozen=True)
class ReviewerPage:
    """One reviewer's page: their row, curve, trend, missed canaries and time-on-task histogram."""

    generated_at: datetime
    filters: JsonView
    settings: DashboardSettings
    reviewer: ScoreboardRow
    decay: JsonView
    trend: Trend
    buckets: list[BucketRate]
    missed: list[JsonView]
    active_histogram: ActiveHistogram

    def to_json(self) -> JsonView:
        return to_json(self)
