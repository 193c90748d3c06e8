"""The plain Python client: an approval bound to the exact call, spent once.

    REVIEWQ_TOKEN=rq_... python examples/bound_approval_client.py

Asks for two refunds, waits for a reviewer in the queue, and runs only what was approved.
"""

from __future__ import annotations

from _common import client

from reviewq.client import ApprovalDenied, ApprovalExpired, ApprovalNotUsable, DigestMismatch

rq = client()


@rq.require_approval(intent="refund", timeout_s=600)
def issue_refund(order_id: str, amount_usd: float) -> str:
    return f"refunded {order_id} ${amount_usd:.2f}"


with rq.trace("example-client"):
    for order_id, amount in (("A-1", 42.0), ("A-2", 9000.0)):
        try:
            print(issue_refund(order_id, amount))
        except ApprovalDenied as denied:
            print(f"not run: {order_id} was denied ({denied.approval.get('reason')})")
        except ApprovalExpired:
            print(f"not run: nobody decided {order_id} in time")

# The binding, by hand: an approval of one call cannot be spent on another.
approval = rq.request_approval(trace_id="example-manual", actor="jane@example.com", intent="refund",
                               tool_call={"name": "issue_refund", "args": {"order_id": "A-3", "amount_usd": 10}},
                               idempotency_key="example-manual-A-3")
approval = rq.wait(approval["id"])
try:
    rq.consume(approval, name="issue_refund", args={"order_id": "A-3", "amount_usd": 10_000})
except DigestMismatch:
    print("refused: the arguments differ from the approved call")
if approval["outcome"] == "approve":
    rq.consume(approval, name="issue_refund", args={"order_id": "A-3", "amount_usd": 10})
    print("refunded A-3 $10.00")
    try:
        rq.consume(approval, name="issue_refund", args={"order_id": "A-3", "amount_usd": 10})
    except ApprovalNotUsable as used:
        print(f"refused: {used.code}")
