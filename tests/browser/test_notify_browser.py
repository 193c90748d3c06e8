"""A notification's link in real Chromium: log in, land on that approval, decide it from the keyboard."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from reviewq.domain.approvals import request_approval
from reviewq.models import Decision, Item, ItemStatus, utcnow
from reviewq.models.approvals import ApprovalCreate
from tests.factories import PASSWORD
from tests.support.api import add_reviewer, issue_token

pytestmark = pytest.mark.browser


def _ask(database, token, settings, timeout_s):
    body = ApprovalCreate(trace_id=str(uuid.uuid4()), actor="jane@example.com", intent="refund",
                          tool_call={"name": "issue_refund", "args": {"amount_usd": 42}}, timeout_s=timeout_s)
    with database.session_scope() as s:
        return request_approval(session=s, token=token.token, data=body, idempotency_key=None, settings=settings,
                                now=utcnow()).item.public_id


def test_link_logs_in_then_shows_that_approval_and_a_decided_link_explains(browser, live_server, database, settings):
    """The link leads through /login to its approval (not the queue's first); a settled one says who decided it."""
    now = utcnow()
    token = issue_token(database, now=now - timedelta(minutes=1))
    add_reviewer(database, "ada", now=now - timedelta(minutes=1))
    first_in_queue = _ask(database, token, settings, 300)
    linked = _ask(database, token, settings, 3000)
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{base}/queue/items/{linked}")
        page.wait_for_url(re.compile(r"/login\?next="))
        page.fill("input[name=name]", "ada")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/queue/items/{linked}")
        expect(page.locator(f'#item[data-item-id="{linked}"]')).to_be_visible()
        expect(page.locator("#message")).to_contain_text("Opened from your notification")
        page.keyboard.press("a")
        expect(page.locator(f'#item[data-item-id="{first_in_queue}"]')).to_be_visible()  # the queue resumes
        with database.session() as s:
            item = s.exec(select(Item).where(Item.public_id == linked)).one()
            assert item.status == ItemStatus.DECIDED
            assert s.exec(select(Decision).where(Decision.item_id == item.id)).one().verdict.value == "approve"
        page.goto(f"{base}/queue/items/{linked}")
        expect(page.locator("#message")).to_contain_text("this approval was approved by ada at")
        expect(page.locator(f'#item[data-item-id="{first_in_queue}"]')).to_be_visible()
        assert errors == []
    finally:
        context.close()
