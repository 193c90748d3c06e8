"""Standard Webhooks signing, the callback-URL guard, and writing outbox rows.

Rows are written inside the settling transaction and sent only after commit by
`reviewq.domain.webhook_delivery.deliver_due`, so a rolled-back decision sends nothing and a
crash after commit still sends (with the same webhook-id on every attempt).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

from reviewq.domain.errors import ValidationFailed
from reviewq.domain.wakeups import announce_delivery
from reviewq.models import DeliveryStatus, WebhookDelivery

EVENT_APPROVAL_DECIDED = "approval.decided"


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret, as the Standard Webhooks libraries decode it."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (Standard Webhooks)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_key_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": "reviewq-webhooks/1",
    }


def _host_key(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def allowed_target(url: str, allowed_hosts: tuple[str, ...]) -> tuple[str, int]:
    """(host, port) of a callback URL on the allow-list, or ValidationFailed naming callback_url.

    An entry is an exact host ("hooks.example.com", "10.0.0.5", "[::1]") or host:port. Loopback
    and private addresses pass only when listed, like every other host.
    """
    def refuse(why: str) -> ValidationFailed:
        return ValidationFailed(f"callback_url {why}", field="callback_url")

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refuse("is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise refuse("must be an http or https URL")
    host = (parts.hostname or "").lower()
    if not host:
        raise refuse("has no host")
    if parts.username is not None or parts.password is not None:
        raise refuse("must not carry credentials")
    if parts.fragment:
        raise refuse("must not have a fragment")
    port = port or (443 if parts.scheme == "https" else 80)
    allowed = {h.strip().lower() for h in allowed_hosts}
    key = _host_key(host)
    if key not in allowed and host not in allowed and f"{key}:{port}" not in allowed:
        raise refuse(f"host {host!r} is not in [webhooks] allowed_hosts")
    return host, port


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def is_public_address(address: str) -> bool:
    return ipaddress.ip_address(address.split("%", 1)[0]).is_global


def new_webhook_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def event_body(event_type: str, data: dict[str, Any], now: datetime) -> str:
    body = {"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def enqueue_delivery(
    *, session: Session, item_id: int, token_id: int, url: str, event_type: str, data: dict[str, Any],
    now: datetime,
) -> WebhookDelivery:
    """An outbox row, due now, in the caller's transaction."""
    delivery = WebhookDelivery(
        webhook_id=new_webhook_id(),
        item_id=item_id,
        token_id=token_id,
        url=url,
        event_type=event_type,
        body=event_body(event_type, data, now),
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    announce_delivery(session=session)
    return delivery
