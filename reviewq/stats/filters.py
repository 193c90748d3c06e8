"""The dashboard's filters: a UTC date range, a team (by role) or all, and an item category."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from reviewq.domain.errors import ValidationFailed
from reviewq.models import Role

DEFAULT_DAYS = 28
# Users have no team field; a "team" is the set of users holding one role.
TEAMS = tuple(r.value for r in Role)


@dataclass(frozen=True)
class Filters:
    start: date  # first UTC day, inclusive
    end: date  # last UTC day, inclusive
    team: str | None = None  # a Role value, or None for everyone
    category: str | None = None

    @classmethod
    def default(cls, now: datetime, days: int = DEFAULT_DAYS) -> Filters:
        today = now.astimezone(UTC).date()
        return cls(start=today - timedelta(days=days - 1), end=today)

    @classmethod
    def from_args(cls, args: Mapping[str, str], *, now: datetime) -> Filters:
        """Parse ?from=YYYY-MM-DD&to=YYYY-MM-DD&team=ROLE&category=NAME; blanks mean the default."""
        base = cls.default(now)
        start = _parse_day(args.get("from"), "from") or base.start
        end = _parse_day(args.get("to"), "to") or base.end
        if end < start:
            raise ValidationFailed("'to' is before 'from'", field="to")
        if end - start > timedelta(days=3660):
            raise ValidationFailed("the date range is longer than ten years", field="from")
        team = (args.get("team") or "").strip() or None
        if team is not None and team not in TEAMS:
            raise ValidationFailed(f"team must be one of {', '.join(TEAMS)} or empty", field="team")
        category = (args.get("category") or "").strip() or None
        if category is not None and len(category) > 64:
            raise ValidationFailed("category is too long", field="category")
        return cls(start=start, end=end, team=team, category=category)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """Exclusive upper bound: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=UTC)

    def as_args(self) -> dict[str, str]:
        out = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.team:
            out["team"] = self.team
        if self.category:
            out["category"] = self.category
        return out


def _parse_day(text: str | None, field: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{field} must be a date like 2026-11-02", field=field) from None
