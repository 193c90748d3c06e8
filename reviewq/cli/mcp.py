"""`reviewq mcp`: the MCP server for agents, and `reviewq mcp proxy -- <command>`, an approval gate.

Both need the optional extra: `pip install 'reviewq[mcp]'`. Over stdio nothing but MCP goes to
standard output; diagnostics go to standard error.
"""

from __future__ import annotations

import click

from reviewq.cli.common import CommandFailed, settings_from_context


def _require_sdk() -> None:
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise CommandFailed("the MCP SDK is not installed: pip install 'reviewq[mcp]'") from None


def reviewq_url(explicit: str | None) -> str:
    """--url, else [mcp] url, else this deployment's own [server] address."""
    settings = settings_from_context()
    if explicit:
        return explicit
    if settings.mcp.url:
        return settings.mcp.url
    host = settings.server.host if settings.server.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
    return f"http://{host}:{settings.server.port}"


def agent_token(explicit: str | None, *, required: bool) -> str | None:
    token = explicit or settings_from_context().mcp.token or None
    if required and not token:
        raise CommandFailed("no agent token: pass --token or set REVIEWQ_MCP_TOKEN (see `reviewq token create`)")
    return token


@click.group("mcp", invoke_without_command=True)
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True,
              help="stdio for one agent process, or streamable HTTP (endpoint /mcp) for many.")
@click.option("--url", help="reviewq's base URL (default: [mcp] url, else [server] host and port).")
@click.option("--token", help="Agent token for stdio (default: REVIEWQ_MCP_TOKEN). HTTP clients send their own.")
@click.option("--host", help="HTTP listen address (default: [mcp] http_host).")
@click.option("--port", type=int, help="HTTP port (default: [mcp] http_port).")
@click.pass_context
def mcp_group(ctx: click.Context, transport: str, url: str | None, token: str | None, host: str | None,
              port: int | None) -> None:
    """Serve reviewq's tools (request_approval, get_approval_status, consume_approval, submit_output) over MCP."""
    if ctx.invoked_subcommand is not None:
        return
    _require_sdk()
    from reviewq.mcp.gateway import Gateway
    from reviewq.mcp.server import build_server

    settings = settings_from_context().mcp
    if transport == "stdio":
        gateway = Gateway(reviewq_url(url), token=agent_token(token, required=True))
        build_server(gateway, max_status_wait_s=settings.max_status_wait_s).run("stdio")
        return
    from reviewq.mcp.http import serve_http

    gateway = Gateway(reviewq_url(url))  # each HTTP client authenticates with its own token
    server = build_server(gateway, max_status_wait_s=settings.max_status_wait_s)
    host, port = host or settings.http_host, port or settings.http_port
    click.echo(f"reviewq mcp: streamable HTTP on http://{host}:{port}/mcp -> {gateway.url}", err=True)
    serve_http(server, gateway, host=host, port=port)


@mcp_group.command("proxy", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--url", help="reviewq's base URL (default as for `reviewq mcp`).")
@click.option("--token", help="Agent token (default: REVIEWQ_MCP_TOKEN).")
@click.option("--gate", "gate", multiple=True, help="A tool that always needs approval (repeatable; adds to "
              "[mcp] gate_tools).")
@click.option("--allow", "allow", multiple=True, help="A tool that never needs approval (repeatable; adds to "
              "[mcp] allow_tools).")
@click.option("--intent", help="Intent (queue category) of the approvals (default: [mcp] proxy_intent).")
@click.option("--actor", help="Actor the approvals name (default: [mcp] proxy_actor).")
@click.option("--timeout", "timeout_s", type=click.IntRange(min=1), help="Seconds a gated call waits for a "
              "decision (default: [mcp] proxy_timeout_s).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def proxy_command(url: str | None, token: str | None, gate: tuple[str, ...], allow: tuple[str, ...],
                  intent: str | None, actor: str | None, timeout_s: int | None, command: tuple[str, ...]) -> None:
    """Wrap the MCP server started by COMMAND (after --): read-only tools pass through, destructive
    ones (destructiveHint, or listed in --gate / [mcp] gate_tools) run only once a reviewer approves."""
    _require_sdk()
    from reviewq.mcp.gateway import Gateway
    from reviewq.mcp.proxy import GatePolicy, run_proxy

    settings = settings_from_context().mcp
    policy = GatePolicy(gate=frozenset(settings.gate_tools) | frozenset(gate),
                        allow=frozenset(settings.allow_tools) | frozenset(allow))
    gateway = Gateway(reviewq_url(url), token=agent_token(token, required=True))
    run_proxy(list(command), gateway=gateway, policy=policy, intent=intent or settings.proxy_intent,
              actor=actor or settings.proxy_actor, timeout_s=timeout_s or settings.proxy_timeout_s)
