"""Helpers for notification tests: [notify] settings, scans at a controlled clock, the outbox rows."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlmodel import select

from reviewq.db import Database
from reviewq.domain.approvals import request_approval
from reviewq.domain.availability import set_availability
from reviewq.domain.notifications import ScanReport, scan
from reviewq.models import Availability, Notification, NotificationDelivery
from reviewq.models.approvals import ApprovalCreate


def notify_settings(settings, channels: dict | None = None, **notify):
    """Settings with named log channels (no path: the server log) unless `channels` says otherwise."""
    channels = channels or {name: {"type": "log"} for name in ("log", "billing", "ops", "leads")}
    values = {"channels": channels, "default_channel": "log", "escalation_channel": "leads", **notify}
    if values["escalation_channel"] not in channels:
        values["escalation_channel"] = values["default_channel"]
    return settings.replace(notify=values)


def run_scan(database: Database, settings, now: datetime) -> ScanReport:
    with database.session_scope() as s:
        return scan(session=s, settings=settings, now=now)


def rows(database: Database) -> list[tuple[Notification, NotificationDelivery, dict]]:
    """Every delivery with its notification and decoded message, oldest first."""
    with database.session() as s:
        found = s.exec(
            select(Notification, NotificationDelivery)
            .join(NotificationDelivery, NotificationDelivery.notification_id == Notification.id)
            .order_by(NotificationDelivery.id)
        ).all()
        return [(n, d, json.loads(d.body)) for n, d in found]


def ask_approval(database, token, settings, now, **overrides) -> str:
    body = {"trace_id": str(uuid.uuid4()), "actor": "jane@example.com", "intent": "refund",
            "tool_call": {"name": "issue_refund", "args": {"order_id": "A-1001", "amount_usd": 42}},
            "timeout_s": 600}
    body.update(overrides)
    with database.session_scope() as s:
        return request_approval(session=s, token=token.token, data=ApprovalCreate(**body), idempotency_key=None,
                                settings=settings, now=now).item.public_id


def on_call(database, user, now, status=Availability.AVAILABLE) -> None:
    with database.session_scope() as s:
        set_availability(session=s, user_id=user.id, status=status, now=now)
