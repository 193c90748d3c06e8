"""A small MCP server for the proxy tests: a read-only tool, destructive ones, and an additive one.

Each call of a writing tool appends one line to the file named by MCP_TEST_LEDGER, so a test can
count exactly how often the wrapped server really ran it. Run as a script: it speaks MCP on stdio.
"""

from __future__ import annotations

import json
import os

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("ledger-server")


def _record(tool: str, **args) -> int:
    path = os.environ["MCP_TEST_LEDGER"]
    with open(path, "a", encoding="utf-8") as ledger:
        ledger.write(json.dumps({"tool": tool, **args}) + "\n")
    with open(path, encoding="utf-8") as ledger:
        return sum(1 for _ in ledger)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def read_balance(account: str) -> str:
    """The balance of an account (reads only)."""
    return f"{account}: 12.40"


@server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
def delete_record(record_id: str) -> str:
    """Delete a record for good."""
    return f"deleted {record_id} (write #{_record('delete_record', record_id=record_id)})"


@server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
def add_note(text: str) -> str:
    """Append a note (additive: nothing is overwritten)."""
    return f"noted (write #{_record('add_note', text=text)})"


@server.tool()
def rename_account(account: str, name: str) -> str:
    """Rename an account (no annotations: MCP's defaults say it may be destructive)."""
    return f"renamed (write #{_record('rename_account', account=account, name=name)})"


if __name__ == "__main__":
    server.run("stdio")
