"""/admin/injections: filtered by reviewer, outcome, kind and week, paginated, bad filters a 422 page; /favicon.ico."""

from __future__ import annotations

from datetime import timedelta

from reviewq.domain.items import enqueue
from reviewq.models import Injection, InjectionKind, InjectionOutcome, InjectionSource, Role
from tests.factories import make_user, output_item
from tests.support.web import login


def _seed(database, now):
    """rita: 60 canaries (last week 30, this week 30; every third caught), sam: 5 controls this week."""
    this_week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    with database.session_scope() as s:
        make_user(s, "lena", Role.LEAD, now=now)
        rita, sam = make_user(s, "rita", now=now), make_user(s, "sam", now=now)
        for i in range(65):
            who, kind = (rita, InjectionKind.CANARY) if i < 60 else (sam, InjectionKind.CONTROL)
            week = this_week - timedelta(days=7) if i < 30 else this_week
            item = enqueue(session=s, data=output_item(assigned_to=who.id), now=now).item
            s.add(Injection(item_id=item.id, reviewer_id=who.id, kind=kind, source=InjectionSource.LIBRARY,
                            bucket="off_topic" if kind == InjectionKind.CANARY else None, library_entry_id=f"e{i}",
                            explanation=f"entry {i}", week_start=week, scheduled_for=week + timedelta(hours=i),
                            created_at=now,
                            outcome=InjectionOutcome.CAUGHT if i % 3 == 0 and i < 60 else InjectionOutcome.PENDING))
    return this_week


def test_injection_log_filters_and_pages(app, database, now):
    """Each filter narrows the rows and the counts; 50 rows a page with links that keep the filters."""
    this_week = _seed(database, now)
    client = app.test_client()
    login(client, "lena")
    page1 = client.get("/admin/injections").get_data(as_text=True)
    assert "65 match" in page1 and "Page 1 of 2" in page1 and page1.count('<tr class="muted small">') == 50
    assert 'href="/admin/injections?page=2"' in page1
    page2 = client.get("/admin/injections?page=2").get_data(as_text=True)
    assert page2.count('<tr class="muted small">') == 15 and "rows 51–65 of 65" in page2
    caught = client.get("/admin/injections?reviewer=rita&outcome=caught").get_data(as_text=True)
    assert "20 match" in caught and caught.count('<tr class="muted small">') == 20 and "caught 20" in caught
    assert "Page 1 of" not in caught
    controls = client.get("/admin/injections?kind=control").get_data(as_text=True)
    assert "5 match" in controls and "entry 62" in controls and "entry 3<" not in controls
    week = client.get(f"/admin/injections?week={this_week.date().isoformat()}&reviewer=rita&page=1")
    assert "30 match" in week.get_data(as_text=True)
    paged = client.get("/admin/injections?kind=canary&page=2").get_data(as_text=True)
    assert "rows 51–60 of 60" in paged and 'href="/admin/injections?page=1&amp;kind=canary"' in paged
    for bad, field in (("outcome=won", "outcome"), ("kind=x", "kind"), ("week=last", "week"), ("page=0", "page")):
        r = client.get(f"/admin/injections?{bad}")
        html = r.get_data(as_text=True)
        assert r.status_code == 422 and field in html and "Clear the filters" in html and 'href="/queue"' in html


def test_favicon_is_served_to_anyone(client):
    """/favicon.ico answers 200 with an icon, without a login, so no page logs a 404 for it."""
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.mimetype == "image/vnd.microsoft.icon" and r.data[:4] == b"\x00\x00\x01\x00"
