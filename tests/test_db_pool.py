"""Pooled PostgreSQL connections: an idle one is pinged and replaced if the server dropped it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from reviewq import db as db_module

# SQLite has no connection pings (a file is not a server that drops connections): PostgreSQL only.
pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


@pytest.fixture
def postgres_database(database):
    assert not database.is_sqlite
    return database


def _backend_pid(database) -> int:
    with database.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def test_idle_connection_killed_by_the_server_is_replaced(postgres_database, monkeypatch):
    database = postgres_database
    first = _backend_pid(database)
    admin = sa.create_engine(database.settings.database.url, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({first})").scalar_one()
    admin.dispose()
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)  # the pooled connection now counts as idle
    second = _backend_pid(database)  # no error: the ping found the dead connection and the pool replaced it
    assert second != first


def test_recently_used_connection_is_not_pinged(postgres_database, monkeypatch):
    database = postgres_database
    _backend_pid(database)
    pings = []
    monkeypatch.setattr(database.engine.dialect, "do_ping", lambda conn: pings.append(conn) or True)
    _backend_pid(database)
    assert pings == []
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)
    _backend_pid(database)
    assert len(pings) == 1
