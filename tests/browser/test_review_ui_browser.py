"""The review UI's behaviours at 1440 px and 390 px: judging a demo item, rejecting with the mouse
and Enter, the reveal in place, the status line, and the lead's sortable scoreboard and trend."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from reviewq.domain.items import enqueue
from reviewq.models import (
    Decision,
    Injection,
    InjectionKind,
    InjectionOutcome,
    InjectionSource,
    ItemCreate,
    ItemKind,
    Role,
    utcnow,
)
from reviewq.web.clock import CLAIM_RNG
from tests.browser.test_dashboard_browser import _seed as seed_dashboard
from tests.browser.test_pages_browser import login, seed_demo_items
from tests.factories import make_user
from tests.support.browser import AssignedFirst

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
WIDTHS = {"wide": (1440, 900), "phone": (390, 844)}

ORDER = {"order_id": "A-418207", "customer": "Maya", "product": "espresso grinder", "quantity": 1,
         "unit_price_usd": "179.50", "total_usd": "179.50", "placed_on": "2026-11-10"}
TRACK = {"carrier": "DHL", "tracking_number": "DH4410092231", "shipped_on": "2026-11-11", "last_scan": "Memphis",
         "status": "in_transit", "estimated_delivery": "2026-11-30"}
# A planted canary shaped like the demo's support answers: the delivery date contradicts the tool result.
CANARY = {
    "input": "Where is order A-418207? I ordered the espresso grinder on 2026-11-10 and nothing has come.",
    "output": "Hi Maya, thanks for your patience. Order A-418207 (1 × espresso grinder) shipped on 2026-11-11 with "
              "DHL, tracking number DH4410092231. It was last scanned in Memphis and is expected on 2026-11-19.",
    "trace": [{"tool": "lookup_order", "args": {"order_id": "A-418207"}, "result": ORDER},
              {"tool": "track_shipment", "args": {"tracking_number": "DH4410092231"}, "result": TRACK}],
    "context": {"channel": "chat", "customer": "Maya"},
}


def _seed_queue(database, now):
    """rita's queue: a planted canary first (assigned to her), then demo traffic."""
    with database.session_scope() as s:
        rita = make_user(s, "rita", now=now)
        item = enqueue(session=s, data=ItemCreate(kind=ItemKind.OUTPUT, trace_id="t-canary", agent="support-bot",
                                                  category="customer_support", payload=CANARY, assigned_to=rita.id,
                                                  not_before=now - timedelta(minutes=5)), now=now).item
        s.add(Injection(item_id=item.id, reviewer_id=rita.id, kind=InjectionKind.CANARY,
                        source=InjectionSource.MUTATION, bucket="hallucinated_fact",
                        explanation="The reply says delivery is expected on 2026-11-19; the shipment tool says "
                                    "2026-11-30.",
                        week_start=now - timedelta(days=1), scheduled_for=now, created_at=now))
        canary_id = item.public_id
    seed_demo_items(database, now, approvals=False)  # approvals would be served first
    return canary_id


@pytest.mark.parametrize("size", list(WIDTHS))
def test_reviewer_judges_rejects_by_mouse_and_sees_the_fault_in_place(browser, app, live_server, database, size):
    """Input, output and tool results are in view together; a reason clicked then Enter rejects; the reveal
    keeps the item with the contradicting date marked; nothing from it lingers on the next item."""
    app.extensions[CLAIM_RNG] = AssignedFirst()  # the planted item first, as seeded
    now = utcnow()
    canary_id = _seed_queue(database, now)
    width, height = WIDTHS[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, live_server.url, "rita")
    expect(page.locator(f'#item[data-item-id="{canary_id}"]')).to_be_visible()

    # The status line: shared work waiting (the planted item is not counted) and session time.
    expect(page.locator("#queue-waiting")).to_have_text("6")
    expect(page.locator("#queue-due")).to_have_text("0")
    expect(page.locator("#session-minutes")).to_have_text("0")
    page.screenshot(path=str(SHOTS / f"queue-item-{size}.png"), full_page=False)
    # The trace reads as a summary, each step expandable.
    expect(page.locator("#item-body .trace-summary")).to_have_text("2 calls: lookup_order ×1 · track_shipment ×1")
    step = page.locator("#item-body details.trace-step").nth(1)
    expect(step).to_have_attribute("open", "")
    step.locator("summary").click()
    expect(step).not_to_have_attribute("open", "")
    step.locator("summary").click()
    if size == "wide":  # question, answer and the tool result it should agree with, without scrolling
        for selector in (".field-input", ".field-output", ".field-trace details.trace-step:nth-of-type(1)"):
            box = page.locator(f"#item-body {selector}").first.bounding_box()
            assert box and box["y"] + min(box["height"], 40) <= height, (selector, box)
        estimate = page.locator("#item-body .field-trace td", has_text="2026-11-30")
        box = estimate.bounding_box()
        assert box and box["y"] + box["height"] <= height, box
        assert page.evaluate("document.documentElement.scrollHeight") <= height + 200

    # Reject with the mouse: R, a reason; the focused reason button must not swallow Enter.
    page.click("#btn-reject")
    page.click('.reason[data-reason="hallucinated_fact"]')
    expect(page.locator('.reason[data-reason="hallucinated_fact"]')).to_be_focused()
    page.keyboard.press("Enter")

    reveal = page.locator("#reveal")
    expect(reveal).to_be_visible()
    expect(reveal).to_contain_text("You caught it")
    expect(page.locator(f'#item[data-item-id="{canary_id}"]')).to_be_visible()  # the item stays
    marks = page.locator("#item-body mark.fault-mark")
    expect(marks.filter(has_text="2026-11-19")).to_have_count(1)  # the claim, in the output
    expect(marks.filter(has_text="2026-11-30")).not_to_have_count(0)  # the truth, in the tool result
    expect(page.locator("#last-decision")).to_have_text("Previous item: Rejected: Hallucinated fact.")
    color = page.evaluate("getComputedStyle(document.getElementById('last-decision')).color")
    assert color == "rgb(179, 38, 30)", color  # a reject reads red, never green
    page.screenshot(path=str(SHOTS / f"queue-reveal-{size}.png"), full_page=False)
    page.keyboard.press("Enter")

    expect(reveal).to_be_hidden()
    expect(page.locator("#item")).not_to_have_attribute("data-item-id", canary_id)
    expect(page.locator("#item-body mark")).to_have_count(0)
    expect(page.locator("#message")).to_have_text("")
    expect(page.locator("#reject-panel")).to_be_hidden()
    assert errors == []
    context.close()
    with database.session_scope() as s:
        injection = s.exec(select(Injection)).one()
        assert injection.outcome == InjectionOutcome.CAUGHT and injection.diagnosed
        assert s.exec(select(Decision)).one().reason == "hallucinated_fact"


@pytest.mark.parametrize("size", list(WIDTHS))
def test_lead_sorts_the_scoreboard_and_picks_a_reviewer_on_the_trend(browser, live_server, database, settings,
                                                                     size):
    """Any scoreboard column sorts both ways (blanks last); the trend shows the team plus one picked reviewer."""
    now = utcnow()
    seed_dashboard(database, settings, now)
    width, height = WIDTHS[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    login(page, live_server.url, "lena")
    page.goto(f"{live_server.url}/dashboard")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4")

    def column(i):
        return page.locator("#scoreboard tbody tr").evaluate_all(
            f"rows => rows.map(r => r.cells[{i}].textContent.trim())")

    header = page.locator("#scoreboard thead th")
    header.nth(0).locator("button").click()
    assert column(0) == ["rita", "sam", "tess"]
    expect(header.nth(0)).to_have_attribute("aria-sort", "ascending")
    header.nth(0).locator("button").click()
    assert column(0) == ["tess", "sam", "rita"]
    header.nth(1).locator("button").press("Enter")  # canaries seen, from the keyboard
    seen = [int(c.split("/")[0]) for c in column(1)]
    assert seen == sorted(seen) and len(set(seen)) == 3
    header.nth(2).locator("button").click()  # catch rate: tess has too few canaries, so she sorts last
    assert column(0)[-1] == "tess"
    header.nth(2).locator("button").click()
    assert column(0)[-1] == "tess"

    traces = "() => document.getElementById('chart-trend').data.map(t => t.name)"
    assert page.evaluate(traces) == ["Team"]
    page.select_option("#trend-reviewer", "sam")
    page.wait_for_function(f"() => ({traces})().length === 2")
    assert page.evaluate(traces) == ["Team", "sam"]
    colors = page.evaluate("() => document.getElementById('chart-trend').data.map(t => t.line.color)")
    assert len(set(colors)) == 2
    page.screenshot(path=str(SHOTS / f"dashboard-{size}.png"), full_page=size == "wide")
    context.close()


def test_error_pages_keep_the_navigation_and_say_what_to_do(browser, live_server, database, now):
    """404, 403 and 422 pages show the top bar and a way on (the queue, or clearing the filters)."""
    with database.session_scope() as s:
        make_user(s, "rita", now=now)
        make_user(s, "lena", Role.LEAD, now=now)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    login(page, live_server.url, "rita")
    r = page.goto(f"{live_server.url}/admin/users")
    assert r.status == 403
    expect(page.locator("header.topbar nav a", has_text="Queue")).to_be_visible()
    expect(page.locator("main")).to_contain_text("for leads and admins")
    r = page.goto(f"{live_server.url}/nowhere")
    assert r.status == 404
    expect(page.locator("main h1")).to_contain_text("Page not found")
    page.get_by_role("link", name="Go to your queue").click()
    page.wait_for_url(f"{live_server.url}/queue")
    context.close()
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    login(page, live_server.url, "lena")
    r = page.goto(f"{live_server.url}/admin/injections?kind=mystery")
    assert r.status == 422
    expect(page.locator("main")).to_contain_text("kind must be one of canary, control")
    page.get_by_role("link", name="Clear the filters").click()
    page.wait_for_url(f"{live_server.url}/admin/injections")
    context.close()
