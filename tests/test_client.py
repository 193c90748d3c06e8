"""The Python client against a live server: submit, approve/deny through the decorator, wait, cancel."""

from __future__ import annotations

import threading

import pytest

from reviewq.client import ApprovalDenied, ApprovalExpired, ApprovalNotUsable, ReviewQ, ReviewQError
from reviewq.domain.approvals import expire_due
from reviewq.models import Item, ItemStatus, Verdict, utcnow
from tests.support.api import add_reviewer, decide_next, issue_token


@pytest.fixture
def rq(live_server, database, now):
    return ReviewQ(live_server.url, issue_token(database, now=now).plaintext, actor="ops@example.com")


def decide_when_queued(database, settings, now, verdict, count=1):
    """A reviewer thread: decides the next `count` approvals as they arrive (bounded wait per poll)."""
    reviewer = add_reviewer(database, f"rev-{verdict.value}", now=now)
    from sqlmodel import select

    def run():
        for _ in range(count):
            for _attempt in range(500):
                with database.session() as s:
                    pending = s.exec(select(Item.id).where(Item.status == ItemStatus.QUEUED)).first()
                if pending is not None:
                    decide_next(database, reviewer, verdict, settings=settings, now=now)
                    break
                threading.Event().wait(0.02)  # polling the queue stands in for a person; bounded

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_submit_output_and_read_it_back(rq):
    """submit_output queues a high-risk output and get_item returns it to the same agent."""
    result = rq.submit_output(trace_id="t-1", category="billing", input="q", output="a")
    assert result["queued"] is True
    assert rq.get_item(result["id"])["status"] == "queued"
    batch = rq.submit_outputs([{"trace_id": f"b{i}", "category": "billing", "input": 1, "output": 2} for i in range(3)])
    assert [r["queued"] for r in batch] == [True, True, True]


def test_decorator_runs_the_action_only_when_approved(rq, database, settings):
    """An approved call runs the function once; a retry of the same call finds the same, spent approval
    and does not run again."""
    ran = []

    @rq.require_approval(intent="refund", irreversible=False)
    def refund(order: str, amount_usd: int = 5) -> str:
        ran.append((order, amount_usd))
        return "done"

    thread = decide_when_queued(database, settings, utcnow(), Verdict.APPROVE)  # the real clock: consume reads it
    assert refund("A-1", amount_usd=9) == "done"
    thread.join(30)
    with pytest.raises(ApprovalNotUsable) as used:
        refund("A-1", 9)  # a retry: same key, same approval, no second request to review, no second run
    assert used.value.code == "already_consumed"
    with database.session() as s:
        from sqlmodel import select

        items = s.exec(select(Item)).all()
    assert len(items) == 1
    assert items[0].payload["tool_call"] == {"name": refund.__qualname__, "args": {"order": "A-1", "amount_usd": 9}}
    assert ran == [("A-1", 9)]


def test_decorator_raises_on_deny_and_on_expiry(rq, database, settings, now):
    """A denied call raises ApprovalDenied and an expired one ApprovalExpired; neither runs the function."""
    ran = []

    @rq.require_approval(intent="wire", irreversible=False, timeout_s=60)
    def wire(amount: int) -> None:
        ran.append(amount)

    thread = decide_when_queued(database, settings, now, Verdict.REJECT)
    with pytest.raises(ApprovalDenied) as denied:
        wire(100)
    thread.join(30)
    assert denied.value.approval["outcome"] == "deny"

    def expire_soon():
        for _attempt in range(500):
            with database.session_scope() as s:
                from datetime import timedelta

                if expire_due(session=s, now=now + timedelta(days=400), settings=settings):
                    return
            threading.Event().wait(0.02)

    expirer = threading.Thread(target=expire_soon)
    expirer.start()
    with pytest.raises(ApprovalExpired):
        wire(200)
    expirer.join(30)
    assert ran == []


def test_wait_times_out_pending_and_cancel_settles(rq):
    """wait(timeout) returns the pending approval after the timeout; cancel() makes it cancelled."""
    approval = rq.request_approval(trace_id="t", actor="a", intent="refund", tool_call={"name": "r", "args": {}},
                                   idempotency_key="k-1")
    assert rq.wait(approval["id"], timeout=0.3)["status"] == "pending"
    assert rq.cancel(approval["id"])["status"] == "cancelled"
    with pytest.raises(ReviewQError) as exc:
        rq.request_approval(trace_id="other", actor="a", intent="refund", tool_call={"name": "r", "args": {}},
                            idempotency_key="k-1")
    assert exc.value.status == 409 and exc.value.field == "Idempotency-Key"
