"""`reviewq bench`: workload RQ-LOAD-1 against a real server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("bench")
@click.option("--database-url", help="Run on this PostgreSQL database (a fresh schema is made and dropped). "
                                     "Default: a fresh SQLite file.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the figures as JSON to this file.")
@click.option("--quick", is_flag=True, help="A small run (seconds, not minutes) to check the harness works.")
@click.option("--dashboard-sizes", help="Comma-separated decision counts for the dashboard timing "
                                        "(default 10000,100000,1000000).")
@click.option("--against", "against", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Instead: the review loop on this checkout and the one in this folder at once, round by "
                   "round, to compare their CPU per decision on a machine whose speed moves (SQLite).")
@click.option("--rounds", type=click.IntRange(1, 50), default=3, show_default=True,
              help="With --against: how many paired review rounds.")
@click.option("--one-at-a-time", is_flag=True,
              help="With --against: in each round, each side's review loop alone on the machine, the first "
                   "alternating (latencies as a lone run has them), instead of both at once.")
def bench_command(database_url: str | None, json_path: Path | None, quick: bool, dashboard_sizes: str | None,
                  against: Path | None, rounds: int, one_at_a_time: bool) -> None:
    """Measure ingest, review, approval wake-up, webhook, dashboard and memory figures.

    Everything runs on 127.0.0.1 and stops by itself; targets are shown beside each figure.
    """
    if against is not None:
        _paired(against, rounds=rounds, decisions=60 if quick else 1200, one_at_a_time=one_at_a_time)
        return
    if one_at_a_time:
        raise click.BadParameter("only with --against", param_hint="--one-at-a-time")
    from dataclasses import replace

    from reviewq.bench.figures import write_json
    from reviewq.bench.run import QUICK, Workload, run

    workload = QUICK if quick else Workload()
    if dashboard_sizes:
        workload = replace(workload, dashboard_sizes=tuple(int(x) for x in dashboard_sizes.split(",") if x.strip()))
    import http.client

    import requests

    from reviewq.cli.common import CommandFailed

    try:
        report = run(database_url, workload, log=lambda m: click.echo(f"… {m}", err=True))
    except (requests.RequestException, OSError, http.client.HTTPException) as exc:
        raise CommandFailed(f"bench request failed: {exc}") from None
    click.echo(report.table())
    if json_path:
        write_json([report], json_path)
        click.echo(f"figures written to {json_path}")
    if not all(report.checks.values()):
        raise SystemExit(1)


def _paired(against: Path, *, rounds: int, decisions: int, one_at_a_time: bool) -> None:
    import http.client

    import requests

    from reviewq.bench import paired
    from reviewq.cli.common import CommandFailed

    try:
        other = paired.checkout_of(against)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--against") from None
    try:
        with paired.pair(other) as sides:
            figures = paired.run_rounds(sides, rounds=rounds, decisions=decisions, one_at_a_time=one_at_a_time,
                                        log=lambda m: click.echo(f"… {m}", err=True))
    except (requests.RequestException, OSError, http.client.HTTPException, RuntimeError) as exc:
        raise CommandFailed(f"paired bench failed: {exc}") from None
    how = "each alone in turn" if one_at_a_time else "both at once"
    click.echo(f"review loop, 4 reviewers on each server, {how}: this = {paired.this_checkout()}, other = {other}")
    click.echo(paired.table(figures))
