"""Queue health: backlog, approval waits, expired approvals, webhook failures, next injection."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.config import Settings
from reviewq.models import Injection, Item, ItemKind, ItemStatus
from reviewq.models.rollups import WAIT_COLUMNS, WAIT_EDGES_S, ApprovalWaitRollup
from reviewq.stats.filters import Filters
from reviewq.stats.histogram import quantile_from_histogram

try:  # the webhook outbox arrives with the agent API; until then the figure is left out
    from reviewq.models.webhooks import DeliveryStatus, WebhookDelivery
except ImportError:  # pragma: no cover - depends on which capabilities are installed
    WebhookDelivery = None


def backlog(*, session: Session, now: datetime, filters: Filters) -> list[dict]:
    """Open items (queued or leased) by kind, with the oldest one's age in seconds."""
    query = sa.select(Item.kind, sa.func.count(), sa.func.min(Item.created_at)).where(
        Item.status.in_([ItemStatus.QUEUED, ItemStatus.LEASED])
    )
    if filters.category:
        query = query.where(Item.category == filters.category)
    rows = {ItemKind(kind): (int(n), oldest) for kind, n, oldest in session.execute(query.group_by(Item.kind))}
    out = []
    for kind in ItemKind:
        n, oldest = rows.get(kind, (0, None))
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
        out.append({"kind": kind.value, "open": n, "oldest_age_s": age})
    return out


def approval_waits(*, session: Session, filters: Filters) -> dict:
    """p50 and p95 of created-to-decided wait of settled approvals, from the wait histogram."""
    r = ApprovalWaitRollup.__table__.c
    query = sa.select(sa.func.sum(r.settled), *[sa.func.sum(r[c]) for c in WAIT_COLUMNS]).where(
        r.day >= filters.start, r.day <= filters.end
    )
    if filters.category:
        query = query.where(r.category == filters.category)
    settled, *hist = session.execute(query).one()
    hist = [int(h or 0) for h in hist]
    return {
        "settled": int(settled or 0),
        "p50_s": quantile_from_histogram(hist, WAIT_EDGES_S, 0.50),
        "p95_s": quantile_from_histogram(hist, WAIT_EDGES_S, 0.95),
    }


def approvals_expired(*, session: Session, filters: Filters) -> int:
    """Approvals that ran out of time (denied by the safe default), planted ones excluded."""
    query = sa.select(sa.func.count()).where(
        Item.status == ItemStatus.EXPIRED,
        Item.kind == ItemKind.APPROVAL,
        Item.updated_at >= filters.since,
        Item.updated_at < filters.until,
        ~sa.select(Injection.id).where(Injection.item_id == Item.id).exists(),
    )
    if filters.category:
        query = query.where(Item.category == filters.category)
    return int(session.execute(query).scalar_one())


def webhook_failures(*, session: Session, filters: Filters) -> dict | None:
    """Deliveries given up (failed, or the endpoint answered 410) and ones still retrying."""
    if WebhookDelivery is None:
        return None
    w = WebhookDelivery
    failed = session.execute(
        sa.select(sa.func.count()).where(
            w.status.in_([DeliveryStatus.FAILED, DeliveryStatus.DISABLED]),
            w.created_at >= filters.since,
            w.created_at < filters.until,
        )
    ).scalar_one()
    retrying = session.execute(
        sa.select(sa.func.count()).where(w.status == DeliveryStatus.PENDING, w.attempts > 0)
    ).scalar_one()
    return {"failed": int(failed), "retrying": int(retrying)}


def next_injection_run(*, settings: Settings, now: datetime) -> datetime | None:
    """When the [canaries] schedule fires next (APScheduler's own reading of the cron)."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(settings.canaries.schedule, timezone=ZoneInfo(settings.canaries.timezone))
    return trigger.get_next_fire_time(None, now)


def current_week_start(*, settings: Settings, now: datetime) -> datetime:
    """Monday 00:00 of this week in the canary time zone (how injections mark their week)."""
    local = now.astimezone(ZoneInfo(settings.canaries.timezone))
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday
