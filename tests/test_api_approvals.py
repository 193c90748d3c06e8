"""POST/GET /api/v1/approvals: the envelope, idempotency, two-person rule, timeout (fail closed), cancel."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from reviewq.domain.approvals import expire_due
from reviewq.domain.items import enqueue
from reviewq.models import Approval, Item, ItemStatus, Verdict, WebhookDelivery
from tests.factories import approval_item
from tests.support.api import add_reviewer, bearer, decide_next, issue_token


def envelope(**overrides):
    body = {
        "trace_id": str(uuid.uuid4()),
        "actor": "ops@example.com",
        "intent": "refund",
        "constraints": {"max_amount_usd": 100, "allowed_tools": ["issue_refund"]},
        "tool_call": {"name": "issue_refund", "args": {"order": "A-1", "amount_usd": 42}},
        "irreversible": False,
        "timeout_s": 600,
    }
    body.update(overrides)
    return body


@pytest.fixture
def token(database, now):
    return issue_token(database, now=now)


def post(client, token, body, key=None):
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return client.post("/api/v1/approvals", json=body, headers=headers)


def test_request_creates_a_pending_item_reviewers_can_see(client, token, database):
    """A request makes a pending approval item whose payload holds the envelope but no callback or key."""
    response = post(client, token, envelope(callback_url=None, context={"ticket": 7}), key="k1")
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "pending" and body["outcome"] is None and body["decided_at"] is None
    assert body["approvals"] == {"required": 1, "given": 0}
    assert response.headers["Location"].endswith(f"/api/v1/approvals/{body['id']}")
    with database.session() as s:
        item = s.exec(select(Item)).one()
        record = s.exec(select(Approval)).one()
    assert set(item.payload) == {"actor", "intent", "constraints", "tool_call", "irreversible", "context"}
    assert item.token_id == token.token.id and record.item_id == item.id and record.idempotency_key == "k1"
    assert (item.deadline - item.created_at) == timedelta(seconds=600)


def test_same_key_same_body_is_the_same_approval_and_another_body_is_409(client, token, database):
    """The same Idempotency-Key and body return the same approval (200); another body is a 409."""
    body = envelope()
    first = post(client, token, body, key="retry-me")
    again = post(client, token, dict(reversed(list(body.items()))), key="retry-me")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json["id"] == first.json["id"]
    clash = post(client, token, envelope(), key="retry-me")
    assert clash.status_code == 409
    assert clash.json["error"]["code"] == "idempotency_conflict"
    assert clash.json["error"]["field"] == "Idempotency-Key"
    with database.session() as s:
        assert len(s.exec(select(Item)).all()) == 1


def test_default_and_maximum_timeout_come_from_config(client, token, database, settings):
    """No timeout_s means [approvals] default_timeout_s; more than max_timeout_s is a 422 on timeout_s."""
    body = envelope()
    del body["timeout_s"]
    created = post(client, token, body)
    with database.session() as s:
        item = s.exec(select(Item)).one()
    assert (item.deadline - item.created_at).total_seconds() == settings.approvals.default_timeout_s
    assert created.status_code == 201
    too_long = post(client, token, envelope(timeout_s=settings.approvals.max_timeout_s + 1))
    assert too_long.status_code == 422 and too_long.json["error"]["field"] == "timeout_s"


def test_irreversible_needs_two_approvers_and_stays_pending_until_then(client, token, database, settings, now):
    """Under the two-person rule an irreversible approval is pending after one approval, approved after two."""
    approval_id = post(client, token, envelope(irreversible=True)).json["id"]
    alice = add_reviewer(database, "alice", now=now)
    bob = add_reviewer(database, "bob", now=now)
    decide_next(database, alice, Verdict.APPROVE, settings=settings, now=now, public_id=approval_id)
    halfway = client.get(f"/api/v1/approvals/{approval_id}", headers=bearer(token)).json
    assert halfway["status"] == "pending" and halfway["approvals"] == {"required": 2, "given": 1}
    decide_next(database, bob, Verdict.APPROVE, settings=settings, now=now, public_id=approval_id)
    done = client.get(f"/api/v1/approvals/{approval_id}", headers=bearer(token)).json
    assert done["status"] == "approved" and done["outcome"] == "approve"
    assert done["approvals"] == {"required": 2, "given": 2}


def test_a_deny_carries_the_reason_bucket(client, token, database, settings, now):
    """A reviewer's reject is status denied, outcome deny, with the reason bucket."""
    approval_id = post(client, token, envelope()).json["id"]
    rita = add_reviewer(database, "rita", now=now)
    decide_next(database, rita, Verdict.REJECT, settings=settings, now=now)
    body = client.get(f"/api/v1/approvals/{approval_id}", headers=bearer(token)).json
    assert (body["status"], body["outcome"], body["reason"]) == ("denied", "deny", "policy_violation")


def test_timeout_fails_closed_unless_the_intent_is_named(database, settings, now, token):
    """Past the deadline an approval expires with outcome deny; only listed intents approve on timeout."""
    from reviewq.domain.approvals import request_approval
    from reviewq.models.approvals import ApprovalCreate

    lenient = settings.replace(approvals={"approve_on_timeout_intents": ("send_digest",)})
    with database.session_scope() as s:
        for intent in ("refund", "send_digest"):
            request_approval(session=s, token=token.token, data=ApprovalCreate(**envelope(intent=intent, timeout_s=60)),
                             idempotency_key=None, settings=lenient, now=now)
    with database.session_scope() as s:
        assert expire_due(session=s, now=now + timedelta(seconds=59), settings=lenient) == []
        expired = expire_due(session=s, now=now + timedelta(seconds=60), settings=lenient)
        outcomes = {i.payload["intent"]: (i.status, i.outcome.value) for i in expired}
    assert outcomes == {"refund": (ItemStatus.EXPIRED, "deny"), "send_digest": (ItemStatus.EXPIRED, "approve")}


def test_cancel_withdraws_a_pending_approval_only(client, token, database, settings, now):
    """Cancel makes a pending approval cancelled (again: a no-op); a decided one is a 409."""
    approval_id = post(client, token, envelope()).json["id"]
    cancelled = client.post(f"/api/v1/approvals/{approval_id}/cancel", headers=bearer(token))
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert client.post(f"/api/v1/approvals/{approval_id}/cancel", headers=bearer(token)).status_code == 200
    other_id = post(client, token, envelope()).json["id"]
    rita = add_reviewer(database, "rita", now=now)
    decide_next(database, rita, Verdict.APPROVE, settings=settings, now=now, public_id=other_id)
    late = client.post(f"/api/v1/approvals/{other_id}/cancel", headers=bearer(token))
    assert late.status_code == 409 and late.json["error"]["code"] == "invalid_transition"
    stranger = issue_token(database, "someone-else", now=now)
    assert client.post(f"/api/v1/approvals/{other_id}/cancel", headers=bearer(stranger)).status_code == 404


def test_a_canary_approval_never_produces_a_webhook_or_reaches_the_api(client, token, database, settings, now):
    """An approval item with no agent record (a planted canary) settles with no outbox row and stays 404."""
    with database.session_scope() as s:
        planted = enqueue(session=s, data=approval_item(now=now, agent="billing-agent"), now=now).item
        planted_id = planted.public_id
    rita = add_reviewer(database, "rita", now=now)
    decide_next(database, rita, Verdict.APPROVE, settings=settings, now=now, public_id=planted_id)
    with database.session_scope() as s:
        expire_due(session=s, now=now + timedelta(days=2), settings=settings)
        assert s.exec(select(WebhookDelivery)).all() == []
    assert client.get(f"/api/v1/approvals/{planted_id}", headers=bearer(token)).status_code == 404
