"""Projection at claim time: what a planted copy takes from real traffic, and what it never touches."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from reviewq.canaries.library import load_library
from reviewq.domain import projection, reservoir
from reviewq.domain.canary_rate import Rate, boost_rate, current_rate
from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.injection import plan_week
from reviewq.domain.items import enqueue
from reviewq.domain.sampling import submit_outputs
from reviewq.models import (
    CanaryBudget,
    DecisionCreate,
    Injection,
    InjectionKind,
    InjectionOutcome,
    InjectionSource,
    Item,
    ItemStatus,
    ReservoirOutput,
    Role,
    Verdict,
    WebhookDelivery,
    utcnow,
)
from reviewq.models.outputs import OutputCreate
from tests.factories import make_user, output_item
from tests.support.api import add_reviewer, bearer, issue_token
from tests.support.notify import ask_approval


class Always(random.Random):
    """An rng whose every draw is 0.0: the claim always plants if anything may be planted."""

    def random(self) -> float:
        return 0.0


class Never(random.Random):
    def random(self) -> float:
        return 0.999999


def _outputs(n: int, start: int = 0) -> list[OutputCreate]:
    return [OutputCreate(trace_id=f"tr-{i:06d}", category="orders", input=f"Where is order ACM-{500000 + i}?",
                         output={"reply": f"Order ACM-{500000 + i} is in transit and will arrive in 3 days.",
                                 "order_id": f"ACM-{500000 + i}", "eta_days": 3},
                         trace=[{"tool": "orders.lookup", "args": {"order_id": f"ACM-{500000 + i}"}}])
            for i in range(start, start + n)]


def _approval_body(i: int, **extra) -> dict:
    body = {"trace_id": f"ap-{i}", "actor": "ledger", "intent": "issue_payout",
            "constraints": {"max_amount_eur": 500, "allowed_tools": ["payouts.create"]},
            "tool_call": {"name": "payouts.create", "args": {"vendor": f"V-{100 + i}", "amount_eur": 40 + i}},
            "irreversible": False, "timeout_s": 3600 + 600 * i, "context": f"Payout for V-{100 + i}."}
    body.update(extra)
    return body


def test_a_projected_copy_never_reaches_an_agent(client, database, settings):
    """Copies are invisible to agents: no API read, no webhook, no approval outcome; their sources are untouched."""
    now = utcnow()  # the API stamps items with the wall clock
    issued = issue_token(database, "ledger", now=now)
    alice, bob = add_reviewer(database, "alice", now=now), add_reviewer(database, "bob", now=now)
    ids = []
    for i in range(2):
        r = client.post("/api/v1/approvals", json=_approval_body(i), headers=bearer(issued))
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    r = client.post("/api/v1/items", json={"items": [o.model_dump(exclude_none=True) for o in _outputs(40)]},
                    headers=bearer(issued))
    assert r.status_code == 200
    t = now + timedelta(minutes=5)
    with database.session_scope() as s:  # bob approves the first approval: a mutation source for alice
        item = claim_next(session=s, reviewer_id=bob.id, now=t, lease_seconds=60)
        decide(session=s, public_id=item.public_id, reviewer=bob, data=DecisionCreate(verdict=Verdict.APPROVE),
               now=t, settings=settings)
        first_decided = item.decided_at
        boost_rate(session=s, reviewer_id=alice.id, probability=0.5, hours=1, drill=False, reason="test",
                   created_by="lena", now=t)
    copies = []

    def plant_and_decide(at):
        with database.session_scope() as s:
            copy = projection.claim(session=s, reviewer_id=alice.id, now=at, settings=settings, rng=Always())
            assert copy is not None and copy.public_id not in ids and copy.token_id is None
            copies.append((copy.public_id, copy.kind.value))
            decide(session=s, public_id=copy.public_id, reviewer=alice, settings=settings,
                   now=at + timedelta(seconds=30), data=DecisionCreate(verdict=Verdict.APPROVE))

    plant_and_decide(t)  # the second approval is served: a mutated copy of the first stands in for it
    pending = client.get(f"/api/v1/approvals/{ids[1]}", headers=bearer(issued)).get_json()
    assert pending["status"] == "pending" and pending["outcome"] is None  # approving the copy decided nothing
    with database.session_scope() as s:  # the real one, put back, comes next; then an output's copy
        real = projection.claim(session=s, reviewer_id=alice.id, now=t + timedelta(minutes=1), settings=settings,
                                rng=Never())
        assert real.public_id == ids[1]
        decide(session=s, public_id=real.public_id, reviewer=alice, settings=settings,
               now=t + timedelta(minutes=1), data=DecisionCreate(verdict=Verdict.REJECT, reason="other"))
    plant_and_decide(t + timedelta(minutes=2))
    assert [kind for _, kind in copies] == ["approval", "output"]
    for public_id, _kind in copies:
        assert client.get(f"/api/v1/items/{public_id}", headers=bearer(issued)).status_code == 404
        assert client.get(f"/api/v1/approvals/{public_id}?wait=0", headers=bearer(issued)).status_code == 404
        assert client.post(f"/api/v1/approvals/{public_id}/cancel", headers=bearer(issued)).status_code == 404
    denied = client.get(f"/api/v1/approvals/{ids[1]}", headers=bearer(issued)).get_json()
    assert denied["status"] == "denied"  # the agent hears only the real decision
    done = client.get(f"/api/v1/approvals/{ids[0]}", headers=bearer(issued)).get_json()
    assert done["status"] == "approved"
    with database.session_scope(readonly=True) as s:
        copy_ids = [s.exec(select(Item.id).where(Item.public_id == p)).one() for p, _ in copies]
        assert not s.exec(select(WebhookDelivery).where(WebhookDelivery.item_id.in_(copy_ids))).all()
        source = s.exec(select(Item).where(Item.public_id == ids[0])).one()
        assert source.decided_at == first_decided and source.outcome.value == "approve"
        injections = s.exec(select(Injection).where(Injection.item_id.in_(copy_ids))).all()
        assert {i.outcome for i in injections} == {InjectionOutcome.MISSED}
        assert {i.source for i in injections} == {InjectionSource.MUTATION, InjectionSource.PROJECTION}


def test_an_empty_queue_never_serves_a_planted_item(session, settings, now):
    """With nothing real to serve there is nothing to plant; with one real item, its copy comes and then the item."""
    alice = make_user(session, "alice", now=now)
    boost_rate(session=session, reviewer_id=alice.id, probability=0.5, hours=2, drill=False, reason="",
               created_by="lena", now=now)
    token = issue_token_in(session, now)
    submit_outputs(session=session, token=token, outputs=_outputs(60), sampling=settings.sampling, now=now,
                   canaries=settings.canaries, rng=random.Random(1))
    queued = session.exec(select(Item).where(Item.status == ItemStatus.QUEUED)).all()
    for item in queued:  # someone else took all real work: the queue is empty for alice
        item.status = ItemStatus.CANCELLED
        session.add(item)
    session.flush()
    assert session.exec(select(ReservoirOutput)).all()  # sources exist, yet nothing may be planted
    assert projection.claim(session=session, reviewer_id=alice.id, now=now, settings=settings, rng=Always()) is None
    assert not session.exec(select(Injection)).all()
    real = enqueue(session=session, data=output_item(agent="acme", category="orders", payload=_outputs(1, 900)[0]
                                                     .model_dump(include={"input", "output", "trace"})),
                   now=now).item
    got = projection.claim(session=session, reviewer_id=alice.id, now=now, settings=settings, rng=Always())
    assert got.id != real.id and got.agent == real.agent and got.category == real.category
    session.refresh(real)
    assert real.status == ItemStatus.QUEUED and real.lease_holder is None  # put back, unseen
    decide(session=session, public_id=got.public_id, reviewer=alice, settings=settings, now=now,
           data=DecisionCreate(verdict=Verdict.APPROVE))
    assert projection.claim(session=session, reviewer_id=alice.id, now=now, settings=settings,
                            rng=Never()).id == real.id


def issue_token_in(session, now):
    from reviewq.domain.tokens import create_token

    return create_token(session=session, agent="acme", scopes=("items:write",), now=now, actor="t").token


def test_an_approval_copy_follows_the_rules_of_real_approvals(session, settings, now):
    """Deadline = created + timeout_s of the served approval, category = intent, agent and trace id format kept."""
    from reviewq.domain.approvals import request_approval
    from reviewq.models.approvals import ApprovalCreate

    alice, bob = make_user(session, "alice", now=now), make_user(session, "bob", now=now)
    token = issue_token_in(session, now)
    for i in range(3):
        request_approval(session=session, token=token, data=ApprovalCreate(**_approval_body(i)),
                         idempotency_key=None, settings=settings, now=now + timedelta(minutes=i))
    for _ in range(2):
        item = claim_next(session=session, reviewer_id=bob.id, now=now + timedelta(minutes=5), lease_seconds=60)
        decide(session=session, public_id=item.public_id, reviewer=bob, settings=settings,
               now=now + timedelta(minutes=5), data=DecisionCreate(verdict=Verdict.APPROVE))
    served = session.exec(select(Item).where(Item.status == ItemStatus.QUEUED)).one()
    boost_rate(session=session, reviewer_id=alice.id, probability=0.5, hours=2, drill=False, reason="",
               created_by="lena", now=now)
    copy = projection.claim(session=session, reviewer_id=alice.id, now=now + timedelta(minutes=6),
                            settings=settings, rng=Always())
    assert copy.id != served.id
    assert copy.created_at == served.created_at and copy.deadline == served.deadline
    assert copy.category == copy.payload["intent"] == "issue_payout" and copy.agent == "acme"
    assert re.fullmatch(r"ap-\d", copy.trace_id)


def test_controls_are_real_items_approved_twice_re_served_unchanged(session, settings, now):
    """An output approved by two reviewers comes back, unchanged, to a third as a known-good control."""
    settings = settings.replace(canaries={"per_reviewer_per_week": 0, "controls_per_reviewer_per_week": 50,
                                          "onboarding_drill": False})
    ann, bob, cat = (make_user(session, n, now=now) for n in ("ann", "bob", "cat"))
    good = enqueue(session=session, now=now, data=output_item(agent="acme", category="orders",
                                                              required_approvals=2)).item
    for who in (ann, bob):
        item = claim_next(session=session, reviewer_id=who.id, now=now, lease_seconds=60)
        assert item.id == good.id
        decide(session=session, public_id=item.public_id, reviewer=who, settings=settings, now=now,
               data=DecisionCreate(verdict=Verdict.APPROVE))
    fresh = enqueue(session=session, now=now, data=output_item(agent="acme", category="orders")).item
    control = projection.claim(session=session, reviewer_id=cat.id, now=now + timedelta(minutes=1),
                               settings=settings, rng=Always())
    assert control.id not in (good.id, fresh.id) and control.payload == good.payload
    injection = session.exec(select(Injection).where(Injection.item_id == control.id)).one()
    assert injection.kind == InjectionKind.CONTROL and injection.source == InjectionSource.CONTROL
    assert injection.source_item_id == good.id
    result = decide(session=session, public_id=control.public_id, reviewer=cat, settings=settings,
                    now=now + timedelta(minutes=2), data=DecisionCreate(verdict=Verdict.APPROVE))
    assert result.effects.reveal["kind"] == "control" and result.effects.reveal["outcome"] == "correct"
    # ann decided the source herself: she is never served it as a control.
    assert projection.claim(session=session, reviewer_id=ann.id, now=now + timedelta(minutes=3),
                            settings=settings, rng=Always()).id == fresh.id


def test_controls_spread_over_the_pool_instead_of_re_serving_the_nearest_to_everyone(session, settings, now):
    """The nearest known-good item goes to the first reviewer; the next reviewer gets another one, least
    planted first, so a small pool's oldest items do not become every reviewer's controls."""
    settings = settings.replace(canaries={"per_reviewer_per_week": 0, "controls_per_reviewer_per_week": 50,
                                          "onboarding_drill": False})
    lena = make_user(session, "lena", Role.LEAD, now=now)
    dan, eve = (make_user(session, n, now=now) for n in ("dan", "eve"))
    good = [enqueue(session=session, now=now - timedelta(hours=3 - i),
                    data=output_item(agent="acme", category="orders", payload={"input": f"q{i}", "output": f"a{i}"}))
            .item for i in range(3)]
    for _ in good:  # the lead confirms all three
        item = claim_next(session=session, reviewer_id=lena.id, now=now, lease_seconds=60)
        decide(session=session, public_id=item.public_id, reviewer=lena, settings=settings, now=now,
               data=DecisionCreate(verdict=Verdict.APPROVE))
    served_to = {}
    for who in (dan, eve):
        enqueue(session=session, now=good[0].created_at, data=output_item(agent="acme", category="orders"))
        copy = projection.claim(session=session, reviewer_id=who.id, now=now + timedelta(minutes=1),
                                settings=settings, rng=Always())
        served_to[who.name] = session.exec(select(Injection.source_item_id).where(Injection.item_id == copy.id)).one()
    assert served_to["dan"] == good[0].id  # the served item's own batch
    assert served_to["eve"] in {good[1].id, good[2].id}  # not good[0] again: it was planted once already


def test_the_reservoir_is_bounded_purged_and_can_be_switched_off(session, settings, now):
    """At most reservoir_per_category per slot, nothing past source_days, and nothing at all when off."""
    small = settings.canaries.__class__(**{**settings.canaries.__dict__, "reservoir_per_category": 5})
    for batch in range(4):
        reservoir.keep_unsampled(session=session, agent="acme", settings=small, now=now + timedelta(minutes=batch),
                                 rng=random.Random(batch),
                                 outputs=[("orders", f"t{batch}-{i}", {"input": "q", "output": "a"}) for i in range(6)])
    kept = session.exec(select(ReservoirOutput)).all()
    assert len(kept) == 5 and {r.created_at for r in kept} >= {now + timedelta(minutes=3)}
    assert reservoir.purge(session=session, settings=small, now=now + timedelta(days=small.source_days, hours=1)) == 5
    off = settings.replace(canaries={"reservoir": False})
    token = issue_token_in(session, now)
    submit_outputs(session=session, token=token, outputs=_outputs(50), sampling=off.sampling, now=now,
                   canaries=off.canaries, rng=random.Random(2))
    assert not session.exec(select(ReservoirOutput)).all()
    assert all(i.status == ItemStatus.QUEUED for i in session.exec(select(Item)).all())  # only sampled ones queued


def test_each_reservoir_slot_keeps_its_own_newest_outputs(session, settings, now):
    """Batches touching several categories trim every slot they touch to its newest outputs, and
    never another agent's slot of the same category."""
    small = settings.canaries.__class__(**{**settings.canaries.__dict__, "reservoir_per_category": 5})
    for batch in range(3):
        for agent in ("acme", "zeta"):
            reservoir.keep_unsampled(
                session=session, agent=agent, settings=small, now=now + timedelta(minutes=batch),
                rng=random.Random(batch),
                outputs=[(category, f"{agent}-{category}-{batch}-{i}", {"input": "q", "output": "a"})
                         for category in ("orders", "refunds") for i in range(4)])
    slots: dict[tuple[str, str], list[str]] = {}
    for row in session.exec(select(ReservoirOutput)).all():
        slots.setdefault((row.agent, row.category), []).append(row.trace_id)
    assert set(slots) == {(a, c) for a in ("acme", "zeta") for c in ("orders", "refunds")}
    for (agent, category), traces in slots.items():
        # The newest batch whole (4), then the newest row of the batch before (highest id wins the tie).
        assert sorted(traces) == sorted([f"{agent}-{category}-2-{i}" for i in range(4)] + [f"{agent}-{category}-1-3"])


def test_weekly_budgets_are_jittered_drawn_once_and_topped_up_on_demand(session, settings, now):
    """Each active reviewer's budget lies within ±30% of the setting, a second run changes nothing, --now adds."""
    settings = settings.replace(canaries={"per_reviewer_per_week": 5, "controls_per_reviewer_per_week": 5})
    users = [make_user(session, f"r{i}", now=now - timedelta(days=20)) for i in range(12)]
    for user in users:
        enqueue(session=session, now=now - timedelta(days=1), data=output_item())
        item = claim_next(session=session, reviewer_id=user.id, now=now - timedelta(days=1), lease_seconds=60)
        decide(session=session, public_id=item.public_id, reviewer=user, settings=settings,
               now=now - timedelta(days=1), data=DecisionCreate(verdict=Verdict.APPROVE))
    budgets = plan_week(session=session, settings=settings, now=now, rng=random.Random(3))
    assert len(budgets) == 12
    per_week = settings.canaries.per_reviewer_per_week
    assert all(per_week * 0.7 - 1 <= b.canaries <= per_week * 1.3 + 1 for b in budgets)
    assert len({b.canaries for b in budgets}) > 1  # jittered, not all alike
    assert plan_week(session=session, settings=settings, now=now + timedelta(hours=1), rng=random.Random(4)) == []
    before = {b.reviewer_id: b.canaries for b in session.exec(select(CanaryBudget)).all()}
    plan_week(session=session, settings=settings, now=now, rng=random.Random(5), reviewer_names=["r0"], top_up=True)
    after = {b.reviewer_id: b.canaries for b in session.exec(select(CanaryBudget)).all()}
    assert after[users[0].id] > before[users[0].id] and after[users[1].id] == before[users[1].id]


def test_the_rate_is_a_control_surface(session, settings, now):
    """A lead's boost sets the probability for a while; a new reviewer's first session is a drill revealed at once."""
    settings = settings.replace(canaries={"reveal": "end_of_session", "onboarding_drill": True,
                                          "per_reviewer_per_week": 5})
    rita = make_user(session, "rita", now=now)
    first = current_rate(session=session, reviewer_id=rita.id, now=now, settings=settings, rng=random.Random(1))
    assert first.drill and first.canary == settings.canaries.drill_probability
    # After the first session, the budget's pace: below the cap and no drill.
    from reviewq.models import ReviewSession

    for days in (3, 2):
        session.add(ReviewSession(reviewer_id=rita.id, started_at=now - timedelta(days=days),
                                  last_activity_at=now - timedelta(days=days), active_ms=1000, decisions=1))
    session.flush()
    normal = current_rate(session=session, reviewer_id=rita.id, now=now, settings=settings, rng=random.Random(1))
    assert not normal.drill and 0 < normal.canary <= settings.canaries.max_probability
    boost_rate(session=session, reviewer_id=rita.id, probability=0.3, hours=4, drill=True, reason="retraining",
               created_by="lena", now=now)
    boosted = current_rate(session=session, reviewer_id=rita.id, now=now + timedelta(hours=1), settings=settings,
                           rng=random.Random(1))
    assert boosted.canary == 0.3 and boosted.drill
    assert current_rate(session=session, reviewer_id=rita.id, now=now + timedelta(hours=5), settings=settings,
                        rng=random.Random(1)).canary == normal.canary
    # A drill canary is revealed at once, although this deployment reveals at the end of the session.
    token = issue_token_in(session, now)
    submit_outputs(session=session, token=token, outputs=_outputs(30), sampling=settings.sampling, now=now,
                   canaries=settings.canaries, rng=random.Random(1))
    copy = projection.claim(session=session, reviewer_id=rita.id, now=now + timedelta(hours=1), settings=settings,
                            rng=Always(), library=load_library(settings.canary_library_path))
    assert session.exec(select(Injection).where(Injection.item_id == copy.id)).one().drill
    result = decide(session=session, public_id=copy.public_id, reviewer=rita, settings=settings,
                    now=now + timedelta(hours=1, minutes=1),
                    data=DecisionCreate(verdict=Verdict.REJECT, reason="other"))
    assert result.effects.reveal is not None and result.effects.reveal["outcome"] == "caught"


def test_only_reviewers_are_planted_for_whether_the_caller_gives_the_role_or_reads_it(session, settings, now):
    """A lead working the queue is never served a planted copy: with the role read here, or given by
    the queue's request (which read it with its user); a reviewer is, either way."""
    settings = settings.replace(canaries={"per_reviewer_per_week": 50, "controls_per_reviewer_per_week": 0})
    lena = make_user(session, "lena", Role.LEAD, now=now)
    rita = make_user(session, "rita", now=now)
    for i in range(4):
        enqueue(session=session, now=now - timedelta(minutes=10 - i),
                data=output_item(agent="acme", category="orders", payload={"input": f"q{i}", "output": f"a{i}"}))
    planned = {}
    for who, role in ((lena, None), (lena, Role.LEAD), (rita, None), (rita, Role.REVIEWER)):
        item, plan = projection.claim_real(session=session, reviewer_id=who.id, now=now, settings=settings,
                                           rng=Always(), role=role)
        assert item is not None
        planned[(who.name, role)] = plan is not None
    assert planned == {("lena", None): False, ("lena", Role.LEAD): False,
                       ("rita", None): True, ("rita", Role.REVIEWER): True}


def test_a_planted_copy_is_stored_exactly_as_the_orm_would_store_it(database, settings, now):
    """projection.write inserts its rows as single statements: the stored values (JSON null, enums,
    times, booleans) must be what an ORM insert of the same objects stores, byte for byte, or a
    planted row would differ from a real one in the database."""
    ada = add_reviewer(database, "ada", now=now - timedelta(days=1))
    token = issue_token(database, now=now)
    ask_approval(database, token, settings, now, timeout_s=600)
    with database.session_scope() as s:
        served = claim_next(session=s, reviewer_id=ada.id, now=now, lease_seconds=60)
        planted = projection.write(
            session=s, planted=projection.Planted(kind=InjectionKind.CANARY, source=InjectionSource.MUTATION,
                                       payload=dict(served.payload, note="changed"), explanation="why",
                                       bucket="wrong_tool_call"),
            served=served, reviewer_id=ada.id, rate=Rate(canary=1.0, control=0.0, drill=False, week_start=now),
            now=now, settings=settings, rng=random.Random(3),
        )
        assert planted in s and sa.inspect(planted).persistent and not s.dirty
        injection = s.exec(select(Injection).where(Injection.item_id == planted.id)).one()
        # The same objects again, through the ORM's unit of work.
        twin = Item(**{c.key: getattr(planted, c.key) for c in Item.__table__.columns if c.key != "id"})
        twin.public_id, twin.trace_id = "itm_twin", planted.trace_id + "-twin"
        s.add(twin)
        s.flush()
        s.add(Injection(**{c.key: getattr(injection, c.key) for c in Injection.__table__.columns
                           if c.key not in ("id", "item_id")}, item_id=twin.id))
        s.flush()
        conn = s.connection()

        def raw(table, key, value):
            sql = sa.text(f"SELECT * FROM {table} WHERE {key} = :v")  # noqa: S608 - the test's own names
            row = conn.execute(sql, {"v": value}).mappings().one()
            return {k: v for k, v in row.items() if k not in ("id", "item_id", "public_id", "trace_id")}

        assert raw("items", "id", planted.id) == raw("items", "id", twin.id)
        assert raw("injections", "item_id", planted.id) == raw("injections", "item_id", twin.id)


class Fixed(random.Random):
    """An rng whose every draw is `at`: the claim's draw lands where the test puts it."""

    def __init__(self, at: float) -> None:
        super().__init__(0)
        self.at = at

    def random(self) -> float:
        return self.at


def test_a_plant_whose_drawn_kind_has_no_source_is_of_the_other_kind(session, settings, now, tmp_path):
    """Few approvals are ever confirmed good: a control drawn on one becomes a canary rather than no plant,
    so approvals get their share of planted items; and a canary with nothing to break becomes a control.
    Never a kind the team switched off or whose week's budget is reached, and never a drill's canary."""
    from reviewq.domain.approvals import request_approval
    from reviewq.domain.projection_bank import NotCached, bank_for
    from reviewq.models.approvals import ApprovalCreate

    def config(canaries: int, controls: int, **more):  # no library: nothing to fill in with
        return settings.replace(canaries={"per_reviewer_per_week": canaries, "controls_per_reviewer_per_week": controls,
                                          "onboarding_drill": False, "library": str(tmp_path), **more})

    both, controls_only = config(50, 50, budget_jitter=0.0), config(0, 50)
    alice, bob, carl, cleo = (make_user(session, n, now=now) for n in ("alice", "bob", "carl", "cleo"))
    token = issue_token_in(session, now)
    for i in range(5):
        request_approval(session=session, token=token, data=ApprovalCreate(**_approval_body(i)),
                         idempotency_key=None, settings=settings, now=now + timedelta(minutes=i))
    for _ in range(2):  # approved once each: decided, not confirmed good
        item = claim_next(session=session, reviewer_id=bob.id, now=now + timedelta(minutes=5), lease_seconds=60)
        decide(session=session, public_id=item.public_id, reviewer=bob, settings=settings,
               now=now + timedelta(minutes=5), data=DecisionCreate(verdict=Verdict.APPROVE))
    at = now + timedelta(minutes=6)
    rate = current_rate(session=session, reviewer_id=cleo.id, now=at, settings=both, rng=random.Random(0))
    plan = projection.PlantPlan(kind=InjectionKind.CONTROL, rate=rate)
    assert plan.instead == InjectionKind.CANARY
    budget = session.exec(select(CanaryBudget).where(CanaryBudget.reviewer_id == cleo.id)).one()
    spent_rate = Rate(canary=rate.canary, control=rate.control, drill=False, week_start=rate.week_start,
                      canary_room=False, control_room=rate.control_room)
    assert budget.canaries == 50 and projection.PlantPlan(kind=InjectionKind.CONTROL, rate=spent_rate).instead is None
    for who, cfg in ((alice, both), (carl, controls_only)):
        rate = current_rate(session=session, reviewer_id=who.id, now=at, settings=cfg, rng=random.Random(0))
        assert rate.control > 0 and (rate.canary > 0) == (cfg is both)
        served = projection.claim(session=session, reviewer_id=who.id, now=at, settings=cfg,
                                  rng=Fixed(rate.canary + rate.control / 2))  # a control drawn
        injection = session.exec(select(Injection).where(Injection.item_id == served.id)).first()
        if cfg is both:
            assert injection.kind == InjectionKind.CANARY and injection.source == InjectionSource.MUTATION
        else:  # canaries switched off: the real approval, not a canary
            assert injection is None and served.status == ItemStatus.LEASED and served.lease_holder == carl.id

    # The other way: a canary drawn where nothing can be broken (bare answers), a control stands in;
    # not with controls off, and not for a drill's canary draw.
    canaries_only, drilled = config(50, 0), config(50, 50, onboarding_drill=True, drill_probability=0.5)
    lena = make_user(session, "lena", Role.LEAD, now=now)
    dan, eve, fay = (make_user(session, n, now=now) for n in ("dan", "eve", "fay"))
    session.exec(sa.update(Item).where(Item.kind == "approval", Item.status.in_([ItemStatus.QUEUED,
                                                                                ItemStatus.LEASED]))
                 .values(status=ItemStatus.CANCELLED))
    good = enqueue(session=session, now=now - timedelta(hours=1),
                   data=output_item(agent="bare", category="echo", payload={"input": "q", "output": "a"})).item
    item = claim_next(session=session, reviewer_id=lena.id, now=now, lease_seconds=60)
    assert item.id == good.id
    decide(session=session, public_id=item.public_id, reviewer=lena, settings=settings, now=now,
           data=DecisionCreate(verdict=Verdict.APPROVE))
    served = enqueue(session=session, now=good.created_at, data=output_item(agent="bare", category="echo")).item
    bank_for(session=session, agent="bare", now=now, days=both.canaries.source_days)  # cached: nothing to build
    with pytest.raises(NotCached):  # the queue page's write transaction never searches for a control
        projection.choose(session=session, served=served, reviewer_id=cleo.id, kind=InjectionKind.CANARY,
                          instead=InjectionKind.CONTROL, now=now, settings=both, rng=Always(), library=None,
                          cached_only=True)
    session.delete(served)
    for who, cfg in ((dan, both), (eve, canaries_only), (fay, drilled)):
        enqueue(session=session, now=good.created_at, data=output_item(agent="bare", category="echo",
                                                                       payload={"input": "q2", "output": "b"}))
        served = projection.claim(session=session, reviewer_id=who.id, now=now + timedelta(minutes=1),
                                  settings=cfg, rng=Always())  # a canary drawn
        injection = session.exec(select(Injection).where(Injection.item_id == served.id)).first()
        if cfg is both:
            assert injection.kind == InjectionKind.CONTROL and served.payload == good.payload
        else:  # controls off, or a drill: the real item
            assert injection is None and served.payload == {"input": "q2", "output": "b"}
