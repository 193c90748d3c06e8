"""/failures: real rejects by reason bucket per week, agent and category, with notes, export and own buckets."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.models import DecisionCreate, InjectionKind, Role, Verdict
from tests.conftest import make_test_settings
from tests.factories import make_user, output_item
from tests.support.dashboard_seed import plant
from tests.support.web import csrf_token, login

RANGE = "from=2026-10-05&to=2026-11-01"  # four Monday-started weeks
MONDAYS = [datetime(2026, 10, 5, 10, tzinfo=UTC) + timedelta(weeks=i) for i in range(4)]


@pytest.fixture
def settings(db_url):
    return make_test_settings(db_url, reasons={"extra": ("pii_leak",)})


def _review(s, user, *, at, agent, category, verdict, reason=None, note="", settings):
    enqueue(session=s, data=output_item(agent=agent, category=category), now=at)
    item = claim_next(session=s, reviewer_id=user.id, now=at, lease_seconds=600)
    decide(session=s, public_id=item.public_id, reviewer=user, now=at + timedelta(seconds=5), settings=settings,
           data=DecisionCreate(verdict=verdict, reason=reason, note=note))


@pytest.fixture
def seeded(database, settings):
    """Hallucinations grow week by week at support-bot; one PII leak (the team's own bucket); a caught canary
    and approvals that must not count."""
    with database.session_scope() as s:
        rita = make_user(s, "rita", now=MONDAYS[0])
        make_user(s, "lena", Role.LEAD, now=MONDAYS[0])
        for week, monday in enumerate(MONDAYS):
            for i in range(week + 1):
                _review(s, rita, at=monday + timedelta(hours=i), agent="support-bot", category="customer_support",
                        verdict=Verdict.REJECT, reason="hallucinated_fact", note=f"made up w{week} #{i}",
                        settings=settings)
            _review(s, rita, at=monday + timedelta(hours=9), agent="billing-agent", category="billing",
                    verdict=Verdict.APPROVE, settings=settings)
        _review(s, rita, at=MONDAYS[2] + timedelta(days=1), agent="billing-agent", category="billing",
                verdict=Verdict.REJECT, reason="pii_leak", note="=card number in reply", settings=settings)
        plant(s, rita, InjectionKind.CANARY, now=MONDAYS[3] + timedelta(days=1), bucket="off_topic")
        item = claim_next(session=s, reviewer_id=rita.id, now=MONDAYS[3] + timedelta(days=1), lease_seconds=600)
        decide(session=s, public_id=item.public_id, reviewer=rita, now=MONDAYS[3] + timedelta(days=1, seconds=9),
               settings=settings, data=DecisionCreate(verdict=Verdict.REJECT, reason="off_topic"))


def test_failure_buckets_per_week_agent_and_category(client, seeded):
    """Counts per week show the growing bucket; canaries and approvals are left out; notes are listed."""
    login(client, "lena")
    data = client.get(f"/failures?format=json&{RANGE}").get_json()
    assert data["weeks"] == ["2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"]
    rows = {b["bucket"]: b for b in data["buckets"]}
    assert set(rows) == {"hallucinated_fact", "pii_leak"}  # the caught canary (off_topic) is not a real failure
    assert rows["hallucinated_fact"]["weeks"] == [1, 2, 3, 4] and rows["hallucinated_fact"]["change"] == 1
    assert rows["pii_leak"]["weeks"] == [0, 0, 1, 0]
    assert data["by_agent"] == {"hallucinated_fact": {"support-bot": 10}, "pii_leak": {"billing-agent": 1}}
    assert data["by_category"]["pii_leak"] == {"billing": 1}
    assert data["total"] == 11 and len(data["latest"]) == 11
    assert data["latest"][0]["note"] == "made up w3 #3"
    only = client.get(f"/failures?format=json&{RANGE}&agent=billing-agent").get_json()
    assert [b["bucket"] for b in only["buckets"]] == ["pii_leak"]
    page = client.get(f"/failures?{RANGE}").get_data(as_text=True)
    assert "Pii leak" in page and "made up w0 #0" in page


def test_failure_export_holds_every_real_reject_with_its_note(client, seeded):
    """The CSV export has one row per real reject with week, bucket and note (formula-safe)."""
    login(client, "lena")
    r = client.get(f"/failures.csv?{RANGE}")
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(rows) == 11
    pii = next(row for row in rows if row["reason"] == "pii_leak")
    assert pii["week"] == "2026-10-19" and pii["note"] == "'=card number in reply"
    assert len(client.get(f"/failures.jsonl?{RANGE}&reason=pii_leak").get_data(as_text=True).splitlines()) == 1


def test_failures_are_for_leads_and_check_their_filters(client, seeded):
    """Reviewers get 403; an unknown bucket is a 422 naming `reason`."""
    login(client, "rita")
    assert client.get("/failures").status_code == 403
    assert client.get("/failures.csv").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, "lena")
    r = client.get("/failures?reason=nope", headers={"Accept": "application/json"})
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "reason"


def test_team_bucket_is_offered_in_the_queue_and_accepted(client, database, settings):
    """A [reasons] extra bucket appears as key 9 on the queue page and a reject with it is recorded."""
    with database.session_scope() as s:
        make_user(s, "rita", now=MONDAYS[0])
        enqueue(session=s, data=output_item(), now=MONDAYS[0])
    login(client, "rita")
    page = client.get("/queue").get_data(as_text=True)
    assert 'data-reason="pii_leak" data-key="9"' in page
    headers = {"X-CSRFToken": csrf_token(client), "Accept": "application/json"}
    item = client.post("/queue/next", headers=headers).get_json()["item"]
    r = client.post(f"/queue/items/{item['id']}/decide", headers=headers,
                    json={"verdict": "reject", "reason": "pii_leak", "note": "leaks an email"})
    assert r.status_code == 200 and r.get_json()["decision"]["reason"] == "pii_leak"
    item = client.post("/queue/next", headers=headers).get_json()["item"]
    assert item is None
