"""The single-scheduler guarantee: a PostgreSQL session-level advisory lock.

The lock lives on one dedicated connection held for the process lifetime; PostgreSQL releases
it when that connection ends, so a crashed scheduler frees it and a waiting one takes over.
The key is derived from the schema, so separate deployments (and test schemas) sharing one
database server do not block each other.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

LOCK_NAME = "reviewq.scheduler"
_KEY_SQL = "hashtext(:name || ':' || current_schema())"


class AdvisoryLock:
    """pg_try_advisory_lock on a dedicated AUTOCOMMIT connection."""

    def __init__(self, engine: Engine, name: str = LOCK_NAME):
        self.engine = engine
        self.name = name
        self.conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self.conn is None:
            self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = self.conn.execute(text(f"SELECT pg_try_advisory_lock({_KEY_SQL})"), {"name": self.name}).scalar()
        return bool(got)

    def still_held(self) -> bool:
        """False when the connection (and so the lock) was lost, e.g. the server restarted."""
        if self.conn is None:
            return False
        try:
            # A session-level lock lasts exactly as long as its connection: alive means held.
            self.conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure of the lock connection means the lock is gone
            log.warning("scheduler lock connection lost")
            self.close()
            return False

    def close(self) -> None:
        """Closing the connection releases the lock."""
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self.conn = None
