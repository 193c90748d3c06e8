"""The reviewer queue end to end: Playwright driving Debian's Chromium against a real loopback server."""

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
    Item,
    ItemKind,
    ItemStatus,
    Outcome,
    ReviewSession,
    Role,
    utcnow,
)
from reviewq.web.clock import CLAIM_RNG
from tests.factories import PASSWORD, approval_item, make_user, output_item
from tests.support.browser import AssignedFirst

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parent.parent / "screenshots" / "queue.png"

XSS_STRINGS = [
    "<script>window.__pwned = 1; alert('script')</script>",
    '<img src=x onerror="window.__pwned = 1; alert(\'img\')">',
    '<a href="javascript:window.__pwned=1;alert(\'link\')">click me</a>',
    "&lt;script&gt;alert('entity')&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62;",
    "\uff1cscript\uff1ealert('fullwidth')\uff1c/script\uff1e",
    "safe\u202etxt.exe<svg onload=alert('bidi')>\u200b",
    '<iframe src="javascript:alert(\'frame\')"></iframe>',
]


def _seed(database, now):
    """Two reviewers, a lead, and items in claim order: approval, planted canary, then outputs."""
    with database.session_scope() as s:
        rita = make_user(s, "rita", now=now)
        # 26 minutes of continuous active review so far: the break nudge is due.
        s.add(ReviewSession(reviewer_id=rita.id, started_at=now - timedelta(minutes=35),
                            last_activity_at=now - timedelta(seconds=30), active_ms=26 * 60_000, decisions=40))
        make_user(s, "sam", now=now)
        make_user(s, "lena", Role.LEAD, now=now)
        irreversible = approval_item(
            now=now, deadline_in=timedelta(minutes=10), required_approvals=2, category="payments",
            agent="treasury-agent",
            payload={
                "actor": "ops@example.com",
                "intent": "Pay supplier invoice INV-2231",
                "constraints": {"max_amount_usd": 5000, "allowed_tools": ["wire_transfer"]},
                "tool_call": {"name": "wire_transfer",
                              "args": {"amount_usd": 4200, "iban": "DE89 3704 0044 0532 0130 00",
                                       "memo": XSS_STRINGS[1]}},
                "irreversible": True,
            },
        )
        approval = enqueue(session=s, data=irreversible, now=now).item
        canary = enqueue(session=s, data=output_item(
            agent="support-bot", category="customer_support", assigned_to=rita.id,
            not_before=now - timedelta(minutes=5),
            payload={"input": "Can you reset my password?",
                     "output": "I'm sorry, I can't help with account questions."}), now=now).item
        s.add(Injection(
            item_id=canary.id, reviewer_id=rita.id, kind=InjectionKind.CANARY, source=InjectionSource.LIBRARY,
            bucket="wrong_refusal", library_entry_id="wrong_refusal/password-reset",
            explanation="Password resets are in scope: the agent should have sent the reset link.",
            week_start=now - timedelta(days=1), scheduled_for=now, created_at=now,
        ))
        rich = enqueue(session=s, data=output_item(
            agent="search-assistant", category="search",
            payload={
                "input": "When did the Rosetta spacecraft land its probe on comet 67P?",
                "output": {"answer": "Philae landed on 12 November 2014.",
                           "confidence": 0.93, "sources": ["esa.int/rosetta", "nasa.gov/rosetta"]},
                "context": "User is preparing a school presentation about space missions.",
                "trace": [
                    {"tool": "web_search", "args": {"q": "Philae landing date comet 67P"},
                     "result": "ESA: Philae touched down on 12 November 2014 at 15:34 UTC."},
                    {"tool": "summarise", "args": {"max_words": 20}, "result": {"ok": True}},
                ],
            }), now=now - timedelta(minutes=30)).item
        hostile = enqueue(session=s, data=output_item(
            agent="<i onmouseover=alert(1)>bot</i>", category="customer_support",
            payload={
                "input": XSS_STRINGS[0],
                "output": "\n".join(XSS_STRINGS),
                "context": '{"html": "<img src=x onerror=alert(\'json\')>"}',
                "trace": [{"tool": "<script>alert('tool')</script>", "args": {"<b>k</b>": XSS_STRINGS[2]},
                           "result": XSS_STRINGS[6]}],
                "metadata": {"<svg onload=alert(2)>": XSS_STRINGS[3]},
            }), now=now - timedelta(minutes=20)).item
        skipped = enqueue(session=s, data=output_item(), now=now - timedelta(minutes=10)).item
        last = enqueue(session=s, data=output_item(), now=now - timedelta(minutes=5)).item
        return {k: v.public_id for k, v in dict(
            approval=approval, canary=canary, rich=rich, hostile=hostile, skipped=skipped, last=last).items()}


def _login(page, base, name):
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queue")


def _shows(page, public_id):
    expect(page.locator(f'#item[data-item-id="{public_id}"]')).to_be_visible()


def test_reviewer_walks_the_queue_by_keyboard(browser, app, live_server, database, backend):
    """A reviewer approves, rejects with a reason and note, skips, sees the countdown, the
    two-person rule, a canary reveal and inert hostile content, and is refused at a lead page."""
    # The walk expects the strict claim order; production interleaves planted items at random.
    app.extensions[CLAIM_RNG] = AssignedFirst()
    ids = _seed(database, utcnow())
    base = live_server.url
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, base, "rita")

    # 1. The irreversible approval comes first: live countdown, badge, two-person progress.
    _shows(page, ids["approval"])
    nudge = page.locator("#nudge")
    expect(nudge).to_contain_text("26 minutes without a break")
    page.click("#nudge-dismiss")
    expect(nudge).to_be_hidden()
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    expect(page.locator("#shortcuts")).to_contain_text("Policy violation")
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()
    expect(page.locator("#irreversible")).to_be_visible()
    expect(page.locator("#two-person")).to_have_text("Needs 2 approvals · 0 given")
    countdown = page.locator("#countdown")
    expect(countdown).to_contain_text("Decide within")
    first = countdown.text_content()
    page.wait_for_function("t => document.getElementById('countdown').textContent !== t", arg=first)
    expect(page.locator("#item-body .tool-name")).to_have_text("wire_transfer")
    expect(page.locator("#item-body .tool-call table.kv")).to_contain_text("4200")
    page.keyboard.press("a")
    expect(page.locator("#confirm-hint")).to_contain_text("cannot be undone")
    page.keyboard.press("Enter")
    _shows(page, ids["canary"])
    expect(page.locator("#last-decision")).to_contain_text("Previous item: Your approval is recorded")
    expect(page.locator("#last-decision")).to_contain_text("needs a second reviewer")

    # 2. The planted canary: a reject without a reason is refused, then R, 3, a note, Enter.
    page.keyboard.press("r")
    page.keyboard.press("Enter")
    expect(page.locator("#confirm-hint")).to_contain_text("needs a reason")
    _shows(page, ids["canary"])
    page.keyboard.press("3")
    expect(page.locator('.reason[data-key="3"]')).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("n")
    expect(page.locator("#note")).to_be_focused()
    page.keyboard.type("Refused an in-scope password reset.")
    page.keyboard.press("Enter")
    reveal = page.locator("#reveal")
    expect(reveal).to_be_visible()
    expect(reveal).to_contain_text("planted test item")
    expect(reveal).to_contain_text("You caught it")
    expect(reveal).to_contain_text("should have sent the reset link")
    # The revealed item stays on screen, its refused answer outlined as the fault.
    _shows(page, ids["canary"])
    expect(page.locator("#item-body .field-output.fault-field")).to_contain_text("I'm sorry")
    expect(page.locator("#last-decision")).to_have_class("last-decision small last-reject")
    page.keyboard.press("Enter")
    expect(reveal).to_be_hidden()

    # 3. A rich output: JSON pretty-printed, trace shown; approve with A. Screenshot for the README.
    _shows(page, ids["rich"])
    expect(page.locator("#item-body .field-output table.kv")).to_contain_text("confidence0.93")
    expect(page.locator("#item-body ol.trace")).to_contain_text("web_search")
    expect(page.locator("#item-body .trace-summary")).to_have_text("2 calls: web_search \u00d71 · summarise \u00d71")
    expect(page.locator("#message")).to_have_text("")  # nothing about the canary lingers
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    page.keyboard.press("a")

    # 4. Hostile content renders as text: no element, no handler, no dialog, no script.
    _shows(page, ids["hostile"])
    body = page.locator("#item")
    expect(body).to_contain_text("<script>window.__pwned = 1;")
    expect(body).to_contain_text("<img src=x onerror=")
    expect(body).to_contain_text("&lt;script&gt;")
    expect(body).to_contain_text("<i onmouseover=alert(1)>bot</i>")
    expect(body).to_contain_text("\u27e6U+202E\u27e7")  # the bidi override is made visible
    assert page.locator("#item img, #item script, #item iframe, #item svg, #item a, #item i, #item b").count() == 0
    page.hover("#item-agent")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.keyboard.press("a")

    # 5. Skip gives the item back and shows a different one.
    _shows(page, ids["skipped"])
    page.keyboard.press("s")
    _shows(page, ids["last"])
    expect(page.locator("#last-decision")).to_contain_text("Previous item: skipped")
    page.keyboard.press("a")
    _shows(page, ids["skipped"])  # the skipped item came back to the queue
    page.keyboard.press("a")
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#empty")).to_contain_text("all caught up")

    # 6. A second reviewer sees one approval given and settles the irreversible action.
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    sam = other.new_page()
    sam.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _login(sam, base, "sam")
    _shows(sam, ids["approval"])
    expect(sam.locator("#two-person")).to_have_text("Needs 2 approvals · 1 given")
    sam.keyboard.press("a")
    sam.keyboard.press("Enter")
    expect(sam.locator("#last-decision")).to_have_text("Previous item: Approved.")
    other.close()

    # 7. A lead's page refuses a reviewer.
    response = page.goto(f"{base}/admin")
    assert response.status == 403

    assert dialogs == [] and errors == []
    assert page.evaluate("typeof window.__pwned") == "undefined"
    context.close()

    with database.session_scope() as s:
        items = {i.public_id: i for i in s.exec(select(Item)).all()}
        decisions = s.exec(select(Decision).order_by(Decision.id)).all()
        by_item = {}
        for d in decisions:
            by_item.setdefault(d.item_id, []).append(d)
        approval = items[ids["approval"]]
        assert approval.kind == ItemKind.APPROVAL and approval.status == ItemStatus.DECIDED
        assert approval.outcome == Outcome.APPROVE and len(by_item[approval.id]) == 2
        reject = by_item[items[ids["canary"]].id][0]
        assert reject.reason == "wrong_refusal" and reject.note == "Refused an in-scope password reset."
        injection = s.exec(select(Injection)).one()
        assert injection.outcome == InjectionOutcome.CAUGHT and injection.diagnosed
        skipped = items[ids["skipped"]]
        assert [d.verdict.value for d in by_item[skipped.id]] == ["approve"]
        assert all(d.active_ms > 0 for d in decisions)


def test_a_late_approve_is_refused_on_the_page_and_the_next_item_follows(browser, live_server, database):
    """Pressing A after an approval's deadline: the page says it was not recorded, then shows the next item."""
    import time

    now = utcnow()
    deadline_in = timedelta(seconds=6)
    with database.session_scope() as s:
        make_user(s, "rita", now=now)
        late = enqueue(session=s, data=approval_item(now=now, deadline_in=deadline_in), now=now).item.public_id
        after = enqueue(session=s, data=output_item(), now=now).item.public_id
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        _login(page, live_server.url, "rita")
        _shows(page, late)
        time.sleep(max(0.0, (now + deadline_in - utcnow()).total_seconds()) + 0.5)  # bounded: at most ~6.5 s
        expect(page.locator("#countdown")).to_contain_text("Deadline passed")
        page.keyboard.press("a")
        expect(page.locator("#last-decision")).to_contain_text("Previous item: not recorded: too late")
        _shows(page, after)
        with database.session_scope(readonly=True) as s:
            item = s.exec(select(Item).where(Item.public_id == late)).one()
            assert (item.status, item.outcome) == (ItemStatus.EXPIRED, Outcome.DENY)
            assert s.exec(select(Decision).where(Decision.item_id == item.id)).first() is None
    finally:
        context.close()


def test_a_deep_queue_shows_its_count_as_at_least_the_cap(browser, live_server, database, monkeypatch):
    """The server counts waiting work up to a cap; the header then reads "3+", never a wrong exact number."""
    from reviewq.domain import queue_status
    from reviewq.web import review

    monkeypatch.setattr(queue_status, "COUNT_CAP", 3)
    monkeypatch.setattr(review, "COUNT_CAP", 3)
    now = utcnow()
    with database.session_scope() as s:
        make_user(s, "rita", now=now)
        for _ in range(5):
            enqueue(session=s, data=output_item(), now=now)
        enqueue(session=s, data=approval_item(now=now, deadline_in=timedelta(minutes=10)), now=now)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        _login(page, live_server.url, "rita")
        expect(page.locator("#item")).to_be_visible()
        expect(page.locator("#queue-waiting")).to_have_text("3+")
        expect(page.locator("#queue-due")).to_have_text("1")  # under the cap: exact
    finally:
        context.close()
