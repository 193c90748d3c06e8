"""Webhooks: Standard Webhooks signatures checked by the independent package, outbox retries, SSRF guard."""

from __future__ import annotations

import json
import random
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from reviewq.client import WebhookVerificationError, verify_webhook
from reviewq.domain.approvals import cancel_approval, expire_due
from reviewq.domain.errors import ValidationFailed
from reviewq.domain.webhooks import allowed_target, sign
from reviewq.models import DeliveryStatus, Verdict, WebhookDelivery, utcnow
from reviewq.scheduler import outbox
from reviewq.scheduler.outbox import deliver_due, retry_delay
from tests.support.api import WebhookReceiver, add_reviewer, ask, decide_next, hook_settings, issue_token
from tests.support.live_server import free_port


def deliveries(database):
    with database.session() as s:
        return s.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def test_signature_matches_the_standardwebhooks_package():
    """Our v1 signature is what the standardwebhooks package computes and verifies."""
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"type":"approval.decided"}'
    now = int(utcnow().timestamp())
    signature = sign(secret, "msg_1", now, body)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": signature}
    assert Webhook(secret).verify(body, headers) == {"type": "approval.decided"}
    assert verify_webhook(secret, headers, body) == {"type": "approval.decided"}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body + b" ")


def test_decision_is_delivered_signed_to_a_real_receiver(database, settings, receiver, now):
    """After the commit, the outbox sends approval.decided, verified by standardwebhooks, with the decision."""
    settings = hook_settings(settings, receiver.allowed)
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, receiver.url, now)
    assert deliveries(database) == []  # nothing before the decision
    rita = add_reviewer(database, "rita", now=now)
    decide_next(database, rita, Verdict.APPROVE, settings=settings, now=now)
    report = deliver_due(database, settings, utcnow())
    assert report.delivered == 1
    got = receiver.wait_for(1)[0]
    event = Webhook(token.webhook_secret).verify(got.body, got.headers)
    assert event["type"] == "approval.decided"
    assert event["data"]["id"] == approval_id and event["data"]["status"] == "approved"
    assert deliveries(database)[0].status == DeliveryStatus.DELIVERED
    assert deliver_due(database, settings, utcnow()).delivered == 0  # sent once


def signed_by(secret: str, received) -> dict:
    """Check a receipt with standardwebhooks' own signer, at the timestamp it carries."""
    stamp = datetime.fromtimestamp(int(received.headers["webhook-timestamp"]), tz=UTC)
    expected = Webhook(secret).sign(received.headers["webhook-id"], stamp, received.body.decode())
    assert expected in received.headers["webhook-signature"].split()
    return json.loads(received.body)


def test_receiver_down_then_back_gets_one_event_with_one_webhook_id(database, settings, now):
    """Refused, then a 500, then a 2xx: every attempt carries the same webhook-id and one event lands."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    settings = hook_settings(settings, f"127.0.0.1:{port}")
    token = issue_token(database, now=now)
    ask(database, token, settings, url, now)
    with database.session_scope() as s:
        expire_due(session=s, now=now + timedelta(hours=1), settings=settings)
    start = utcnow()
    assert deliver_due(database, settings, start).retrying == 1  # nobody listening
    row = deliveries(database)[0]
    assert row.attempts == 1 and row.next_attempt_at > start and row.last_status_code is None
    receiver = WebhookReceiver(respond=lambda n: 500 if n == 0 else 204).start(port)  # back, same port
    try:
        assert deliver_due(database, settings, start + timedelta(seconds=2)).retrying == 0  # not due yet
        assert deliver_due(database, settings, start + timedelta(seconds=7)).retrying == 1  # the 500
        assert deliver_due(database, settings, start + timedelta(seconds=400)).delivered == 1
        assert deliver_due(database, settings, start + timedelta(days=2)).delivered == 0
        got = receiver.wait_for(2)
        assert len(got) == 2 and {g.headers["webhook-id"] for g in got} == {row.webhook_id}
        events = [signed_by(token.webhook_secret, g) for g in got]
        assert events[0] == events[1]
        assert [g.status for g in got] == [500, 204]
        assert deliveries(database)[0].status == DeliveryStatus.DELIVERED
    finally:
        receiver.stop()


def test_expiry_and_cancel_send_their_webhooks(database, settings, receiver, now):
    """A timeout sends the deny, a cancel sends the cancellation, each through the outbox."""
    settings = hook_settings(settings, receiver.allowed)
    token = issue_token(database, now=now)
    late = ask(database, token, settings, receiver.url, now)
    withdrawn = ask(database, token, settings, receiver.url, now)
    with database.session_scope() as s:
        cancel_approval(session=s, token=token.token, public_id=withdrawn, now=now)
    with database.session_scope() as s:
        expire_due(session=s, now=now + timedelta(seconds=61), settings=settings)
    assert deliver_due(database, settings, utcnow()).delivered == 2
    events = {e["data"]["id"]: e["data"] for e in
              (Webhook(token.webhook_secret).verify(g.body, g.headers) for g in receiver.wait_for(2))}
    assert (events[late]["status"], events[late]["outcome"]) == ("expired", "deny")
    assert (events[withdrawn]["status"], events[withdrawn]["outcome"]) == ("cancelled", None)


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_is_honoured(database, settings, now, code):
    """On 429/503 the next attempt waits the receiver's Retry-After (7 s here), not the schedule."""
    receiver = WebhookReceiver(respond=lambda n: code).start()
    try:
        settings = hook_settings(settings, receiver.allowed)
        token = issue_token(database, now=now)
        ask(database, token, settings, receiver.url, now)
        with database.session_scope() as s:
            expire_due(session=s, now=now + timedelta(hours=1), settings=settings)
        at = utcnow()
        deliver_due(database, settings, at)
        row = deliveries(database)[0]
        assert row.last_status_code == code and row.next_attempt_at == at + timedelta(seconds=7)
    finally:
        receiver.stop()


def test_410_disables_the_endpoint_and_redirects_are_not_followed(database, settings, now):
    """A 410 disables that endpoint for later events; a 302 is a failed attempt, never followed."""
    # By path, not arrival order: the outbox delivers to the two endpoints concurrently.
    receiver = WebhookReceiver(respond_to_path=lambda path: 302 if path.endswith("/other") else 410).start()
    try:
        settings = hook_settings(settings, receiver.allowed, max_attempts=1)
        token = issue_token(database, now=now)
        ask(database, token, settings, receiver.url, now)
        other_url = receiver.url + "/other"
        ask(database, token, settings, other_url, now)
        with database.session_scope() as s:
            expire_due(session=s, now=now + timedelta(hours=1), settings=settings)
        report = deliver_due(database, settings, utcnow())
        assert (report.disabled, report.failed) == (1, 1)
        assert len(receiver.wait_for(2)) == 2
        ask(database, token, settings, receiver.url, now)  # the disabled endpoint again
        with database.session_scope() as s:
            expire_due(session=s, now=now + timedelta(hours=1), settings=settings)
        assert deliver_due(database, settings, utcnow()).disabled == 1
        assert len(receiver.received) == 2  # nothing more was sent
        assert [d.status for d in deliveries(database)] == [
            DeliveryStatus.DISABLED, DeliveryStatus.FAILED, DeliveryStatus.DISABLED]
    finally:
        receiver.stop()


def test_retry_schedule_grows_with_jitter():
    """Delays follow the Standard Webhooks schedule, stretched by at most 20% of jitter."""
    rng = random.Random(1)
    delays = [retry_delay(n, rng) for n in range(1, 9)]
    assert 5 <= delays[0] <= 6 and 300 <= delays[1] <= 360 and 36000 <= delays[-1] <= 43200
    assert delays == sorted(delays[:-1]) + [delays[-1]]


def test_retry_at_takes_retry_after_only_from_a_429_or_503():
    """The one retry rule webhooks and notifications share (scheduler/outbox.py retry_at)."""
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    for status in (429, 503):
        assert outbox.retry_at(attempts=1, status=status, retry_after="120", now=now,
                               rng=random.Random(1)) == now + timedelta(seconds=120)
    scheduled = outbox.retry_at(attempts=1, status=500, retry_after="120", now=now, rng=random.Random(1))
    assert scheduled == now + timedelta(seconds=retry_delay(1, random.Random(1)))
    unreadable = outbox.retry_at(attempts=3, status=429, retry_after="soon", now=now, rng=random.Random(2))
    assert unreadable == now + timedelta(seconds=retry_delay(3, random.Random(2)))


def test_callback_hosts_must_be_on_the_allow_list():
    """Only listed hosts pass; loopback and private addresses too must be named; schemes are http(s)."""
    allowed = ("hooks.example.com", "127.0.0.1:9000", "[::1]")
    assert allowed_target("https://hooks.example.com/x", allowed) == ("hooks.example.com", 443)
    assert allowed_target("http://127.0.0.1:9000/x", allowed) == ("127.0.0.1", 9000)
    assert allowed_target("http://[::1]:81/x", allowed) == ("::1", 81)
    for bad in ("http://127.0.0.1:9001/x", "http://10.0.0.1/", "http://169.254.169.254/latest", "ftp://hooks.example.com/",
                "https://user:pw@hooks.example.com/", "https://evil.example.com/", "http://localhost:9000/",
                "http://hooks.example.com:99999/"):
        with pytest.raises(ValidationFailed) as exc:
            allowed_target(bad, allowed)
        assert exc.value.field == "callback_url"


def test_a_listed_name_resolving_to_a_private_address_is_not_sent(monkeypatch):
    """DNS rebinding guard: a listed host name that resolves into a private range is refused at send time."""
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", ("10.1.2.3", 80))])
    result = outbox.http_post("http://hooks.example.com/x", {}, b"{}", 1, ("hooks.example.com",))
    assert result.status is None and "non-public" in result.error


def test_the_stored_body_is_json_with_type_timestamp_and_data(database, settings, receiver, now):
    """The webhook body is {type, timestamp, data} and the same bytes on every attempt."""
    settings = hook_settings(settings, receiver.allowed)
    token = issue_token(database, now=now)
    ask(database, token, settings, receiver.url, now)
    with database.session_scope() as s:
        expire_due(session=s, now=now + timedelta(hours=1), settings=settings)
    row = deliveries(database)[0]
    assert set(json.loads(row.body)) == {"type", "timestamp", "data"}
    deliver_due(database, settings, utcnow())
    assert receiver.wait_for(1)[0].body == row.body.encode()
