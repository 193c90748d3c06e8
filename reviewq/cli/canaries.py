"""`reviewq canaries validate|list|inject`: the canary library and the weekly injection by hand."""

from __future__ import annotations

import random
from pathlib import Path

import click

from reviewq.cli.common import CommandFailed, open_database, settings_from_context


@click.group("canaries")
def canaries_group() -> None:
    """The canary library (canaries/*.toml) and the weekly injection."""


def _library_path(library: str | None) -> Path:
    return Path(library) if library else settings_from_context().canary_library_path


@canaries_group.command("validate")
@click.option("--library", type=click.Path(file_okay=False), help="Library folder (default: [canaries] library).")
def validate_command(library: str | None) -> None:
    """Check schema, unique ids, placeholders, payload shapes, and that every fault is really there."""
    from reviewq.canaries.library import LibraryError, validate_library

    path = _library_path(library)
    try:
        lib = validate_library(path)
    except LibraryError as exc:
        raise CommandFailed(f"canary library invalid: {exc}") from None
    click.echo(f"{path}: {len(lib.canaries)} canaries and {len(lib.controls)} controls, all valid")


@canaries_group.command("list")
@click.option("--library", type=click.Path(file_okay=False), help="Library folder (default: [canaries] library).")
def list_command(library: str | None) -> None:
    """One line per entry: id, bucket (or control), category, kind, agent."""
    from reviewq.canaries.library import LibraryError, load_library

    try:
        lib = load_library(_library_path(library))
    except LibraryError as exc:
        raise CommandFailed(f"canary library invalid: {exc}") from None
    for e in lib.entries:
        click.echo(f"{e.id:44} {e.bucket or 'control':18} {e.category:17} {e.kind:8} {e.agent}")


@canaries_group.command("inject")
@click.option("--now", "due_now", is_flag=True,
              help="Plant now, due over the next hour, even if this week was already planted.")
@click.option("--reviewer", "reviewers", multiple=True, help="Only this reviewer (repeatable).")
@click.option("--seed", type=int, help="Seed the random choices (for reproducible demos).")
def inject_command(due_now: bool, reviewers: tuple[str, ...], seed: int | None) -> None:
    """Run the weekly injection by hand (the same job the scheduler runs)."""
    from reviewq.canaries.library import LibraryError, load_library
    from reviewq.domain.injection import inject_week
    from reviewq.models import utcnow

    settings = settings_from_context()
    try:
        lib = load_library(settings.canary_library_path)
    except LibraryError as exc:
        raise CommandFailed(f"canary library invalid: {exc}") from None
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    database = open_database()
    try:
        with database.session_scope() as session:
            planted = inject_week(
                session=session, library=lib, settings=settings, now=utcnow(), rng=rng,
                reviewer_names=list(reviewers) or None, due_now=due_now,
            )
            counts: dict[int, int] = {}
            for injection in planted:
                counts[injection.reviewer_id] = counts.get(injection.reviewer_id, 0) + 1
    finally:
        database.dispose()
    if not planted:
        click.echo("nothing planted (no active reviewer, or this week is already planted; --now plants anyway)")
        return
    click.echo(f"planted {len(planted)} items for {len(counts)} reviewer(s)")
