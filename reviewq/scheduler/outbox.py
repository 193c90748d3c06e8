"""The webhook outbox: send due rows after commit, outside any transaction, with retries.

Each run claims due rows by pushing their next attempt past the attempt's timeout (a lease),
commits, sends, then records the result in a second short transaction. A crash in between
leaves the row due again after the lease, to be resent with the same webhook-id.
"""

from __future__ import annotations

import hashlib
import http.client
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import select

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.domain.errors import ValidationFailed
from reviewq.domain.webhooks import allowed_target, is_ip_literal, is_public_address
from reviewq.models import ApiToken, DeliveryStatus, WebhookDelivery, WebhookEndpoint

# Standard Webhooks' suggested schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2  # each delay is stretched by up to 20%, so failed endpoints are not hit in lockstep
MAX_RETRY_AFTER_S = 86400
CLAIM_BATCH = 100
RESPONSE_READ_LIMIT = 64 * 1024


@dataclass(frozen=True)
class HttpResult:
    status: int | None
    retry_after: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Claimed:
    id: int
    webhook_id: str
    url: str
    body: bytes
    secret: str
    attempts: int
    disabled: bool


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    disabled: int = 0


def retry_delay(attempts: int, rng: random.Random) -> float:
    """Seconds before the next attempt after `attempts` failures, with jitter."""
    base = RETRY_SCHEDULE_S[min(attempts - 1, len(RETRY_SCHEDULE_S) - 1)]
    return base * (1 + JITTER * rng.random())


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(seconds, 1.0), MAX_RETRY_AFTER_S)


def retry_at(*, attempts: int, status: int | None, retry_after: str | None, now: datetime,
             rng: random.Random) -> datetime:
    """When to try again after `attempts` failures: the schedule with jitter, or what a 429 or 503
    asked for in Retry-After. Webhooks and notifications retry alike."""
    delay = retry_delay(attempts, rng)
    if status in (429, 503):
        delay = parse_retry_after(retry_after, now) or delay
    return now + timedelta(seconds=delay)


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def http_post(
    url: str, headers: dict[str, str], body: bytes, timeout: float, allowed_hosts: tuple[str, ...]
) -> HttpResult:
    """One POST with the stdlib: no redirects are followed (a 3xx is a failed attempt)."""
    try:
        host, port = allowed_target(url, allowed_hosts)
    except ValidationFailed as exc:
        return HttpResult(None, error=exc.message)
    parts = urlsplit(url)
    try:
        if not is_ip_literal(host) and host != "localhost":
            # A listed name must not resolve into loopback/private ranges (DNS rebinding).
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
            if any(not is_public_address(info[4][0]) for info in infos):
                return HttpResult(None, error=f"{host} resolves to a non-public address")
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(host, port, timeout=timeout)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read(RESPONSE_READ_LIMIT)
            return HttpResult(response.status, retry_after=response.getheader("Retry-After"))
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as exc:
        return HttpResult(None, error=f"{type(exc).__name__}: {exc}"[:300])


def _claim(database: Database, now: datetime, lease: timedelta, limit: int, *,
           exclude_ids: set[int] = frozenset(), exclude_urls: set[str] = frozenset(),
           pick: Callable[[list[WebhookDelivery]], list[WebhookDelivery]] | None = None) -> list[_Claimed]:
    """Lease due rows: the oldest `limit`, less those excluded, narrowed by `pick` (endpoint slots)."""
    with database.session_scope() as session:
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
        if exclude_ids:
            query = query.where(WebhookDelivery.id.not_in(exclude_ids))
        if exclude_urls:
            query = query.where(WebhookDelivery.url.not_in(exclude_urls))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.exec(query))
        if pick is not None:
            rows = pick(rows)
        if not rows:
            return []
        token_ids = {r.token_id for r in rows}
        secret_rows = session.exec(
            select(ApiToken.id, ApiToken.webhook_secret).where(ApiToken.id.in_(token_ids))
        ).all()
        secrets = dict(secret_rows)
        disabled = {
            (t, h)
            for t, h in session.exec(
                select(WebhookEndpoint.token_id, WebhookEndpoint.url_hash)
                .where(WebhookEndpoint.token_id.in_(token_ids))
            ).all()
        }
        claimed = []
        for row in rows:
            row.next_attempt_at = now + lease
            session.add(row)
            claimed.append(
                _Claimed(row.id, row.webhook_id, row.url, row.body.encode(), secrets[row.token_id], row.attempts,
                         (row.token_id, url_hash(row.url)) in disabled)
            )
        return claimed


def _record(database: Database, claimed: _Claimed, result: HttpResult, settings: Settings, now: datetime,
            rng: random.Random, report: DeliveryReport) -> None:
    with database.session_scope() as session:
        row = session.get(WebhookDelivery, claimed.id)
        if row is None or row.status != DeliveryStatus.PENDING:
            return
        if claimed.disabled:
            row.status, row.next_attempt_at, row.last_error = DeliveryStatus.DISABLED, None, "endpoint disabled (410)"
            report.disabled += 1
            session.add(row)
            return
        row.attempts += 1
        row.last_attempt_at = now
        row.last_status_code = result.status
        row.last_error = result.error
        status = result.status
        if status is not None and 200 <= status < 300:
            row.status, row.delivered_at, row.next_attempt_at = DeliveryStatus.DELIVERED, now, None
            report.delivered += 1
        elif status == 410:
            row.status, row.next_attempt_at = DeliveryStatus.DISABLED, None
            _disable_endpoint(session, row, now)
            report.disabled += 1
        elif row.attempts >= settings.webhooks.max_attempts:
            row.status, row.next_attempt_at = DeliveryStatus.FAILED, None
            report.failed += 1
        else:
            row.next_attempt_at = retry_at(attempts=row.attempts, status=status, retry_after=result.retry_after,
                                           now=now, rng=rng)
            report.retrying += 1
        session.add(row)


def _disable_endpoint(session, row: WebhookDelivery, now: datetime) -> None:
    digest = url_hash(row.url)
    exists = session.exec(
        select(WebhookEndpoint.id).where(WebhookEndpoint.token_id == row.token_id, WebhookEndpoint.url_hash == digest)
    ).first()
    if exists is None:
        session.add(WebhookEndpoint(token_id=row.token_id, url=row.url, url_hash=digest, disabled_at=now,
                                    reason="410 Gone"))
    session.execute(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.token_id == row.token_id, WebhookDelivery.url == row.url,
               WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.id != row.id)
        .values(status=DeliveryStatus.DISABLED, next_attempt_at=None, last_error="endpoint disabled (410)")
        .execution_options(synchronize_session=False)
    )


def deliver_due(database: Database, settings: Settings, now: datetime, *, rng: random.Random | None = None,
                send=http_post, limit: int = CLAIM_BATCH) -> DeliveryReport:
    """Send every outbox row due at `now` once and wait for the results; `now` also stamps them.

    Sends run concurrently within [webhooks] concurrency and per_endpoint_concurrency. The
    scheduler does not wait like this: it keeps one OutboxDispatcher running (api_jobs).
    """
    from reviewq.scheduler.outbox_dispatch import OutboxDispatcher

    dispatcher = OutboxDispatcher(database, settings, clock=lambda: now, send=send, rng=rng, claim_batch=limit)
    try:
        # Bounded: each due row is claimed at most once (its lease or its next attempt is after `now`).
        while dispatcher.run(now) or dispatcher.in_flight():
            dispatcher.wait_one(timeout=1.0)
    finally:
        dispatcher.shutdown()
    return dispatcher.report
