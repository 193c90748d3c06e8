"""`reviewq scheduler`: the one background-job process (PostgreSQL deployments)."""

from __future__ import annotations

import signal
import threading

import click

from reviewq.cli.common import CommandFailed, open_database, settings_from_context


def _say(message: str) -> None:
    click.echo(f"reviewq scheduler: {message}", err=False)


@click.command("scheduler")
@click.option("--poll-seconds", type=float, default=5.0, show_default=True,
              help="How often a waiting instance retries the lock, and the holder checks it.")
@click.option("--inject-on-start", is_flag=True,
              help="Run the weekly canary injection once as soon as the lock is held (it plants nothing "
                   "twice in a week).")
def scheduler_command(poll_seconds: float, inject_on_start: bool) -> None:
    """Run the weekly canary injection, lease sweeper, approval expiry and webhook outbox.

    Exactly one instance runs jobs: the others wait on a PostgreSQL advisory lock and take over
    when the holder dies. With SQLite, `reviewq serve` runs the scheduler itself; do not run this.
    """
    settings = settings_from_context()
    database = open_database()
    if database.is_sqlite:
        raise CommandFailed("with SQLite, `reviewq serve` runs the scheduler in-process; "
                            "`reviewq scheduler` is for PostgreSQL deployments")
    from reviewq.scheduler.canary_jobs import inject_job
    from reviewq.scheduler.lock import AdvisoryLock
    from reviewq.scheduler.runner import build_scheduler

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    lock = AdvisoryLock(database.engine)
    try:
        while not stop.is_set():
            _say("waiting for the scheduler lock")
            while not stop.is_set() and not _try(lock):
                stop.wait(poll_seconds)
            if stop.is_set():
                break
            _say("lock acquired; running jobs")
            if inject_on_start:
                _say(f"canary budgets drawn for {inject_job(database, settings)} reviewers")
            scheduler = build_scheduler(settings, database)
            scheduler.start()
            while not stop.wait(poll_seconds):
                if not lock.still_held():
                    _say("lost the scheduler lock; stopping jobs")
                    break
            scheduler.shutdown(wait=True)
    finally:
        lock.close()
        database.dispose()
    _say("stopped")


def _try(lock) -> bool:
    try:
        return lock.try_acquire()
    except Exception as exc:  # noqa: BLE001 - database down: keep waiting, say why
        lock.close()
        _say(f"cannot reach the database ({type(exc).__name__}); retrying")
        return False
