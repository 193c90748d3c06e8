"""Prebuilt statements on SQLite's bare cursor (reviewq.lean_sql), against SQLAlchemy's own path.

Whatever a statement does through `Connection.execute`, it must do the same through
`Prebuilt.run`: the same rows with the same Python types, the same stored values (JSON null
included), the same errors, inside the same transaction. On SQLite the hot statements must really
take the bare cursor; on PostgreSQL everything takes SQLAlchemy's path.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from reviewq import lean_sql
from reviewq.domain import (
    approval_binding,
    approval_settlement,
    audit,
    canary_rate,
    claims,
    decide,
    disputes,
    items,
    notifications,
    queue_status,
    rate_counters,
    reviewer,
    session_clock,
    tokens,
)
from reviewq.domain.errors import InvalidTransition
from reviewq.domain.items import enqueue
from reviewq.domain.reviewer import latest_session
from reviewq.lean_sql import LeanResult, Prebuilt
from reviewq.models import (
    AuditEvent,
    Decision,
    DecisionCreate,
    DecisionRollup,
    Item,
    ItemStatus,
    ReviewSession,
    Role,
    utcnow,
)
from reviewq.web import auth
from tests.factories import make_user, output_item
from tests.support.web import json_headers, login

_META = sa.MetaData()
_THINGS = sa.Table(
    "lean_things", _META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(40), nullable=False, unique=True),
    sa.Column("role", sa.Enum(Role, native_enum=False, length=16), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("details", sa.JSON, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False, server_default="plain"),
)
_WITH_PYTHON_DEFAULT = sa.Table(
    "lean_defaults", _META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("stamp", sa.String(20), nullable=False, default=lambda: "from-python"),
)

_INSERT = Prebuilt(sa.insert(_THINGS).returning(_THINGS.c.id))
_BY_NAME = Prebuilt(sa.select(_THINGS.c.id, _THINGS.c.role, _THINGS.c.active, _THINGS.c.details, _THINGS.c.at,
                              _THINGS.c.kind).where(_THINGS.c.name == sa.bindparam("name")))
_ACTIVE_COUNT = Prebuilt(sa.select(sa.func.count().label("n")).select_from(_THINGS)
                         .where(_THINGS.c.active.is_(True), _THINGS.c.kind == "plain"))
_RENAME = Prebuilt(sa.update(_THINGS).where(_THINGS.c.name == sa.bindparam("old")).values(name=sa.bindparam("new")))


@pytest.fixture
def things(database):
    _META.create_all(database.engine)
    yield database
    _META.drop_all(database.engine)


def _both_ways(database, statement: Prebuilt, params: dict):
    with database.session() as session:
        lean = statement.run(session, params)
        ordinary = session.connection().execute(statement.statement, params)
        return lean, ordinary


def test_rows_come_back_as_sqlalchemy_gives_them(things, backend):
    at = datetime(2026, 11, 29, 12, 30, 5, 123456, tzinfo=UTC)
    with things.session() as session:
        first = _INSERT.run(session, {"name": "rita", "role": Role.LEAD, "details": {"a": [1, 2]}, "at": at})
        _INSERT.run(session, {"name": "ravi", "role": None, "active": False, "details": None, "at": None})
        assert isinstance(first.scalar_one(), int)
        session.commit()
    for name in ("rita", "ravi"):
        lean, ordinary = _both_ways(things, _BY_NAME, {"name": name})
        expected = ordinary.one()
        got = lean.one()
        assert tuple(got) == tuple(expected)
        assert [type(v) for v in got] == [type(v) for v in expected]
        assert got.role == expected.role and got._fields == tuple(expected._fields)
    lean, _ = _both_ways(things, _BY_NAME, {"name": "rita"})
    row = lean.one()
    assert row.role is Role.LEAD and row.active is True and row.details == {"a": [1, 2]} and row.kind == "plain"
    assert row.at == at.replace(tzinfo=None) or row.at == at  # DateTime(timezone=True) as each database keeps it
    assert isinstance(lean, LeanResult) == (backend == "sqlite")


def test_an_insert_lists_only_the_columns_given_so_server_defaults_apply(things):
    with things.session() as session:
        _INSERT.run(session, {"name": "only-name"})
        _INSERT.run(session, {"name": "with-kind", "kind": "special"})
        session.commit()
    with things.engine.connect() as connection:
        counted = _ACTIVE_COUNT.run(connection, {}).scalar()
    assert counted == 1  # server defaults: active true, kind 'plain' for the first only


def test_json_none_is_stored_as_sqlalchemy_stores_it(things):
    with things.session() as session:
        _INSERT.run(session, {"name": "lean", "details": None})
        session.connection().execute(sa.insert(_THINGS), {"name": "plain", "details": None})
        session.commit()
        stored = dict(session.connection().execute(
            sa.select(_THINGS.c.name, sa.cast(_THINGS.c.details, sa.String))).all())
    assert stored["lean"] == stored["plain"]


def test_an_update_reports_its_rowcount_and_a_rollback_undoes_it(things):
    with things.session() as session:
        _INSERT.run(session, {"name": "a"})
        session.commit()
        assert _RENAME.run(session, {"old": "a", "new": "b"}).rowcount == 1
        assert _RENAME.run(session, {"old": "nobody", "new": "c"}).rowcount == 0
        session.rollback()
        assert _BY_NAME.run(session, {"name": "a"}).first() is not None
        assert _BY_NAME.run(session, {"name": "b"}).first() is None


def test_driver_errors_are_wrapped_as_sqlalchemy_wraps_them(things):
    with things.session() as session:
        _INSERT.run(session, {"name": "dup"})
        with pytest.raises(sa.exc.IntegrityError):
            _INSERT.run(session, {"name": "dup"})


def test_what_would_change_per_call_takes_the_ordinary_path(things, backend):
    """An expanding IN and a Python-side column default are SQLAlchemy's to fill in: no plan, and
    the statements still do what they should."""
    dialect = things.engine.dialect
    expanding = Prebuilt(sa.select(_THINGS.c.name).where(_THINGS.c.name.in_(sa.bindparam("names", expanding=True))))
    fixed_in = Prebuilt(sa.select(_THINGS.c.name).where(_THINGS.c.role.in_([Role.LEAD, Role.REVIEWER]))
                        .order_by(_THINGS.c.name))
    defaulted = Prebuilt(sa.insert(_WITH_PYTHON_DEFAULT))
    assert expanding.plan_for(dialect, ("names",)) is None
    assert (fixed_in.plan_for(dialect, ()) is not None) == (backend == "sqlite")  # written out once
    assert defaulted.plan_for(dialect, ()) is None
    assert defaulted.plan_for(dialect, ("stamp",)) is not None or backend != "sqlite"
    with things.session() as session:
        _INSERT.run(session, {"name": "x", "role": Role.LEAD})
        _INSERT.run(session, {"name": "y", "role": Role.ADMIN})
        _INSERT.run(session, {"name": "w", "role": Role.REVIEWER})
        assert sorted(expanding.run(session, {"names": ["x", "y", "z"]}).scalars()) == ["x", "y"]
        assert list(fixed_in.run(session).scalars()) == ["w", "x"]
        defaulted.run(session, {})
        defaulted.run(session, {"stamp": "given"})
        stamps = sorted(session.connection().execute(sa.select(_WITH_PYTHON_DEFAULT.c.stamp)).scalars())
    assert stamps == ["from-python", "given"]


def test_a_missing_parameter_is_refused_not_sent_as_null(things):
    with things.session() as session, pytest.raises(sa.exc.SQLAlchemyError,
                                                    match="A value is required for bind parameter 'old'"):
        _RENAME.run(session, {"new": "b"})


def test_the_hot_statements_take_the_bare_cursor_on_sqlite(database, backend):
    """Each statement converted to lean execution has a plan on SQLite (no per-call SQL) and sends
    nothing through SQLAlchemy's execution there; on PostgreSQL every one does."""
    now = datetime(2026, 11, 29, tzinfo=UTC)
    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        sent.append(statement)

    hot = [
        (auth._USER_SNAPSHOT, {"user_id": 1}),
        (canary_rate._CLAIM_STATE, {"reviewer_id": 1, "week_start": now, "now": now}),
        (queue_status._QUEUE_COUNTS, {"now": now, "due_by": now + timedelta(minutes=5), "cap": 10}),
        (session_clock._ADD_TO_SESSION, {"session_id": 0, "add_ms": 5, "now": now}),
        (decide._move_held(ItemStatus.DECIDED), {"item_id": 0, "reviewer_id": 1, "now": now, "new_outcome": "approve"}),
        (audit._INSERT_EVENT, {"actor": "system", "action": "test", "object_type": "x", "object_id": "1",
                               "details": {}, "at": now}),
        (claims._release(False), {"held_public_id": "itm_x", "reviewer_id": 1, "now": now}),
        (claims._release(True), {"held_public_id": "itm_x", "reviewer_id": 1, "now": now, "claimed_until": now}),
        (notifications._MARK_OPENED, {"opened_item": 0, "opened_at": now, "opened_by": 1}),
        (reviewer._LATEST_SESSION, {"reviewer_id": 1}),
        (tokens._TOKEN_BY_HASH, {"digest": "0" * 64}),
        (items._ITEM_ROW, {"public_id": "itm_x"}),
        (reviewer._APPROVALS_GIVEN, {"item_id": 0}),
        (reviewer._OTHER_APPROVERS, {"item_id": 0, "reviewer_id": 1}),
        (approval_binding._DECISION_RECORDS, {"item_id": 0}),
        (approval_settlement._LAST_REJECT, {"item_id": 0}),
        (approval_settlement._APPROVAL_ROW, {"item_id": 0}),
        (notifications._DECIDERS, {"item_id": 0, "verdict": "approve"}),
        (notifications._NOTIFICATIONS_OF_WATCH, {"watch_id": 0}),
        (disputes._RETIRED_KEYS, {}),
        (rate_counters._hit_statement(database.engine.dialect.name),
         {"key": "lean-test", "now": now, "amount": 1, "cutoff": now - timedelta(minutes=1)}),
        (claims._peek_held(), {"reviewer_id": 1, "now": now}),
        *((claims._claim_statement(backend == "postgres", assigned_first)[1],
           {"reviewer_id": 1, "now": now, "until": now}) for assigned_first in (True, False)),
    ]
    sa.event.listen(database.engine, "before_cursor_execute", seen)
    try:
        with database.session() as session:
            for statement, params in hot:
                statement.run(session, params)
                assert (statement.plan_for(database.engine.dialect, tuple(params)) is not None) == (
                    backend == "sqlite")
            session.rollback()
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", seen)
    bare = [s for s in sent if not s.startswith(("BEGIN", "SAVEPOINT", "RELEASE"))]
    assert (bare == []) == (backend == "sqlite"), bare


def test_a_decision_writes_its_rows_on_the_bare_cursor_on_sqlite(client, database, app, now, backend):
    """Through the web: the decision, its audit event, its rollup and the session clock are written
    without SQLAlchemy's execution on SQLite, and are all there afterwards on both databases."""
    with database.session_scope() as s:
        make_user(s, "rita", now=now)
        for i in range(2):
            enqueue(session=s, data=output_item(), now=utcnow() - timedelta(minutes=10 - i))
    login(client, "rita")
    h = json_headers(client)
    engine = app.extensions["reviewq.db"].engine
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    first = client.post("/queue/next", headers=h).json["item"]["id"]
    r = client.post(f"/queue/items/{first}/decide", headers=h, json={"verdict": "approve", "active_ms": 900})
    assert r.status_code == 200, r.json
    second = client.post(f"/queue/items/{r.json['next']['id']}/decide", headers=h,
                         json={"verdict": "reject", "reason": "off_topic", "active_ms": 700})
    assert second.status_code == 200, second.json
    lean_tables = ("INSERT INTO decisions", "INSERT INTO audit_events", "INSERT INTO decision_rollups",
                   "UPDATE review_sessions")
    through_sqlalchemy = [s for s in sent if s.startswith(lean_tables)]
    assert (through_sqlalchemy == []) == (backend == "sqlite"), through_sqlalchemy
    with database.session_scope(readonly=True) as s:
        verdicts = s.exec(select(Decision.verdict).order_by(Decision.id)).all()
        assert [str(v.value if hasattr(v, "value") else v) for v in verdicts] == ["approve", "reject"]
        review_session = s.exec(select(ReviewSession)).one()
        active = s.exec(select(sa.func.sum(Decision.active_ms))).one()
        assert review_session.decisions == 2 and review_session.active_ms == active > 0
        rollup = s.exec(select(DecisionRollup)).all()
        assert sum(r.decisions for r in rollup) == 2 and sum(r.rejects for r in rollup) == 1
        assert s.exec(select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action.like("%decide%") | AuditEvent.action.like("%decision%"))).one() >= 2


def test_a_detached_snapshot_reads_like_the_row_and_is_never_flushed(database, now):
    """`detached` gives an ORM object with the row's values, in no session; changing it writes nothing."""
    with database.session_scope() as s:
        make_user(s, "rita", now=now)
        s.add(ReviewSession(reviewer_id=1, started_at=now, last_activity_at=now + timedelta(minutes=3),
                            active_ms=4000, decisions=2))
    with database.session() as session:
        snapshot = latest_session(session=session, reviewer_id=1)
        assert isinstance(snapshot, ReviewSession) and snapshot not in session
        state = sa.inspect(snapshot)  # loaded as a query loads: unchanged, not modified
        assert state.detached and not state.modified and state.attrs.active_ms.history.unchanged == [4000]
        assert (snapshot.active_ms, snapshot.decisions, snapshot.last_activity_at) == (
            4000, 2, now + timedelta(minutes=3))
        snapshot.decisions = 99
        session.commit()
    with database.session(readonly=True) as session:
        assert session.exec(select(ReviewSession.decisions)).one() == 2
        assert latest_session(session=session, reviewer_id=2) is None


def test_a_snapshot_is_made_in_a_fresh_process_before_any_orm_query():
    """The first request a server answers may read its token as a snapshot before the ORM has
    configured its mappers (the attributes have no loaders until then): it must not fail."""
    code = (
        "from collections import namedtuple\n"
        "from reviewq.lean_sql import detached\n"
        "from reviewq.models import ApiToken\n"
        "Row = namedtuple('Row', ['id', 'agent', 'scopes'])\n"
        "token = detached(ApiToken, Row(7, 'billing-bot', 'items:write'))\n"
        "print(token.id, token.agent, sorted(token.scope_set))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "7 billing-bot ['items:write']"


def test_a_snapshot_claim_leases_the_same_item_an_orm_claim_would(session, now):
    """claim_next(snapshot=True) takes the item the ORM claim takes, leases it the same way, and
    hands back a detached Item with the claimed lease."""
    rita = make_user(session, "rita", now=now)
    for minutes in (30, 20, 10):
        enqueue(session=session, data=output_item(), now=now - timedelta(minutes=minutes))
    snap = claims.claim_next(session=session, reviewer_id=rita.id, now=now, lease_seconds=60, snapshot=True)
    assert snap not in session and snap.status == ItemStatus.LEASED and snap.lease_holder == rita.id
    assert snap.lease_expires_at == now + timedelta(seconds=60)
    orm = claims.claim_next(session=session, reviewer_id=rita.id, now=now, lease_seconds=60)
    assert orm in session and orm.created_at > snap.created_at  # the oldest went first, to the snapshot
    stored = session.exec(select(Item.status, Item.lease_holder).where(Item.id == snap.id)).one()
    assert tuple(stored) == (ItemStatus.LEASED, rita.id)
    assert claims.claim_next(session=session, reviewer_id=rita.id, now=now, lease_seconds=60, snapshot=True).id \
        not in {snap.id, orm.id}
    assert claims.claim_next(session=session, reviewer_id=rita.id, now=now, lease_seconds=60, snapshot=True) is None


def test_giving_an_item_back_checks_the_holder_and_the_lease_it_was_claimed_with(session, now):
    """release() gives a held item back; not another reviewer's, and (given the lease's end at
    claim time) not once the lease has been renewed since."""
    rita = make_user(session, "rita", now=now)
    ravi = make_user(session, "ravi", now=now)
    enqueue(session=session, data=output_item(), now=now - timedelta(minutes=5))
    item = claims.claim_next(session=session, reviewer_id=rita.id, now=now, lease_seconds=60)
    claimed_until = item.lease_expires_at
    renewed = claims.renew_lease(session=session, public_id=item.public_id, reviewer_id=rita.id,
                                 now=now + timedelta(seconds=30), lease_seconds=60)
    assert renewed > claimed_until
    later = now + timedelta(seconds=40)
    assert not claims.release(session=session, public_id=item.public_id, reviewer_id=ravi.id, now=later)
    assert not claims.release(session=session, public_id=item.public_id, reviewer_id=rita.id, now=later,
                              lease_expires_at=claimed_until)
    assert claims.release(session=session, public_id=item.public_id, reviewer_id=rita.id, now=later,
                          lease_expires_at=renewed)
    session.expire_all()
    back = session.exec(select(Item).where(Item.id == item.id)).one()
    assert back.status == ItemStatus.QUEUED and back.lease_holder is None and back.updated_at == later


def test_pending_changes_are_flushed_first_unless_autoflush_is_off(database, now):
    """As an ORM statement would: a lean read given a session sees what the session has pending."""
    with database.session() as session:
        make_user(session, "rita", now=now)
        session.add(ReviewSession(reviewer_id=1, started_at=now, last_activity_at=now, active_ms=10, decisions=1))
        assert latest_session(session=session, reviewer_id=1).active_ms == 10
        with session.no_autoflush:
            session.add(ReviewSession(reviewer_id=1, started_at=now, last_activity_at=now + timedelta(minutes=1),
                                      active_ms=20, decisions=1))
            assert latest_session(session=session, reviewer_id=1).active_ms == 10
        assert latest_session(session=session, reviewer_id=1).active_ms == 20


def test_a_decision_refreshes_the_sessions_own_item(session, now, settings):
    """The settle's row replaces the loaded values of the Item the session holds (as the ORM's
    populate_existing did), so a second verdict on it is refused as already decided."""
    alice, bob = make_user(session, "alice", now=now), make_user(session, "bob", now=now)
    enqueue(session=session, data=output_item(), now=now - timedelta(minutes=1))
    held = claims.claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    result = decide.decide(session=session, public_id=held.public_id, reviewer=alice,
                           data=DecisionCreate(verdict="approve", active_ms=5), now=now, settings=settings)
    assert result.item is held and held.status == ItemStatus.DECIDED and held.lease_holder is None
    with pytest.raises(InvalidTransition):
        decide.decide(session=session, public_id=held.public_id, reviewer=bob,
                      data=DecisionCreate(verdict="approve", active_ms=5), now=now, settings=settings)


def test_a_lean_read_gives_the_sessions_own_object_when_it_holds_one(session, now):
    """As an ORM query: the object the session holds comes back, refreshed only where the read it
    replaced refreshed (the claim's populate_existing); a plain read keeps its values."""
    rita = make_user(session, "rita", now=now)
    held = ReviewSession(reviewer_id=rita.id, started_at=now, last_activity_at=now, active_ms=10, decisions=1)
    session.add(held)
    session.flush()
    assert latest_session(session=session, reviewer_id=rita.id) is held
    session.execute(sa.update(ReviewSession.__table__).values(active_ms=99))  # behind the ORM's back
    assert latest_session(session=session, reviewer_id=rita.id).active_ms == 10  # not refreshed
    row = reviewer._LATEST_SESSION.run(session, {"reviewer_id": rita.id}).first()
    assert lean_sql.loaded(session, ReviewSession, row, refresh=True) is held and held.active_ms == 99
    enqueue(session=session, data=output_item(), now=now - timedelta(minutes=1))
    item = session.exec(select(Item)).one()
    claimed = claims.claim_next(session=session, reviewer_id=rita.id, now=now, lease_seconds=60, snapshot=True)
    assert claimed is item and item.status == ItemStatus.LEASED and item.lease_holder == rita.id


def test_a_stored_row_is_persistent_and_clean_and_later_changes_are_flushed(session, now):
    """`stored`: an object written by a prebuilt INSERT joins the session as an ORM insert leaves
    it: persistent, nothing pending (a flush writes no second row), and a later change is an UPDATE."""
    rita = make_user(session, "rita", now=now)
    review = ReviewSession(reviewer_id=rita.id, started_at=now, last_activity_at=now, active_ms=10, decisions=1)
    insert = Prebuilt(sa.insert(ReviewSession.__table__).returning(ReviewSession.__table__.c.id))
    lean_sql.stored(session, review, insert.run(session, lean_sql.column_values(review)).scalar_one())
    state = sa.inspect(review)
    assert state.persistent and not state.modified and review in session and not session.new
    session.flush()
    assert session.exec(select(sa.func.count()).select_from(ReviewSession)).one() == 1
    review.decisions = 5
    session.flush()
    stored_decisions = session.execute(sa.select(ReviewSession.__table__.c.decisions)).scalar_one()
    assert stored_decisions == 5


def test_a_token_the_session_holds_authenticates_as_the_same_object(session, now):
    """verify_token reads the token off the bare cursor: the session's own object when it holds it
    (issued in this transaction), else a detached snapshot; a revoked token is refused either way."""
    issued = tokens.create_token(session=session, agent="billing-bot", scopes="items:write", now=now, actor="t")
    assert tokens.verify_token(session=session, plaintext=issued.plaintext, now=now) is issued.token
    session.expunge(issued.token)
    snapshot = tokens.verify_token(session=session, plaintext=issued.plaintext, now=now)
    assert snapshot is not issued.token and snapshot not in session
    assert (snapshot.id, snapshot.agent, snapshot.scope_set) == (issued.token.id, "billing-bot", {"items:write"})
    tokens.revoke_token(session=session, token_id=issued.token.id, now=now, actor="t")
    session.flush()
    assert tokens.verify_token(session=session, plaintext=issued.plaintext, now=now) is None
    assert tokens.verify_token(session=session, plaintext="rq_unknown", now=now) is None
