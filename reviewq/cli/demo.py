"""`reviewq demo`: a fresh SQLite database with four weeks of history, then the server."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from reviewq.cli.common import CommandFailed, settings_from_context

# The simulated month is one draw of the profiles; this one tells the story the README describes.
DEFAULT_SEED = 3
# The demo plants more canaries than the production default so four weeks tell a clear story.
DEMO_CANARIES_PER_WEEK = 10


@click.command("demo")
@click.option("--db", "db_path", default="demo.db", show_default=True, type=click.Path(dir_okay=False),
              help="SQLite file to create.")
@click.option("--fresh", is_flag=True, help="Replace an existing database without asking.")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, help="Seed for the simulated history.")
@click.option("--no-serve", is_flag=True, help="Build the database and exit.")
@click.option("--no-trickle", is_flag=True, help="Do not add new agent traffic while serving.")
@click.option("--port", type=int, help="Override [server] port.")
def demo_command(db_path: str, fresh: bool, seed: int, no_serve: bool, no_trickle: bool, port: int | None) -> None:
    """Build a demo database with four weeks of simulated reviewers, canaries and agents, then serve it."""
    from reviewq import migrate
    from reviewq.db import Database
    from reviewq.demo.live import make_live_state
    from reviewq.demo.profiles import ADMIN_NAME, DEMO_PASSWORD, LEAD_NAME, PROFILES
    from reviewq.demo.simulate import simulate_history
    from reviewq.models import utcnow

    started = time.monotonic()
    path = Path(db_path).resolve()
    _clear(path, fresh)
    base = settings_from_context()
    from reviewq.demo.oncall import demo_notify_settings, summary_lines

    notify_log = path.with_name(f"{path.stem}-notifications.log")
    notify_log.unlink(missing_ok=True)
    settings = base.replace(
        server={"mode": "demo", **({"port": port} if port else {})},
        database={"url": f"sqlite:///{path}"},
        canaries={"per_reviewer_per_week": DEMO_CANARIES_PER_WEEK},
        notify=demo_notify_settings(str(notify_log)),
    )
    click.echo(f"Building {path.name}: four weeks of agents, reviewers and canaries (seed {seed})…")
    migrate.upgrade(settings)
    database = Database.from_settings(settings)
    try:
        result = simulate_history(database=database, settings=settings, now=utcnow(), seed=seed,
                                  progress=lambda m: click.echo(f"  {m}"))
        make_live_state(database=database, settings=settings, now=utcnow(), seed=seed)
        with database.session(readonly=True) as session:
            notify_summary = summary_lines(session=session, settings=settings, now=utcnow(), stats=result,
                                           log_path=str(notify_log))
    finally:
        database.dispose()
    elapsed = time.monotonic() - started
    click.echo(f"Done in {elapsed:.1f} s: {result['decisions']} decisions, {result['injected']} canaries and controls.")
    url = f"http://{settings.server.host}:{settings.server.port}/"
    reviewers = ", ".join(p.name for p in PROFILES)
    click.echo("")
    click.echo(f"  reviewq demo  {url}")
    click.echo(f"  lead login:      {LEAD_NAME} / {DEMO_PASSWORD}   (admin: {ADMIN_NAME} / {DEMO_PASSWORD})")
    click.echo(f"  reviewer logins: {reviewers}  (password {DEMO_PASSWORD})")
    click.echo("  Look first: log in as lena and open /dashboard — the decay curve falls after minute 20,")
    click.echo("  ben and fay are why; cleo rubber-stamps. Then log in as ada and press ? on /queue.")
    for line in notify_summary:
        click.echo(line)
    if no_serve:
        return
    click.echo("  Ctrl-C stops the demo.")
    from reviewq.server import serve

    if no_trickle:
        serve(settings, run_scheduler=True)
    else:
        serve(settings, run_scheduler=True, scheduler_setup="reviewq.demo.live:add_trickle", setup_args=(seed,))


def _clear(path: Path, fresh: bool) -> None:
    companions = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    if not path.exists():
        return
    if not fresh:
        if not sys.stdin.isatty():
            raise CommandFailed(f"{path} exists; pass --fresh to replace it", 2)
        click.confirm(f"{path} exists. Replace it?", abort=True)
    for p in companions:
        p.unlink(missing_ok=True)
