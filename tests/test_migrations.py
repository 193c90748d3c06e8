"""Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import reviewq.models  # noqa: F401
from reviewq import migrate
from reviewq.db import make_engine


def _tables(settings) -> set[str]:
    engine = make_engine(settings)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _diff(settings) -> list:
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(ctx, SQLModel.metadata)
    finally:
        engine.dispose()


def test_upgrade_from_empty_then_autogenerate_finds_no_difference(settings):
    """Upgrading an empty database to head creates every model table and nothing differs."""
    assert _tables(settings) == set()
    migrate.upgrade(settings, "head")
    tables = _tables(settings)
    assert set(SQLModel.metadata.tables) <= tables
    assert _diff(settings) == []


def test_downgrade_to_base_removes_everything(settings):
    """Downgrading from head to base leaves only Alembic's own version table."""
    migrate.upgrade(settings, "head")
    migrate.downgrade(settings, "base")
    assert _tables(settings) <= {"alembic_version"}
    assert migrate.current_revision(settings) is None
    migrate.upgrade(settings, "head")
    assert _diff(settings) == []
