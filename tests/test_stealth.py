"""Stealth, tested like an adversary: a planted item and a real one are indistinguishable to a reviewer."""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from reviewq.canaries.library import load_library, render_entry
from reviewq.canaries.render import make_faker
from reviewq.domain import projection
from reviewq.domain.canary_rate import boost_rate
from reviewq.domain.items import enqueue
from reviewq.models import (
    CanaryBudget,
    CanaryRateBoost,
    Injection,
    ItemCreate,
    ItemKind,
    utcnow,
)
from tests.factories import approved_by_two, make_user
from tests.support.web import json_headers, login

FORBIDDEN = ("canary", "canaries", "injection", "inject", "control", "planted")


@pytest.fixture
def library(settings):
    return load_library(settings.canary_library_path)


def mask(value):
    """Keep structure (keys, types, list lengths), drop the text."""
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, str):
        if re.fullmatch(r"itm_[A-Za-z0-9_-]+", value):
            return f"itm_<{len(value)}>"
        if re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", value):
            return "<timestamp>"
        return "<text>"
    if isinstance(value, bool) or value is None:
        return value
    return type(value).__name__


def mask_html(html: str) -> str:
    """Tags, attribute names, classes, data attributes and comments; text and token values masked."""
    html = re.sub(r'(name="csrf-token" content=")[^"]+', r"\1", html)
    html = re.sub(r'(name="csrf_token" value=")[^"]+', r"\1", html)
    return re.sub(r">[^<]+<", "><", html)


def assert_no_tells(text: str, explanation: str) -> None:
    lowered = text.lower()
    for word in FORBIDDEN:
        assert word not in lowered, f"{word!r} is visible to the reviewer"
    assert explanation.lower() not in lowered


class Always(random.Random):
    """Every draw 0.0: the claim plants a copy whenever it can."""

    def random(self) -> float:
        return 0.0


def setup_pair(database, library, entry_id, *, now, control=True):
    """rita holds a planted copy (projected at her claim) standing in for a real item that is queued again.

    Both are renderings of the same library entry, like two items of one live slot; bob and carol
    approved a third one earlier, the copy's source: re-served unchanged as a known-good control, or
    (control=False) with one fault planted, as a canary.
    """
    entry = library.by_id(entry_id)
    settings = database.settings.replace(canaries={"onboarding_drill": False, "per_reviewer_per_week": 0,
                                                   "controls_per_reviewer_per_week": 0 if not control else 500})

    def real(seed, at):
        payload = render_entry(entry, make_faker(random.Random(seed))).payload
        return ItemCreate(kind=ItemKind(entry.kind), trace_id=str(uuid.UUID(int=seed, version=4)), agent="acme",
                          category=payload.get("intent", entry.category) if entry.kind == "approval" else "orders",
                          payload=payload, deadline=at + timedelta(hours=1) if entry.kind == "approval" else None)

    with database.session_scope() as s:
        rita = make_user(s, "rita", now=now - timedelta(days=20))
        first = real(1, now - timedelta(minutes=40))
        first.required_approvals = 2
        source = enqueue(session=s, now=now - timedelta(minutes=40), data=first).item
        approved_by_two(s, source, at=now - timedelta(minutes=30), settings=settings)
        item = enqueue(session=s, now=now - timedelta(minutes=20), data=real(2, now - timedelta(minutes=20))).item
        if not control:
            boost_rate(session=s, reviewer_id=rita.id, probability=0.5, hours=1, drill=False, reason="",
                       created_by="lena", now=now - timedelta(minutes=10))
        copy = projection.claim(session=s, reviewer_id=rita.id, now=utcnow(), settings=settings,  # a full lease
                                rng=Always(7), library=library)
        assert copy.id != item.id
        # The claim drew rita's budget for the week from these settings (500 controls), and the budget
        # outlives them: withdraw it and the boost, so the app's own claims plant nothing more.
        budget = s.exec(select(CanaryBudget).where(CanaryBudget.reviewer_id == rita.id)).one()
        budget.canaries = budget.controls = 0
        for boost in s.exec(select(CanaryRateBoost).where(CanaryRateBoost.reviewer_id == rita.id)).all():
            s.delete(boost)
        injection = s.exec(select(Injection).where(Injection.item_id == copy.id)).one()
        return item.public_id, injection.explanation


@pytest.mark.parametrize("entry_id", ["ctl-billing-extract-invoice", "ctl-approval-refund", "hf-search-author-year"])
def test_planted_and_real_items_look_the_same(client, database, library, entry_id):
    """/queue/next JSON and the /queue page are structurally identical for a planted and a real item."""
    now = utcnow()
    real_id, explanation = setup_pair(database, library, entry_id, now=now)
    login(client, "rita")
    headers = json_headers(client)

    first = client.post("/queue/next", headers=headers)
    assert first.status_code == 200
    page_first = client.get("/queue").get_data(as_text=True)
    a = first.get_json()["item"]
    skipped = client.post(f"/queue/items/{a['id']}/skip", headers=headers)
    b = skipped.get_json()["next"]
    page_second = client.get("/queue").get_data(as_text=True)
    assert a is not None and b is not None and {a["id"], b["id"]} >= {real_id}

    assert mask(a) == mask(b)
    assert mask_html(page_first) == mask_html(page_second)
    # Item-dependent answers name nothing about planting. (The page shell carries the reveal dialog's
    # fixed wording for every item alike; it is identical whatever is held, as asserted above.)
    for text in (first.get_data(as_text=True), skipped.get_data(as_text=True)):
        assert_no_tells(text, explanation)
    heartbeat = client.post(f"/queue/items/{b['id']}/heartbeat", headers=headers)
    assert_no_tells(heartbeat.get_data(as_text=True), explanation)
    for page in (page_first, page_second, client.get("/me").get_data(as_text=True)):
        assert explanation not in page and "injection" not in page.lower()


def test_ids_are_random_and_timestamps_plausible(client, database, library):
    """Planted ids have the real id format, are not sequential, and were created before they were due."""
    now = utcnow()
    real_id, _ = setup_pair(database, library, "ctl-support-return-policy", now=now)
    login(client, "rita")
    headers = json_headers(client)
    first = client.post("/queue/next", headers=headers).get_json()["item"]
    second = client.post(f"/queue/items/{first['id']}/skip", headers=headers).get_json()["next"]
    planted = first if second["id"] == real_id else second
    assert re.fullmatch(r"itm_[A-Za-z0-9_-]{16}", planted["id"]) and len(planted["id"]) == len(real_id)
    assert planted["created_at"] < now.isoformat().replace("+00:00", "Z")


def test_the_reveal_comes_only_with_the_decision(client, database, library):
    """The decide answer carries the reveal for the planted item, and the next item shows no tell."""
    now = utcnow()
    real_id, explanation = setup_pair(database, library, "hf-support-refund-amount", now=now, control=False)
    login(client, "rita")
    headers = json_headers(client)
    item = client.post("/queue/next", headers=headers).get_json()["item"]
    if item["id"] == real_id:  # decide the real one first: no reveal, and the planted one comes next
        body = client.post(f"/queue/items/{item['id']}/decide", headers=headers,
                           json={"verdict": "approve"}).get_json()
        assert body["reveal"] is None
        item = body["next"]
        assert_no_tells(json.dumps(body), explanation)
    body = client.post(f"/queue/items/{item['id']}/decide", headers=headers,
                       json={"verdict": "reject", "reason": "hallucinated_fact"}).get_json()
    assert body["reveal"]["kind"] == "canary" and body["reveal"]["outcome"] == "caught"
    assert body["reveal"]["explanation"] == explanation


def test_reviewers_cannot_open_the_injection_log(client, database, now):
    """GET /admin/injections is refused to a reviewer and shown to a lead."""
    from reviewq.models import Role

    with database.session_scope() as s:
        make_user(s, "rita", now=now)
        make_user(s, "lena", role=Role.LEAD, now=now)
    login(client, "rita")
    assert client.get("/admin/injections").status_code == 403
    client.post("/logout", headers=json_headers(client))
    lead = client.application.test_client()
    login(lead, "lena")
    page = lead.get("/admin/injections")
    assert page.status_code == 200 and "Canary injections" in page.get_data(as_text=True)
