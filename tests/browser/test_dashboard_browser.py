"""The lead dashboard in Debian's Chromium: every chart draws and the scoreboard matches SQL."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reviewq.models import Injection, InjectionKind, Role, Verdict, utcnow
from tests.factories import PASSWORD, make_user
from tests.support.dashboard_seed import BUCKETS, review_one

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parent.parent / "screenshots" / "dashboard.png"
CHARTS = ("chart-reviewers", "chart-decay", "chart-trend", "chart-buckets")


def _seed(database, settings, now):
    """Three reviewers over two days: one rated (30+ canaries), one provisional, one with too few."""
    plan = {"rita": (34, 12, 0.95), "sam": (14, 10, 0.8), "tess": (4, 3, 0.9)}
    rng = random.Random(7)
    with database.session_scope() as s:
        make_user(s, "lena", Role.LEAD, now=now)
        for d, (name, (canaries, controls, p)) in enumerate(plan.items()):
            user = make_user(s, name, now=now)
            t = now - timedelta(days=2 + d)
            kinds = [InjectionKind.CANARY] * canaries + [InjectionKind.CONTROL] * controls + [None] * 6
            rng.shuffle(kinds)
            active = 0.0
            for i, kind in enumerate(kinds):
                secs = 1.5 if i % 10 == 0 else 45
                active += secs
                caught = rng.random() < (p if active < 20 * 60 else p - 0.3)  # a decrement after 20 min
                verdict = Verdict.REJECT if (kind == InjectionKind.CANARY and caught) or (
                    kind == InjectionKind.CONTROL and rng.random() < 0.1) else Verdict.APPROVE
                review_one(s, user, verdict=verdict, now=t, active_s=secs,
                           settings=settings, kind=kind, bucket=BUCKETS[i % 3])
                t += timedelta(seconds=secs + 5)


def test_lead_sees_every_chart_and_true_numbers(browser, live_server, database, settings):
    """A lead logs in, each chart has data traces, the scoreboard equals direct SQL counts, no CSP errors."""
    _seed(database, settings, utcnow())
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # CSP violations surface as console errors; a missing favicon (404) is not one of ours.
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text else None)
    page.goto(f"{base}/login")
    page.fill("input[name=name]", "lena")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/dashboard")
    for chart in CHARTS:
        page.wait_for_function(
            "id => { const el = document.getElementById(id); return el && el.data && el.data.length > 0 "
            "&& el.querySelector('.main-svg') !== null; }",
            arg=chart, timeout=15000,
        )
    traces = page.evaluate("() => document.getElementById('chart-decay').data[0].y.filter(y => y !== null).length")
    assert traces >= 2

    with database.session_scope(readonly=True) as s:
        names = dict(s.execute(sa.text("SELECT id, name FROM users")).all())
        for rid, name in names.items():
            if name == "lena":
                continue
            row = page.locator(f'tr[data-reviewer="{name}"]')
            shown = {f: int(row.locator(f'[data-field="{f}"]').inner_text()) for f in
                     ("canaries", "caught", "controls", "false_alarms", "sessions")}
            def count(*w, rid=rid):
                return s.execute(sa.select(sa.func.count()).select_from(Injection).where(
                    Injection.reviewer_id == rid, *w)).scalar_one()

            assert shown["canaries"] == count(Injection.kind == InjectionKind.CANARY)
            assert shown["caught"] == count(Injection.outcome == "caught")
            assert shown["controls"] == count(Injection.kind == InjectionKind.CONTROL)
            assert shown["false_alarms"] == count(Injection.outcome == "false_alarm")
            assert shown["sessions"] == s.execute(
                sa.text("SELECT COUNT(*) FROM review_sessions WHERE reviewer_id = :r"), {"r": rid}).scalar_one()
    assert "provisional" in page.locator('tr[data-reviewer="sam"]').inner_text()
    assert "no rate" in page.locator('tr[data-reviewer="tess"]').inner_text()
    # The decay headline compares each reviewer with themselves; the pooled curve is a labelled second trace.
    cards = page.locator(".dash-cards").first.inner_text()
    assert "first 20 min vs after, each reviewer against themselves" in cards
    assert "within reviewers" in page.locator("#decay-within").inner_text()
    names = page.evaluate("() => document.getElementById('chart-decay').data.map(t => t.name)")
    assert names[0].startswith("Within reviewers") and names[1].startswith("Pooled")
    assert "Secondary view, pooled" in page.locator("#decay-pooled").inner_text()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    # The reviewer filter on the curve: one reviewer's own curve, the rest of the page unchanged.
    page.select_option("#curve-reviewer", "rita")
    page.click("#decay-card form button[type=submit]")
    page.wait_for_url("**curve=rita**")
    page.wait_for_function("() => { const el = document.getElementById('chart-decay'); return el && el.data && "
                           "el.data[0].name.startsWith('rita'); }", timeout=15000)
    assert page.locator("#curve-reviewer").input_value() == "rita"
    assert page.locator('tr[data-reviewer="sam"]').count() == 1

    page.click('tr[data-reviewer="rita"] a')
    for chart in ("chart-decay", "chart-trend", "chart-cusum", "chart-active"):
        page.wait_for_function("id => { const el = document.getElementById(id); return el && el.data && "
                               "el.data.length > 0; }", arg=chart, timeout=15000)
    assert page.locator("#missed tbody tr").count() >= 1
    assert errors == [], errors
    context.close()
