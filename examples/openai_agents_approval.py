"""OpenAI Agents SDK: `needs_approval` from reviewq, and the run's interruptions resolved by reviewers.

    REVIEWQ_TOKEN=rq_... python examples/openai_agents_approval.py

Runs offline: the SDK's ScriptedModel plays the LLM (no API key, tracing off).
"""

from __future__ import annotations

import asyncio

from _common import client
from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from reviewq.integrations.openai_agents import ReviewQApprovals

gate = ReviewQApprovals(client(), intent="refund", actor="jane@example.com", timeout_s=600)


@function_tool(needs_approval=gate.needs_approval("issue_refund"))
def issue_refund(order_id: str, amount_usd: float) -> str:
    """Send money back to the customer."""
    return f"refunded {order_id} ${amount_usd:.2f}"


async def main() -> None:
    llm = ScriptedModel([
        [function_call("issue_refund", {"order_id": "A-1", "amount_usd": 42.5}, call_id="c1"),
         function_call("issue_refund", {"order_id": "A-2", "amount_usd": 9000.5}, call_id="c2")],
        [assistant_message("Done.")],
    ])
    agent = Agent(name="billing", model=llm, tools=[issue_refund])
    config = RunConfig(tracing_disabled=True)
    result = await Runner.run(agent, "Refund orders A-1 and A-2", run_config=config)
    while result.interruptions:
        state = await gate.resolve(result)
        result = await Runner.run(agent, state, run_config=config)
    for item in result.new_items:
        if item.type == "tool_call_output_item":
            print(item.output)
    print(result.final_output)


asyncio.run(main())
