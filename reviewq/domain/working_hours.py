"""A reviewer's usual working hours, learned from their decisions, and random times inside them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from reviewq.models import Decision

HISTORY_DAYS = 28
MIN_HISTORY = 5  # fewer decisions than this: assume office hours
HOURS_PER_WEEK = 168
# Spreading over the week: a day that already has a planted item keeps this share of its weight.
SAME_DAY_FACTOR = 0.15


def default_weights() -> list[float]:
    """Monday-Friday, 09:00-17:00."""
    return [1.0 if (h // 24) < 5 and 9 <= (h % 24) < 17 else 0.0 for h in range(HOURS_PER_WEEK)]


def weights_from_times(times: list[datetime], tz: ZoneInfo) -> list[float]:
    """An hour-of-week histogram (0 = Monday 00:00 local) of past activity."""
    if len(times) < MIN_HISTORY:
        return default_weights()
    counts = [0.0] * HOURS_PER_WEEK
    for t in times:
        local = t.astimezone(tz)
        counts[local.weekday() * 24 + local.hour] += 1
    return counts


def hour_weights(*, session: Session, reviewer_id: int, now: datetime, tz: ZoneInfo) -> list[float]:
    rows = session.exec(
        select(Decision.decided_at).where(
            Decision.reviewer_id == reviewer_id, Decision.decided_at >= now - timedelta(days=HISTORY_DAYS)
        )
    ).all()
    return weights_from_times(list(rows), tz)


def pick_times(
    *, weights: list[float], week_start: datetime, start: datetime, end: datetime, n: int, rng: random.Random
) -> list[datetime]:
    """n random instants in [start, end), inside weighted hours, spread over different days.

    `week_start` is Monday 00:00 local (tz-aware). Hours already past are skipped; if no weighted
    hour is left this week, any remaining hour will do.
    """
    tz = week_start.tzinfo
    slots = []
    for h in range(HOURS_PER_WEEK):
        local = datetime(week_start.year, week_start.month, week_start.day, tzinfo=tz) + timedelta(hours=h)
        # Wall-clock arithmetic, then back to an absolute instant (DST-safe enough for an hour slot).
        slot_start, slot_end = max(local, start), min(local + timedelta(hours=1), end)
        if slot_end > slot_start:
            slots.append((h, slot_start, slot_end))
    if not slots:
        return [start] * n
    live = [w for (h, _, _) in slots for w in [weights[h]]]
    if sum(live) <= 0:
        live = [1.0] * len(slots)
    day_used: dict[int, int] = {}
    out = []
    for _ in range(n):
        adjusted = [w * (SAME_DAY_FACTOR ** day_used.get(h // 24, 0)) for (h, _, _), w in zip(slots, live, strict=True)]
        if sum(adjusted) <= 0:
            adjusted = [1.0] * len(slots)
        h, s, e = rng.choices(slots, weights=adjusted, k=1)[0]
        day_used[h // 24] = day_used.get(h // 24, 0) + 1
        out.append(s + (e - s) * rng.random())
    return sorted(out)
