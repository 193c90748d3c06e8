"""`reviewq mcp --transport http`: the MCP server over streamable HTTP, behind a bearer-token gate.

Every HTTP request must carry `Authorization: Bearer <agent token>`; the gate asks reviewq
whether it knows the token (GET /api/v1/whoami) and answers 401 otherwise, before any MCP
message is read. The tools then act as that token's agent.
"""

from __future__ import annotations

import json

from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from reviewq.mcp.gateway import Gateway, bearer_token


class BearerGate:
    """ASGI middleware: 401 unless the request's bearer token is a live reviewq agent token."""

    def __init__(self, app: ASGIApp, gateway: Gateway):
        self.app, self.gateway = app, gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        token = bearer_token(headers)
        if token is None:
            await _refuse(send, 401, "unauthorized", "send Authorization: Bearer <reviewq agent token>")
            return
        try:
            known = await self.gateway.verify(token)
        except Exception:  # reviewq unreachable: nobody is let in, and the client may retry
            await _refuse(send, 503, "reviewq_unreachable", "reviewq could not be reached to check the token")
            return
        if not known:
            await _refuse(send, 401, "unauthorized", "the token is unknown or revoked")
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="reviewq-mcp"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def http_app(server: MCPServer, gateway: Gateway, *, host: str = "127.0.0.1") -> ASGIApp:
    """The streamable HTTP endpoint (/mcp) of `server`, gated by agent token."""
    return BearerGate(server.streamable_http_app(host=host), gateway)


def serve_http(server: MCPServer, gateway: Gateway, *, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(http_app(server, gateway, host=host), host=host, port=port, log_level="warning")
