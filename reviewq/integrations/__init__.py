"""Adapters that put a reviewq approval behind the human-in-the-loop hook of agent frameworks.

Each is an optional extra and imports its framework only when used:
- `openai_agents`: `needs_approval` policies and `resolve_interruptions` (pip install 'reviewq[openai-agents]');
- `langgraph`: decisions for LangChain's HumanInTheLoopMiddleware interrupts and an `interrupt`
  helper for plain LangGraph nodes (pip install 'reviewq[langgraph]');
- `pydantic_ai`: `DeferredToolResults` for `DeferredToolRequests` (pip install 'reviewq[pydantic-ai]').

All of them share `gate.py`: one approval per tool call, bound to its exact arguments and
consumed once before the framework runs the tool; anything but a usable approve is a denial.
"""
