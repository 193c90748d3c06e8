"""OpenAI Agents SDK: a `needs_approval` policy and a helper that resolves a run's interruptions.

    gate = ReviewQApprovals(rq, intent="refund", actor="jane@example.com")

    @function_tool(needs_approval=gate.needs_approval("issue_refund"))
    def issue_refund(order_id: str, amount_usd: float) -> str: ...

    result = await Runner.run(agent, "Refund order A-1001")
    while result.interruptions:
        state = await gate.resolve(result)          # reviewers decide in reviewq
        result = await Runner.run(agent, state)

`needs_approval(name)` is the SDK's per-call policy for the tool `name` (the SDK does not tell a
policy which tool it guards); it asks reviewq at once, so the request is queued while the run unwinds;
`resolve` waits for each decision, consumes the approved calls (their exact arguments, once) and
approves or rejects them on the run's state; rejections carry a message the model reads.
The SDK consults a policy only when validating the arguments leaves them unchanged (42 for a
float parameter is a change); otherwise it interrupts without asking, and `resolve` asks reviewq.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from agents import RunContextWrapper, RunState, ToolApprovalItem

from reviewq.client import ReviewQ
from reviewq.integrations.gate import Ruling, ask, settle


def _call_id(item: ToolApprovalItem) -> str:
    raw = item.raw_item
    value = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
    return str(value or getattr(raw, "id", None) or "call")


def _arguments(item: ToolApprovalItem) -> dict[str, Any]:
    try:
        parsed = json.loads(item.arguments or "{}")
    except ValueError:
        parsed = {"_unparsed_arguments": item.arguments}
    return parsed if isinstance(parsed, dict) else {"_arguments": parsed}


class ReviewQApprovals:
    """Human approval of tool calls through reviewq, for tools built with `needs_approval=`."""

    def __init__(self, rq: ReviewQ, *, intent: str, actor: str, timeout_s: int | None = None,
                 wait_s: float | None = None, irreversible: bool = False,
                 when: Callable[[str, dict[str, Any]], bool] | None = None):
        self.rq, self.intent, self.actor = rq, intent, actor
        self.timeout_s, self.wait_s, self.irreversible, self.when = timeout_s, wait_s, irreversible, when

    def _ask(self, name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
        return ask(self.rq, name=name, args=args, call_id=call_id, intent=self.intent, actor=self.actor,
                   timeout_s=self.timeout_s, irreversible=self.irreversible, key_prefix="openai-agents")

    def needs_approval(self, name: str) -> Callable[[RunContextWrapper[Any], dict[str, Any], str], Any]:
        """The SDK's per-call policy for tool `name`: `when(name, args)` (default: always) decides, and a call
        that needs approval is sent to reviewq at once."""

        async def policy(ctx: RunContextWrapper[Any], params: dict[str, Any], call_id: str) -> bool:
            if self.when is not None and not self.when(name, params):
                return False
            await anyio.to_thread.run_sync(lambda: self._ask(name, dict(params), call_id))
            return True

        return policy

    def rule(self, item: ToolApprovalItem) -> Ruling:
        """Ask (or find) the approval of one interrupted call, wait for it, and rule."""
        name, args = item.tool_name or item.name or "tool", _arguments(item)
        approval = self._ask(name, args, _call_id(item))
        return settle(self.rq, approval, name=name, args=args, wait_s=self.wait_s)

    async def resolve(self, result: Any) -> RunState[Any]:
        """The run's state with every pending interruption approved or rejected by reviewq."""
        state = result.to_state()
        for item in state.get_interruptions():
            ruling = await anyio.to_thread.run_sync(lambda item=item: self.rule(item))
            if ruling.approved:
                state.approve(item)
            else:
                state.reject(item, rejection_message=ruling.message)
        return state
