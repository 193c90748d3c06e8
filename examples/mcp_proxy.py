"""`reviewq mcp proxy` in front of another MCP server: the destructive tool waits for a reviewer.

    REVIEWQ_TOKEN=rq_... python examples/mcp_proxy.py

This is what an MCP host (Claude Desktop, an IDE, an agent) sees when its config launches
`reviewq mcp proxy -- python examples/refunds_mcp_server.py` instead of the server itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
from _common import URL, token
from mcp import ClientSession, StdioServerParameters, stdio_client

WRAPPED = Path(__file__).with_name("refunds_mcp_server.py")


async def main() -> None:
    proxy = StdioServerParameters(
        command=sys.executable,
        args=["-m", "reviewq", "mcp", "proxy", "--url", URL, "--", sys.executable, str(WRAPPED)],
        env={**os.environ, "REVIEWQ_MCP_TOKEN": token()},
    )
    async with stdio_client(proxy) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        total = await session.call_tool("order_total", {"order_id": "A-1"})  # read-only: straight through
        print(total.content[0].text)
        for order_id, amount in (("A-1", 42), ("A-2", 9000)):
            result = await session.call_tool("issue_refund", {"order_id": order_id, "amount_usd": amount})
            if result.is_error:  # denied, expired or undecided: the wrapped server never saw the call
                print("not run: " + result.structured_content["error"])
            else:
                print(result.content[0].text)


anyio.run(main)
