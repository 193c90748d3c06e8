"""A planted approval is announced, escalated and withdrawn exactly like a real one (DESIGN.md stealth)."""

from __future__ import annotations

import random
from datetime import timedelta

from reviewq.canaries.render import make_faker
from reviewq.domain.approvals import expire_due
from reviewq.domain.injection import Draft, write_draft
from reviewq.models import InjectionKind, InjectionSource, Item, Verdict
from tests.support.api import add_reviewer, decide_next, issue_token
from tests.support.notify import ask_approval, notify_settings, on_call, rows, run_scan

TIMEOUT = 600


def plant_approval(database, settings, reviewer, *, due, planted_at):
    """A mutation canary of a refund approval, due at `due`, written by the real injection code."""
    rng = random.Random(7)
    draft = Draft(
        kind=InjectionKind.CANARY, source=InjectionSource.MUTATION, bucket="wrong_tool_call", item_kind="approval",
        agent="billing-agent", category="refund",
        payload={"actor": "jane@example.com", "intent": "refund", "constraints": {"max_amount_usd": 100},
                 "tool_call": {"name": "issue_refund", "args": {"order_id": "A-2002", "amount_usd": 420}},
                 "irreversible": False},
        explanation="The amount is over the cap.",
    )
    with database.session_scope() as s:
        injection = write_draft(session=s, draft=draft, reviewer=reviewer, due=due, week_start=planted_at,
                                settings=settings, now=planted_at, rng=rng, faker=make_faker(rng), examples={})
        s.flush()
        return s.get(Item, injection.item_id).public_id


def timeline(database, approval_id, start):
    """(stage, step, action, channel, seconds after the approval was due) of each delivery, and the messages."""
    out, messages = [], []
    for n, d, m in rows(database):
        if m["approval"]["id"] == approval_id:
            out.append((n.stage.value, n.step, d.action.value, n.channel, (d.created_at - start).total_seconds()))
            messages.append(m)
    return out, messages


def shape(message):
    """What a message looks like with the approval's own values taken out."""
    return {
        "keys": sorted(message), "approval_keys": sorted(message["approval"]),
        "labels": [line.split(":", 1)[0] for line in message["text"].splitlines()],
        "title": message["title"].replace(message["approval"]["actor"], "ACTOR"),
        "event": message["event"], "state": message["state"], "settled": message["settled"],
        "stage": message["stage"], "step": message["step"],
    }


def test_planted_approval_notifications_match_a_real_ones(database, settings, now):
    """Same channels, stages, timing from due time, fields and withdrawal text for a planted and a real approval."""
    settings = notify_settings(settings, routes={"refund": "billing"}).replace(
        approvals={"default_timeout_s": TIMEOUT})
    ada = add_reviewer(database, "ada", now=now - timedelta(days=1))
    on_call(database, ada, now - timedelta(days=1))
    planted = plant_approval(database, settings, ada, due=now, planted_at=now - timedelta(days=1))
    assert run_scan(database, settings, now - timedelta(hours=1)).announced == []  # not due yet: not announced
    token = issue_token(database, now=now)
    real = ask_approval(database, token, settings, now, timeout_s=TIMEOUT)
    for second in range(0, 520, 20):
        run_scan(database, settings, now + timedelta(seconds=second))
    first = decide_next(database, ada, Verdict.APPROVE, settings=settings, now=now + timedelta(seconds=520))
    second = decide_next(database, ada, Verdict.APPROVE, settings=settings, now=now + timedelta(seconds=520))
    assert {first, second} == {real, planted}
    for s in range(540, 700, 20):
        run_scan(database, settings, now + timedelta(seconds=s))

    real_line, real_messages = timeline(database, real, now)
    planted_line, planted_messages = timeline(database, planted, now)
    assert real_line == planted_line
    assert [row[:3] for row in real_line] == [
        ("new", 0, "post"), ("escalation", 1, "post"), ("escalation", 2, "post"),
        ("new", 0, "update"), ("escalation", 1, "update"), ("escalation", 2, "update")]
    assert [shape(m) for m in real_messages] == [shape(m) for m in planted_messages]
    assert real_messages[-1]["settled"] == "approved by ada at 09:08 UTC"


def test_planted_approval_past_its_deadline_is_withdrawn_like_an_expired_real_one(database, settings, now):
    """Nobody decides either: both messages are updated as expired (denied by timeout) at the deadline."""
    settings = notify_settings(settings).replace(approvals={"default_timeout_s": TIMEOUT})
    ada = add_reviewer(database, "ada", now=now - timedelta(days=1))
    on_call(database, ada, now - timedelta(days=1))
    planted = plant_approval(database, settings, ada, due=now, planted_at=now - timedelta(days=1))
    token = issue_token(database, now=now)
    real = ask_approval(database, token, settings, now, timeout_s=TIMEOUT)
    run_scan(database, settings, now)
    with database.session_scope() as s:
        expire_due(session=s, now=now + timedelta(seconds=TIMEOUT), settings=settings)
    run_scan(database, settings, now + timedelta(seconds=TIMEOUT))
    real_line, real_messages = timeline(database, real, now)
    planted_line, planted_messages = timeline(database, planted, now)
    assert real_line == planted_line
    assert real_messages[-1]["settled"] == planted_messages[-1]["settled"] == (
        "expired at 09:10 UTC: nobody decided in time, so it was denied by timeout")
