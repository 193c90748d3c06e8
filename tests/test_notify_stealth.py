"""A planted approval is followed, escalated and withdrawn by the same rules as a real one (DESIGN.md stealth).

Under projection a planted approval is written at claim time, already on its reviewer's screen,
as a copy of the real approval claimed. The real approval that a reviewer claimed before the
first scan is in the same position, so the two must produce the same notifications.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlmodel import select

from reviewq.domain.approvals import expire_due
from reviewq.domain.canary_rate import Rate
from reviewq.domain.claims import claim_next
from reviewq.domain.projection import Planted, write
from reviewq.models import InjectionKind, InjectionSource, Item
from tests.support.api import add_reviewer, issue_token
from tests.support.notify import ask_approval, notify_settings, on_call, rows, run_scan

TIMEOUT = 600


def timeline(database, approval_id, start):
    """(stage, step, action, channel, seconds after the request) of each delivery, and the messages."""
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


def test_projected_planted_approval_is_notified_like_a_real_one_on_screen(database, settings, now):
    """Same channels, stages, escalation times and expiry update for a projected canary and a real approval."""
    settings = notify_settings(settings)
    ada = add_reviewer(database, "ada", now=now - timedelta(days=1))
    ben = add_reviewer(database, "ben", now=now - timedelta(days=1))
    on_call(database, ada, now - timedelta(days=1))
    token = issue_token(database, now=now)
    real = ask_approval(database, token, settings, now, timeout_s=TIMEOUT)
    served = ask_approval(database, token, settings, now, timeout_s=TIMEOUT)
    with database.session_scope() as s:
        assert claim_next(session=s, reviewer_id=ben.id, now=now, lease_seconds=60).public_id == real
        original = s.exec(select(Item).where(Item.public_id == served)).one()
        wrong = {"name": "issue_refund", "args": {"order_id": "A-9", "amount_usd": 9000}}
        payload = dict(original.payload, tool_call=wrong)
        planted = write(
            session=s, planted=Planted(kind=InjectionKind.CANARY, source=InjectionSource.MUTATION, payload=payload,
                                       explanation="over the cap", bucket="wrong_tool_call"),
            served=original, reviewer_id=ada.id, rate=Rate(canary=1.0, control=0.0, drill=False, week_start=now),
            now=now, settings=settings, rng=random.Random(3),
        ).public_id
    for second in range(0, TIMEOUT, 20):
        run_scan(database, settings, now + timedelta(seconds=second))
    with database.session_scope() as s:
        expire_due(session=s, now=now + timedelta(seconds=TIMEOUT), settings=settings)
    run_scan(database, settings, now + timedelta(seconds=TIMEOUT))

    real_line, real_messages = timeline(database, real, now)
    planted_line, planted_messages = timeline(database, planted, now)
    assert real_line == planted_line
    assert [row[:3] for row in real_line] == [
        ("escalation", 1, "post"), ("escalation", 2, "post"), ("escalation", 1, "update"), ("escalation", 2, "update")]
    assert [shape(m) for m in real_messages] == [shape(m) for m in planted_messages]
    assert real_messages[-1]["settled"] == planted_messages[-1]["settled"] == (
        "expired at 09:10 UTC: nobody decided in time, so it was denied by timeout")
    served_line, _ = timeline(database, served, now)
    assert served_line[0][:3] == ("new", 0, "post")  # the queued original is announced as usual
