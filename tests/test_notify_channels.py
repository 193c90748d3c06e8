"""Each channel against a real server on 127.0.0.1: content, update after the decision, retries, no secrets."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta

from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from reviewq.models import DeliveryStatus, NotificationDelivery, Verdict
from reviewq.notify.sender import deliver_notifications
from tests.support.api import WebhookReceiver, add_reviewer, decide_next, issue_token
from tests.support.notify import ask_approval, notify_settings, on_call, run_scan
from tests.support.notify_servers import SlackApi, SmtpServer

TITLE = "Approval needed: refund requested by jane@example.com"


def one_channel(settings, spec):
    return notify_settings(settings, channels={"team": spec}, default_channel="team", escalation_channel="team",
                           public_url="https://reviewq.example.com")


def requested_then_approved(database, settings, now, deliver):
    """An approval announced (first send), then approved by ada (second send); returns (token, approval id)."""
    token = issue_token(database, now=now)
    ada = add_reviewer(database, "ada", now=now)
    on_call(database, ada, now)
    approval = ask_approval(database, token, settings, now)
    run_scan(database, settings, now)
    deliver(now)
    decide_next(database, ada, Verdict.APPROVE, settings=settings, now=now + timedelta(minutes=2))
    run_scan(database, settings, now + timedelta(minutes=2, seconds=3))
    deliver(now + timedelta(minutes=2, seconds=3))
    return token, approval


def signed_by(secret: str, received) -> dict:
    """Check a receipt with standardwebhooks' own signer, at the (test clock's) timestamp it carries."""
    stamp = datetime.fromtimestamp(int(received.headers["webhook-timestamp"]), tz=UTC)
    expected = Webhook(secret).sign(received.headers["webhook-id"], stamp, received.body.decode())
    assert expected in received.headers["webhook-signature"].split()
    return json.loads(received.body)


def delivery_rows(database):
    with database.session() as s:
        return s.exec(select(NotificationDelivery).order_by(NotificationDelivery.id)).all()


def test_email_announces_then_replies_in_thread_when_decided(database, settings, now):
    """SMTP (aiosmtpd): the request mail names everything needed; the update replies in its thread."""
    smtp = SmtpServer().start()
    try:
        settings = one_channel(settings, smtp.channel())
        token, approval = requested_then_approved(
            database, settings, now, lambda at: deliver_notifications(database, settings, at))
        first, update = smtp.wait_for(2)
        assert first["Subject"] == TITLE and first["To"] == "reviewers@example.com"
        body = first.get_payload(decode=True).decode()
        assert "Actor: jane@example.com" in body and 'Tool call: issue_refund(order_id="A-1001", amount_usd=42)' in body
        assert f"https://reviewq.example.com/queue/items/{approval}" in body
        assert "Deadline: 2026-11-02 09:10 UTC" in body
        assert update["Subject"] == f"Re: [approved] {TITLE}"
        assert update["In-Reply-To"] == first["Message-ID"] and update["References"] == first["Message-ID"]
        assert "approved by ada at 09:02 UTC" in update.get_payload(decode=True).decode()
        assert smtp.logins == ["reviewq", "reviewq"]
        for raw in smtp.raw:
            for secret in (smtp.password, token.plaintext, token.webhook_secret):
                assert secret.encode() not in raw
    finally:
        smtp.stop()


def test_email_retries_after_smtp_4xx_and_5xx(database, settings, now):
    """A 451 and then a 554 are failed attempts, each retried after the backoff, then it is delivered once."""
    smtp = SmtpServer(codes=["451 4.3.0 Try again later", "554 5.3.0 Mail system full"]).start()
    try:
        settings = one_channel(settings, smtp.channel())
        ada = add_reviewer(database, "ada", now=now)
        on_call(database, ada, now)
        ask_approval(database, issue_token(database, now=now), settings, now)
        run_scan(database, settings, now)
        assert deliver_notifications(database, settings, now).retrying == 1
        (row,) = delivery_rows(database)
        assert row.last_status_code == 451 and row.next_attempt_at > now + timedelta(seconds=4)
        assert deliver_notifications(database, settings, now + timedelta(seconds=1)).delivered == 0  # not yet due
        assert deliver_notifications(database, settings, now + timedelta(seconds=10)).retrying == 1
        assert delivery_rows(database)[0].last_status_code == 554
        assert deliver_notifications(database, settings, now + timedelta(seconds=400)).delivered == 1
        assert len(smtp.wait_for(1)) == 1 and delivery_rows(database)[0].status == DeliveryStatus.DELIVERED
    finally:
        smtp.stop()


def test_slack_posts_then_updates_the_same_message(database, settings, now):
    """slack_sdk posts with chat.postMessage, then edits that message (channel + ts) with chat.update."""
    slack = SlackApi().start()
    try:
        settings = one_channel(settings, slack.channel())
        token, approval = requested_then_approved(
            database, settings, now, lambda at: deliver_notifications(database, settings, at))
        post, update = slack.calls
        assert (post.method, update.method) == ("chat.postMessage", "chat.update")
        assert post.authorization == update.authorization == f"Bearer {slack.token}"
        assert post.args["channel"] == "#approvals" and post.args["text"] == TITLE
        section = post.args["blocks"][1]["text"]
        assert section["type"] == "plain_text" and f"/queue/items/{approval}" in section["text"]
        assert (update.args["channel"], update.args["ts"]) == ("C0REVIEWQ", "1700000000.000001")
        assert update.args["text"] == f"[approved] {TITLE}"
        assert "approved by ada at 09:02 UTC" in update.args["blocks"][1]["text"]["text"]
        for call in slack.calls:
            for secret in (slack.token, token.plaintext, token.webhook_secret):
                assert secret.encode() not in call.body
        assert all(r.status == DeliveryStatus.DELIVERED for r in delivery_rows(database))
    finally:
        slack.stop()


def test_slack_5xx_is_retried_and_the_update_waits_for_its_post(database, settings, now):
    """A 500 from Slack is retried with backoff; the update goes out only after the post it edits."""
    slack = SlackApi(statuses=[500, 503]).start()
    try:
        settings = one_channel(settings, slack.channel())
        ada = add_reviewer(database, "ada", now=now)
        on_call(database, ada, now)
        ask_approval(database, issue_token(database, now=now), settings, now)
        run_scan(database, settings, now)
        assert deliver_notifications(database, settings, now).retrying == 1
        decide_next(database, ada, Verdict.APPROVE, settings=settings, now=now + timedelta(seconds=1))
        run_scan(database, settings, now + timedelta(seconds=2))
        report = deliver_notifications(database, settings, now + timedelta(seconds=2))
        assert (report.delivered, report.deferred) == (0, 1)  # the update waits for the post
        assert deliver_notifications(database, settings, now + timedelta(seconds=7)).retrying == 1  # the 503
        report = deliver_notifications(database, settings, now + timedelta(seconds=30))
        assert (report.delivered, report.deferred) == (0, 1)  # the post's next try is 5 min after the 503
        report = deliver_notifications(database, settings, now + timedelta(seconds=400))
        assert report.delivered == 2
        assert [c.method for c in slack.calls] == ["chat.postMessage"] * 3 + ["chat.update"]
        assert [r.last_status_code for r in delivery_rows(database)] == [200, 200]
    finally:
        slack.stop()


def test_webhook_channel_is_signed_and_retried_after_a_5xx(database, settings, now):
    """The generic webhook is Standard-Webhooks signed; a 500 is retried with the same id; the update follows."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    receiver = WebhookReceiver(respond=lambda n: 500 if n == 0 else 204).start()
    try:
        settings = one_channel(settings, {"type": "webhook", "url": receiver.url, "secret": secret})

        def deliver(at):
            deliver_notifications(database, settings, at)
            deliver_notifications(database, settings, at + timedelta(seconds=10))

        token, approval = requested_then_approved(database, settings, now, deliver)
        got = receiver.wait_for(3)
        assert [g.status for g in got] == [500, 204, 204]
        assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"] != got[2].headers["webhook-id"]
        events = [signed_by(secret, g) for g in got[1:]]
        assert [e["type"] for e in events] == ["approval.requested", "approval.updated"]
        assert events[0]["data"]["id"] == events[1]["data"]["id"]  # the same notification, updated
        assert events[0]["data"]["approval"]["id"] == approval and events[1]["data"]["state"] == "approved"
        for g in got:
            for s in (secret, secret.removeprefix("whsec_"), token.plaintext, token.webhook_secret):
                assert s.encode() not in g.body
    finally:
        receiver.stop()


def test_log_channel_writes_one_line_per_message_to_a_local_file(database, settings, now, tmp_path):
    """The local log channel appends the announcement and the update, link included, and sends nothing out."""
    path = tmp_path / "notifications.log"
    settings = one_channel(settings, {"type": "log", "path": str(path)})
    _, approval = requested_then_approved(
        database, settings, now, lambda at: deliver_notifications(database, settings, at))
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("2026-11-02 09:00:00Z [team] approval.requested " + TITLE)
    assert f"https://reviewq.example.com/queue/items/{approval}" in lines[0]
    assert "approval.updated [approved]" in lines[1] and "approved by ada at 09:02 UTC" in lines[1]
    assert json.loads(json.dumps(lines))  # plain text lines, one per message
