"""A logged-in page that only reads holds no write transaction: another writer gets through while
it runs. Loading the request's user started the request's write transaction, and on SQLite every
page (a dashboard's 200 ms too) then held the write lock from that read to its end."""

from __future__ import annotations

from datetime import timedelta

from reviewq.models import Role
from reviewq.web import dashboard as dashboard_view
from reviewq.web import review as review_view
from tests.factories import make_user
from tests.support.web import json_headers, login


def test_the_dashboard_reads_without_the_write_lock(client, database, now, writer_meanwhile, monkeypatch):
    wrap, wrote = writer_meanwhile
    with database.session_scope() as s:
        make_user(s, "lena", Role.LEAD, now=now - timedelta(days=1))
    login(client, "lena")
    monkeypatch.setattr(dashboard_view, "build_dashboard", wrap(dashboard_view.build_dashboard))
    assert client.get("/dashboard").status_code == 200
    assert wrote == [True]


def test_the_queue_status_poll_reads_without_the_write_lock(client, database, now, writer_meanwhile, monkeypatch):
    wrap, wrote = writer_meanwhile
    with database.session_scope() as s:
        make_user(s, "rita", now=now - timedelta(days=1))
    login(client, "rita")
    monkeypatch.setattr(review_view, "queue_counts", wrap(review_view.queue_counts))
    response = client.get("/queue/status", headers=json_headers(client))
    assert response.status_code == 200 and "waiting" in response.get_json()["queue"]
    assert wrote == [True]


def test_next_and_skip_count_the_queue_after_their_commit(client, database, now, writer_meanwhile, monkeypatch):
    """The claim writes; counting the shared queue for the page's header happens after it commits, so
    another writer gets through meanwhile, and the count already leaves out the item just claimed."""
    from tests.factories import add_outputs

    wrap, wrote = writer_meanwhile
    with database.session_scope() as s:
        make_user(s, "rita", now=now - timedelta(days=1))
        add_outputs(s, 3, now=now - timedelta(minutes=5))
    login(client, "rita")
    monkeypatch.setattr(review_view, "queue_counts", wrap(review_view.queue_counts))
    first = client.post("/queue/next", headers=json_headers(client)).get_json()
    assert first["item"] is not None and first["queue"]["waiting"] == 3  # 3 - the claimed one + the writer's
    skipped = client.post(f"/queue/items/{first['item']['id']}/skip", headers=json_headers(client)).get_json()
    assert skipped["next"] is not None and skipped["queue"]["waiting"] == 4  # the skipped one is back, +1 written
    assert wrote == [True, True]
