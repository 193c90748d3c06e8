"""/items and /items/<id> over HTTP: who may open what, filters, keyset pages, exports, overturns."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from reviewq.config import Settings
from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.models import (
    AuditEvent,
    DecisionCreate,
    Injection,
    InjectionKind,
    InjectionOutcome,
    Item,
    ReasonBucket,
    Role,
    Verdict,
)
from tests.factories import approval_item, make_user, output_item
from tests.support.dashboard_seed import plant
from tests.support.web import csrf_token, login

XSS = "<script>alert('x')</script>"


def _decide(s, user, item_id: str, verdict: Verdict, *, now, settings: Settings, note: str = "",
            reason: ReasonBucket | None = None):
    claimed = claim_next(session=s, reviewer_id=user.id, now=now, lease_seconds=600)
    assert claimed is not None and claimed.public_id == item_id
    return decide(session=s, public_id=item_id, reviewer=user, now=now + timedelta(seconds=5), settings=settings,
                  data=DecisionCreate(verdict=verdict, reason=reason, note=note, active_ms=4000))


@pytest.fixture
def seeded(database, now, settings):
    """rita decides a real item (with markup in it) and a planted canary; sam and rita both approve an
    irreversible approval; a lead (lena) and an admin (ada) exist."""
    ids = {}
    with database.session_scope() as s:
        rita = make_user(s, "rita", now=now)
        sam = make_user(s, "sam", now=now)
        make_user(s, "lena", Role.LEAD, now=now)
        make_user(s, "ada", Role.ADMIN, now=now)
        real = enqueue(session=s, now=now, data=output_item(
            agent="support-bot", trace_id="trace-real", payload={"input": "q", "output": XSS})).item
        ids["real"] = real.public_id
        _decide(s, rita, real.public_id, Verdict.REJECT, now=now, settings=settings, note="rita-private-note",
                reason=ReasonBucket.HALLUCINATED_FACT)
        canary = plant(s, rita, InjectionKind.CANARY, now=now + timedelta(minutes=1), bucket="off_topic")
        ids["canary"] = s.get(Item, canary.item_id).public_id
        _decide(s, rita, ids["canary"], Verdict.APPROVE, now=now + timedelta(minutes=1), settings=settings)
        two = enqueue(session=s, now=now + timedelta(minutes=2),
                      data=approval_item(now=now, required_approvals=2,
                                         payload={"intent": "refund", "irreversible": True})).item
        ids["two"] = two.public_id
        _decide(s, rita, two.public_id, Verdict.APPROVE, now=now + timedelta(minutes=3), settings=settings,
                note="rita-first")
        _decide(s, sam, two.public_id, Verdict.APPROVE, now=now + timedelta(minutes=4), settings=settings,
                note="sam-second-opinion")
        pending = enqueue(session=s, now=now + timedelta(minutes=5), data=output_item(agent="search-agent")).item
        ids["pending"] = pending.public_id
    return ids


def _logout(client):
    client.post("/logout", data={"csrf_token": csrf_token(client)})


def test_lead_sees_everything_about_an_item(client, seeded):
    """A lead's item page shows the payload escaped, each decision with its note, history and the planting."""
    login(client, "lena")
    page = client.get(f"/items/{seeded['real']}").get_data(as_text=True)
    assert XSS not in page and "&lt;script&gt;" in page
    assert "rita-private-note" in page and "Hallucinated fact" in page and "item.decided" in page
    assert 'id="planted"' not in page
    canary = client.get(f"/items/{seeded['canary']}").get_data(as_text=True)
    assert 'id="planted"' in canary and "Planted canary" in canary and "missed" in canary
    data = client.get(f"/items/{seeded['two']}?format=json").get_json()
    assert [d["reviewer"] for d in data["decisions"]] == ["rita", "sam"]
    assert data["approval"]["required_approvals"] == 2


def test_reviewer_sees_only_their_own_decisions(client, seeded):
    """On a two-person approval, rita sees her decision and never sam's; she cannot open items she did not decide."""
    login(client, "rita")
    page = client.get(f"/items/{seeded['two']}").get_data(as_text=True)
    assert "rita-first" in page and "sam-second-opinion" not in page and ">sam<" not in page
    data = client.get(f"/items/{seeded['two']}?format=json").get_json()
    assert [d["reviewer"] for d in data["decisions"]] == ["rita"] and "history" not in data
    assert client.get(f"/items/{seeded['pending']}").status_code == 404
    assert client.get("/items/itm_doesnotexist").status_code == 404
    _logout(client)
    login(client, "sam")
    assert client.get(f"/items/{seeded['real']}").status_code == 404
    assert client.get(f"/items/{seeded['canary']}").status_code == 404


def test_reviewer_sees_planted_marking_only_once_revealed(client, seeded, database):
    """The planted marking shows to its reviewer after the reveal, never before, and never to anyone else."""
    login(client, "rita")
    with database.session_scope() as s:
        injection = s.execute(sa.select(Injection).join(Item, Item.id == Injection.item_id)
                              .where(Item.public_id == seeded["canary"])).scalar_one()
        assert injection.revealed_at is not None  # [canaries] reveal = immediate
        revealed_at = injection.revealed_at
        injection.revealed_at = None
    page = client.get(f"/items/{seeded['canary']}").get_data(as_text=True)
    assert 'id="planted"' not in page and "planted off_topic" not in page
    assert client.get(f"/items/{seeded['canary']}?format=json").get_json()["planted"] is None
    with database.session_scope() as s:
        s.execute(sa.update(Injection).where(Injection.reviewer_id.is_not(None)).values(revealed_at=revealed_at))
    page = client.get(f"/items/{seeded['canary']}").get_data(as_text=True)
    assert 'id="planted"' in page and "planted off_topic" in page
    assert client.get(f"/items/{seeded['real']}?format=json").get_json()["planted"] is None


def test_reviewer_cannot_open_a_planted_item_before_deciding_it(client, database, now, settings):
    """A canary planted for rita but not yet decided cannot be opened by her (404), so nothing marks it."""
    with database.session_scope() as s:
        rita = make_user(s, "rita", now=now)
        item_id = s.get(Item, plant(s, rita, InjectionKind.CANARY, now=now, bucket="off_topic").item_id).public_id
    login(client, "rita")
    r = client.get(f"/items/{item_id}")
    assert r.status_code == 404 and "off_topic" not in r.get_data(as_text=True)


def test_browser_is_for_leads_only(client, seeded):
    """Reviewers get 403 on the browser and its exports; anonymous users are sent to log in."""
    for path in ("/items", "/items.csv", "/items.jsonl"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"]
    login(client, "rita")
    for path in ("/items", "/items.csv", "/items.jsonl"):
        assert client.get(path).status_code == 403
    assert client.post(f"/items/{seeded['real']}/overturn", data={"csrf_token": csrf_token(client),
                       "verdict": "approve", "note": "x"}).status_code == 403


def _ids(client, query: str) -> list[str]:
    return [r["id"] for r in client.get(f"/items?format=json&{query}").get_json()["items"]]


def test_browser_filters(client, seeded):
    """Each filter narrows the list to exactly the matching items."""
    login(client, "lena")
    assert set(_ids(client, "")) == set(seeded.values())
    assert _ids(client, "agent=search-agent") == [seeded["pending"]]
    assert _ids(client, "reason=hallucinated_fact") == [seeded["real"]]
    assert set(_ids(client, "reviewer=sam")) == {seeded["two"]}
    assert set(_ids(client, "reviewer=rita")) == {seeded["real"], seeded["canary"], seeded["two"]}
    assert _ids(client, "planted=canary") == [seeded["canary"]]
    assert seeded["canary"] not in _ids(client, "planted=real")
    assert _ids(client, "trace_id=trace-real") == [seeded["real"]]
    assert _ids(client, "q=ALERT(") == [seeded["real"]]
    assert _ids(client, "q=100%25") == []  # % is a literal, not a wildcard
    assert _ids(client, "kind=approval") == [seeded["two"]]
    assert _ids(client, "status=queued") == [seeded["pending"]]
    assert _ids(client, "outcome=reject") == [seeded["real"]]
    assert _ids(client, "from=2030-01-01") == []
    assert _ids(client, "sort=decided_asc") == [seeded["real"], seeded["canary"], seeded["two"]]


@pytest.mark.parametrize("query, field", [
    ("status=lost", "status"), ("from=yesterday", "from"), ("limit=0", "limit"), ("cursor=%25%25", "cursor"),
    ("reason=made_up", "reason"), ("sort=random", "sort"), ("from=2026-11-02&to=2026-11-01", "to"),
])
def test_browser_refuses_bad_filters_naming_the_field(client, seeded, query, field):
    """A bad filter value is a 422 naming its field, never a 500."""
    login(client, "lena")
    r = client.get(f"/items?{query}", headers={"Accept": "application/json"})
    assert r.status_code == 422 and r.get_json()["error"]["field"] == field
    assert client.get(f"/items?{query}").status_code == 422


def test_keyset_pages_visit_every_item_once(client, database, now, seeded):
    """Walking next_cursor with a page of 7 over 40 items returns each exactly once, newest first."""
    with database.session_scope() as s:
        for i in range(36):
            enqueue(session=s, data=output_item(agent="bulk"), now=now + timedelta(hours=1, seconds=i // 3))
    login(client, "lena")
    seen, cursor, pages = [], None, 0
    while True:
        r = client.get("/items?format=json&limit=7" + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += [row["created_at"] for row in r["items"]]
        ids = [row["id"] for row in r["items"]]
        assert len(ids) <= 7
        pages += 1
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 40 and pages == 6 and seen == sorted(seen, reverse=True)
    all_ids = []
    cursor = None
    for _ in range(10):
        r = client.get("/items?format=json&limit=7&agent=bulk" + (f"&cursor={cursor}" if cursor else "")).get_json()
        all_ids += [row["id"] for row in r["items"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert len(all_ids) == len(set(all_ids)) == 36


def test_export_holds_the_filtered_set(client, seeded):
    """CSV and JSONL exports hold exactly the filtered items, with decisions and payload."""
    login(client, "lena")
    r = client.get("/items.csv?reviewer=rita")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert {row["id"] for row in rows} == {seeded["real"], seeded["canary"], seeded["two"]}
    real = next(row for row in rows if row["id"] == seeded["real"])
    assert real["reasons"] == "hallucinated_fact" and json.loads(real["payload"])["output"] == XSS
    lines = client.get("/items.jsonl?agent=search-agent").get_data(as_text=True).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [seeded["pending"]]
    assert client.get("/items.xml").status_code == 404


def test_overturn_needs_a_note_is_audited_and_keeps_the_canary_score(client, seeded, database):
    """An overturn without a note is refused; with one it is audited, the label changes, the canary score does not."""
    login(client, "lena")
    headers = {"X-CSRFToken": csrf_token(client), "Accept": "application/json"}
    url = f"/items/{seeded['canary']}/overturn"
    r = client.post(url, json={"verdict": "reject", "reason": "off_topic", "note": "  "}, headers=headers)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "note"
    r = client.post(url, json={"verdict": "reject", "note": "it is wrong"}, headers=headers)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "reason"
    r = client.post(url, json={"verdict": "reject", "reason": "off_topic", "note": "clearly off topic"},
                    headers=headers)
    assert r.status_code == 200
    with database.session_scope() as s:
        injection = s.execute(sa.select(Injection).join(Item, Item.id == Injection.item_id)
                              .where(Item.public_id == seeded["canary"])).scalar_one()
        assert injection.outcome == InjectionOutcome.MISSED  # the reviewer's own decision still scores
        events = s.execute(sa.select(AuditEvent).where(AuditEvent.action == "item.overturned")).scalars().all()
        assert [(e.actor, e.object_id, e.details["note"]) for e in events] == [
            ("user:lena", seeded["canary"], "clearly off topic")]
    data = client.get(f"/items/{seeded['canary']}?format=json").get_json()
    assert data["label"] == {"verdict": "reject", "reason": "off_topic", "overturned": True}
    assert data["item"]["outcome"] == "approve"  # what the agent was told is not rewritten
    r = client.post(url, json={"verdict": "reject", "reason": "off_topic", "note": "again"}, headers=headers)
    assert r.status_code == 422  # already the label
    assert client.post(f"/items/{seeded['pending']}/overturn", json={"verdict": "approve", "note": "n"},
                       headers=headers).status_code == 409


def test_overturned_approval_shows_the_agent_acted(client, seeded):
    """Overturning an approved approval records that the agent had already been told to go ahead."""
    login(client, "lena")
    r = client.post(f"/items/{seeded['two']}/overturn", headers={"X-CSRFToken": csrf_token(client)},
                    data={"verdict": "reject", "reason": "policy_violation", "note": "over the refund cap"})
    assert r.status_code == 302
    page = client.get(f"/items/{seeded['two']}").get_data(as_text=True)
    assert "may have acted on it" in page and "over the refund cap" in page
    row = next(x for x in client.get("/items?format=json").get_json()["items"] if x["id"] == seeded["two"])
    assert row["overturned_to"] == "reject"


def test_item_ids_link_to_their_pages(client, seeded):
    """/me links a reviewer's decided items; /admin/injections and the reviewer dashboard link planted items."""
    login(client, "rita")
    me = client.get("/me").get_data(as_text=True)
    assert f'href="/items/{seeded["real"]}"' in me and f'href="/items/{seeded["two"]}"' in me
    _logout(client)
    login(client, "lena")
    assert f'href="/items/{seeded["canary"]}"' in client.get("/admin/injections").get_data(as_text=True)
    page = client.get("/dashboard/reviewers/rita?from=2026-10-01&to=2026-11-30").get_data(as_text=True)
    assert f'href="/items/{seeded["canary"]}' in page


def test_reviewer_history_lists_only_their_own_decisions(client, seeded):
    """/me/history pages through the reviewer's own decisions, newest first, and shows no one else's."""
    login(client, "sam")
    data = client.get("/me/history?format=json").get_json()
    assert [d["item"] for d in data["decisions"]] == [seeded["two"]] and data["next_before"] is None
    assert "sam-second-opinion" in client.get("/me/history").get_data(as_text=True)
    _logout(client)
    login(client, "rita")
    items = [d["item"] for d in client.get("/me/history?format=json").get_json()["decisions"]]
    assert items == [seeded["two"], seeded["canary"], seeded["real"]]
    page = client.get("/me/history").get_data(as_text=True)
    assert "sam-second-opinion" not in page and "planted" not in page.lower()
    assert client.get("/me/history?before=abc", headers={"Accept": "application/json"}).status_code == 422
