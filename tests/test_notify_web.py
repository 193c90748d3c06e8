"""The notification link opens the item in /queue after login; on call; the delivery log on /admin."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from reviewq.domain.claims import claim_next
from reviewq.models import ApprovalWatch, Role, Verdict, utcnow
from reviewq.notify.sender import deliver_notifications
from tests.support.api import add_reviewer, decide_next, issue_token
from tests.support.notify import ask_approval, notify_settings, on_call, run_scan
from tests.support.web import json_headers, login


def test_link_needs_a_login_and_then_opens_that_approval_out_of_order(app, database, settings, client):
    """Without a session the link goes to /login; after it, the page opens the linked approval first."""
    now = utcnow()
    token = issue_token(database, now=now)
    add_reviewer(database, "ada", now=now)
    first = ask_approval(database, token, settings, now, timeout_s=600)
    linked = ask_approval(database, token, settings, now, timeout_s=3600)  # later deadline: not next in order
    r = client.get(f"/queue/items/{linked}")
    assert r.status_code == 302 and r.headers["Location"].startswith(f"/login?next=/queue/items/{linked}")
    assert client.post(f"/queue/items/{linked}/open").status_code in (400, 401)  # no login, no lease
    login(client, "ada")
    page = client.get(f"/queue/items/{linked}").get_data(as_text=True)
    assert f'data-open-item="{linked}"' in page
    r = client.post(f"/queue/items/{linked}/open", headers=json_headers(client))
    assert r.status_code == 200 and r.get_json()["item"]["id"] == linked
    assert r.get_json()["item"]["id"] != first
    with database.session() as s:
        watch_count = len(s.exec(select(ApprovalWatch)).all())
    assert watch_count == 0  # no scan ran: opening works without notifications too
    decided = client.post(f"/queue/items/{linked}/decide", json={"verdict": "approve", "active_ms": 900},
                          headers=json_headers(client))
    assert decided.status_code == 200 and decided.get_json()["decision"]["settled"] is True
    assert decided.get_json()["next"]["id"] == first  # then the queue as usual


def test_open_records_the_first_open_for_queue_health(app, database, settings, client):
    """The first reviewer to open an announced approval is recorded once, with the time."""
    now = utcnow()
    settings = notify_settings(settings)
    token = issue_token(database, now=now)
    ada = add_reviewer(database, "ada", now=now)
    add_reviewer(database, "ben", now=now)
    on_call(database, ada, now)
    approval = ask_approval(database, token, settings, now)
    run_scan(database, settings, now)
    login(client, "ben")
    assert client.post(f"/queue/items/{approval}/open", headers=json_headers(client)).status_code == 200
    with database.session() as s:
        watch = s.exec(select(ApprovalWatch)).one()
    assert watch.first_opened_at is not None and watch.first_opened_by is not None


def test_link_to_a_settled_or_busy_approval_says_why_in_json(app, database, settings, client):
    """Decided: 409 naming who and when. On another screen: 409. Unknown: 404. Never a 500."""
    now = utcnow()
    token = issue_token(database, now=now)
    ada = add_reviewer(database, "ada", now=now)
    add_reviewer(database, "ben", now=now)
    done = ask_approval(database, token, settings, now, timeout_s=60)
    busy = ask_approval(database, token, settings, now, timeout_s=600)
    decide_next(database, ada, Verdict.APPROVE, settings=settings, now=now, public_id=done)
    with database.session_scope() as s:
        assert claim_next(session=s, reviewer_id=ada.id, now=now, lease_seconds=120).public_id == busy
    login(client, "ben")
    headers = json_headers(client)
    r = client.post(f"/queue/items/{done}/open", headers=headers)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_available"
    assert "approved by ada at" in r.get_json()["error"]["message"]
    r = client.post(f"/queue/items/{busy}/open", headers=headers)
    assert r.status_code == 409 and "Another reviewer has this approval open" in r.get_json()["error"]["message"]
    r = client.post("/queue/items/itm_nope/open", headers=headers)
    assert r.status_code == 404 and r.get_json()["error"]["field"] == "id"


def test_reviewers_mark_availability_and_leads_see_who_is_on(app, database, client, now):
    """A reviewer marks available then away; a lead's board shows them on, then off; reviewers see no board."""
    add_reviewer(database, "ada", now=now)
    add_reviewer(database, "lena", now=now, role=Role.LEAD)
    login(client, "ada")
    token = json_headers(client)["X-CSRFToken"]
    assert client.post("/oncall", data={"status": "available", "csrf_token": token}).status_code == 303
    page = client.get("/oncall").get_data(as_text=True)
    assert "You are <strong>available</strong>" in page and "oncall-board" not in page
    assert client.post("/oncall", data={"status": "sleeping", "csrf_token": token}).status_code == 303
    lead = app.test_client()
    login(lead, "lena")
    assert 'data-user="ada" data-on-call="yes"' in lead.get("/oncall").get_data(as_text=True)
    client.post("/oncall", data={"status": "away", "csrf_token": token})
    assert 'data-user="ada" data-on-call="no"' in lead.get("/oncall").get_data(as_text=True)


def test_admin_notification_log_lists_deliveries_for_leads_only(app, database, settings, client, tmp_path):
    """/admin/notifications shows each delivery's channel, stage, status and attempts; reviewers get 403."""
    now = utcnow()
    settings = notify_settings(settings, channels={"log": {"type": "log", "path": str(tmp_path / "n.log")}})
    token = issue_token(database, now=now)
    add_reviewer(database, "lena", now=now, role=Role.LEAD)
    add_reviewer(database, "ada", now=now)
    ask_approval(database, token, settings, now)
    run_scan(database, settings, now)  # nobody on call: an announcement and an at-once escalation
    deliver_notifications(database, settings, now + timedelta(seconds=1))
    login(client, "lena")
    page = client.get("/admin/notifications").get_data(as_text=True)
    assert page.count('class="delivery-delivered"') == 2 and "unstaffed" in page and "Approval needed: refund" in page
    reviewer = app.test_client()
    login(reviewer, "ada")
    assert reviewer.get("/admin/notifications").status_code == 403


def test_dashboard_queue_health_shows_expired_unread_and_medians_per_intent(app, database, settings, client):
    """Two refunds (one expired unread, one decided 4 min in) and one access grant, as the lead's page shows them."""
    from reviewq.domain.approvals import expire_due

    start = utcnow() - timedelta(hours=3)
    token = issue_token(database, now=start)
    ada = add_reviewer(database, "ada", now=start)
    add_reviewer(database, "lena", now=start, role=Role.LEAD)
    ask_approval(database, token, settings, start, intent="refund", timeout_s=60)
    decided = ask_approval(database, token, settings, start + timedelta(minutes=5), intent="refund")
    ask_approval(database, token, settings, start + timedelta(minutes=5), intent="access_grant")
    with database.session_scope() as s:
        expire_due(session=s, now=start + timedelta(minutes=2), settings=settings)
    decide_next(database, ada, Verdict.APPROVE, settings=settings, now=start + timedelta(minutes=9),
                public_id=decided)
    login(client, "lena")
    page = client.get("/dashboard").get_data(as_text=True)
    section = page[page.index('id="approval-attention"'):]
    refund = section[section.index('data-intent="refund"'):]
    refund = refund[:refund.index("</tr>")]
    assert '"requested">2<' in refund and '"expired_unread">1<' in refund and "4.0 min" in refund
    data = client.get("/dashboard?format=json").get_json()["queue"]["attention"]
    assert data["total"]["requested"] == 3 and data["total"]["expired"] == 1
    (row,) = [r for r in data["intents"] if r["intent"] == "refund"]
    assert row["median_first_open_s"] == row["median_decision_s"] == 240.0
