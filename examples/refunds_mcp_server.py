"""A tiny MCP server with one read-only and one destructive tool, for the proxy example.

    reviewq mcp proxy -- python examples/refunds_mcp_server.py
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("refunds")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def order_total(order_id: str) -> str:
    """What the customer paid for an order."""
    return f"{order_id}: $120.00"


@server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
def issue_refund(order_id: str, amount_usd: float) -> str:
    """Send money back to the customer. Cannot be undone."""
    return f"refunded {order_id} ${amount_usd:.2f}"


if __name__ == "__main__":
    server.run("stdio")
