"""POST/GET /api/v1/items: sampling, dedupe, batches, and visibility to the sending agent only."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from reviewq.domain.sampling import is_sampled, rate_for, sample_point
from reviewq.models import Item, ItemStatus, Verdict
from tests.factories import add_outputs
from tests.support.api import add_reviewer, bearer, decide_next, issue_token


def output(trace_id=None, category="billing", **extra):
    body = {"trace_id": trace_id or str(uuid.uuid4()), "agent": "billing-agent", "category": category,
            "input": "What is my balance?", "output": "Your balance is $12."}
    body.update(extra)
    return body


@pytest.fixture
def token(database, now):
    return issue_token(database, now=now)


def test_sampling_is_deterministic_and_follows_the_rate(settings):
    """The same trace always gets the same answer, high-risk is 1.0, and the share sampled tracks the rate."""
    sampling = settings.sampling
    assert rate_for("billing", sampling) == 1.0
    assert rate_for("customer_support", sampling) == sampling.rates["customer_support"]
    assert rate_for("never-configured", sampling) == sampling.default_rate
    assert all(is_sampled("a", f"t{i}", 1.0) for i in range(100))
    assert not any(is_sampled("a", f"t{i}", 0.0) for i in range(100))
    assert sample_point("a", "t1") == sample_point("a", "t1") != sample_point("b", "t1")
    share = sum(is_sampled("a", f"t{i}", 0.2) for i in range(5000)) / 5000
    assert 0.17 < share < 0.23


def test_submit_queues_high_risk_and_dedupes_repeats(client, token, database):
    """A high-risk output is queued (201); the same trace again returns the same item (200, duplicate)."""
    body = output(context={"turn": 3}, metadata={"model": "m1"})
    first = client.post("/api/v1/items", json=body, headers=bearer(token))
    assert first.status_code == 201, first.json
    assert first.json["queued"] is True and first.json["duplicate"] is False
    again = client.post("/api/v1/items", json=body, headers=bearer(token))
    assert again.status_code == 200
    assert again.json == {**first.json, "duplicate": True}
    with database.session() as s:
        items = s.exec(select(Item)).all()
    assert len(items) == 1
    assert items[0].token_id == token.token.id and items[0].payload["context"] == {"turn": 3}
    assert items[0].dedupe_key == f"output:billing-agent:{body['trace_id']}"


def test_unsampled_output_is_answered_but_not_queued(client, token, database, settings):
    """An output the sampler skips says queued: false and never enters the review queue."""
    trace = next(f"t{i}" for i in range(1000) if not is_sampled("billing-agent", f"t{i}", 0.05))
    response = client.post("/api/v1/items", json=output(trace, category="search"), headers=bearer(token))
    assert response.status_code == 200
    assert response.json == {"trace_id": trace, "queued": False, "id": None, "duplicate": False}
    with database.session() as s:
        assert s.exec(select(Item)).all() == []


def test_batch_is_answered_item_by_item(client, token, database):
    """A batch gets one result per item, in order, with in-batch and earlier duplicates collapsed."""
    earlier = output()
    client.post("/api/v1/items", json=earlier, headers=bearer(token))
    fresh = [output() for _ in range(50)]
    batch = [earlier, *fresh, fresh[0]]
    response = client.post("/api/v1/items", json={"items": batch}, headers=bearer(token))
    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert [r["trace_id"] for r in results] == [b["trace_id"] for b in batch]
    assert results[0]["duplicate"] and not results[1]["duplicate"] and results[-1]["duplicate"]
    assert results[-1]["id"] == results[1]["id"]
    with database.session() as s:
        assert len(s.exec(select(Item)).all()) == 51


def test_batch_with_a_bad_item_names_it_and_stores_nothing(client, token, database):
    """One wrong item makes the batch a 422 naming items[i].field, and nothing is stored."""
    batch = [output(), output(category=7)]
    response = client.post("/api/v1/items", json={"items": batch}, headers=bearer(token))
    assert response.status_code == 422
    assert response.json["error"]["field"] == "items[1].category"
    with database.session() as s:
        assert s.exec(select(Item)).all() == []


def test_item_status_and_decision_reach_the_sending_agent_only(client, token, database, settings, now):
    """GET shows status and outcome to its own agent; another agent and canaries get 404."""
    item_id = client.post("/api/v1/items", json=output(), headers=bearer(token)).json["id"]
    other = issue_token(database, "other-agent", now=now)
    assert client.get(f"/api/v1/items/{item_id}", headers=bearer(other)).status_code == 404
    reviewer = add_reviewer(database, "rita", now=now)
    decide_next(database, reviewer, Verdict.REJECT, settings=settings, now=now, public_id=item_id)
    mine = client.get(f"/api/v1/items/{item_id}", headers=bearer(token))
    assert mine.status_code == 200
    assert mine.json["status"] == ItemStatus.DECIDED.value and mine.json["outcome"] == "reject"
    with database.session_scope() as s:  # a canary-like item: no token, same agent name
        planted = add_outputs(s, 1, now=now)[0]
        planted.agent = "billing-agent"
        s.add(planted)
        planted_id = planted.public_id
    missing = client.get(f"/api/v1/items/{planted_id}", headers=bearer(token))
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"


def test_tool_trace_is_stored_for_the_reviewer_and_validated(client, token, database):
    """An output's tool trace reaches the item payload; a step without a tool is a 422 naming it."""
    steps = [{"tool": "ledger.lookup", "args": {"account": "A-1"}, "result": "12.00"},
             {"tool": "ledger.lookup", "args": {"account": "A-1"}}]
    response = client.post("/api/v1/items", json=output(trace=steps), headers=bearer(token))
    assert response.status_code == 201, response.json
    with database.session() as s:
        item = s.exec(select(Item)).one()
    assert item.payload["trace"] == [steps[0], {"tool": "ledger.lookup", "args": {"account": "A-1"}}]
    bad = client.post("/api/v1/items", json=output(trace=[{"args": {}}]), headers=bearer(token))
    assert bad.status_code == 422
    assert bad.json["error"]["field"].startswith("trace")
