"""The queue page chooses a planted copy outside the write transaction: the real claim (and a
decision before it) is committed first, so other reviewers' writes go on while the copy is
chosen, and the copy then stands in for the real item, which goes back to the queue unseen."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlmodel import select

from reviewq.db import Database
from reviewq.domain import projection
from reviewq.domain.items import enqueue
from reviewq.models import Decision, Injection, InjectionKind, Item, ItemStatus, User, Verdict, utcnow
from reviewq.web import create_app
from tests.factories import approved_by_two, make_user, output_item, team_with_a_known_good_source
from tests.support.web import json_headers, login


class Always(random.Random):
    """Every draw 0.0: the claim plants whenever the week's budget allows."""

    def random(self) -> float:
        return 0.0


def test_the_copy_is_chosen_with_the_real_claim_committed_and_the_write_lock_free(database, monkeypatch):
    now = utcnow()  # the app's own clock: the source must be recent for it
    settings = database.settings.replace(canaries={"onboarding_drill": False, "per_reviewer_per_week": 0,
                                                   "controls_per_reviewer_per_week": 500})
    real_ids = team_with_a_known_good_source(database, settings, now)
    other = Database.from_settings(settings.replace(database={"sqlite_busy_timeout_ms": 200}))
    seen_while_choosing: list[tuple] = []
    real_choose = projection.choose

    def choose_while_others_write(**kwargs):
        with other.session_scope() as s:
            held = s.exec(select(Item).where(Item.public_id.in_(real_ids), Item.status == ItemStatus.LEASED)).all()
            decided = len(s.exec(select(Decision)).all())
            make_user(s, f"during-{len(seen_while_choosing)}", now=now)  # a write gets through meanwhile
        seen_while_choosing.append(([h.public_id for h in held], decided))
        return real_choose(**kwargs)

    monkeypatch.setattr(projection, "choose", choose_while_others_write)
    app = create_app(settings, claim_rng=Always())
    try:
        client = app.test_client()
        login(client, "rita")
        headers = json_headers(client)
        first = client.post("/queue/next", headers=headers)
        assert first.status_code == 200, first.get_data(as_text=True)
        copy_id = first.get_json()["item"]["id"]
        assert copy_id not in real_ids
        # While choosing, the claim of the first real item was committed (others saw it leased).
        assert seen_while_choosing == [([real_ids[0]], 2)]

        decided = client.post(f"/queue/items/{copy_id}/decide", headers=headers, json={"verdict": "approve"})
        assert decided.status_code == 200, decided.get_data(as_text=True)
        next_id = decided.get_json()["next"]["id"]  # the source is spent for rita: a real item this time
        # The decision on the copy was committed before the next copy was chosen.
        assert len(seen_while_choosing) == 2 and seen_while_choosing[1][1] == 3
    finally:
        app.extensions["reviewq.db"].dispose()
        other.dispose()

    with database.session_scope() as s:
        planted = s.exec(select(Item).join(Injection, Injection.item_id == Item.id)).all()
        assert copy_id in {p.public_id for p in planted}
        assert {i.kind for i in s.exec(select(Injection)).all()} == {InjectionKind.CONTROL}
        # The real item the copy stood in for went back unseen; the one served next is rita's.
        assert next_id in real_ids
        for real in s.exec(select(Item).where(Item.public_id.in_(real_ids))).all():
            assert not s.exec(select(Decision).where(Decision.item_id == real.id)).all()
            if real.public_id == next_id:
                assert real.status == ItemStatus.LEASED
            else:
                assert real.status == ItemStatus.QUEUED and real.lease_holder is None


def test_when_no_copy_fits_the_real_item_is_served(database, monkeypatch):
    now = utcnow()
    settings = database.settings.replace(canaries={"onboarding_drill": False, "per_reviewer_per_week": 0,
                                                   "controls_per_reviewer_per_week": 500})
    real_ids = team_with_a_known_good_source(database, settings, now)
    monkeypatch.setattr(projection, "choose", lambda **kwargs: None)
    app = create_app(settings, claim_rng=Always())
    try:
        client = app.test_client()
        login(client, "rita")
        served = client.post("/queue/next", headers=json_headers(client)).get_json()["item"]
        assert served["id"] == real_ids[0]
    finally:
        app.extensions["reviewq.db"].dispose()
    with database.session_scope() as s:
        assert not s.exec(select(Injection)).all()
        held = s.exec(select(Item).where(Item.public_id == real_ids[0])).one()
        assert held.status == ItemStatus.LEASED
        assert held.lease_holder is not None


def _planting_app(database, monkeypatch, during_choose):
    """An app whose claims plant whenever they can, with `during_choose(kwargs)` run as a copy is chosen."""
    settings = database.settings.replace(canaries={"onboarding_drill": False, "per_reviewer_per_week": 0,
                                                   "controls_per_reviewer_per_week": 500})
    real_choose = projection.choose

    def choose(**kwargs):
        during_choose(kwargs)
        return real_choose(**kwargs)

    monkeypatch.setattr(projection, "choose", choose)
    return settings, create_app(settings, claim_rng=Always())


def test_a_real_item_resumed_meanwhile_is_not_swapped_for_a_copy(database, monkeypatch):
    """The reviewer's other tab resumes the real item while the copy is chosen: they have seen it,
    so no copy stands in (a swap would show an item replaced under them), and the real item stays theirs."""
    from reviewq.domain.claims import resume_held

    now = utcnow()
    real_ids = team_with_a_known_good_source(database, database.settings, now)

    def other_tab_reloads(kwargs):
        with database.session_scope() as s:
            held = resume_held(session=s, reviewer_id=kwargs["reviewer_id"], now=utcnow() + timedelta(seconds=1),
                               lease_seconds=300)
            assert held is not None and held.public_id == real_ids[0]

    settings, app = _planting_app(database, monkeypatch, other_tab_reloads)
    try:
        client = app.test_client()
        login(client, "rita")
        served = client.post("/queue/next", headers=json_headers(client)).get_json()["item"]
    finally:
        app.extensions["reviewq.db"].dispose()
    assert served["id"] == real_ids[0]
    with database.session_scope() as s:
        assert not s.exec(select(Injection)).all()
        held = s.exec(select(Item).where(Item.public_id == real_ids[0])).one()
        assert held.status == ItemStatus.LEASED


def test_a_failure_while_planting_serves_the_real_item_and_keeps_the_decision(database, monkeypatch):
    """After the commit, a failing choice answers with the real item (200), never a 500 for a kept verdict."""
    now = utcnow()
    real_ids = team_with_a_known_good_source(database, database.settings, now)
    calls = []

    def fail_the_second_time(kwargs):
        calls.append(kwargs["served"].public_id)
        if len(calls) == 2:
            raise RuntimeError("the bank could not be built")

    settings, app = _planting_app(database, monkeypatch, fail_the_second_time)
    try:
        client = app.test_client()
        login(client, "rita")
        headers = json_headers(client)
        copy_id = client.post("/queue/next", headers=headers).get_json()["item"]["id"]
        assert copy_id not in real_ids
        decided = client.post(f"/queue/items/{copy_id}/decide", headers=headers, json={"verdict": "approve"})
    finally:
        app.extensions["reviewq.db"].dispose()
    assert decided.status_code == 200, decided.get_data(as_text=True)
    assert decided.get_json()["next"]["id"] in real_ids and len(calls) == 2
    with database.session_scope() as s:
        copy = s.exec(select(Item).where(Item.public_id == copy_id)).one()
        assert s.exec(select(Decision).where(Decision.item_id == copy.id)).one().verdict == Verdict.APPROVE


def _team_with_two_sources(database, now) -> list[str]:
    """As team_with_a_known_good_source, with a second approved source: a canary for each of two claims."""
    real_ids = team_with_a_known_good_source(database, database.settings, now)
    with database.session_scope() as s:
        source = enqueue(session=s, now=now - timedelta(minutes=35),
                         data=output_item(agent="acme", category="orders", required_approvals=2)).item
        approved_by_two(s, source, at=now - timedelta(minutes=30), settings=database.settings)
    return real_ids


def _canary_app(database, monkeypatch):
    """An app planting a canary at every claim, recording each choose call's `cached_only` and whether
    the real item's claim was committed by then (seen leased from another connection)."""
    settings = database.settings.replace(canaries={"onboarding_drill": False, "per_reviewer_per_week": 500,
                                                   "controls_per_reviewer_per_week": 0, "reservoir": False})
    other = Database.from_settings(settings)
    calls: list[tuple[bool, bool]] = []
    real_choose = projection.choose

    def choose(**kwargs):
        with other.session(readonly=True) as s:
            committed = s.get(Item, kwargs["served"].id).status == ItemStatus.LEASED
        calls.append((kwargs.get("cached_only", False), committed))
        return real_choose(**kwargs)

    monkeypatch.setattr(projection, "choose", choose)
    return settings, create_app(settings, claim_rng=Always()), calls, other


def test_a_canary_is_chosen_in_the_claims_transaction_once_the_agents_bank_is_built(database, monkeypatch):
    """The first canary builds the agent's value bank after the claim's commit; the next one, with the
    bank cached, is chosen and written in the claim's own transaction. Both are planted."""
    now = utcnow()
    real_ids = _team_with_two_sources(database, now)
    settings, app, calls, other = _canary_app(database, monkeypatch)
    try:
        client = app.test_client()
        login(client, "rita")
        headers = json_headers(client)
        first = client.post("/queue/next", headers=headers).get_json()["item"]
        assert first["id"] not in real_ids
        # Cold bank: tried in the transaction (nothing built), then chosen after the real claim committed.
        assert calls == [(True, False), (False, True)]
        second = client.post(f"/queue/items/{first['id']}/decide", headers=headers,
                             json={"verdict": "reject", "reason": "hallucinated_fact"}).get_json()["next"]
        assert second["id"] not in real_ids and second["id"] != first["id"]
        assert calls[2:] == [(True, False)]  # warm bank: chosen before anything was committed
    finally:
        app.extensions["reviewq.db"].dispose()
        other.dispose()
    with database.session_scope() as s:
        injections = s.exec(select(Injection)).all()
        assert len(injections) == 2 and {i.kind for i in injections} == {InjectionKind.CANARY}
        for real in s.exec(select(Item).where(Item.public_id.in_(real_ids))).all():
            assert real.status == ItemStatus.QUEUED and real.lease_holder is None  # given back unseen


def test_a_failure_while_planting_in_the_transaction_keeps_the_decision_and_serves_the_real_item(database,
                                                                                               monkeypatch):
    """Planting is undone to its savepoint: the verdict before it commits and the real item is served."""
    now = utcnow()
    real_ids = _team_with_two_sources(database, now)
    settings, app, calls, other = _canary_app(database, monkeypatch)
    real_write = projection.write
    try:
        client = app.test_client()
        login(client, "rita")
        headers = json_headers(client)
        first = client.post("/queue/next", headers=headers).get_json()["item"]  # builds the bank
        assert first["id"] not in real_ids

        def broken_write(**kwargs):
            real_write(**kwargs)  # the copy is written, then planting fails
            raise RuntimeError("a mutator's bug")

        monkeypatch.setattr(projection, "write", broken_write)
        decided = client.post(f"/queue/items/{first['id']}/decide", headers=headers, json={"verdict": "approve"})
        assert decided.status_code == 200, decided.get_data(as_text=True)
        assert calls[-1] == (True, False) and decided.get_json()["next"]["id"] in real_ids
    finally:
        app.extensions["reviewq.db"].dispose()
        other.dispose()
    with database.session_scope() as s:
        assert len(s.exec(select(Injection)).all()) == 1  # only the first copy
        assert len(s.exec(select(Decision).join(Item, Item.id == Decision.item_id)
                          .where(Item.public_id == first["id"])).all()) == 1


def test_the_queue_page_plants_a_canary_where_a_drawn_control_has_no_source(database, tmp_path):
    """Through /queue/next: a control drawn on an approval that nobody confirmed good is chosen after the
    commit (as every control), finds no source, and a canary stands in rather than no planted item."""
    from reviewq.domain.approvals import request_approval
    from reviewq.domain.canary_rate import current_rate
    from reviewq.domain.decide import decide
    from reviewq.domain.tokens import create_token
    from reviewq.models import DecisionCreate, InjectionSource
    from reviewq.models.approvals import ApprovalCreate
    from tests.test_projection import Fixed, _approval_body

    now = utcnow()
    settings = database.settings.replace(canaries={
        "onboarding_drill": False, "per_reviewer_per_week": 50, "controls_per_reviewer_per_week": 50,
        "budget_jitter": 0.0, "library": str(tmp_path)})
    with database.session_scope() as s:
        make_user(s, "rita", now=now - timedelta(days=20))
        bob = make_user(s, "bob", now=now - timedelta(days=20))
        token = create_token(session=s, agent="acme", scopes=("items:write",), now=now, actor="t").token
        for i in range(3):
            request_approval(session=s, token=token, data=ApprovalCreate(**_approval_body(i)), idempotency_key=None,
                             settings=settings, now=now - timedelta(minutes=10 - i))
        for public_id in s.exec(select(Item.public_id).where(Item.kind == "approval").order_by(Item.id)).all()[:2]:
            item = s.exec(select(Item).where(Item.public_id == public_id)).one()
            item.status, item.lease_holder = ItemStatus.LEASED, bob.id
            item.lease_expires_at = now + timedelta(minutes=5)
            s.add(item)
            s.flush()
            decide(session=s, public_id=public_id, reviewer=bob, settings=settings, now=now - timedelta(minutes=5),
                   data=DecisionCreate(verdict=Verdict.APPROVE))  # approved once: decided, not confirmed good
        rita_id = s.exec(select(User.id).where(User.name == "rita")).one()
        rate = current_rate(session=s, reviewer_id=rita_id, now=now, settings=settings, rng=random.Random(0))
    assert rate.canary > 0 and rate.control > 0 and rate.canary_room
    app = create_app(settings, claim_rng=Fixed(rate.canary + rate.control / 2))  # every claim draws a control
    client = app.test_client()
    login(client, "rita")
    served = client.post("/queue/next", headers=json_headers(client)).get_json()["item"]
    with database.session_scope() as s:
        copy = s.exec(select(Item).where(Item.public_id == served["id"])).one()
        injection = s.exec(select(Injection).where(Injection.item_id == copy.id)).one()
        assert copy.kind.value == "approval"
        assert injection.kind == InjectionKind.CANARY and injection.source == InjectionSource.MUTATION
