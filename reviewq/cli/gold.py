"""`reviewq gold export|diff`: a gold set for an eval harness, versioned like code."""

from __future__ import annotations

from pathlib import Path

import click

from reviewq.cli.common import CommandFailed, open_database, settings_from_context


@click.group("gold")
def gold_group() -> None:
    """Export decided items as a gold set (JSONL + manifest), and compare two exports."""


@gold_group.command("export")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="gold", show_default=True,
              help="Folder for gold.jsonl and manifest.json.")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="Items created on or after this UTC day.")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Items created on or before this UTC day.")
@click.option("--agent")
@click.option("--category")
@click.option("--reason", help="Only items someone rejected with this reason bucket.")
@click.option("--reviewer", help="Only items this reviewer decided.")
@click.option("--q", "text", help="Only items whose payload contains this text.")
@click.option("--adjudicated", is_flag=True, help="Only disagreements a lead has adjudicated.")
def export_command(out_dir, start, end, agent, category, reason, reviewer, text, adjudicated) -> None:
    """Write gold.jsonl (one decided real item per line, sorted by id) and manifest.json (with its SHA-256)."""
    from reviewq.domain.errors import ValidationFailed
    from reviewq.domain.reasons import known_reasons
    from reviewq.gold.export import export_gold
    from reviewq.stats.item_search import ItemQuery

    args = {"from": start, "to": end, "agent": agent, "category": category, "reason": reason,
            "reviewer": reviewer, "q": text}
    try:
        query = ItemQuery.from_args({k: v for k, v in args.items() if v},
                                    reasons=known_reasons(settings_from_context()))
    except ValidationFailed as exc:
        raise CommandFailed(f"--{exc.field}: {exc.message}") from None
    database = open_database()
    try:
        with database.session_scope(readonly=True) as session:
            body, manifest = export_gold(session=session, query=query, adjudicated_only=adjudicated)
    finally:
        database.dispose()
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gold.jsonl").write_bytes(body)
    (folder / "manifest.json").write_bytes(manifest)
    lines = body.count(b"\n")
    click.echo(f"wrote {lines} items to {folder / 'gold.jsonl'} (manifest: {folder / 'manifest.json'})")


@gold_group.command("diff")
@click.argument("old", type=click.Path(exists=True))
@click.argument("new", type=click.Path(exists=True))
@click.option("--exit-code", is_flag=True, help="Exit 1 when the sets differ (for CI).")
def diff_command(old, new, exit_code) -> None:
    """Say what changed from OLD to NEW (gold.jsonl files or their folders): added, removed, relabelled."""
    from reviewq.gold.diff import diff, load, render

    try:
        before, after = load(Path(old)), load(Path(new))
    except (ValueError, OSError) as exc:
        raise CommandFailed(str(exc)) from None
    result = diff(before, after)
    for line in render(result, after):
        click.echo(line)
    if exit_code and not result.empty:
        raise CommandFailed("the gold sets differ", exit_code=1)
