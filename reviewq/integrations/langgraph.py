"""LangGraph / LangChain: answer human-in-the-loop interrupts with reviewq decisions.

With LangChain's `HumanInTheLoopMiddleware` (batched or per_call mode):

    agent = create_agent(model, tools=[issue_refund], checkpointer=InMemorySaver(),
                         middleware=[HumanInTheLoopMiddleware(interrupt_on={"issue_refund": True})])
    result = agent.invoke({"messages": [...]}, config)
    while interrupts_of(result):
        result = agent.invoke(resume_command(rq, result, intent="refund", actor="jane"), config)

In a plain LangGraph node, `request_human_approval(name, args)` raises the same kind of interrupt
(a `tool_approval` request) and returns the reviewer's decision on resume.

Each gated call becomes one reviewq approval of its exact name and arguments; an approve is
consumed before the decision is returned, so the tool runs once. reviewq has no edit: a reviewer
who wants other arguments rejects, and the note reaches the model with the rejection.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import Command, interrupt

from reviewq.client import ReviewQ
from reviewq.integrations.gate import Ruling, ask, settle
from reviewq.tool_digest import tool_call_digest


def interrupts_of(result: Any) -> list[Any]:
    """The pending interrupts of an invoke() result (v2 output object or v1 dict)."""
    found = getattr(result, "interrupts", None)
    if found is None and isinstance(result, dict):
        found = result.get("__interrupt__")
    return list(found or [])


def decision(ruling: Ruling) -> dict[str, Any]:
    """A LangChain HITL decision: approve, or reject with the message the model reads."""
    return {"type": "approve"} if ruling.approved else {"type": "reject", "message": ruling.message}


def _requests(value: Any, interrupt_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(call id, name, args) of each action in one interrupt value."""
    if isinstance(value, dict) and value.get("type") == "tool_approval":
        return [(str(value.get("tool_call_id") or interrupt_id), value["name"], dict(value.get("args") or {}))]
    if isinstance(value, dict) and "action_requests" in value:
        return [(f"{interrupt_id}-{i}", action["name"], dict(action.get("args") or {}))
                for i, action in enumerate(value["action_requests"])]
    raise ValueError(f"not a human-in-the-loop interrupt: {type(value).__name__}")


def resume_command(rq: ReviewQ, result: Any, *, intent: str, actor: str, trace_id: str | None = None,
                   timeout_s: int | None = None, wait_s: float | None = None,
                   irreversible: bool = False) -> Command:
    """`Command(resume=...)` answering every pending interrupt of `result` from reviewq's reviewers."""
    asked = []
    for item in interrupts_of(result):
        for call_id, name, args in _requests(item.value, item.id):
            approval = ask(rq, name=name, args=args, call_id=call_id, intent=intent, actor=actor, trace_id=trace_id,
                           timeout_s=timeout_s, irreversible=irreversible, key_prefix="langgraph")
            asked.append((item, name, args, approval))
    answers: dict[str, Any] = {}
    for item, name, args, approval in asked:
        answer = decision(settle(rq, approval, name=name, args=args, wait_s=wait_s))
        if isinstance(item.value, dict) and item.value.get("type") == "tool_approval":
            answers[item.id] = answer
        else:
            answers.setdefault(item.id, {"decisions": []})["decisions"].append(answer)
    return Command(resume=answers)


def request_human_approval(name: str, args: dict[str, Any], *, description: str = "") -> dict[str, Any]:
    """Inside a LangGraph node: pause for a reviewq decision on `name(**args)`; returns the decision.

    The node runs again from the top on resume, so the request id is derived from the call itself."""
    value = {"type": "tool_approval", "tool_call_id": "call-" + tool_call_digest(name, args)[:24], "name": name,
             "args": args, "description": description or f"Approve {name}?"}
    return interrupt(value)
