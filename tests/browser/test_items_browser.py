"""The lead's items browser in Debian's Chromium: filter, open an item, overturn it, with no CSP errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.models import DecisionCreate, Role, Verdict, utcnow
from tests.factories import PASSWORD, make_user, output_item

pytestmark = pytest.mark.browser
XSS = "<img src=x onerror=alert(1)>"


def test_lead_filters_opens_and_overturns_an_item(browser, live_server, database, settings):
    """Filtering by agent narrows the table, the item page shows the markup as text, and the overturn form
    records a new label; nothing breaks the content security policy."""
    now = utcnow() - timedelta(hours=1)
    with database.session_scope() as s:
        rita = make_user(s, "rita", now=now)
        make_user(s, "lena", Role.LEAD, now=now)
        for i, agent in enumerate(("support-bot", "search-agent", "support-bot")):
            payload = {"input": f"q{i}", "output": XSS if agent == "search-agent" else f"a{i}"}
            enqueue(session=s, data=output_item(agent=agent, payload=payload), now=now + timedelta(seconds=i))
            item = claim_next(session=s, reviewer_id=rita.id, now=now + timedelta(minutes=i), lease_seconds=600)
            decide(session=s, public_id=item.public_id, reviewer=rita, now=now + timedelta(minutes=i, seconds=9),
                   settings=settings, data=DecisionCreate(verdict=Verdict.APPROVE, note=f"fine {i}"))
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text else None)
    page.goto(f"{base}/login")
    page.fill("input[name=name]", "lena")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/items")
    assert page.locator("#items tbody tr").count() == 3
    page.fill("#item-filters input[name=agent]", "search-agent")
    page.click("#item-filters button[type=submit]")
    page.wait_for_url("**/items?*agent=search-agent*")
    assert page.locator("#items tbody tr").count() == 1
    page.click("#items tbody tr a")
    page.wait_for_selector("#payload")
    assert XSS in page.inner_text("#payload")
    assert page.locator("#payload img").count() == 0
    page.select_option("#overturn select[name=verdict]", "reject")
    page.select_option("#overturn select[name=reason]", "policy_violation")
    page.fill("#overturn input[name=note]", "an HTML injection attempt")
    page.click("#overturn button[type=submit]")
    page.wait_for_selector("text=Overturned by a lead")
    assert "an HTML injection attempt" in page.inner_text("#overturn")
    assert errors == []
    context.close()
