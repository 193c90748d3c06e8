"""Turns at running Python (reviewq.python_turns): on SQLite the reviewers' queue calls run one at a
time, and the scheduler's write transactions take the same turns; nothing else waits for them.

The front is driven directly as an ASGI app, with a WSGI app that notes when it runs, so each test
can hold the turn itself and see who waits for it.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
import sqlalchemy as sa

from reviewq import python_turns
from reviewq.db import Database, sqlite_write_lock
from reviewq.serving.front import ReviewqFront
from reviewq.web import create_app
from tests.conftest import make_test_settings
from tests.support.waiting import WAIT_S, until


@pytest.fixture
def patient(monkeypatch):
    """Queue calls wait for their turn as long as a test needs (it is 50 ms in production)."""
    monkeypatch.setattr(python_turns, "CALL_PATIENCE_S", WAIT_S)
    monkeypatch.setattr(python_turns, "BACKGROUND_WAIT_S", WAIT_S)
    turns = python_turns.turns()
    assert not turns.locked() and turns.waiting() == 0
    yield turns
    until(lambda: not turns.locked() and turns.waiting() == 0)


def test_the_reviewers_hot_calls_are_queue_calls(client):
    """Exactly next, decide, skip, heartbeat and status; every one of them is a real route."""
    calls = ["/queue/next", "/queue/status", "/queue/items/itm_x/decide", "/queue/items/itm_x/skip",
             "/queue/items/itm_x/heartbeat"]
    others = ["/queue", "/queue/items/itm_x", "/queue/items/itm_x/open", "/queue/next/x", "/me",
              "/api/v1/items", "/dashboard", "/queue/items//decide", "/queue/items/a/b/decide"]
    assert [p for p in calls if python_turns.is_queue_call(p)] == calls
    assert [p for p in others if python_turns.is_queue_call(p)] == []
    adapter = client.application.url_map.bind("localhost")
    for path in calls:
        method = "GET" if path.endswith("status") else "POST"
        endpoint, _ = adapter.match(path, method=method)
        assert endpoint.startswith("review."), (path, endpoint)


class _Recorder:
    """A WSGI app that notes each path it serves."""

    def __init__(self):
        self.served: list[str] = []
        self.threads: list[str] = []

    def __call__(self, environ, start_response):
        self.served.append(environ["PATH_INFO"])
        self.threads.append(threading.current_thread().name)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]


def _request(front: ReviewqFront, method: str, path: str, statuses: list[int] | None = None) -> threading.Thread:
    """Send one request through the front on an event loop of its own thread; its status goes to
    `statuses` (if given, else it must be 200)."""

    async def call():
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": [(b"host", b"127.0.0.1")], "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 9),
                 "scheme": "http", "http_version": "1.1", "root_path": ""}
        await front(scope, receive, send)
        if statuses is None:
            assert sent[0]["status"] == 200
        else:
            statuses.append(sent[0]["status"])

    thread = threading.Thread(target=asyncio.run, args=(call(),), daemon=True, name=f"loop {method} {path}")
    thread.start()
    return thread


def _front(url: str) -> tuple[ReviewqFront, _Recorder]:
    app = _Recorder()
    return ReviewqFront(app, make_test_settings(url)), app


def _close(front: ReviewqFront) -> None:
    for pool in (front.agents, front.people, front.rechecks):
        pool.shutdown()


def test_on_sqlite_a_queue_call_waits_for_the_turn_and_others_do_not(patient, tmp_path):
    front, app = _front(f"sqlite:///{tmp_path / 'turns.db'}")
    try:
        assert patient.acquire(timeout=WAIT_S)  # another call is running
        queued = _request(front, "POST", "/queue/items/itm_a/decide")
        until(lambda: patient.waiting() == 1)
        page = _request(front, "GET", "/dashboard")
        page.join(WAIT_S)
        assert app.served == ["/dashboard"]  # a page never waits for the queue's turn
        patient.release()
        queued.join(WAIT_S)
        assert app.served == ["/dashboard", "/queue/items/itm_a/decide"]
    finally:
        _close(front)


def test_queue_calls_go_in_arrival_order(patient, tmp_path):
    front, app = _front(f"sqlite:///{tmp_path / 'turns.db'}")
    try:
        assert patient.acquire(timeout=WAIT_S)
        threads = []
        for i, path in enumerate(["/queue/next", "/queue/items/itm_b/decide", "/queue/status"]):
            threads.append(_request(front, "GET" if path.endswith("status") else "POST", path))
            until(lambda n=i + 1: patient.waiting() == n)
        patient.release()
        for t in threads:
            t.join(WAIT_S)
        assert app.served == ["/queue/next", "/queue/items/itm_b/decide", "/queue/status"]
    finally:
        _close(front)


def test_on_sqlite_a_queue_call_whose_turn_is_free_runs_on_the_loops_own_thread(tmp_path):
    """No hand-over to a pool thread and back when nothing would make the call wait."""
    front, app = _front(f"sqlite:///{tmp_path / 'turns.db'}")
    turns = python_turns.turns()
    try:
        for method, path in [("POST", "/queue/items/itm_a/decide"), ("GET", "/dashboard"), ("GET", "/queue/status")]:
            _request(front, method, path).join(WAIT_S)
        assert app.served == ["/queue/items/itm_a/decide", "/dashboard", "/queue/status"]
        assert app.threads[0] == "loop POST /queue/items/itm_a/decide"
        assert app.threads[1].startswith("reviewq-web")  # pages run in the people's pool
        assert app.threads[2] == "loop GET /queue/status"
        assert not turns.locked()  # each call gave its turn back
    finally:
        _close(front)


def test_a_queue_call_waits_for_its_turn_on_the_loop_and_then_runs_there(patient, tmp_path):
    """While another call holds the turn, the waiting call holds no pool thread: once handed the
    turn it runs on the loop's thread, as if it had been free (no cascade through the pool)."""
    front, app = _front(f"sqlite:///{tmp_path / 'turns.db'}")
    try:
        assert patient.acquire(timeout=WAIT_S)
        call = _request(front, "POST", "/queue/next")
        until(lambda: patient.waiting() == 1)
        assert app.served == [] and front.people._work_queue.qsize() == 0
        patient.release()
        call.join(WAIT_S)
        assert app.served == ["/queue/next"] and app.threads == ["loop POST /queue/next"]
    finally:
        _close(front)


def test_the_loop_steps_aside_after_handing_the_turn_to_a_background_thread(patient, tmp_path, monkeypatch):
    from reviewq.serving import front as front_module

    stepped: list[str] = []
    monkeypatch.setattr(front_module, "_step_aside", lambda: stepped.append(threading.current_thread().name))
    front, app = _front(f"sqlite:///{tmp_path / 'turns.db'}")
    try:
        _request(front, "POST", "/queue/next").join(WAIT_S)
        assert app.served == ["/queue/next"] and stepped == []  # nobody was waiting
        assert patient.acquire(timeout=WAIT_S)
        call = _request(front, "POST", "/queue/items/itm_a/decide")
        until(lambda: patient.waiting() == 1)
        background = threading.Thread(target=lambda: patient.acquire(timeout=WAIT_S, background=True)
                                      and patient.release())
        background.start()
        until(lambda: patient.waiting() == 2)
        patient.release()  # to the call first (people before jobs), then from the call to the job
        call.join(WAIT_S)
        background.join(WAIT_S)
        assert app.served[-1] == "/queue/items/itm_a/decide"
        assert stepped == ["loop POST /queue/items/itm_a/decide"]
    finally:
        _close(front)


def test_a_queue_call_that_would_wait_for_the_write_lock_runs_in_a_pool_thread(tmp_path):
    """Another transaction of this process writing: the call must not stall the loop behind it."""
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    front, app = _front(url)
    writers = sqlite_write_lock(url)
    try:
        assert writers.acquire(timeout=WAIT_S)
        try:
            _request(front, "POST", "/queue/next").join(WAIT_S)
        finally:
            writers.release()
        assert app.served == ["/queue/next"] and app.threads[0].startswith("reviewq-web")
        assert not python_turns.turns().locked()
    finally:
        _close(front)


def test_on_postgresql_queue_calls_run_in_a_pool_thread():
    front, app = _front("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        _request(front, "POST", "/queue/next").join(WAIT_S)
        assert app.served == ["/queue/next"] and app.threads[0].startswith("reviewq-web")
    finally:
        _close(front)


def _runs_while_the_turn_is_held(turns, url: str) -> None:
    front, app = _front(url)
    try:
        assert turns.acquire(timeout=WAIT_S)
        try:
            call = _request(front, "POST", "/queue/next")
            call.join(WAIT_S)
            assert app.served == ["/queue/next"] and turns.waiting() == 0
        finally:
            turns.release()
    finally:
        _close(front)


def test_a_call_that_has_waited_its_patience_runs_anyway(monkeypatch, tmp_path):
    """A slow call holding the turn delays the others by at most CALL_PATIENCE_S."""
    monkeypatch.setattr(python_turns, "CALL_PATIENCE_S", 0.05)
    _runs_while_the_turn_is_held(python_turns.turns(), f"sqlite:///{tmp_path / 'turns.db'}")


def test_on_postgresql_queue_calls_do_not_take_turns(patient):
    """Several processes and statements that wait on the network: side by side is faster there."""
    _runs_while_the_turn_is_held(patient, "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def test_a_background_write_waits_for_a_queue_calls_turn_and_gives_it_back(patient, tmp_path):
    """The scheduler's write transactions on SQLite take a turn, and give it back with the write lock."""
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    settings = make_test_settings(url)
    with Database.from_settings(settings).engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    background = Database.from_settings(settings, background=True)
    web = Database.from_settings(settings)
    done = []

    def job():
        with background.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        done.append(patient.locked())

    try:
        assert patient.acquire(timeout=WAIT_S)  # a queue call is running
        thread = threading.Thread(target=job, daemon=True)
        thread.start()
        until(lambda: patient.waiting() == 1)
        # The web's own writes never wait for a turn.
        with web.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        assert not done
        patient.release()
        thread.join(WAIT_S)
        assert done == [False]  # the job's turn ended with its commit
        with web.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM t ORDER BY rowid")).scalars().all() == [2, 1]
    finally:
        background.dispose()
        web.dispose()


def test_the_app_serves_through_the_front_with_turns(patient, tmp_path):
    """The real app behind the front: a queue call (here without a login: 401) runs in its turn."""
    from reviewq import migrate

    settings = make_test_settings(f"sqlite:///{tmp_path / 'app.db'}")
    migrate.upgrade(settings)
    app = create_app(settings)
    front = ReviewqFront(app.wsgi_app, settings)
    statuses: list[int] = []
    try:
        assert patient.acquire(timeout=WAIT_S)
        call = _request(front, "GET", "/queue/status", statuses)
        until(lambda: patient.waiting() == 1)
        assert statuses == []
        patient.release()
        call.join(WAIT_S)
        assert statuses == [401]
    finally:
        _close(front)
        app.extensions["reviewq.db"].dispose()
