"""LangChain's human-in-the-loop middleware (a LangGraph interrupt), answered by reviewq reviewers.

    REVIEWQ_TOKEN=rq_... python examples/langgraph_approval.py

Runs offline: LangChain's GenericFakeChatModel plays the LLM.
"""

from __future__ import annotations

from _common import client
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from reviewq.integrations.langgraph import interrupts_of, resume_command


class ScriptedChatModel(GenericFakeChatModel):
    def bind_tools(self, tools, **kwargs):  # the fake model ignores tool schemas
        return self


@tool
def issue_refund(order_id: str, amount_usd: float) -> str:
    """Send money back to the customer."""
    return f"refunded {order_id} ${amount_usd:.2f}"


calls = [{"name": "issue_refund", "args": {"order_id": "A-1", "amount_usd": 42}, "id": "c1"},
         {"name": "issue_refund", "args": {"order_id": "A-2", "amount_usd": 9000}, "id": "c2"}]
llm = ScriptedChatModel(messages=iter([AIMessage(content="", tool_calls=calls), AIMessage(content="Done.")]))
agent = create_agent(llm, tools=[issue_refund], checkpointer=InMemorySaver(),
                     middleware=[HumanInTheLoopMiddleware(interrupt_on={"issue_refund": True})])

rq = client()
config = {"configurable": {"thread_id": "example"}}
result = agent.invoke({"messages": [{"role": "user", "content": "Refund orders A-1 and A-2"}]}, config, version="v2")
while interrupts_of(result):
    result = agent.invoke(resume_command(rq, result, intent="refund", actor="jane@example.com", timeout_s=600),
                          config, version="v2")
for message in result.value["messages"]:
    if isinstance(message, ToolMessage):
        print(message.content)
print(result.value["messages"][-1].content)
