"""Per-test databases, made cheaply: a copied SQLite file, a reused and emptied PostgreSQL schema.

Making the 26 tables costs about 0.1-0.2 s on SQLite and, with the schema's drop, 0.6-0.9 s on
PostgreSQL (catalog work), for each of some 700 tests. A test that asks for `database` therefore gets
a copy of a SQLite file made once, or the PostgreSQL schema the previous such test used, emptied by
DELETE and with its sequences reset (about 20 ms). A test that only asks for `db_url` (migrations,
`reviewq db upgrade`) still gets an empty database of its own.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import SQLModel

import reviewq.models  # noqa: F401 - registers every table
from tests.support.postgres import postgres_url_for_schema

# URLs whose tables already exist: the `database` fixture does not make them again.
TABLES_READY: set[str] = set()


def create_tables(url: str, settings_for) -> None:
    """The tables, made through the product's own engine (its SQLite pragmas, one transaction)."""
    from reviewq.db import Database

    database = Database.from_settings(settings_for(url))
    try:
        SQLModel.metadata.create_all(database.engine)
    finally:
        database.dispose()


class SqliteTemplate:
    """One SQLite file with every table, copied for each test that wants tables."""

    def __init__(self, directory: Path, settings_for):
        self._directory = directory
        self._settings_for = settings_for
        self._path: Path | None = None

    def copy_to(self, path: Path) -> str:
        if self._path is None:
            template = self._directory / "template.db"
            create_tables(f"sqlite:///{template}", self._settings_for)
            # Closing the last connection checkpoints the WAL: the main file is the whole database.
            assert not template.with_name("template.db-wal").exists()
            self._path = template
        shutil.copyfile(self._path, path)
        return f"sqlite:///{path}"


class PostgresSchemas:
    """Empty schemas per test, and one schema with tables lent to one test at a time."""

    def __init__(self, admin_url: str, settings_for):
        self._admin_url = admin_url
        self._settings_for = settings_for
        self._admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self._lent: tuple[str, sa.Engine, str] | None = None  # schema, engine, emptying SQL

    def create(self) -> tuple[str, str]:
        schema = f"rqt_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        return schema, postgres_url_for_schema(self._admin_url, schema)

    def drop(self, schema: str) -> None:
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def lend_with_tables(self) -> str:
        """The schema with tables, empty; made on first use or after a test left it unusable."""
        if self._lent is None:
            schema, url = self.create()
            create_tables(url, self._settings_for)
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            self._lent = (schema, engine, self._emptying_sql(engine))
        schema, engine, _ = self._lent
        return postgres_url_for_schema(self._admin_url, schema)

    def give_back(self) -> None:
        """Empty the lent schema for the next test, or drop it if the test changed what it holds."""
        schema, engine, emptying = self._lent
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
                assert self._tables(conn) == set(SQLModel.metadata.tables)
                assert not self._scheduler_lock_held(conn)  # a scheduler the test left running
                conn.exec_driver_sql(emptying)
        except Exception:  # noqa: BLE001 - a schema in doubt is replaced, never reused
            self._lent = None
            engine.dispose()
            self.drop(schema)

    def close(self) -> None:
        if self._lent is not None:
            schema, engine, _ = self._lent
            engine.dispose()
            self.drop(schema)
        self._admin.dispose()

    @staticmethod
    def _tables(conn) -> set[str]:
        return {row[0] for row in conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}

    @staticmethod
    def _scheduler_lock_held(conn) -> bool:
        from reviewq.scheduler.lock import _KEY_SQL, LOCK_NAME

        held = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid::int = " + _KEY_SQL)  # noqa: S608 - constant SQL
        return bool(conn.execute(held, {"name": LOCK_NAME}).scalar())

    @staticmethod
    def _emptying_sql(engine: sa.Engine) -> str:
        """DELETE every table, children first, and restart every sequence: what create_all left."""
        with engine.connect() as conn:
            sequences = [row[0] for row in conn.exec_driver_sql(
                "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = current_schema()")]
        deletes = [str(t.delete().compile(engine)) for t in reversed(SQLModel.metadata.sorted_tables)]
        restarts = [f"SELECT setval('\"{name}\"', 1, false)" for name in sequences]
        return ";\n".join(deletes + restarts)
