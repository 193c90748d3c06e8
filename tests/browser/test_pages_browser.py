"""Every page, for every role, at 1440 px and 390 px in Debian's Chromium: no sideways scroll, the
navigation kept, no console error, and no serious or critical axe-core violation.

A UI sweep, not a storage test: it runs on SQLite only (the storage paths behind these pages are
covered on both databases by the route, dashboard and queue tests).
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from faker import Faker

from reviewq.demo.traffic import AGENTS, agent_output, approval_request
from reviewq.domain.items import enqueue
from reviewq.models import ItemCreate, ItemKind, Role, utcnow
from tests.browser.test_dashboard_browser import _seed as seed_dashboard
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser

WIDTHS = ((1440, 900), (390, 844))
COMMON = ("/queue", "/me", "/me/password", "/me/history", "/oncall", "/disputes", "/no-such-page")
LEAD_PAGES = ("/dashboard", "/dashboard/reviewers/rita", "/admin", "/admin/users", "/admin/injections",
              "/admin/webhooks", "/admin/injections?outcome=nonsense", "/admin/notifications",
              "/admin/canaries/audit", "/items", "/agreement", "/failures", "/disputes/review")
PAGES = {
    None: ("/login",),
    "rita": (*COMMON, "/dashboard"),
    "lena": (*COMMON, *LEAD_PAGES),
    # Leads and admins are served the same pages (auth.LEADS): lena's pass covers them; an admin
    # is checked where the admin area starts.
    "ada": (*COMMON, "/admin", "/admin/users"),
}
EXPECTED_STATUS = {"/no-such-page": 404, "/admin/injections?outcome=nonsense": 422}
BLOCKING = ("serious", "critical")
_AXE = Axe()


def seed_demo_items(database, now, n: int = 6, *, approvals: bool = True) -> None:
    """Demo-shaped work in the shared queue: outputs from each demo agent and (unless told) two approvals."""
    rng, faker = random.Random(5), Faker()
    faker.seed_instance(5)
    with database.session_scope() as s:
        for i in range(n):
            body = agent_output(AGENTS[i % len(AGENTS)], rng=rng, faker=faker, today=now.date())
            enqueue(session=s, data=ItemCreate(kind=ItemKind.OUTPUT, trace_id=body["trace_id"], agent=body["agent"],
                                               category=body["category"],
                                               payload={k: body[k] for k in ("input", "output", "trace", "context")
                                                        if k in body}),
                    now=now - timedelta(minutes=30 - i))
        for kind in ("refund", "access_grant") if approvals else ():
            body = approval_request(rng=rng, faker=faker, kind=kind, today=now.date())
            payload = {k: body[k] for k in ("actor", "intent", "constraints", "tool_call", "irreversible", "context")}
            enqueue(session=s, data=ItemCreate(kind=ItemKind.APPROVAL, trace_id=body["trace_id"], agent=body["actor"],
                                               category=body["intent"], payload=payload,
                                               deadline=now + timedelta(minutes=10)), now=now - timedelta(minutes=2))


def login(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def settle(page, path: str) -> None:
    """Wait for what a page's script draws: the queue's first item, the dashboard's charts."""
    if path == "/queue":
        page.wait_for_function("() => document.getElementById('queue-app').dataset.state !== 'loading'")
    elif path.startswith("/dashboard") and "?" not in path:
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4")


def check_page(page, base: str, path: str, *, logged_in: bool, width: int) -> list[str]:
    """Problems found on one page; an empty list means it passes."""
    problems, console = [], []
    url = f"{base}{path}"

    def on_console(msg):
        # An error page's own status shows up as "Failed to load resource" for the page itself.
        if msg.type == "error" and not (msg.location.get("url") == url and "Failed to load resource" in msg.text):
            console.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: console.append(str(exc)))
    try:
        response = page.goto(url)
        if response.ok:
            settle(page, path)
        page.wait_for_timeout(150)
        expected = EXPECTED_STATUS.get(path, 403 if (path.startswith(("/dashboard", "/admin")) and logged_in
                                                     and "rita" in page.locator(".who").inner_text()) else 200)
        if response.status != expected:
            problems.append(f"status {response.status}, expected {expected}")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 1:
            problems.append(f"scrolls sideways by {overflow}px at {width}px")
        if logged_in and page.locator("header.topbar nav a").count() == 0:
            problems.append("no navigation bar")
        results = _AXE.run(page, options={"resultTypes": ["violations"], "runOnly": {
            "type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
        for v in results.response["violations"]:
            if v["impact"] in BLOCKING:
                targets = [n["target"] for n in v["nodes"][:3]]
                problems.append(f"axe {v['impact']} {v['id']}: {v['help']} {targets}")
        problems += [f"console: {text}" for text in console]
    finally:
        page.remove_listener("console", on_console)
    return [f"{path} @{width}: {p}" for p in problems]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("who", [None, "rita", "lena", "ada"])
def test_every_page_at_every_width_for_every_role(browser, live_server, database, settings, who):
    """Each page this role can reach fits 1440 and 390 px, keeps the nav, logs no error and passes axe."""
    now = utcnow()
    seed_dashboard(database, settings, now)
    with database.session_scope() as s:
        make_user(s, "ada", Role.ADMIN, now=now)
    seed_demo_items(database, now)
    problems = []
    for width, height in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        if who:
            login(page, live_server.url, who)
        for path in PAGES[who]:
            problems += check_page(page, live_server.url, path, logged_in=who is not None, width=width)
        context.close()
    assert not problems, "\n".join(problems)


FOCUS_STYLE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  return {tag: el.tagName, text: (el.textContent || el.name || '').trim().slice(0, 30),
          visible: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2};
}"""


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("who,path", [("rita", "/queue"), ("lena", "/dashboard"), ("lena", "/admin/users")])
def test_keyboard_focus_is_always_visible(browser, live_server, database, settings, who, path):
    """Tabbing through a page, every focused control draws a visible focus ring (2 px or more)."""
    now = utcnow()
    seed_dashboard(database, settings, now)
    seed_demo_items(database, now)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    login(page, live_server.url, who)
    page.goto(f"{live_server.url}{path}")
    settle(page, path)
    seen = []
    for _ in range(25):  # bounded: the first 25 stops of the tab order
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_STYLE)
        if state:
            seen.append(state)
    context.close()
    assert len(seen) >= 5
    hidden = [s for s in seen if not s["visible"]]
    assert not hidden, hidden
