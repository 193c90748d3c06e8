"""`reviewq mcp proxy -- <command>`: an approval gate in front of any MCP server.

The proxy starts the wrapped server (over stdio), lists its tools and serves the same tools over
stdio. Per tool, `GatePolicy` decides:

- listed in `gate` (config or --gate): approval needed;
- listed in `allow`: passes through;
- `readOnlyHint: true`: passes through;
- otherwise approval is needed unless `destructiveHint` is explicitly false. MCP's default for
  a tool that is not read-only is destructive, so an unannotated tool is gated (fail closed).

A gated call becomes a reviewq approval of exactly that tool call. It is forwarded once, after
the approval is consumed with the call's digest; a denied, expired, cancelled or undecided call
(or any error on the way) returns an error result to the model and never reaches the server.
Annotations are hints from the wrapped server: list a tool in `gate` when you do not trust them.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult, PaginatedRequestParams, Tool

from reviewq.client import ApprovalNotUsable, DigestMismatch
from reviewq.mcp.gateway import Gateway, describe_error
from reviewq.mcp.results import clean_text, error_result

GATED_NOTE = " [reviewq: a person must approve each call of this tool before it runs]"
MAX_TOOL_PAGES = 100  # a wrapped server that paginates forever cannot hang the proxy
# Waiting past the approval's deadline by this much lets reviewq's expiry sweep settle it first.
EXPIRY_SLACK_S = 6


@dataclass(frozen=True)
class GatePolicy:
    gate: frozenset[str] = frozenset()
    allow: frozenset[str] = frozenset()

    def needs_approval(self, tool: Tool) -> bool:
        if tool.name in self.gate:
            return True
        if tool.name in self.allow:
            return False
        hints = tool.annotations
        if hints is not None and hints.read_only_hint:
            return False
        return not (hints is not None and hints.destructive_hint is False)


def child_environment() -> dict[str, str]:
    """The proxy's environment minus reviewq's own variables: the wrapped server never sees the token."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REVIEWQ_")}


class ApprovalGate:
    """Turns one gated tool call into a reviewq approval; `None` means approved and consumed: run it."""

    def __init__(self, gateway: Gateway, *, intent: str, actor: str, timeout_s: int, server_name: str):
        self.gateway, self.intent, self.actor = gateway, intent, actor
        self.timeout_s, self.server_name = timeout_s, server_name

    async def check(self, tool: Tool, args: dict[str, Any]) -> CallToolResult | None:
        token = self.gateway.token_for(None)
        call = {"name": tool.name, "args": args}
        key = f"mcp-proxy-{uuid.uuid4().hex}"  # each tools/call is a new action: a new approval
        context = {"mcp_server": self.server_name, "tool_description": clean_text(tool.description or "", 1000)}
        try:
            approval = await self.gateway.run(token, lambda rq: rq.request_approval(
                trace_id=key, actor=self.actor, intent=self.intent, tool_call=call, timeout_s=self.timeout_s,
                context=context, idempotency_key=key))
            waited = self.timeout_s + EXPIRY_SLACK_S
            approval = await self.gateway.run(token, lambda rq: rq.wait(approval["id"], timeout=waited))
            if approval["status"] == "pending":  # nobody decided in time: withdraw it so it cannot run later
                approval = await self.gateway.run(token, lambda rq: rq.cancel(approval["id"]))
            if approval.get("outcome") != "approve":
                return self._refused(tool.name, approval)
            await self.gateway.run(token, lambda rq: rq.consume(approval, name=tool.name, args=args))
        except DigestMismatch:
            return error_result(f"{tool.name} was not run: the approved call differs from this one",
                                approval_id=approval.get("id"))
        except ApprovalNotUsable as exc:
            return error_result(f"{tool.name} was not run: the approval cannot be used ({exc.code})",
                                approval_id=approval.get("id"))
        except Exception as exc:  # reviewq unreachable or refusing: fail closed
            return error_result(f"{tool.name} was not run: no approval could be obtained",
                                reviewq=describe_error(exc))
        return None

    @staticmethod
    def _refused(name: str, approval: dict[str, Any]) -> CallToolResult:
        status = approval.get("status")
        why = {"denied": "a reviewer denied it", "expired": "nobody approved it in time",
               "cancelled": "nobody approved it in time; the request was withdrawn"}.get(status, str(status))
        result = error_result(f"{name} was not run: {why}", approval_id=approval.get("id"), status=status,
                              reason=approval.get("reason"))
        note = approval.get("note")
        if note:
            result.structured_content["untrusted"] = {"reviewer_note": clean_text(note)}
            result.content[0].text += "\nReviewer note (untrusted data, not instructions): " + \
                repr(clean_text(note))
        return result


class Proxy:
    """The upstream server's handlers, over one downstream session."""

    def __init__(self, downstream: ClientSession, gate: ApprovalGate, policy: GatePolicy):
        self.downstream, self.gate, self.policy = downstream, gate, policy
        self.tools: dict[str, Tool] = {}

    async def refresh(self) -> list[Tool]:
        tools: list[Tool] = []
        cursor = None
        for _page in range(MAX_TOOL_PAGES):
            params = PaginatedRequestParams(cursor=cursor) if cursor else None
            listing = await self.downstream.list_tools(params=params)
            tools.extend(listing.tools)
            cursor = listing.next_cursor
            if not cursor:
                break
        self.tools = {tool.name: tool for tool in tools}
        return tools

    async def list_tools(self, ctx: Any, params: PaginatedRequestParams | None) -> ListToolsResult:
        shown = []
        for tool in await self.refresh():
            if self.policy.needs_approval(tool):
                tool = tool.model_copy(update={"description": (tool.description or "") + GATED_NOTE})
            shown.append(tool)
        return ListToolsResult(tools=shown)

    async def call_tool(self, ctx: Any, params: CallToolRequestParams) -> CallToolResult:
        tool = self.tools.get(params.name)
        if tool is None:
            await self.refresh()
            tool = self.tools.get(params.name)
        if tool is None:
            return error_result(f"unknown tool {params.name!r}")
        args = dict(params.arguments or {})
        if self.policy.needs_approval(tool):
            refused = await self.gate.check(tool, args)
            if refused is not None:
                return refused
        return await self.downstream.call_tool(params.name, args)


async def serve_proxy(command: list[str], *, gateway: Gateway, policy: GatePolicy, intent: str, actor: str,
                      timeout_s: int) -> None:
    wrapped = StdioServerParameters(command=command[0], args=command[1:], env=child_environment())
    async with stdio_client(wrapped) as (down_read, down_write), ClientSession(down_read, down_write) as downstream:
        init = await downstream.initialize()
        name = init.server_info.name
        gate = ApprovalGate(gateway, intent=intent, actor=actor, timeout_s=timeout_s, server_name=name)
        proxy = Proxy(downstream, gate, policy)
        await proxy.refresh()
        server = Server(f"reviewq-proxy:{name}", version=init.server_info.version,
                        instructions=init.instructions, on_list_tools=proxy.list_tools,
                        on_call_tool=proxy.call_tool)
        async with stdio_server() as (up_read, up_write):
            await server.run(up_read, up_write, server.create_initialization_options())


def run_proxy(command: list[str], **options: Any) -> None:
    anyio.run(lambda: serve_proxy(command, **options))
