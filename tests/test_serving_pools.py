"""The server's request threads never outnumber the database connections they may need at once.

With more threads than connections, a burst of requests (10,000 agents opening long-polls)
left threads waiting on the connection pool past its 30 s limit, and their agents got a 500.
"""

from __future__ import annotations

import pytest

from reviewq.db import connections_per_engine, make_engine
from reviewq.serving.front import ReviewqFront, pool_threads
from tests.conftest import make_test_settings


@pytest.mark.parametrize("threads", [1, 4, 64, 256])
def test_request_threads_fit_the_connection_pool(db_url, threads):
    settings = make_test_settings(db_url, server={"threads": threads})
    front = ReviewqFront(lambda environ, start_response: [], settings)
    try:
        sizes = [pool._max_workers for pool in (front.agents, front.people, front.rechecks)]
        # Long-poll re-reads run on the event loop's thread on SQLite, in their pool elsewhere.
        assert front.shared_rechecks.on_loop is db_url.startswith("sqlite")
        assert (front.agents._max_workers, front.rechecks._max_workers) == pool_threads(settings)
        assert max(sizes[:2]) <= threads and min(sizes) >= 1
        # A GET holds a read and a write session at once: on PostgreSQL both come from one engine.
        # On SQLite the event loop's thread may run one queue call itself, with a connection too.
        sqlite = db_url.startswith("sqlite")
        per_request = 1 if sqlite else 2
        assert (sizes[0] + sizes[1]) * per_request + sizes[2] + sqlite <= connections_per_engine(settings)
        engine = make_engine(settings)
        try:
            assert engine.pool.size() + engine.pool._max_overflow == connections_per_engine(settings)
        finally:
            engine.dispose()
    finally:
        for pool in (front.agents, front.people, front.rechecks):
            pool.shutdown()
