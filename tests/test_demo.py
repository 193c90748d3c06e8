"""`reviewq demo` as a newcomer runs it: the database it builds tells the story the README promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reviewq.config import load_settings
from reviewq.db import Database
from reviewq.models import utcnow
from reviewq.stats.dashboard import build_dashboard

SCREENSHOT = Path(__file__).parent / "screenshots" / "demo-dashboard.png"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWQ_")}
    result = subprocess.run([sys.executable, "-m", "reviewq", "demo", "--no-serve", "--db", str(path)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "http://127.0.0.1:8000/" in result.stdout
    assert "lena / demo-password" in result.stdout and "Look first" in result.stdout
    return path


@pytest.fixture(scope="module")
def dashboard(demo_db) -> dict:
    settings = load_settings(env={"REVIEWQ_DATABASE_URL": f"sqlite:///{demo_db}", "REVIEWQ_SERVER_MODE": "demo"})
    database = Database.from_settings(settings)
    try:
        with database.session(readonly=True) as session:
            return build_dashboard(session=session, now=utcnow(), filters=None, settings=settings)
    finally:
        database.dispose()


@pytest.mark.slow
def test_demo_dashboard_recovers_the_profiles(dashboard):
    """The dashboard finds the decay after 20 minutes, the rubber-stamper and the cautious reviewer."""
    rows = {row["reviewer"]: row for row in dashboard["scoreboard"]}
    assert set(rows) >= {"ada", "ben", "cleo", "dev", "eli", "fay", "gus", "hana"}
    decay = dashboard["decay"]
    bins = {b["start"]: b for b in decay["bins"]}
    # The rubber-stamper's canaries all sit in minute 0-10 (she never accrues active minutes), so the
    # story is read from 10-20 minutes, before the decaying reviewers fade, against after 20.
    assert bins[10]["rate"] > decay["late"]["rate"] + 0.15, decay
    assert decay["logistic"]["slope_per_min"] < 0
    # The rubber-stamper: the shortest dwell and the lowest catch rate.
    assert rows["cleo"]["median_active_s"] < 2 < min(r["median_active_s"] for n, r in rows.items() if n != "cleo")
    assert rows["cleo"]["catch"]["rate"] == min(r["catch"]["rate"] for r in rows.values() if r["catch"]["n"])
    # The cautious one raises the most false alarms; the steady one catches more than the decaying one.
    assert rows["dev"]["false_alarm"]["rate"] == max(r["false_alarm"]["rate"] for r in rows.values()
                                                     if r["false_alarm"]["n"])
    assert rows["ada"]["catch"]["rate"] > rows["ben"]["catch"]["rate"]


@pytest.mark.slow
def test_demo_canaries_pass_the_stealth_audit(demo_db):
    """In the demo too, a classifier over the reviewer view cannot tell planted from real (AUC <= 0.55)."""
    from reviewq.stats.stealth_audit import TARGET_AUC, run_audit

    settings = load_settings(env={"REVIEWQ_DATABASE_URL": f"sqlite:///{demo_db}", "REVIEWQ_SERVER_MODE": "demo"})
    database = Database.from_settings(settings)
    try:
        with database.session(readonly=True) as session:
            audit = run_audit(session=session, now=utcnow(), weeks=5)
    finally:
        database.dispose()
    assert audit.n_planted >= 200 and audit.auc is not None
    assert audit.auc <= TARGET_AUC, (audit.message, audit.tells, audit.by_source)
    assert {p.name for p in audit.by_source} >= {"projection", "mutation", "control"}


@pytest.mark.slow
@pytest.mark.browser
def test_demo_serves_a_live_queue_and_dashboard(demo_db, page):
    """The demo database served by `reviewq serve`: a reviewer gets work, a lead sees drawn charts."""
    from tests.support.live_server import serve_in_subprocess

    server, _proc = serve_in_subprocess({"REVIEWQ_DATABASE_URL": f"sqlite:///{demo_db}",
                                         "REVIEWQ_SERVER_MODE": "demo"})
    try:
        page.goto(f"{server.url}/login")
        page.fill("input[name=name]", "lena")
        page.fill("input[name=password]", "demo-password")
        page.click("button[type=submit]")
        page.goto(f"{server.url}/dashboard")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 4")
        traces = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')].map(e => (e.data || []).length)")
        assert all(n > 0 for n in traces), traces
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        server.stop()
