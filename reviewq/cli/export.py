"""`reviewq export`: the dashboard's metrics (CSV/JSON) or raw decisions (CSV/JSONL) to a file or stdout."""

from __future__ import annotations

import json
import sys

import click

from reviewq.cli.common import open_database, settings_from_context
from reviewq.models import utcnow
from reviewq.stats import Filters, build_dashboard
from reviewq.stats.export import DECISION_COLUMNS, METRIC_COLUMNS, decision_rows, metric_rows, to_csv, to_jsonl

FORMATS = {"metrics": ("csv", "json"), "decisions": ("csv", "jsonl")}


@click.command("export")
@click.argument("what", type=click.Choice(sorted(FORMATS)))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First UTC day (default: 27 days before today).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last UTC day (default: today).")
@click.option("--team", type=click.Choice(["reviewer", "lead", "admin"]), help="Only users with this role.")
@click.option("--category", help="Only items of this category.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
def export_command(what, fmt, start, end, team, category, output) -> None:
    """Export WHAT: `metrics` (the dashboard scoreboard) or `decisions` (raw, one row each)."""
    if fmt not in FORMATS[what]:
        raise click.UsageError(f"{what} can be exported as {' or '.join(FORMATS[what])}, not {fmt}")
    now = utcnow()
    filters = Filters.from_args({"from": start, "to": end, "team": team, "category": category}, now=now)
    database = open_database()
    out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
    try:
        with database.session_scope(readonly=True) as session:
            if what == "metrics":
                board = build_dashboard(session=session, now=now, filters=filters, settings=settings_from_context())
                chunks = (
                    [json.dumps(board.to_json(), default=str, indent=1), "\n"] if fmt == "json"
                    else to_csv(metric_rows(board), METRIC_COLUMNS)
                )
            else:
                rows = decision_rows(session=session, filters=filters)
                chunks = to_csv(rows, DECISION_COLUMNS) if fmt == "csv" else to_jsonl(rows)
            for chunk in chunks:
                out.write(chunk)
    finally:
        if output:
            out.close()
        database.dispose()
