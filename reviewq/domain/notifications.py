"""Announcing approval requests, escalating the ones nobody picks up, and closing them out.

One rule for every approval item, planted or real (DESIGN.md "Canaries", stealth): an approval
is announced once it is due in the queue, escalates at the same shares of the same window
(due -> deadline), and its messages are updated when it settles. `scan` does all three; the
scheduler runs it every [notify] scan_interval_s. Deliveries are outbox rows written here, in
the scan's transaction, and sent after commit by reviewq.notify.sender.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain.approval_settlement import timeout_outcome
from reviewq.domain.availability import anyone_on_call
from reviewq.domain.wakeups import announce_delivery
from reviewq.lean_sql import Prebuilt, loaded
from reviewq.models import (
    OPEN_STATUSES,
    Approval,
    ApprovalWatch,
    Decision,
    DeliveryAction,
    DeliveryStatus,
    Item,
    ItemKind,
    ItemStatus,
    Notification,
    NotificationDelivery,
    NotificationStage,
    Outcome,
    User,
    UTCDateTime,
    Verdict,
    new_public_id,
)
from reviewq.notify.message import ApprovalFacts, approval_message, facts_from, item_link, settled_summary

SCAN_BATCH = 500


@dataclass
class ScanReport:
    announced: list[str] = field(default_factory=list)
    unstaffed: list[str] = field(default_factory=list)
    escalated: list[tuple[str, int]] = field(default_factory=list)  # (approval id, step)
    settled: list[tuple[str, str]] = field(default_factory=list)  # (approval id, status)


def route_channel(*, intent: str, category: str, settings: Settings) -> str:
    """[notify.routes]: the intent's channel, else the category's, else the default."""
    routes = settings.notify.routes
    return routes.get(intent) or routes.get(category) or settings.notify.default_channel


def escalation_times(window_start: datetime, deadline: datetime, shares: tuple[float, ...]) -> list[datetime]:
    """When each escalation step falls due: the same shares of every approval's window."""
    return [window_start + (deadline - window_start) * share for share in shares]


def public_url(settings: Settings) -> str:
    if settings.notify.public_url:
        return settings.notify.public_url
    host = settings.server.host if settings.server.host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{settings.server.port}"


def _tz(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.canaries.timezone)


def _facts(item: Item) -> ApprovalFacts:
    return facts_from(public_id=item.public_id, agent=item.agent, category=item.category, payload=item.payload,
                      deadline=item.deadline)


def _window_start(item: Item) -> datetime:
    """When the approval became due in the queue: its creation, or a planted item's due time."""
    return max(item.created_at, item.not_before) if item.not_before is not None else item.created_at


def enqueue_delivery(*, session: Session, notification: Notification, action: DeliveryAction, message: dict,
             now: datetime) -> None:
    enqueue_deliveries(session=session, rows=[delivery_row(notification=notification, action=action, message=message,
                                                           now=now)])


def delivery_row(*, notification: Notification, action: DeliveryAction, message: dict, now: datetime) -> dict:
    """A pending delivery of `message` to the notification's channel, as `enqueue_deliveries` writes it."""
    return {"notification_id": notification.id, "delivery_id": "ntd_" + secrets.token_urlsafe(18),
            "channel": notification.channel, "action": action, "body": json.dumps(message, ensure_ascii=False),
            "status": DeliveryStatus.PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now}


_INSERT_DELIVERY = sa.insert(NotificationDelivery.__table__)


def enqueue_deliveries(*, session: Session, rows: list[dict]) -> None:
    """Write deliveries in one statement. As ORM objects, each cost 0.2 ms to build (SQLModel's
    __init__) and its share of a flush: a quarter of the scan's CPU while a team settled approvals."""
    if not rows:
        return
    session.execute(_INSERT_DELIVERY, rows)
    announce_delivery(session=session)  # the outbox runs as soon as this commits


def _share(stage: NotificationStage, step: int, shares: tuple[float, ...]) -> float | None:
    return shares[step - 1] if stage == NotificationStage.ESCALATION and 0 < step <= len(shares) else None


def _post(*, session: Session, watch: ApprovalWatch, item: Item, channel: str, stage: NotificationStage, step: int,
          settings: Settings, now: datetime) -> Notification:
    notification = Notification(public_id=new_public_id("ntf"), watch_id=watch.id, channel=channel, stage=stage,
                                step=step, created_at=now)
    session.add(notification)
    session.flush()
    share = _share(stage, step, settings.notify.escalate_at)
    message = approval_message(
        notification_id=notification.public_id, facts=_facts(item), stage=stage.value, step=step,
        link=item_link(public_url(settings), item.public_id), now=now, tz=_tz(settings), share=share,
    )
    enqueue_delivery(session=session, notification=notification, action=DeliveryAction.POST, message=message, now=now)
    return notification


# The scan's three reads, built once: a scan runs every few seconds in chunks of SCAN_CHUNK, and
# building a statement each time cost CPU and left cyclic garbage for the collector (the
# statement's memoized attributes), 1,000 times over while 10,000 new approvals were announced.
# Each comes in three forms: what a scan handles (whole rows), which ids are due (`due_work`, read
# without the write lock: with 10,000 approvals open each read took 5-20 ms, and the scheduler
# ran all three for every chunk of 10, holding the lock every reviewer's decision waits for), and
# the same rows restricted to ids read that way, re-checked by primary key inside the write.
_SCAN_NOW = sa.bindparam("now", type_=UTCDateTime())
_SCAN_LIMIT = sa.bindparam("limit", type_=sa.Integer(), literal_execute=True)
_SCAN_IDS = sa.bindparam("ids", expanding=True)


def _newly_due(*columns):
    return select(*columns).where(
        Item.status.in_(OPEN_STATUSES), Item.kind == ItemKind.APPROVAL, Item.deadline > _SCAN_NOW,
        sa.or_(Item.not_before.is_(None), Item.not_before <= _SCAN_NOW),
        ~select(ApprovalWatch.id).where(ApprovalWatch.item_id == Item.id).exists())


def _escalations_due(*columns):
    return (
        select(*columns)
        .join(Item, Item.id == ApprovalWatch.item_id)
        .where(ApprovalWatch.settled_at.is_(None), ApprovalWatch.next_escalation_at <= _SCAN_NOW,
               Item.status.in_(OPEN_STATUSES))
    )


def _settled_watches(*columns):
    """Settled, or planted and past its deadline (a planted approval has no Approval record to expire)."""
    return (
        select(*columns)
        .join(Item, Item.id == ApprovalWatch.item_id)
        .where(ApprovalWatch.settled_at.is_(None), sa.or_(
            Item.status.not_in(OPEN_STATUSES),
            sa.and_(Item.status.in_(OPEN_STATUSES), Item.deadline <= _SCAN_NOW,
                    ~select(Approval.id).where(Approval.item_id == Item.id).exists())))
    )


def _three_forms(query, whole: tuple, key, order_by: tuple) -> tuple:
    """(whole rows, their ids, whole rows of given ids) of one scan read, in `order_by`, up to the limit."""
    def form(columns, restricted=False):
        built = query(*columns)
        if restricted:
            built = built.where(key.in_(_SCAN_IDS))
        return built.order_by(*order_by).limit(_SCAN_LIMIT)
    return form(whole), form((key,)), form(whole, restricted=True)


_NEWLY_DUE, _NEWLY_DUE_IDS, _NEWLY_DUE_OF = _three_forms(_newly_due, (Item,), Item.id, (Item.deadline, Item.id))
_ESCALATIONS_DUE, _ESCALATIONS_DUE_IDS, _ESCALATIONS_DUE_OF = _three_forms(
    _escalations_due, (ApprovalWatch, Item), ApprovalWatch.id, (ApprovalWatch.next_escalation_at, ApprovalWatch.id))
_SETTLED_WATCHES, _SETTLED_WATCHES_IDS, _SETTLED_WATCHES_OF = _three_forms(
    _settled_watches, (ApprovalWatch, Item), ApprovalWatch.id, (ApprovalWatch.id,))


@dataclass(frozen=True)
class DueWork:
    """What a scan would handle now: watches to close out, approvals to announce, watches to escalate."""

    settle: list[int]
    announce: list[int]
    escalate: list[int]

    def chunks(self, size: int) -> list[DueWork]:
        longest = max(len(self.settle), len(self.announce), len(self.escalate))
        return [DueWork(self.settle[i:i + size], self.announce[i:i + size], self.escalate[i:i + size])
                for i in range(0, longest, size)]


def due_work(*, session: Session, now: datetime, limit: int = SCAN_BATCH) -> DueWork:
    """The ids a scan would handle now, read only: the scheduler reads them outside the write lock,
    then scans them in short transactions (`scan(due=…)`), which re-check each by primary key."""
    params = {"now": now, "limit": limit}
    return DueWork(*(_ids(session, statement, params)
                     for statement in (_SETTLED_WATCHES_IDS, _NEWLY_DUE_IDS, _ESCALATIONS_DUE_IDS)))


def _ids(session: Session, statement, params: dict) -> list[int]:
    return list(session.connection().execute(statement, params).scalars())


def _rows(session: Session, everything, restricted, ids: list[int] | None, now: datetime, limit: int):
    if ids is None:
        return session.execute(everything, {"now": now, "limit": limit}).all()
    if not ids:
        return []
    return session.execute(restricted, {"now": now, "limit": len(ids), "ids": ids}).all()


def _announce_new(*, session: Session, settings: Settings, now: datetime, report: ScanReport, limit: int,
                  ids: list[int] | None = None) -> None:
    items = [item for (item,) in _rows(session, _NEWLY_DUE, _NEWLY_DUE_OF, ids, now, limit)]
    if not items:
        return
    staffed = anyone_on_call(session=session, now=now, gap_minutes=settings.vigilance.session_gap_minutes)
    escalate_to = settings.notify.escalation_channel
    for item in items:
        start = _window_start(item)
        times = escalation_times(start, item.deadline, settings.notify.escalate_at)
        watch = ApprovalWatch(
            item_id=item.id, intent=_facts(item).intent, window_start=start, deadline=item.deadline,
            announced_at=now, escalations=0, next_escalation_at=times[0] if times else None,
            escalated_unstaffed=not staffed and bool(escalate_to),
        )
        on_screen = item.status == ItemStatus.LEASED
        if on_screen:  # claimed before this scan saw it: followed, escalated if it lingers, not announced
            watch.first_opened_at, watch.first_opened_by = item.leased_at, item.lease_holder
            watch.escalated_unstaffed = False
        session.add(watch)
        session.flush()
        if on_screen:
            continue
        channel = route_channel(intent=watch.intent, category=item.category, settings=settings)
        _post(session=session, watch=watch, item=item, channel=channel, stage=NotificationStage.NEW, step=0,
              settings=settings, now=now)
        report.announced.append(item.public_id)
        if watch.escalated_unstaffed:
            _post(session=session, watch=watch, item=item, channel=escalate_to, stage=NotificationStage.UNSTAFFED,
                  step=0, settings=settings, now=now)
            report.unstaffed.append(item.public_id)


def _escalate(*, session: Session, settings: Settings, now: datetime, report: ScanReport, limit: int,
              ids: list[int] | None = None) -> None:
    escalate_to = settings.notify.escalation_channel
    rows = _rows(session, _ESCALATIONS_DUE, _ESCALATIONS_DUE_OF, ids, now, limit)
    shares = settings.notify.escalate_at
    for watch, item in rows:
        times = escalation_times(watch.window_start, watch.deadline, shares)
        passed = [i for i, t in enumerate(times) if t <= now and i >= watch.escalations]
        if passed:  # a late scan sends the latest step due, not every missed one
            step = max(passed) + 1
            if escalate_to and item.deadline > now:
                _post(session=session, watch=watch, item=item, channel=escalate_to,
                      stage=NotificationStage.ESCALATION, step=step, settings=settings, now=now)
                report.escalated.append((item.public_id, step))
            watch.escalations = step
        watch.next_escalation_at = times[watch.escalations] if watch.escalations < len(times) else None
        session.add(watch)


# Built once and run off the bare cursor (lean_sql.py): the scan settles every decided approval
# through these, holding the write lock; the notifications are only read (snapshots).
_DECIDERS = Prebuilt(
    select(User.name, Decision.reason).join(User, User.id == Decision.reviewer_id)
    .where(Decision.item_id == sa.bindparam("item_id"), Decision.verdict == sa.bindparam("verdict"))
    .order_by(Decision.decided_at, Decision.id)
)
_NOTIFICATIONS_OF_WATCH = Prebuilt(
    select(*Notification.__table__.columns).where(Notification.watch_id == sa.bindparam("watch_id"))
    .order_by(Notification.id)
)


def settled_state(*, session: Session, item: Item, now: datetime, settings: Settings,
                  planted_past_deadline: bool = False) -> tuple[str, str]:
    """(status, "approved by ada at 10:42 UTC") of a settled approval item."""
    tz = _tz(settings)
    if planted_past_deadline:  # no expiry job settles it, so its deadline does, as for any approval
        outcome = timeout_outcome(_facts(item).intent, settings).value
        return "expired", settled_summary(status="expired", deciders=[], at=now, tz=tz, outcome=outcome)
    status = ItemStatus(item.status)
    at = item.decided_at or now
    if status == ItemStatus.DECIDED:
        wanted = Verdict.APPROVE if item.outcome == Outcome.APPROVE else Verdict.REJECT
        rows = _DECIDERS.run(session, {"item_id": item.id, "verdict": wanted}).all()
        names = list(dict.fromkeys(name for name, _ in rows))
        status_text = "approved" if wanted == Verdict.APPROVE else "denied"
        reason = rows[-1][1] if rows and wanted == Verdict.REJECT else None
        reason = getattr(reason, "value", reason)
        return status_text, settled_summary(status=status_text, deciders=names, at=at, tz=tz, reason=reason)
    outcome = item.outcome.value if item.outcome else None
    return status.value, settled_summary(status=status.value, deciders=[], at=at, tz=tz, outcome=outcome)


def _settle(*, session: Session, settings: Settings, now: datetime, report: ScanReport, limit: int,
            ids: list[int] | None = None) -> None:
    rows = _rows(session, _SETTLED_WATCHES, _SETTLED_WATCHES_OF, ids, now, limit)
    tz, link_base = _tz(settings), public_url(settings)
    # Its reads (deciders, a watch's notifications) never see what it adds, so nothing is flushed
    # before each: the chunk's updates and deliveries go out in one flush, not one per approval.
    with session.no_autoflush:
        _settle_rows(session=session, rows=rows, settings=settings, now=now, tz=tz, link_base=link_base,
                     report=report)


def _settle_rows(*, session: Session, rows, settings: Settings, now: datetime, tz: ZoneInfo, link_base: str,
                 report: ScanReport) -> None:
    deliveries = []
    for watch, item in rows:
        late = item.status in OPEN_STATUSES
        status, summary = settled_state(session=session, item=item, now=now, settings=settings,
                                        planted_past_deadline=late)
        watch.settled_at, watch.settled_status, watch.settled_summary = now, status, summary[:300]
        watch.next_escalation_at = None
        session.add(watch)
        notifications = [loaded(session, Notification, row)
                         for row in _NOTIFICATIONS_OF_WATCH.run(session, {"watch_id": watch.id})]
        for n in notifications:
            share = _share(n.stage, n.step, settings.notify.escalate_at)
            message = approval_message(
                notification_id=n.public_id, facts=_facts(item), stage=n.stage.value, step=n.step,
                link=item_link(link_base, item.public_id), now=now, tz=tz, share=share, settled=summary,
                settled_status=status,
            )
            deliveries.append(delivery_row(notification=n, action=DeliveryAction.UPDATE, message=message, now=now))
        report.settled.append((item.public_id, status))
    enqueue_deliveries(session=session, rows=deliveries)


def scan(*, session: Session, settings: Settings, now: datetime, limit: int = SCAN_BATCH,
         due: DueWork | None = None) -> ScanReport:
    """Close out settled approvals, announce newly due ones, then escalate what is still pending.

    `due`: only these (from `due_work`), each checked again here; else the first `limit` of each.
    """
    report = ScanReport()
    if not settings.notify.enabled:
        return report
    for part, ids in ((_settle, due and due.settle), (_announce_new, due and due.announce),
                      (_escalate, due and due.escalate)):
        part(session=session, settings=settings, now=now, report=report, limit=limit, ids=ids)
    session.flush()
    return report


_WATCHES = ApprovalWatch.__table__
# Every approval claimed runs this: a Core statement on the bare cursor (lean_sql.py).
_MARK_OPENED = Prebuilt(
    sa.update(_WATCHES)
    .where(_WATCHES.c.item_id == sa.bindparam("opened_item"), _WATCHES.c.first_opened_at.is_(None))
    .values(first_opened_at=sa.bindparam("opened_at", type_=UTCDateTime()),
            first_opened_by=sa.bindparam("opened_by"))
)


def note_opened(*, session: Session, item: Item | None, reviewer_id: int, now: datetime) -> None:
    """A reviewer has an approval on screen: the first time counts for queue health."""
    if item is None or item.kind != ItemKind.APPROVAL:
        return
    _MARK_OPENED.run(session, {"opened_item": item.id, "opened_at": now, "opened_by": reviewer_id})
