"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, settings, sessions."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel

import reviewq.models  # noqa: F401
from reviewq.config import Settings, load_settings
from reviewq.db import Database

from tests.support.postgres import postgres_url_for_schema, require_postgres

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend, tmp_path) -> Iterator[str]:
    """An empty database of the parametrized backend, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'reviewq-test.db'}"
        return
    admin_url = require_postgres()
    schema = f"rqt_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_url_for_schema(admin_url, schema)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def make_test_settings(db_url: str, **sections) -> Settings:
    env = {"REVIEWQ_SERVER_MODE": "test", "REVIEWQ_DATABASE_URL": db_url}
    settings = load_settings(env=env)
    return settings.replace(**sections) if sections else settings


@pytest.fixture
def settings(db_url) -> Settings:
    return make_test_settings(db_url)


@pytest.fixture
def database(settings) -> Iterator[Database]:
    """Tables made by create_all; the migration tests prove Alembic makes the same schema."""
    database = Database.from_settings(settings)
    SQLModel.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def session(database) -> Iterator[Session]:
    with database.session() as session:
        yield session
        session.rollback()


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_real_config_leaks(monkeypatch):
    """Tests never pick up a developer's REVIEWQ_* variables."""
    for var in list(os.environ):
        if var.startswith("REVIEWQ_") and var != "REVIEWQ_TEST_POSTGRES_URL":
            monkeypatch.delenv(var)
