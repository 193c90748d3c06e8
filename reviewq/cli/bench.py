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
def bench_command(database_url: str | None, json_path: Path | None, quick: bool, dashboard_sizes: str | None) -> None:
    """Measure ingest, review, approval wake-up, webhook, dashboard and memory figures.

    Everything runs on 127.0.0.1 and stops by itself; targets are shown beside each figure.
    """
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
