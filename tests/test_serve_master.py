"""`reviewq serve` execs a lean gunicorn master: the settings reach the workers whole, and the
master holds none of the app (its memory counts in the server's for its whole life)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import requests

from reviewq.bench.harness import children
from reviewq.config import load_settings
from reviewq.demo.live import TRICKLE_SECONDS, add_trickle, trickle_job
from reviewq.server import ReviewqServer, ServeSpec
from reviewq.serving.worker import ReviewqWorker
from tests.support.live_server import serve_in_subprocess


def _mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def _open_files(pid: int) -> list[str]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.append(os.readlink(fd))
        except FileNotFoundError:  # closed meanwhile
            continue
    return found


def test_the_master_holds_neither_settings_models_nor_the_app_and_keeps_no_spec_open(db_url, database):
    server, proc = serve_in_subprocess({"REVIEWQ_SERVER_MODE": "test", "REVIEWQ_DATABASE_URL": db_url})
    try:
        assert requests.get(f"{server.url}/healthz", timeout=5).json()["status"] == "ok"
        assert "reviewq.serving.master" in Path(f"/proc/{proc.pid}/cmdline").read_text()
        workers = children(proc.pid)
        assert len(workers) == 1  # SQLite: one worker
        # pydantic's compiled core is loaded with the settings models; the worker has it, the master not.
        assert "pydantic_core" in _mapped(workers[0])
        assert "pydantic_core" not in _mapped(proc.pid)
        # The spec (it holds the secret key) was read and closed before the worker forked.
        for pid in (proc.pid, workers[0]):
            assert not [f for f in _open_files(pid) if "reviewq-serve-spec" in f]
    finally:
        server.stop()


def test_a_serve_spec_carries_the_settings_whole(monkeypatch):
    for attribute in ("max_connections", "header_timeout_s", "board"):
        monkeypatch.setattr(ReviewqWorker, attribute, getattr(ReviewqWorker, attribute))
    settings = load_settings(None).replace(server={"port": 8123, "max_connections": 345, "header_timeout_s": 7.5},
                                            api={"max_body_bytes": 4321})
    spec = ServeSpec.of(settings, run_scheduler=True, scheduler_setup="reviewq.demo.live:add_trickle",
                        setup_args=(5,))
    again = ServeSpec.from_json(spec.to_json())
    assert again == spec and again.bind.endswith(":8123") and again.workers == 1
    assert again.argv == tuple(sys.argv)  # gunicorn's USR2 upgrade re-runs the command that started it
    server = ReviewqServer(again)
    assert server.settings == settings
    assert server.cfg.workers == 1 and server.cfg.bind == [again.bind]
    assert (ReviewqWorker.max_connections, ReviewqWorker.header_timeout_s) == (345, 7.5)


def test_the_demo_trickle_is_added_by_name_in_the_worker(settings):
    class Recorder:
        def __init__(self):
            self.jobs = []

        def add_job(self, func, trigger, **kwargs):
            self.jobs.append((func, trigger, kwargs))

    scheduler = Recorder()
    add_trickle(scheduler, settings, 11)
    [(func, trigger, kwargs)] = scheduler.jobs
    assert func is trickle_job and trigger == "interval" and kwargs["seconds"] == TRICKLE_SECONDS
    assert kwargs["args"][1:] == [settings, 11] and kwargs["id"] == "demo_trickle"
    kwargs["args"][0].dispose()
