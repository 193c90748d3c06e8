"""An MCP client (the official SDK) using `reviewq mcp` over stdio to gate an action.

    REVIEWQ_TOKEN=rq_... python examples/mcp_server_client.py
"""

from __future__ import annotations

import json
import os
import sys

import anyio
from _common import URL, token
from mcp import ClientSession, StdioServerParameters, stdio_client

CALL = {"name": "issue_refund", "args": {"order_id": "A-1", "amount_usd": 42}}


def answer(result) -> dict:
    return json.loads(result.content[0].text)


async def main() -> None:
    server = StdioServerParameters(command=sys.executable, args=["-m", "reviewq", "mcp", "--url", URL],
                                   env={**os.environ, "REVIEWQ_MCP_TOKEN": token()})
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        asked = answer(await session.call_tool("request_approval", {"intent": "refund", "tool_call": CALL}))
        print(f"asked: {asked['approval_id']} ({asked['status']})")
        status = asked
        for _poll in range(60):  # each poll waits up to 30 s for the decision
            status = answer(await session.call_tool("get_approval_status", {"approval_id": asked["approval_id"],
                                                                            "wait_s": 30}))
            if status["status"] != "pending":
                break
        if not status["may_proceed"]:
            print(f"not run: {status['status']}")
            return
        spent = await session.call_tool("consume_approval", {"approval_id": asked["approval_id"], "tool_call": CALL})
        if spent.is_error:
            print("not run: the approval could not be used")
            return
        print("refunded A-1 $42.00")


anyio.run(main)
