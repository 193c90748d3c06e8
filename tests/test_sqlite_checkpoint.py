"""SQLite's WAL is checkpointed by a background thread, not by the commit that fills it; dispose stops it."""

from __future__ import annotations

import shutil
import sqlite3
import time

from reviewq.db import Database
from reviewq.sqlite_checkpoint import BACKSTOP_PAGES, checkpointer_for
from tests.conftest import make_test_settings


def _rows_in_main_file(path, copy) -> int | None:
    """Rows of t in the main database file alone (what a checkpoint has copied out of the WAL)."""
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.OperationalError:  # the table is still only in the WAL
        return None
    except sqlite3.DatabaseError:  # copied while a checkpoint was writing the file: look again
        return None
    finally:
        conn.close()


def test_commits_reach_the_main_file_in_the_background_and_dispose_leaves_one_file(tmp_path):
    """A few commits stay far below the automatic checkpoint, yet reach the main file soon after;
    a disposed Database leaves no WAL behind and no checkpoint thread running."""
    path = tmp_path / "c.db"
    database = Database.from_settings(make_test_settings(f"sqlite:///{path}"))
    try:
        with database.engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        for i in range(20):
            with database.engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (?)", (i,))
        deadline = time.monotonic() + 10
        while _rows_in_main_file(path, tmp_path / "copy.db") != 20:
            assert time.monotonic() < deadline, "the WAL was not checkpointed in the background"
            time.sleep(0.05)
    finally:
        database.dispose()
    assert not path.with_name("c.db-wal").exists()
    assert checkpointer_for(str(path))._thread is None


def test_dispose_does_not_wait_out_the_idle_thread(tmp_path, monkeypatch):
    """An idle checkpoint thread is woken to stop: dispose waited up to IDLE_EXIT_S (10 s) for it,
    after every database a test, a CLI command or the demo had written to."""
    import threading

    from reviewq import sqlite_checkpoint

    monkeypatch.setattr(sqlite_checkpoint, "IDLE_EXIT_S", 3600.0)
    path = tmp_path / "idle.db"
    database = Database.from_settings(make_test_settings(f"sqlite:///{path}"))
    with database.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    time.sleep(sqlite_checkpoint.INTERVAL_S * 2)  # its checkpoint done, the thread idles
    disposing = threading.Thread(target=database.dispose, daemon=True)
    disposing.start()
    disposing.join(timeout=20)
    assert not disposing.is_alive(), "dispose waited for the idle checkpoint thread"
