"""Approvals bound to the exact tool call: digest, single-use consume, validity window, decision record."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from sqlmodel import select

from reviewq.client import ApprovalNotUsable, DigestMismatch, ReviewQ, verify_tool_call
from reviewq.models import Approval, Decision, Verdict, utcnow
from reviewq.tool_digest import canonical_json, tool_call_digest
from tests.support.api import add_reviewer, bearer, decide_next, issue_token

CALL = {"name": "issue_refund", "args": {"order_id": "A-1001", "amount_usd": 42, "note": "café"}}


def test_digest_is_canonical():
    """Key order, whitespace and 42.0 versus 42 do not change the digest; any other change does."""
    base = tool_call_digest("issue_refund", {"a": 1, "b": {"y": [1, 2.0], "x": "é"}})
    assert base == tool_call_digest("issue_refund", {"b": {"x": "é", "y": [1.0, 2]}, "a": 1.0})
    assert len(base) == 64 and int(base, 16) >= 0
    assert base != tool_call_digest("issue_refund", {"a": 2, "b": {"y": [1, 2], "x": "é"}})
    assert base != tool_call_digest("issue_refunds", {"a": 1, "b": {"y": [1, 2], "x": "é"}})
    assert canonical_json({"b": 1.5, "a": "é"}) == '{"a":"é","b":1.5}'
    with pytest.raises(ValueError):
        tool_call_digest("x", {"a": float("nan")})


@pytest.fixture
def rq(live_server, database, now):
    return ReviewQ(live_server.url, issue_token(database, now=now).plaintext, actor="ops@example.com")


def approved(rq, database, settings, *, key: str, decided_at=None, verdict=Verdict.APPROVE) -> dict:
    """An approval of CALL, decided by a reviewer at `decided_at` (the real clock by default)."""
    approval = rq.request_approval(trace_id=key, actor="ops@example.com", intent="refund", tool_call=CALL,
                                   idempotency_key=key)
    reviewer = add_reviewer(database, f"rev-{key}", now=utcnow())
    decide_next(database, reviewer, verdict, settings=settings, now=decided_at or utcnow(),
                public_id=approval["id"])
    return rq.get_approval(approval["id"])


def test_approval_returns_its_digest_and_the_decision_record(rq, database, settings):
    """The approval carries the call's digest; the decision record names the approver, the digest and the time."""
    approval = approved(rq, database, settings, key="rec")
    digest = tool_call_digest(CALL["name"], CALL["args"])
    assert approval["tool_digest"] == digest and approval["status"] == "approved"
    [record] = approval["decisions"]
    assert record["approver"] == "rev-rec" and record["verdict"] == "approve" and record["tool_digest"] == digest
    assert record["decided_at"] == approval["decided_at"]
    assert approval["valid_until"] is not None and approval["consumed_at"] is None
    with database.session() as s:
        assert s.exec(select(Decision.tool_digest)).one() == digest


def test_client_refuses_a_call_with_other_arguments(rq, database, settings):
    """A call whose arguments differ from the approved ones is refused by the client; nothing is consumed."""
    approval = approved(rq, database, settings, key="mismatch")
    changed = {**CALL["args"], "amount_usd": 4200}
    with pytest.raises(DigestMismatch):
        rq.consume(approval, name=CALL["name"], args=changed)
    with pytest.raises(DigestMismatch):
        verify_tool_call(approval, "another_tool", CALL["args"])
    assert rq.get_approval(approval["id"])["consumed_at"] is None
    # The same arguments in another key order are the same call.
    reordered = dict(reversed(list(CALL["args"].items())))
    assert rq.consume(approval, name=CALL["name"], args=reordered)["consumed_at"] is not None


def test_second_consume_and_a_wrong_digest_are_refused_by_the_server(rq, live_server, database, settings):
    """The server refuses another digest, and a second consume of the same approval, with a 409."""
    approval = approved(rq, database, settings, key="once")
    url = f"{live_server.url}/api/v1/approvals/{approval['id']}/consume"
    headers = {"Authorization": f"Bearer {rq.token}"}
    wrong = requests.post(url, json={"tool_digest": "0" * 64}, headers=headers, timeout=10)
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "digest_mismatch"
    first = rq.consume(approval, name=CALL["name"], args=CALL["args"])
    assert first["consumed_at"] is not None
    again = requests.post(url, json={"tool_digest": approval["tool_digest"]}, headers=headers, timeout=10)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_consumed"
    with pytest.raises(ApprovalNotUsable) as refused:
        rq.consume(approval, name=CALL["name"], args=CALL["args"])
    assert refused.value.code == "already_consumed"
    bad = requests.post(url, json={"tool_digest": "xyz"}, headers=headers, timeout=10)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "tool_digest"


def test_only_an_approved_approval_within_its_window_is_consumed(rq, database, settings):
    """Pending and denied approvals are not_approved; one approved longer ago than valid_for_s is stale."""
    pending = rq.request_approval(trace_id="p", actor="a", intent="refund", tool_call=CALL, idempotency_key="p")
    with pytest.raises(ApprovalNotUsable) as refused:
        rq.consume(pending, name=CALL["name"], args=CALL["args"])
    assert refused.value.code == "not_approved"
    rq.cancel(pending["id"])
    denied = approved(rq, database, settings, key="denied", verdict=Verdict.REJECT)
    assert denied["status"] == "denied" and denied["valid_until"] is None
    with pytest.raises(ApprovalNotUsable) as refused:
        rq.consume(denied, name=CALL["name"], args=CALL["args"])
    assert refused.value.code == "not_approved"
    old = utcnow() - timedelta(seconds=settings.approvals.valid_for_s + 5)
    stale = approved(rq, database, settings, key="stale", decided_at=old)
    with pytest.raises(ApprovalNotUsable) as refused:
        rq.consume(stale, name=CALL["name"], args=CALL["args"])
    assert refused.value.code == "approval_stale"


def test_racing_consumes_let_exactly_one_through(rq, live_server, database, settings):
    """Eight concurrent consumes of one approval: exactly one succeeds, the rest are refused."""
    approval = approved(rq, database, settings, key="race")
    url = f"{live_server.url}/api/v1/approvals/{approval['id']}/consume"
    statuses: list[int] = []
    start = threading.Barrier(8)

    def consume():
        start.wait(10)
        r = requests.post(url, json={"tool_digest": approval["tool_digest"]}, headers=bearer(rq.token), timeout=30)
        statuses.append(r.status_code)

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [200] + [409] * 7
    with database.session() as s:
        assert s.exec(select(Approval.consumed_at)).one() is not None


def test_migration_binds_existing_approvals(settings, now):
    """Upgrading a database with approvals made before binding gives each the digest of its tool call and
    the default validity window, so it can still be consumed once."""
    from reviewq import migrate
    from reviewq.db import make_engine

    migrate.upgrade(settings, "0005_claim_indexes")
    engine = make_engine(settings)
    try:
        with engine.begin() as conn:
            token_id = conn.execute(sa.text(
                "INSERT INTO api_tokens (agent, scopes, prefix, token_hash, webhook_secret, created_at) "
                "VALUES ('a', 'approvals:write', 'rq_x', :h, 'whsec_x', :now) RETURNING id"),
                {"h": "0" * 64, "now": now}).scalar_one()
            payload = json.dumps({"intent": "refund", "tool_call": CALL, "actor": "a", "constraints": {},
                                  "irreversible": False})
            item_id = conn.execute(sa.text(
                "INSERT INTO items (kind, trace_id, agent, category, payload, priority, public_id, status, "
                "required_approvals, created_at, updated_at, token_id) VALUES ('approval', 't', 'a', 'refund', "
                ":p, 0, 'itm_old', 'queued', 1, :now, :now, :tok) RETURNING id"),
                {"p": payload, "now": now, "tok": token_id}).scalar_one()
            conn.execute(sa.text("INSERT INTO approvals (item_id, token_id, body_hash, created_at) "
                                 "VALUES (:i, :t, :h, :now)"), {"i": item_id, "t": token_id, "h": "1" * 64, "now": now})
        migrate.upgrade(settings, "head")
        with engine.connect() as conn:
            digest, valid_for = conn.execute(sa.text("SELECT tool_digest, valid_for_s FROM approvals")).one()
    finally:
        engine.dispose()
    assert digest == tool_call_digest(CALL["name"], CALL["args"]) and valid_for == 900


def test_arguments_no_digest_can_carry_are_a_422(live_server, database, now):
    """A tool call whose arguments hold a number JSON parses to infinity is refused with a 422, never a 500."""
    token = issue_token(database, now=now)
    body = ('{"trace_id": "t", "actor": "a", "intent": "refund", '
            '"tool_call": {"name": "issue_refund", "args": {"amount_usd": 1e400}}}')
    r = requests.post(f"{live_server.url}/api/v1/approvals", data=body, timeout=10,
                      headers={**bearer(token), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("tool_call")
