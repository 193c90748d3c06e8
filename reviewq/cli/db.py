"""`reviewq db ...`: schema migrations."""

from __future__ import annotations

import click

from reviewq import migrate
from reviewq.cli.common import settings_from_context


@click.group("db")
def db_group() -> None:
    """Create and migrate the database schema."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    settings = settings_from_context()
    migrate.upgrade(settings, revision)
    click.echo(f"database at {_redacted(settings.database.url)} is at {migrate.current_revision(settings)}")


@db_group.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Undo migrations down to REVISION ("base" empties the database)."""
    settings = settings_from_context()
    migrate.downgrade(settings, revision)
    click.echo(f"database is at {migrate.current_revision(settings) or 'base'}")


@db_group.command("current")
def current() -> None:
    """Print the revision the database is at."""
    click.echo(migrate.current_revision(settings_from_context()) or "base (empty)")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
