"""The queue's JSON endpoints: claim, decide, heartbeat, skip, stealth of the reviewer view, /me."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from reviewq.domain import decide as decide_domain
from reviewq.domain.effects import DecisionEffects
from reviewq.domain.items import enqueue
from reviewq.models import Decision, Item, ItemStatus, ReviewSession, Role, User, utcnow
from reviewq.web.review_view import REVIEWER_ITEM_FIELDS
from tests.factories import add_outputs, approval_item, make_user, output_item
from tests.support.web import json_headers, login

VIEW_KEYS = {"id", "kind", "agent", "category", "payload", "created_at", "deadline", "approvals"}


@pytest.fixture
def rita(client, database, now):
    """A logged-in reviewer; returns (client, headers, user id)."""
    with database.session_scope() as s:
        user = make_user(s, "rita", now=now)
        make_user(s, "sam", now=now)
        uid = user.id
    login(client, "rita")
    return client, json_headers(client), uid


def _add(database, *datas):
    with database.session_scope() as s:
        return [enqueue(session=s, data=d, now=utcnow() - timedelta(minutes=10 - i)).item.public_id
                for i, d in enumerate(datas)]


def test_queue_page_passes_config_as_data_attributes(rita, settings):
    """/queue is a shell whose script gets thresholds from data- attributes and lists the 8 buckets."""
    client, _, _ = rita
    html = client.get("/queue").get_data(as_text=True)
    assert f'data-idle-seconds="{settings.vigilance.idle_seconds}"' in html
    assert f'data-break-nudge-minutes="{settings.vigilance.break_nudge_minutes}"' in html
    assert html.count('class="reason"') == 8 and 'src="/static/queue.js"' in html


def test_next_claims_and_a_reload_resumes_the_same_item(rita, database):
    """POST /queue/next leases the oldest item; calling it again returns the held item, not a new one."""
    client, h, uid = rita
    first, _ = _add(database, output_item(), output_item())
    r = client.post("/queue/next", headers=h)
    assert r.status_code == 200 and r.json["item"]["id"] == first
    assert client.post("/queue/next", headers=h).json["item"]["id"] == first
    with database.session_scope() as s:
        item = s.exec(select(Item).where(Item.public_id == first)).one()
        assert item.status == ItemStatus.LEASED and item.lease_holder == uid


def test_reviewer_view_has_only_the_allowed_fields(rita, database, now):
    """The item JSON is built from public_id, kind, agent, category, payload, deadline, created_at only."""
    client, h, _ = rita
    _add(database, output_item(priority=7, payload={"input": "q", "output": {"a": 1}}))
    item = client.post("/queue/next", headers=h).json["item"]
    assert set(item) == VIEW_KEYS
    assert item["payload"] == {"input": "q", "output": {"a": 1}} and item["approvals"] is None
    assert REVIEWER_ITEM_FIELDS == ("public_id", "kind", "agent", "category", "payload", "deadline", "created_at")


def test_an_assigned_item_looks_exactly_like_a_real_one(rita, database, now):
    """A canary-like item (assigned, not_before, priority, injection row) renders the same JSON shape and
    values as a real one with the same payload, apart from its id and time."""
    client, h, uid = rita
    payload = {"input": "same", "output": "same"}
    planted, real = _add(
        database,
        output_item(payload=payload, assigned_to=uid, not_before=utcnow() - timedelta(minutes=1), priority=5),
        output_item(payload=payload),
    )
    views = []
    for _ in range(2):
        r = client.post("/queue/next", headers=h).json
        views.append(r["item"])
        client.post(f"/queue/items/{r['item']['id']}/decide", headers=h, json={"verdict": "approve"})
    assert {v["id"] for v in views} == {planted, real}
    strip = [{k: v for k, v in view.items() if k not in ("id", "created_at")} for view in views]
    assert strip[0] == strip[1]
    text = json.dumps(views)
    for leak in ("assigned", "not_before", "priority", "lease", "token", "injection", "reviewer"):
        assert leak not in text


def test_decide_records_and_hands_over_the_next_item(rita, database):
    """A decision is stored with its active time; the response carries the next claimed item and reveal key."""
    client, h, uid = rita
    first, second = _add(database, output_item(), output_item())
    client.post("/queue/next", headers=h)
    r = client.post(f"/queue/items/{first}/decide", headers=h,
                    json={"verdict": "reject", "reason": "off_topic", "note": "  drifted  ", "active_ms": 0})
    assert r.status_code == 200
    body = r.json
    assert "reveal" in body and body["reveal"] is None
    assert body["decision"]["verdict"] == "reject" and body["decision"]["reason"] == "off_topic"
    assert body["decision"]["settled"] is True and body["next"]["id"] == second
    assert body["session"]["decisions"] == 1 and body["session"]["running"] is True
    with database.session_scope() as s:
        d = s.exec(select(Decision)).one()
        assert d.reviewer_id == uid and d.note == "drifted" and d.active_ms == 0
        assert s.exec(select(Item).where(Item.public_id == second)).one().status == ItemStatus.LEASED


BAD_BODIES = [
    ({"verdict": "reject"}, "reason"),
    ({"verdict": "reject", "reason": ""}, "reason"),
    ({"verdict": "reject", "reason": "bogus"}, "reason"),
    ({"verdict": "maybe"}, "verdict"),
    ({"verdict": "approve", "note": 5}, "note"),
    ({"verdict": "approve", "note": "x" * 2001}, "note"),
    ({"verdict": "approve", "active_ms": -1}, "active_ms"),
    ({"verdict": "approve", "active_ms": "12"}, "active_ms"),
    ({"verdict": "approve", "active_ms": True}, "active_ms"),
]


def test_bad_decisions_get_422_naming_the_field(rita, database):
    """Every malformed decide body is refused with 422 and the field at fault; the item stays held."""
    client, h, _ = rita
    (pid,) = _add(database, output_item())
    client.post("/queue/next", headers=h)
    for body, field in BAD_BODIES:
        r = client.post(f"/queue/items/{pid}/decide", headers=h, json=body)
        assert (r.status_code, r.json["error"]["field"]) == (422, field), body
    with database.session_scope() as s:
        assert s.exec(select(Item)).one().status == ItemStatus.LEASED
        assert s.exec(select(Decision)).all() == []


def test_non_json_decide_body_is_400(rita, database):
    """A decide body that is not a JSON object is a 400, not a 500."""
    client, h, _ = rita
    (pid,) = _add(database, output_item())
    client.post("/queue/next", headers=h)
    r = client.post(f"/queue/items/{pid}/decide", headers=h, data="verdict=approve")
    assert r.status_code == 400 and r.json["error"]["field"] == "body"


def test_deciding_an_item_not_held_is_409_and_unknown_is_404(rita, database):
    """Someone else's or an already-decided item gets 409; an unknown id gets 404."""
    client, h, _ = rita
    (pid,) = _add(database, output_item())
    assert client.post(f"/queue/items/{pid}/decide", headers=h, json={"verdict": "approve"}).status_code == 409
    assert client.post("/queue/items/itm_nope/decide", headers=h, json={"verdict": "approve"}).status_code == 404


def test_reveal_from_the_domain_is_passed_through(rita, database, monkeypatch):
    """Whatever effects.reveal the domain returns is the response's "reveal"."""
    client, h, _ = rita
    (pid,) = _add(database, output_item())
    client.post("/queue/next", headers=h)
    reveal = {"kind": "canary", "outcome": "caught", "bucket": "off_topic", "explanation": "It drifted."}
    real = decide_domain.decide

    def fake_decide(**kwargs):
        result = real(**kwargs)
        return dataclasses.replace(result, effects=DecisionEffects(reveal))

    monkeypatch.setattr(decide_domain, "decide", fake_decide)
    r = client.post(f"/queue/items/{pid}/decide", headers=h, json={"verdict": "reject", "reason": "off_topic"})
    assert r.json["reveal"] == reveal and r.json["next"] is None


def test_two_person_rule_shows_progress(rita, database, client, app):
    """An irreversible approval shows "needs 2"; after one approve it is pending; the next reviewer sees 1 given."""
    client, h, _ = rita
    data = approval_item(now=utcnow(), required_approvals=2)
    data.payload = {**data.payload, "irreversible": True}
    (pid,) = _add(database, data)
    item = client.post("/queue/next", headers=h).json["item"]
    assert item["approvals"] == {"required": 2, "given": 0} and item["deadline"]
    r = client.post(f"/queue/items/{pid}/decide", headers=h, json={"verdict": "approve"})
    assert r.json["decision"]["settled"] is False and r.json["next"] is None
    sam = app.test_client()
    login(sam, "sam")
    view = sam.post("/queue/next", headers=json_headers(sam)).json["item"]
    assert view["id"] == pid and view["approvals"] == {"required": 2, "given": 1}


def test_the_page_shows_the_stored_requirement_after_the_rule_is_switched_off(settings, database, now):
    """An irreversible approval stored as needing 2 still shows 2 (and settles only at 2) once
    [queue] two_person_rule is turned off: the page reads the item, not today's config."""
    from reviewq.web import create_app

    app = create_app(settings.replace(queue={"two_person_rule": False}))
    try:
        with database.session_scope() as s:
            make_user(s, "rita", now=now)
        data = approval_item(now=utcnow(), required_approvals=2)
        data.payload = {**data.payload, "irreversible": True}
        (pid,) = _add(database, data)
        client = app.test_client()
        login(client, "rita")
        item = client.post("/queue/next", headers=json_headers(client)).json["item"]
        assert item["id"] == pid and item["approvals"] == {"required": 2, "given": 0}
        r = client.post(f"/queue/items/{pid}/decide", headers=json_headers(client), json={"verdict": "approve"})
        assert r.json["decision"]["settled"] is False
    finally:
        app.extensions["reviewq.db"].dispose()


def test_heartbeat_renews_and_reports_a_lost_lease(rita, database):
    """A heartbeat extends the holder's lease; once the item is taken by someone else it answers 409."""
    client, h, uid = rita
    (pid,) = _add(database, output_item())
    client.post("/queue/next", headers=h)
    r = client.post(f"/queue/items/{pid}/heartbeat", headers=h)
    assert r.status_code == 200 and r.json["ok"] is True
    with database.session_scope() as s:
        sam = s.exec(select(User).where(User.name == "sam")).one()
        s.execute(sa.update(Item).where(Item.public_id == pid).values(lease_holder=sam.id))
    r = client.post(f"/queue/items/{pid}/heartbeat", headers=h)
    assert r.status_code == 409 and r.json["error"]["code"] == "lease_lost"


def test_skip_gives_the_item_back_and_never_offers_it_straight_back(rita, database):
    """Skip releases the item and returns a different one; with nothing else queued, next is null."""
    client, h, _ = rita
    first, second = _add(database, output_item(), output_item())
    client.post("/queue/next", headers=h)
    r = client.post(f"/queue/items/{first}/skip", headers=h)
    assert r.json["released"] is True and r.json["next"]["id"] == second
    r = client.post(f"/queue/items/{second}/skip", headers=h)
    assert r.json["next"]["id"] == first  # the first one is back in the queue
    r = client.post(f"/queue/items/{first}/skip", headers=h)
    assert r.json["next"]["id"] == second
    with database.session_scope() as s:
        assert s.exec(select(Item).where(Item.public_id == first)).one().status == ItemStatus.QUEUED


def test_empty_queue_answers_null(rita):
    """With nothing due, next is null (the page then polls)."""
    client, h, _ = rita
    r = client.post("/queue/next", headers=h)
    assert r.status_code == 200 and r.json["item"] is None


def test_break_nudge_after_continuous_active_time(rita, database, settings):
    """The session info asks for a break after break_nudge_minutes of continuous active time, not after a gap."""
    client, h, uid = rita
    now = utcnow()
    with database.session_scope() as s:
        s.add(ReviewSession(reviewer_id=uid, started_at=now - timedelta(minutes=40),
                            last_activity_at=now - timedelta(minutes=1), active_ms=26 * 60_000, decisions=50))
    session = client.post("/queue/next", headers=h).json["session"]
    assert session["break_nudge"] is True and session["active_minutes"] == pytest.approx(26)
    with database.session_scope() as s:
        row = s.exec(select(ReviewSession)).one()
        row.last_activity_at = now - timedelta(minutes=settings.vigilance.session_gap_minutes + 1)
    session = client.post("/queue/next", headers=h).json["session"]
    assert session["break_nudge"] is False and session["running"] is False


def test_decide_uses_a_constant_number_of_queries(rita, database, app):
    """Deciding and claiming the next item costs the same number of SQL statements with 3 or 40 more queued."""
    client, h, _ = rita
    engine = app.extensions["reviewq.db"].engine
    counts = [0]

    def count(*_args):
        counts[0] += 1

    per_decide = []
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for n in (3, 3, 40):  # the first decision also opens a session and rollup rows
            with database.session_scope() as s:
                add_outputs(s, n, now=utcnow() - timedelta(hours=1))
            pid = client.post("/queue/next", headers=h).json["item"]["id"]
            before = counts[0]
            r = client.post(f"/queue/items/{pid}/decide", headers=h, json={"verdict": "approve", "active_ms": 5})
            per_decide.append(counts[0] - before)
            assert r.status_code == 200 and r.json["next"] is not None
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    # Claim tiers run in a random order (planted items are interleaved), so one query may differ;
    # an N+1 pattern would grow by dozens between 3 and 40 queued items.
    assert abs(per_decide[1] - per_decide[2]) <= 1 and max(per_decide) <= 30, per_decide


def test_json_endpoints_answer_401_json_without_login(client, database):
    """Without a login the queue's JSON endpoints answer 401 JSON, never a login redirect."""
    h = json_headers(client)
    h.pop("Accept")
    for path in ("/queue/next", "/queue/items/x/decide", "/queue/items/x/heartbeat", "/queue/items/x/skip"):
        r = client.post(path, headers=h)
        assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized", path


def test_json_endpoints_refuse_missing_csrf(rita):
    """A queue POST without the X-CSRFToken header gets 400."""
    client, _, _ = rita
    assert client.post("/queue/next", headers={"Accept": "application/json"}).status_code == 400


def test_me_shows_today_week_and_session(rita, database):
    """/me counts today's and this week's decisions and shows the running session."""
    client, h, _ = rita
    _add(database, output_item(), output_item())
    pid = client.post("/queue/next", headers=h).json["item"]["id"]
    nxt = client.post(f"/queue/items/{pid}/decide", headers=h, json={"verdict": "approve"}).json["next"]["id"]
    client.post(f"/queue/items/{nxt}/decide", headers=h, json={"verdict": "reject", "reason": "other",
                                                               "note": "<b>odd</b>"})
    html = client.get("/me").get_data(as_text=True)
    assert '<p class="big" id="today-decisions">2</p>' in html
    assert '<p class="big" id="week-decisions">2</p>' in html
    assert "1 approved · 1 rejected" in html and "&lt;b&gt;odd&lt;/b&gt;" in html
    assert "<b>odd</b>" not in html


def test_leads_can_use_the_queue_too(app, database, now):
    """A lead may review: /queue and /queue/next work for the lead role."""
    with database.session_scope() as s:
        make_user(s, "lena", Role.LEAD, now=now)
    client = app.test_client()
    login(client, "lena")
    assert client.get("/queue").status_code == 200
    assert client.post("/queue/next", headers=json_headers(client)).status_code == 200


def test_end_of_session_reveals_appear_on_me(settings, database, now):
    """With reveal = end_of_session, a decided canary is not revealed at once but on /me once the session ended."""
    from reviewq.models import Injection, InjectionKind, InjectionSource
    from reviewq.web import create_app

    app = create_app(settings.replace(canaries={"reveal": "end_of_session"}))
    try:
        with database.session_scope() as s:
            rita = make_user(s, "rita", now=now)
            item = enqueue(session=s, data=output_item(assigned_to=rita.id), now=utcnow()).item
            s.add(Injection(item_id=item.id, reviewer_id=rita.id, kind=InjectionKind.CANARY,
                            source=InjectionSource.LIBRARY, bucket="off_topic", library_entry_id="t1",
                            explanation="It answered about <b>football</b>.", week_start=now,
                            scheduled_for=now, created_at=now))
        client = app.test_client()
        login(client, "rita")
        h = json_headers(client)
        pid = client.post("/queue/next", headers=h).json["item"]["id"]
        r = client.post(f"/queue/items/{pid}/decide", headers=h, json={"verdict": "reject", "reason": "off_topic"})
        assert r.json["reveal"] is None
        assert "football" not in client.get("/me").get_data(as_text=True)  # session still running
        with database.session_scope() as s:
            row = s.exec(select(ReviewSession)).one()
            row.last_activity_at = utcnow() - timedelta(minutes=settings.vigilance.session_gap_minutes + 1)
        html = client.get("/me").get_data(as_text=True)
        assert "Planted test items from your last session" in html
        assert "It answered about &lt;b&gt;football&lt;/b&gt;." in html and "caught" in html
    finally:
        app.extensions["reviewq.db"].dispose()


@pytest.mark.parametrize("mode", ["immediate", "end_of_session", "never"])
def test_me_keeps_the_planted_history_under_every_reveal_mode(settings, database, now, mode):
    """/me shows caught and missed totals in every mode, and the revealed items on every later visit unless never."""
    from reviewq.models import Injection, InjectionKind, InjectionSource
    from reviewq.web import create_app

    app = create_app(settings.replace(canaries={"reveal": mode}))
    try:
        with database.session_scope() as s:
            rita = make_user(s, "rita", now=now)
            for i, text in enumerate(("It answered about <b>football</b>.", "The total was changed to 912.")):
                item = enqueue(session=s, data=output_item(assigned_to=rita.id), now=utcnow() - timedelta(minutes=5 - i)
                               ).item
                s.add(Injection(item_id=item.id, reviewer_id=rita.id, kind=InjectionKind.CANARY,
                                source=InjectionSource.LIBRARY, bucket="off_topic", library_entry_id=f"t{i}",
                                explanation=text, week_start=now, scheduled_for=now, created_at=now))
        client = app.test_client()
        login(client, "rita")
        h = json_headers(client)
        for verdict in ("reject", "approve"):
            pid = client.post("/queue/next", headers=h).json["item"]["id"]
            client.post(f"/queue/items/{pid}/decide", headers=h, json={"verdict": verdict, "reason": "off_topic"})
        with database.session_scope() as s:
            row = s.exec(select(ReviewSession)).one()
            row.last_activity_at = utcnow() - timedelta(minutes=settings.vigilance.session_gap_minutes + 1)
        client.get("/me")  # end_of_session reveals on this visit; the history must outlive it
        html = client.get("/me").get_data(as_text=True)
        assert 'id="planted-caught">1<' in html and 'id="planted-missed">1<' in html
        shown = "It answered about &lt;b&gt;football&lt;/b&gt;." in html and "changed to 912" in html
        assert shown == (mode != "never")
        assert ("only these totals are shown" in html) == (mode == "never")
    finally:
        app.extensions["reviewq.db"].dispose()


def test_queue_status_counts_shared_work_and_approvals_due_soon(rita, database):
    """/queue/status counts unassigned queued items and approvals due within 15 minutes, never assigned items."""
    client, h, uid = rita
    _add(database, output_item(), output_item(), output_item(assigned_to=uid),
         approval_item(now=utcnow(), deadline_in=timedelta(minutes=10)),
         approval_item(now=utcnow(), deadline_in=timedelta(hours=2)))
    body = client.get("/queue/status", headers=h).json
    assert body["queue"] == {"waiting": 4, "approvals_due_soon": 1, "count_cap": 1000}
    assert body["session"]["running"] is False
    client.post("/queue/next", headers=h)  # claims one: it is no longer waiting
    assert client.get("/queue/status", headers=h).json["queue"]["waiting"] == 3


def test_queue_counts_stop_at_the_cap(rita, database, monkeypatch):
    """Counting stops at COUNT_CAP (the page shows "N+"): every next counts, and counting a deep
    queue item by item cost each call milliseconds."""
    from reviewq.domain import queue_status

    client, h, _ = rita
    monkeypatch.setattr(queue_status, "COUNT_CAP", 3)
    soon = [approval_item(now=utcnow(), deadline_in=timedelta(minutes=10)) for _ in range(4)]
    _add(database, output_item(), *soon)
    queue = client.get("/queue/status", headers=h).json["queue"]
    assert (queue["waiting"], queue["approvals_due_soon"]) == (3, 3)
    monkeypatch.setattr(queue_status, "COUNT_CAP", 10)
    queue = client.get("/queue/status", headers=h).json["queue"]
    assert (queue["waiting"], queue["approvals_due_soon"]) == (5, 4)
