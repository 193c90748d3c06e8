"""PydanticAI: resolve an agent run's `DeferredToolRequests` from reviewq decisions.

    agent = Agent(model, output_type=[str, DeferredToolRequests])

    @agent.tool_plain(requires_approval=True)
    def issue_refund(order_id: str, amount_usd: float) -> str: ...

    result = agent.run_sync("Refund order A-1001")
    while isinstance(result.output, DeferredToolRequests):
        results = resolve_deferred(rq, result.output, intent="refund", actor="jane@example.com")
        result = agent.run_sync(message_history=result.all_messages(), deferred_tool_results=results)

Every approval request goes to reviewq first (so reviewers see them all at once), then each is
waited for. Approved calls are consumed and answered `ToolApproved()`; everything else is a
`ToolDenied` whose message the model reads.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied

from reviewq.client import ReviewQ
from reviewq.integrations.gate import ask, settle


def resolve_deferred(rq: ReviewQ, requests: DeferredToolRequests, *, intent: str, actor: str,
                     trace_id: str | None = None, timeout_s: int | None = None, wait_s: float | None = None,
                     irreversible: bool = False, context: Any = None) -> DeferredToolResults:
    """Answers for every call in `requests.approvals`, decided by reviewq's reviewers."""
    asked = []
    for call in requests.approvals:
        args = call.args_as_dict()
        approval = ask(rq, name=call.tool_name, args=args, call_id=call.tool_call_id, intent=intent, actor=actor,
                       trace_id=trace_id, timeout_s=timeout_s, irreversible=irreversible, context=context,
                       key_prefix="pydantic-ai")
        asked.append((call, args, approval))
    approvals: dict[str, ToolApproved | ToolDenied] = {}
    answered_by: dict[str, str] = {}
    for call, args, approval in asked:
        ruling = settle(rq, approval, name=call.tool_name, args=args, wait_s=wait_s)
        approvals[call.tool_call_id] = ToolApproved() if ruling.approved else ToolDenied(ruling.message)
        answered_by[call.tool_call_id] = f"reviewq:{ruling.approver or approval['id']}"
    return requests.build_results(approvals=approvals, answered_by=answered_by)
