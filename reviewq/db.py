"""Engines and sessions for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from reviewq import python_turns
from reviewq.config import Settings, is_sqlite
from reviewq.sqlite_checkpoint import BACKSTOP_PAGES, checkpointer_for, stop_checkpointer
from reviewq.statement_cache import StatementCache
from reviewq.write_lock import WriteLock

_write_locks: dict[str, WriteLock] = {}
_write_locks_guard = threading.Lock()


def _write_lock_for(url: str) -> WriteLock:
    database = make_url(url).database or ""
    key = os.path.realpath(database) if database not in ("", ":memory:") else f"memory:{id(url)}"
    with _write_locks_guard:
        return _write_locks.setdefault(key, WriteLock())


def sqlite_write_lock(url: str) -> WriteLock:
    """The lock this process's writers to the SQLite file at `url` take before BEGIN IMMEDIATE."""
    return _write_lock_for(url)


def connections_per_engine(settings: Settings) -> int:
    """The most connections one engine of this process opens at once (its pool plus overflow)."""
    return settings.database.pool_size * 3


def _make_sqlite_engine(url: str, busy_timeout_ms: int, *, immediate: bool, pool_size: int,
                        background: bool = False) -> Engine:
    memory = make_url(url).database in (None, "", ":memory:")
    engine = create_engine(
        url,
        execution_options={"compiled_cache": StatementCache()},
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        # Sized as for PostgreSQL (connections_per_engine), so that the server's request threads
        # (reviewq.serving.front) never wait on the pool: it was 5 + 10 whatever the threads.
        **({"poolclass": NullPool} if memory else {"pool_size": pool_size, "max_overflow": pool_size * 2}),
    )

    checkpointer = checkpointer_for(make_url(url).database) if immediate and not memory else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Take transaction control from pysqlite so BEGIN IMMEDIATE below is what runs.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        if checkpointer is not None:  # checkpoints run in the background (sqlite_checkpoint.py)
            cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cur.close()

    # Writers in this process queue on a Python lock before BEGIN IMMEDIATE: SQLite's own busy
    # handler sleeps with a growing backoff (up to 100 ms a try), which turned waits between
    # threads into long tail latencies. The lock hands turns over in order, the web's writers
    # before the scheduler's (`background`, reviewq.write_lock). Other processes still wait
    # through busy_timeout, and a writer that cannot get the lock in that time goes on to
    # SQLite's handler as before.
    # Every engine of this process on the same file shares the lock: the in-process scheduler
    # (its own Database) otherwise met the web's writers only in SQLite's handler, and lost to
    # 16 busy reviewers until "database is locked".
    write_lock = _write_lock_for(url)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A deferred read transaction that later writes fails with SQLITE_BUSY without waiting;
        # writers take the lock up front so busy_timeout applies. Readers stay deferred.
        if not immediate:
            conn.exec_driver_sql("BEGIN")
            return
        # The scheduler's transactions take a turn with the queue calls (python_turns), so
        # neither slows the other by interleaving; the turn is given back with the lock.
        if background and python_turns.take_background_turn():
            conn.info["reviewq.python_turn"] = True
        if write_lock.acquire(timeout=busy_timeout_ms / 1000, background=background):
            conn.info["reviewq.write_lock"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.info)
            raise

    def _release(info) -> None:
        if info.pop("reviewq.write_lock", None):
            write_lock.release()
        if info.pop("reviewq.python_turn", None):
            python_turns.give_back()

    # Released once the COMMIT or ROLLBACK is done, not before it is sent: a next writer whose
    # BEGIN IMMEDIATE met the finishing COMMIT slept in SQLite's busy handler (1 ms at least),
    # and with the lock busy most of the time that was a millisecond of every transaction.
    dialect = engine.dialect
    plain_commit, plain_rollback = dialect.do_commit, dialect.do_rollback

    def _release_after(end, proxied) -> None:
        try:
            end(proxied)
        finally:
            try:
                info = proxied.info
            except NotImplementedError:  # the dialect's first-connect check: no pool record, no lock
                info = {}
            _release(info)

    def do_commit(proxied) -> None:
        _release_after(plain_commit, proxied)
        if checkpointer is not None:
            checkpointer.wake()

    def do_rollback(proxied) -> None:
        _release_after(plain_rollback, proxied)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback

    # A connection returned without an explicit end (reset on return) lets go too.
    @event.listens_for(engine.pool, "reset")
    def _on_reset(_dbapi_conn, record, _reset_state):
        _release(record.info)

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_conn, record):
        _release(record.info)

    return engine


def make_engine(settings: Settings, *, readonly: bool = False, background: bool = False) -> Engine:
    url = settings.database.url
    if is_sqlite(url):
        return _make_sqlite_engine(
            url, settings.database.sqlite_busy_timeout_ms, immediate=not readonly,
            pool_size=settings.database.pool_size, background=background,
        )
    engine = create_engine(
        url,
        execution_options={"compiled_cache": StatementCache()},
        pool_size=settings.database.pool_size,
        max_overflow=connections_per_engine(settings) - settings.database.pool_size,
    )
    _ping_when_idle(engine)
    return engine


# A pooled connection idle longer than this is pinged before use.
IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Pre-ping only connections that sat idle, where a server restart or a dropped link hides.

    SQLAlchemy's pool_pre_ping costs a round trip on every checkout, one of about ten in a
    review decision; a connection handed back moments ago is as good as the ping would say.
    A failed ping raises DisconnectionError, which makes the pool replace the connection.
    """

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy):
        last = record.info.get(_LAST_CHECKIN)
        if last is None or time.monotonic() - last < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # any failure means this connection is unusable
            raise DisconnectionError(str(exc)) from exc

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn, record):
        record.info[_LAST_CHECKIN] = time.monotonic()


_LAST_CHECKIN = "reviewq.last_checkin"


# A read engine's write engine: the same database, for caches kept per database (projection_bank).
_WRITE_ENGINE_OF: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def database_key(engine: Engine) -> Engine:
    """One engine per database: a read engine's write engine, else the engine itself."""
    return _WRITE_ENGINE_OF.get(engine, engine)


_READ_ENGINE_OF: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def read_session_of(database: Engine) -> Session:
    """A read-only session on the database `database_key` named (SQLite: its deferred-transaction engine)."""
    return Session(_READ_ENGINE_OF.get(database, database), expire_on_commit=False)


@dataclass
class Database:
    """The write engine and, for SQLite, a deferred-transaction engine for read-only work."""

    settings: Settings
    engine: Engine
    read_engine: Engine

    @classmethod
    def from_settings(cls, settings: Settings, *, background: bool = False) -> Database:
        """`background`: the scheduler's, whose SQLite writes let the web's go first (reviewq.write_lock)."""
        engine = make_engine(settings, background=background)
        read_engine = make_engine(settings, readonly=True) if is_sqlite(settings.database.url) else engine
        if read_engine is not engine:
            _WRITE_ENGINE_OF[read_engine] = engine
        _READ_ENGINE_OF[engine] = read_engine
        return cls(settings=settings, engine=engine, read_engine=read_engine)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.settings.database.url)

    def session(self, *, readonly: bool = False) -> Session:
        return Session(self.read_engine if readonly else self.engine, expire_on_commit=False)

    @contextmanager
    def session_scope(self, *, readonly: bool = False) -> Iterator[Session]:
        """One transaction for a CLI command or a scheduled job: commit on success."""
        session = self.session(readonly=readonly)
        try:
            yield session
            if readonly:
                session.rollback()
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        database = make_url(self.settings.database.url).database
        if self.is_sqlite and database not in (None, "", ":memory:"):
            stop_checkpointer(database)
