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
    notify_log = path.with_name("demo-notifications.log")
    assert f"Notifications go to the local log channel (nothing leaves this machine): {notify_log}" in result.stdout
    assert "on-call reviewers answered" in result.stdout
    return path


@pytest.fixture(scope="module")
def dashboard(demo_db) -> dict:
    settings = load_settings(env={"REVIEWQ_DATABASE_URL": f"sqlite:///{demo_db}", "REVIEWQ_SERVER_MODE": "demo"})
    database = Database.from_settings(settings)
    try:
        with database.session(readonly=True) as session:
            return build_dashboard(session=session, now=utcnow(), filters=None, settings=settings).to_json()
    finally:
        database.dispose()


@pytest.mark.slow
def test_demo_dashboard_recovers_the_profiles(dashboard):
    """The dashboard finds the decay after 20 minutes, the rubber-stamper and the cautious reviewer."""
    rows = {row["reviewer"]: row for row in dashboard["scoreboard"]}
    assert set(rows) >= {"ada", "ben", "cleo", "dev", "eli", "fay", "gus", "hana"}
    decay = dashboard["decay"]
    bins = {b["start"]: b for b in decay["bins"]}
    # The headline test, within reviewers (VIGILANCE.md §4): early catches are likelier, the interval
    # clear of 1, and the verdict says so.
    assert decay["verdict"] == "decrement" and decay["mh"]["low"] > 1.3, decay
    assert decay["logistic"]["slope_per_min"] < 0
    # The pooled view agrees in direction. The rubber-stamper's canaries all sit in minute 0-10 (she
    # never accrues active minutes), so it is read from 10-20 minutes, before the decaying reviewers
    # fade, against after 20 (by 0.14 once sources were chosen nearest-first in SQL: the draw, not a rule).
    assert bins[10]["rate"] > decay["late"]["rate"] + 0.1, decay
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


@pytest.mark.slow
def test_demo_notifications_are_logged_locally_with_links_escalations_and_updates(demo_db):
    """The history's notifications went to the local log file: announcements, escalations, updates, all linked."""
    lines = demo_db.with_name("demo-notifications.log").read_text().splitlines()
    events = [line.split(" ")[3] for line in lines]
    assert {"approval.requested", "approval.escalated", "approval.unstaffed", "approval.updated"} <= set(events)
    assert all("| http://127.0.0.1:8000/queue/items/itm_" in line for line in lines)
    assert any(" | approved by " in line for line in lines) and any(" | expired at " in line for line in lines)


@pytest.mark.slow
def test_every_planted_demo_item_has_a_findable_fault(demo_db):
    """Every canary the demo planted states a fault that check_fault finds in the item a reviewer sees."""
    from sqlmodel import select

    from reviewq.canaries.faults import check_fault
    from reviewq.canaries.library import load_library
    from reviewq.models import Injection, InjectionKind, InjectionSource, Item
    from tests.support.planted_faults import library_fault, mutation_fault

    settings = load_settings(env={"REVIEWQ_DATABASE_URL": f"sqlite:///{demo_db}", "REVIEWQ_SERVER_MODE": "demo"})
    library = load_library(settings.canary_library_path)
    database = Database.from_settings(settings)
    problems, checked = [], {"library": 0, "mutated": 0}
    try:
        with database.session(readonly=True) as s:
            items = {i.id: i for i in s.exec(select(Item)).all()}
            planted = s.exec(select(Injection).where(Injection.kind == InjectionKind.CANARY)).all()
            planted_ids = {i.item_id for i in planted}
            # The tools real traffic uses, per agent (planted copies left out).
            tools: dict[str, set[str]] = {}
            for item in items.values():
                if item.id in planted_ids:
                    continue
                for step in (item.payload or {}).get("trace") or []:
                    if isinstance(step, dict) and isinstance(step.get("tool"), str):
                        tools.setdefault(item.agent, set()).add(step["tool"])
            for inj in planted:
                item = items[inj.item_id]
                if inj.source == InjectionSource.LIBRARY:
                    fault, payload = library_fault(library.by_id(inj.library_entry_id), item.payload,
                                                   inj.explanation), item.payload
                else:  # a real output or approval with one fault planted: compare with the original
                    original = getattr(inj, "original_payload", None) or items[inj.source_item_id].payload
                    stated = mutation_fault(inj.bucket, original, item.payload,
                                            agent_tools=sorted(tools.get(item.agent, ())))
                    fault, payload = stated if stated else (None, None)
                checked["library" if inj.source == InjectionSource.LIBRARY else "mutated"] += 1
                why = "no fault statement" if fault is None else check_fault(fault, payload)
                if why:
                    problems.append(f"{inj.source.value} {inj.bucket} {inj.library_entry_id or ''}: {why} {fault} "
                                    f"({inj.explanation})")
    finally:
        database.dispose()
    assert sum(checked.values()) > 40 and checked["mutated"] > 20, checked
    # A stated fault that check_fault rejects always fails. Where the diff reading in planted_faults cannot
    # state a mutation's fault at all (a multi-word name swap, say), at most 1% may go unchecked.
    unstated = [p for p in problems if "no fault statement" in p]
    rejected = [p for p in problems if p not in unstated]
    total = sum(checked.values())
    assert not rejected, "\n".join(rejected[:20]) + f"\n{len(rejected)} of {total} not findable"
    assert len(unstated) <= total // 100, "\n".join(unstated[:20])
