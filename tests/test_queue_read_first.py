"""POST /queue/next reads first: the item the last decide claimed is served without a write while
its lease is fresh, so on SQLite the call never queues for the write lock. Both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import select

from reviewq.domain.items import enqueue
from reviewq.domain.users import end_sessions
from reviewq.models import Item, ItemStatus, User, utcnow
from tests.factories import make_user, output_item
from tests.support.web import json_headers, login


@pytest.fixture
def rita(client, database, now):
    with database.session_scope() as s:
        uid = make_user(s, "rita", now=now).id
        for i in range(3):
            enqueue(session=s, data=output_item(), now=utcnow() - timedelta(minutes=10 - i))
    login(client, "rita")
    return client, json_headers(client), uid


def _held(database, public_id):
    with database.session_scope(readonly=True) as s:
        item = s.exec(select(Item).where(Item.public_id == public_id)).one()
        return item.status, item.lease_holder, item.lease_expires_at, item.updated_at


class _WriteCount:
    """Transactions begun on the app's write engine (on SQLite, the only one that takes the lock)."""

    def __init__(self, app):
        self.engine = app.extensions["reviewq.db"].engine
        self.begun = 0
        event.listen(self.engine, "begin", self._on_begin)

    def _on_begin(self, _conn):
        self.begun += 1

    def close(self):
        event.remove(self.engine, "begin", self._on_begin)


def test_a_fresh_lease_is_served_without_a_write(rita, database, app, backend):
    client, h, uid = rita
    first = client.post("/queue/next", headers=h).json["item"]["id"]
    before = _held(database, first)
    count = _WriteCount(app)
    try:
        answer = client.post("/queue/next", headers=h)
    finally:
        count.close()
    assert answer.status_code == 200
    body = answer.json
    assert body["item"]["id"] == first and body["session"] is not None and body["queue"]["waiting"] == 2
    assert _held(database, first) == before  # not renewed, not touched
    assert before[0] == ItemStatus.LEASED and before[1] == uid
    if backend == "sqlite":
        assert count.begun == 0


def test_a_lease_past_half_is_renewed(rita, database, app, settings):
    """With less than half its lease left the item is resumed through the write path, renewed."""
    client, h, _ = rita
    first = client.post("/queue/next", headers=h).json["item"]["id"]
    now = utcnow()
    half = timedelta(seconds=settings.queue.lease_seconds / 2)
    with database.session_scope() as s:
        s.execute(sa.update(Item).where(Item.public_id == first)
                  .values(lease_expires_at=now + half - timedelta(seconds=1)))
    count = _WriteCount(app)
    try:
        assert client.post("/queue/next", headers=h).json["item"]["id"] == first
    finally:
        count.close()
    _, _, expires, _ = _held(database, first)
    assert expires >= now + timedelta(seconds=settings.queue.lease_seconds) - timedelta(seconds=5)
    assert count.begun >= 1


def test_nothing_held_claims_through_the_write_path(rita, database):
    client, h, uid = rita
    first = client.post("/queue/next", headers=h).json["item"]["id"]
    assert client.post(f"/queue/items/{first}/decide", headers=h,
                       json={"verdict": "approve", "active_ms": 900}).status_code == 200
    # The decide claimed the second item; release it so the next call must claim.
    with database.session_scope() as s:
        s.execute(sa.update(Item).where(Item.lease_holder == uid, Item.status == ItemStatus.LEASED)
                  .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    nxt = client.post("/queue/next", headers=h).json["item"]
    assert nxt is not None and nxt["id"] != first
    status, holder, expires, _ = _held(database, nxt["id"])
    assert status == ItemStatus.LEASED and holder == uid and expires > utcnow()


def test_a_revoked_login_is_refused_on_the_read_path(rita, database):
    """The user is read in the read session now: a session ended elsewhere still gets 401."""
    client, h, uid = rita
    assert client.post("/queue/next", headers=h).status_code == 200
    with database.session_scope() as s:
        end_sessions(session=s, user=s.get(User, uid))
    answer = client.post("/queue/next", headers=h)
    assert answer.status_code == 401 and answer.json["error"]["code"] == "unauthorized"


def test_a_deactivated_reviewer_is_refused_on_the_read_path(rita, database):
    client, h, uid = rita
    assert client.post("/queue/next", headers=h).status_code == 200
    with database.session_scope() as s:
        s.get(User, uid).active = False
    assert client.post("/queue/next", headers=h).status_code == 401
