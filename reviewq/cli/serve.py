"""`reviewq serve`: the production WSGI server."""

from __future__ import annotations

import click

from reviewq.cli.common import settings_from_context
from reviewq.config import check_secret_key, is_sqlite, secure_cookies


@click.command("serve")
@click.option("--host", help="Override [server] host.")
@click.option("--port", type=int, help="Override [server] port.")
@click.option("--no-scheduler", is_flag=True, help="With SQLite, do not run the in-process scheduler.")
def serve_command(host: str | None, port: int | None, no_scheduler: bool) -> None:
    """Serve the web UI and agent API on 127.0.0.1:8000 by default.

    gunicorn manages the worker processes; each serves HTTP from an asyncio event loop and runs
    the app in a bounded thread pool (long-polls and slow clients hold no thread). With SQLite
    this one process also runs the scheduler. With PostgreSQL, run `reviewq scheduler` once,
    separately.
    """
    settings = settings_from_context()
    changes = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if changes:
        settings = settings.replace(server=changes)
    check_secret_key(settings)
    from reviewq.server import serve

    click.echo(f"reviewq serving on http://{settings.server.host}:{settings.server.port}/")
    if secure_cookies(settings):
        click.echo("reviewq: session cookies are Secure: reach the pages through your https proxy "
                   "(server.proxy_count), or set server.secure_cookies = false to serve plain http")
    serve(settings, run_scheduler=is_sqlite(settings.database.url) and not no_scheduler)
