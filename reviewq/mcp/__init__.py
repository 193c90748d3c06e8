"""reviewq over the Model Context Protocol (the official `mcp` SDK; install `reviewq[mcp]`).

- `server.py`: `reviewq mcp`, an MCP server whose tools ask reviewq for approvals and send it
  outputs, over stdio or streamable HTTP, authenticated by an agent token.
- `proxy.py`: `reviewq mcp proxy -- <command>`, an approval gate in front of another MCP server.
- `results.py`: what the model is shown: JSON with people's text marked untrusted.
"""
