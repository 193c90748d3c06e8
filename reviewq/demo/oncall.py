"""The demo's on-call desk: simulated reviewers mark themselves available in their working hours
and answer escalated approvals, through the real notification, expiry and open-item code.

The simulation calls `advance(until=...)` before each event it plays, so every scan, expiry and
answer happens at its own simulated time, in order with the reviewers' sittings. Notifications
go to the demo's local log channel (nothing leaves the machine).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.demo.profiles import ReviewerProfile, dwell_sample
from reviewq.domain.approvals import expire_due
from reviewq.domain.availability import set_availability
from reviewq.domain.decide import decide
from reviewq.domain.errors import DeadlinePassed, DomainError
from reviewq.domain.notifications import scan
from reviewq.domain.open_item import open_item
from reviewq.models import ApprovalWatch, Availability, DecisionCreate, Item, ReasonBucket, User, Verdict

# Production scans every [notify] scan_interval_s. The demo scans when something is due instead:
# an arrival (a minute later), the next escalation, the next deadline, and every SWEEP while
# anything is pending (so decided approvals' messages are updated within it).
ANNOUNCE_AFTER = timedelta(minutes=1)
SWEEP = timedelta(minutes=10)
WORKDAY_HOURS = 8
ANSWER_PROBABILITY = 0.85  # an on-call reviewer picks up an escalation this often
ANSWER_MINUTES = (3.0, 20.0)  # ... after this long
SITTING_MARGIN = timedelta(minutes=2)

# (session, reviewer name, item, when) -> the verdict the simulation's ground truth gives
VerdictFor = Callable[[Session, str, Item, datetime], tuple[Verdict, ReasonBucket | None]]


@dataclass(order=True)
class _Answer:
    at: datetime
    public_id: str = field(compare=False)
    name: str = field(compare=False)


@dataclass
class OnCallDesk:
    settings: Settings
    reviewers: dict[str, User]
    profiles: dict[str, ReviewerProfile]
    rng: random.Random
    verdict_for: VerdictFor
    answer_escalations: bool = True
    stats: dict = field(default_factory=lambda: {"escalations": 0, "answered": 0, "announced": 0})
    _next_tick: datetime | None = None
    _answers: list[_Answer] = field(default_factory=list)
    _sittings: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    _marked: dict[str, Availability] = field(default_factory=dict)

    def begin_day(self, sittings: dict[str, list[tuple[datetime, datetime]]]) -> None:
        self._sittings = sittings

    def arrival(self, at: datetime) -> None:
        """An approval arrives: scans resume from the next tick after it."""
        tick = at + ANNOUNCE_AFTER
        if self._next_tick is None or tick < self._next_tick:
            self._next_tick = tick

    def working(self, name: str, at: datetime) -> bool:
        p = self.profiles[name]
        return at.weekday() in p.days and p.start_hour <= at.hour < p.start_hour + WORKDAY_HOURS

    def _in_sitting(self, name: str, at: datetime) -> bool:
        return any(s - SITTING_MARGIN <= at <= e + SITTING_MARGIN for s, e in self._sittings.get(name, ()))

    def advance(self, session: Session, until: datetime) -> None:
        """Play every scan and answer due up to `until`, in time order."""
        while True:
            tick = self._next_tick if self._next_tick is not None and self._next_tick <= until else None
            answer = self._answers[0] if self._answers and self._answers[0].at <= until else None
            if tick is None and answer is None:
                return
            if answer is not None and (tick is None or answer.at <= tick):
                heapq.heappop(self._answers)
                self._answer(session, answer)
            else:
                self._tick(session, tick)

    def _mark_availability(self, session: Session, at: datetime) -> None:
        for name, user in self.reviewers.items():
            status = Availability.AVAILABLE if self.working(name, at) else Availability.AWAY
            if self._marked.get(name) != status:
                set_availability(session=session, user_id=user.id, status=status, now=at)
                self._marked[name] = status

    def _tick(self, session: Session, at: datetime) -> None:
        self._mark_availability(session, at)
        expire_due(session=session, now=at, settings=self.settings)  # the expiry job, every few seconds live
        report = scan(session=session, settings=self.settings, now=at)
        self.stats["announced"] += len(report.announced)
        for public_id in [*report.unstaffed, *(pid for pid, _ in report.escalated)]:
            self.stats["escalations"] += 1
            self._maybe_answer(public_id, at)
        pending, escalation, deadline = session.execute(
            select(sa.func.count(), sa.func.min(ApprovalWatch.next_escalation_at), sa.func.min(ApprovalWatch.deadline))
            .where(ApprovalWatch.settled_at.is_(None))
        ).one()
        due = [t for t in (escalation, deadline) if t is not None and t > at]
        self._next_tick = min([at + SWEEP, *due]) if pending else None

    def _maybe_answer(self, public_id: str, at: datetime) -> None:
        if not self.answer_escalations or self.rng.random() >= ANSWER_PROBABILITY:
            return
        when = at + timedelta(minutes=self.rng.uniform(*ANSWER_MINUTES))
        free = [n for n in self.reviewers if self.working(n, when) and not self._in_sitting(n, when)]
        if free:
            heapq.heappush(self._answers, _Answer(when, public_id, self.rng.choice(sorted(free))))

    def _answer(self, session: Session, answer: _Answer) -> None:
        """The reviewer follows the escalation's link, logs in, and decides the approval."""
        reviewer = self.reviewers[answer.name]
        try:
            item = open_item(session=session, public_id=answer.public_id, reviewer=reviewer, now=answer.at,
                             settings=self.settings)
        except DomainError:
            return  # decided, expired or taken meanwhile: the link says so and nothing is done
        verdict, reason = self.verdict_for(session, answer.name, item, answer.at)
        active_s = dwell_sample(self.profiles[answer.name], self.rng)
        try:
            decide(session=session, public_id=item.public_id, reviewer=reviewer,
                   data=DecisionCreate(verdict=verdict, reason=reason, active_ms=int(active_s * 1000)),
                   now=answer.at + timedelta(seconds=active_s + self.rng.uniform(0.3, 2.5)), settings=self.settings)
        except DeadlinePassed:
            return  # too slow for the deadline: it expired (fail closed), as on the real page
        self.stats["answered"] += 1


def demo_notify_settings(log_path: str) -> dict:
    """[notify] for the demo: two local log channels in one file, so nothing leaves the machine."""
    return {
        "enabled": True, "default_channel": "reviewers", "escalation_channel": "leads", "routes": {},
        "channels": {"reviewers": {"type": "log", "path": log_path}, "leads": {"type": "log", "path": log_path}},
        "digest_channel": "leads",
    }


def summary_lines(*, session: Session, settings: Settings, now: datetime, stats: dict, log_path: str) -> list[str]:
    """What `reviewq demo` prints about notifications: where they go, and what escalation saved."""
    from reviewq.stats.approval_attention import approval_attention
    from reviewq.stats.filters import Filters

    total = approval_attention(session=session, filters=Filters.default(now, days=40))["total"]
    shares = " and ".join(f"{round(s * 100)}%" for s in settings.notify.escalate_at)
    share = f"{total['expired_share'] * 100:.0f}%" if total["expired_share"] is not None else "–"
    return [
        f"  Notifications go to the local log channel (nothing leaves this machine): {log_path}",
        "    new approvals -> [reviewers]; escalations at " + shares + " of the timeout, and at once when",
        "    nobody is on call -> [leads]; the weekly digest -> [leads]. Configure real channels in [notify].",
        f"  Approvals in the history: {total['requested']} requested, {total['expired']} expired ({share}, "
        f"{total['expired_unread']} never opened);",
        f"    on-call reviewers answered {stats.get('answered', 0)} of {stats.get('escalations', 0)} escalations.",
    ]
