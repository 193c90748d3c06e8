"""The leads' stealth-audit page and the rate boost form: leads only, real numbers, boosts that take effect."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlmodel import select

from reviewq.domain.canary_rate import current_rate
from reviewq.models import CanaryRateBoost, Role, utcnow
from tests.factories import make_user
from tests.support.web import csrf_token, login


def test_the_audit_page_is_for_leads_and_says_when_there_is_too_little_data(client, database):
    """A reviewer gets 403; a lead sees the audit (not enough data yet), the library's fit and the boost form."""
    now = utcnow()
    with database.session_scope() as s:
        make_user(s, "rita", now=now)
        make_user(s, "lena", role=Role.LEAD, now=now)
    login(client, "rita")
    assert client.get("/admin/canaries/audit").status_code == 403
    lead = client.application.test_client()
    login(lead, "lena")
    page = lead.get("/admin/canaries/audit?weeks=2").get_data(as_text=True)
    assert "not enough data yet" in page and 'id="boost-form"' in page and 'id="library-fit"' in page
    assert "this deployment sends no outputs" in page  # no traffic yet: nothing in the library binds


def test_a_lead_raises_a_reviewers_rate_for_a_while(client, database, settings):
    """The form stores a boost that sets the reviewer's probability until it ends; bad numbers are refused."""
    now = utcnow()
    with database.session_scope() as s:
        rita = make_user(s, "rita", now=now)
        make_user(s, "lena", role=Role.LEAD, now=now)
    login(client, "lena")
    form = {"csrf_token": csrf_token(client, "/admin/canaries/audit"), "reviewer": "rita", "probability": "abc",
            "hours": "2"}
    bad = client.post("/admin/canaries/boost", data=form, follow_redirects=True)
    assert "must be numbers" in bad.get_data(as_text=True)
    form |= {"probability": "25", "drill": "on", "reason": "missed two refunds"}
    ok = client.post("/admin/canaries/boost", data=form, follow_redirects=True).get_data(as_text=True)
    assert "rita: canary probability 25% per claim for 2 h" in ok and 'id="boosts"' in ok
    with database.session_scope() as s:
        boost = s.exec(select(CanaryRateBoost)).one()
        assert boost.created_by == "lena" and boost.drill and boost.ends_at - boost.starts_at == timedelta(hours=2)
        rate = current_rate(session=s, reviewer_id=rita.id, now=now + timedelta(minutes=5), settings=settings,
                            rng=random.Random(1))
        assert rate.canary == 0.25 and rate.drill
        later = current_rate(session=s, reviewer_id=rita.id, now=now + timedelta(hours=3), settings=settings,
                             rng=random.Random(1))
        assert later.canary == 0.0 and not later.drill


def test_a_lead_retires_a_flagged_mutator_and_plants_it_again(client, database):
    """The retire form stops a mutator here (the planter skips it) and names a bad key; reinstating undoes it."""
    from reviewq.domain.disputes import retired_keys, retired_mutators
    from reviewq.models import AuditEvent, RetiredTemplate

    now = utcnow()
    with database.session_scope() as s:
        make_user(s, "lena", role=Role.LEAD, now=now)
    login(client, "lena")
    token = csrf_token(client, "/admin/canaries/audit")
    bad = client.post("/admin/canaries/retire", data={"csrf_token": token, "key": "mutator:nonsense", "reason": "x"},
                      follow_redirects=True).get_data(as_text=True)
    assert "no mutator &#39;nonsense&#39;" in bad or "no mutator 'nonsense'" in bad
    ok = client.post("/admin/canaries/retire", data={"csrf_token": token, "key": "mutator:refusal",
                                                      "reason": "stealth audit AUC 0.68"},
                     follow_redirects=True).get_data(as_text=True)
    assert "mutator:refusal: retired" in ok and 'id="retired"' in ok
    with database.session_scope() as s:
        assert retired_mutators(retired_keys(session=s)) == {"refusal"}
        assert s.get(RetiredTemplate, "mutator:refusal").reason == "stealth audit AUC 0.68"
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "canaries.retired")).one().object_id \
            == "mutator:refusal"
    client.post("/admin/canaries/retire", data={"csrf_token": token, "key": "mutator:refusal", "reinstate": "1"})
    with database.session_scope() as s:
        assert retired_keys(session=s) == set()
