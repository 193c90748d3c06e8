"""PydanticAI: tools with `requires_approval=True`, resolved by reviewq reviewers.

    REVIEWQ_TOKEN=rq_... python examples/pydantic_ai_approval.py

Runs offline: a FunctionModel plays the LLM and asks for two refunds.
"""

from __future__ import annotations

from _common import client
from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from reviewq.integrations.pydantic_ai import resolve_deferred


def scripted_llm(messages, info: AgentInfo) -> ModelResponse:
    last = messages[-1]
    returns = [p for p in last.parts if isinstance(p, ToolReturnPart)] if isinstance(last, ModelRequest) else []
    if returns:
        return ModelResponse(parts=[TextPart("\n".join(str(p.content) for p in returns))])
    return ModelResponse(parts=[ToolCallPart("issue_refund", {"order_id": "A-1", "amount_usd": 42}, tool_call_id="c1"),
                                ToolCallPart("issue_refund", {"order_id": "A-2", "amount_usd": 9000},
                                             tool_call_id="c2")])


agent = Agent(FunctionModel(scripted_llm), output_type=[str, DeferredToolRequests])


@agent.tool_plain(requires_approval=True)
def issue_refund(order_id: str, amount_usd: float) -> str:
    return f"refunded {order_id} ${amount_usd:.2f}"


rq = client()
result = agent.run_sync("Refund orders A-1 and A-2")
while isinstance(result.output, DeferredToolRequests):
    answers = resolve_deferred(rq, result.output, intent="refund", actor="jane@example.com", timeout_s=600)
    result = agent.run_sync(message_history=result.all_messages(), deferred_tool_results=answers)
print(result.output)
