"""Announcing, routing, escalating and closing out approval notifications, at a controlled clock."""

from __future__ import annotations

from datetime import timedelta

from reviewq.domain.approvals import cancel_approval, expire_due
from reviewq.models import Availability, DeliveryAction, NotificationStage, Verdict
from tests.support.api import add_reviewer, decide_next, issue_token
from tests.support.notify import ask_approval, notify_settings, on_call, rows, run_scan


def posts(database):
    return [(n.channel, n.stage, n.step, m) for n, d, m in rows(database) if d.action == DeliveryAction.POST]


def test_new_approval_goes_to_the_channel_of_its_intent_then_category_then_default(database, settings, now):
    """Routes match the intent first, then the category (the intent here), else the default channel."""
    settings = notify_settings(settings, routes={"refund": "billing", "access_grant": "ops"})
    token = issue_token(database, now=now)
    on_call(database, add_reviewer(database, "ada", now=now), now)
    refund = ask_approval(database, token, settings, now, intent="refund")
    access = ask_approval(database, token, settings, now, intent="access_grant")
    other = ask_approval(database, token, settings, now, intent="record_change")
    report = run_scan(database, settings, now)
    assert sorted(report.announced) == sorted([refund, access, other]) and report.unstaffed == []
    by_item = {m["approval"]["id"]: (channel, stage) for channel, stage, _, m in posts(database)}
    assert by_item == {refund: ("billing", NotificationStage.NEW), access: ("ops", NotificationStage.NEW),
                       other: ("log", NotificationStage.NEW)}
    assert run_scan(database, settings, now + timedelta(seconds=5)).announced == []  # announced once


def test_message_carries_intent_actor_tool_call_deadline_and_a_login_link_only(database, settings, now):
    """The message names intent, actor, tool call and deadline, links to /queue/items/<id>, and has no secret."""
    settings = notify_settings(settings, public_url="https://reviewq.example.com")
    token = issue_token(database, now=now)
    on_call(database, add_reviewer(database, "ada", now=now), now)
    approval = ask_approval(
        database, token, settings, now, callback_url=None,
        tool_call={"name": "issue_refund", "args": {"order_id": "A-1001", "amount_usd": 42, "api_key": "sk-live-1"}},
    )
    run_scan(database, settings, now)
    (_, _, _, message), = posts(database)
    assert message["link"] == f"https://reviewq.example.com/queue/items/{approval}"
    text = message["text"]
    assert "Intent: refund" in text and "Actor: jane@example.com" in text
    assert 'issue_refund(order_id="A-1001", amount_usd=42, api_key="•••")' in text
    assert "Deadline: 2026-11-02 09:10 UTC (in 10 min)" in text
    blob = str(message)
    for secret in ("sk-live-1", token.plaintext, token.webhook_secret, "/decide", "token="):
        assert secret not in blob


def test_escalation_at_half_and_four_fifths_of_the_timeout(database, settings, now):
    """A 600 s approval escalates at 300 s and at 480 s, once each, and not before."""
    settings = notify_settings(settings)
    token = issue_token(database, now=now)
    on_call(database, add_reviewer(database, "ada", now=now), now)
    approval = ask_approval(database, token, settings, now, timeout_s=600)
    run_scan(database, settings, now)
    steps = []
    for second in (1, 299, 300, 301, 479, 480, 481, 599):
        report = run_scan(database, settings, now + timedelta(seconds=second))
        steps += [(second, step) for _, step in report.escalated]
    assert steps == [(300, 1), (480, 2)]
    escalations = [(c, s, m) for c, stage, s, m in posts(database) if stage == NotificationStage.ESCALATION]
    assert [(c, s) for c, s, _ in escalations] == [("leads", 1), ("leads", 2)]
    assert escalations[0][2]["approval"]["id"] == approval
    assert "Still pending at 50% of its time" in escalations[0][2]["text"]
    assert "Still pending at 80% of its time" in escalations[1][2]["text"]


def test_configured_shares_and_a_late_scan_send_only_the_latest_step(database, settings, now):
    """With shares 25/75%, a scan first run at 80% sends the second step only, once."""
    settings = notify_settings(settings, escalate_at=(0.25, 0.75))
    token = issue_token(database, now=now)
    on_call(database, add_reviewer(database, "ada", now=now), now)
    ask_approval(database, token, settings, now, timeout_s=1000)
    run_scan(database, settings, now)
    assert run_scan(database, settings, now + timedelta(seconds=249)).escalated == []
    assert [s for _, s in run_scan(database, settings, now + timedelta(seconds=800)).escalated] == [2]
    assert run_scan(database, settings, now + timedelta(seconds=900)).escalated == []


def test_nobody_on_call_escalates_at_once(database, settings, now):
    """With every reviewer away, a new approval also goes to the escalation channel immediately."""
    settings = notify_settings(settings)
    token = issue_token(database, now=now)
    ada = add_reviewer(database, "ada", now=now)
    on_call(database, ada, now, Availability.AWAY)
    approval = ask_approval(database, token, settings, now)
    report = run_scan(database, settings, now)
    assert report.unstaffed == [approval]
    assert [(c, s) for c, s, _, _ in posts(database)] == [("log", NotificationStage.NEW),
                                                          ("leads", NotificationStage.UNSTAFFED)]
    on_call(database, ada, now)
    second = ask_approval(database, token, settings, now + timedelta(seconds=10))
    report = run_scan(database, settings, now + timedelta(seconds=10))
    assert report.announced == [second] and report.unstaffed == []


def test_a_reviewer_working_the_queue_counts_as_on_call(database, settings, now):
    """A reviewer who decided something minutes ago is on call even without saying so."""
    settings = notify_settings(settings)
    token = issue_token(database, now=now)
    ada = add_reviewer(database, "ada", now=now)
    ask_approval(database, token, settings, now)
    decide_next(database, ada, Verdict.APPROVE, settings=settings, now=now)
    ask_approval(database, token, settings, now + timedelta(minutes=3))
    assert run_scan(database, settings, now + timedelta(minutes=3)).unstaffed == []


def test_decision_updates_every_message_with_who_and_when(database, settings, now):
    """Once decided, each message (announcement and escalation) gets an update naming the reviewer."""
    settings = notify_settings(settings)
    token = issue_token(database, now=now)
    ada = add_reviewer(database, "ada", now=now)
    on_call(database, ada, now)
    approval = ask_approval(database, token, settings, now, timeout_s=600)
    run_scan(database, settings, now)
    run_scan(database, settings, now + timedelta(seconds=300))
    decide_next(database, ada, Verdict.APPROVE, settings=settings, now=now + timedelta(minutes=5, seconds=12))
    report = run_scan(database, settings, now + timedelta(seconds=315))
    assert report.settled == [(approval, "approved")]
    updates = [(n, m) for n, d, m in rows(database) if d.action == DeliveryAction.UPDATE]
    assert len(updates) == 2 and {n.stage for n, _ in updates} == {NotificationStage.NEW, NotificationStage.ESCALATION}
    for _, message in updates:
        assert message["settled"] == "approved by ada at 09:05 UTC" and message["state"] == "approved"
        assert message["title"].startswith("[approved] ")
    assert run_scan(database, settings, now + timedelta(seconds=480)).escalated == []


def test_denial_names_the_reason_and_expiry_says_it_failed_closed(database, settings, now):
    """A deny carries the reviewer and reason bucket; an expiry says it was denied by timeout."""
    settings = notify_settings(settings)
    token = issue_token(database, now=now)
    ben = add_reviewer(database, "ben", now=now)
    on_call(database, ben, now)
    denied = ask_approval(database, token, settings, now)
    late = ask_approval(database, token, settings, now + timedelta(seconds=1))
    run_scan(database, settings, now + timedelta(seconds=1))
    decide_next(database, ben, Verdict.REJECT, settings=settings, now=now + timedelta(minutes=2), public_id=denied)
    with database.session_scope() as s:
        expire_due(session=s, now=now + timedelta(minutes=11), settings=settings)
    run_scan(database, settings, now + timedelta(minutes=11))
    settled = {m["approval"]["id"]: m["settled"] for _, d, m in rows(database) if d.action == DeliveryAction.UPDATE}
    assert settled[denied] == "denied by ben at 09:02 UTC (policy_violation)"
    assert settled[late] == "expired at 09:11 UTC: nobody decided in time, so it was denied by timeout"


def test_cancelled_approval_gets_no_notification_after_cancellation(database, settings, now):
    """Cancelled before its announcement: nothing is sent. Cancelled after: one withdrawal, no escalation."""
    settings = notify_settings(settings)
    token = issue_token(database, now=now)
    on_call(database, add_reviewer(database, "ada", now=now), now)
    early = ask_approval(database, token, settings, now, timeout_s=600)
    with database.session_scope() as s:
        cancel_approval(session=s, token=token.token, public_id=early, now=now)
    assert run_scan(database, settings, now).announced == []
    later = ask_approval(database, token, settings, now, timeout_s=600)
    run_scan(database, settings, now)
    with database.session_scope() as s:
        cancel_approval(session=s, token=token.token, public_id=later, now=now + timedelta(seconds=30))
    before = len(rows(database))
    for second in (31, 300, 480, 700):
        run_scan(database, settings, now + timedelta(seconds=second))
    after = rows(database)[before:]
    assert [(d.action, m["state"], m["settled"]) for _, d, m in after] == [
        (DeliveryAction.UPDATE, "cancelled", "cancelled by the agent at 09:00 UTC")]
    assert all(m["approval"]["id"] != early for _, _, m in rows(database))


def test_notifications_can_be_switched_off(database, settings, now):
    """[notify] enabled = false announces nothing."""
    settings = notify_settings(settings, enabled=False)
    token = issue_token(database, now=now)
    ask_approval(database, token, settings, now)
    assert run_scan(database, settings, now).announced == [] and rows(database) == []


def test_settling_approvals_writes_their_updates_in_one_statement(database, settings, now):
    """Every update a scan's settlements send is written by one INSERT, not one ORM object each."""
    import sqlalchemy as sa

    settings = notify_settings(settings)
    token = issue_token(database, now=now)
    ada = add_reviewer(database, "ada", now=now)
    on_call(database, ada, now)
    approvals = [ask_approval(database, token, settings, now, timeout_s=600) for _ in range(4)]
    run_scan(database, settings, now)
    for i in range(4):
        decide_next(database, ada, Verdict.APPROVE, settings=settings, now=now + timedelta(seconds=10 + i))
    inserts = []

    def count(_conn, _cursor, statement, _params, _context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO NOTIFICATION_DELIVERIES"):
            inserts.append(executemany)

    sa.event.listen(database.engine, "before_cursor_execute", count)
    try:
        report = run_scan(database, settings, now + timedelta(seconds=30))
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", count)
    assert sorted(a for a, _ in report.settled) == sorted(approvals)
    assert len(inserts) == 1
    updates = [(n, m) for n, d, m in rows(database) if d.action == DeliveryAction.UPDATE]
    assert len(updates) == 4 and all(m["settled"].startswith("approved by ada at ") for _, m in updates)
    assert len({d.delivery_id for _, d, _ in rows(database)}) == len(rows(database))
