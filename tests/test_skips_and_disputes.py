"""Skips and expiries count, and disputes void planted items (issue 13, VIGILANCE.md §7): through the
real queue, skip, expiry and dispute code, read back through the real dashboard queries."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from reviewq.canaries.mutators import NotApplicable as NotApplicableError
from reviewq.domain import disputes
from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from reviewq.domain.injection import expire_unseen
from reviewq.domain.items import enqueue
from reviewq.domain.skips import skip_item
from reviewq.models import (
    AuditEvent,
    DecisionCreate,
    DisputeStatus,
    Injection,
    InjectionKind,
    InjectionSource,
    ReasonBucket,
    RetiredTemplate,
    Role,
    Skip,
    Verdict,
)
from reviewq.stats import Filters, build_dashboard, build_reviewer_page
from tests.factories import make_user, output_item
from tests.support.dashboard_seed import review_one, week_start_of

SHORT = "The order shipped on Monday."
LONG = " ".join(["The refund policy allows returns within thirty days of delivery."] * 40)


def _plant(session, reviewer, *, now, long: bool, entry: str | None = None):
    item = enqueue(session=session, data=output_item(assigned_to=reviewer.id,
                                                     payload={"input": "q", "output": LONG if long else SHORT}),
                   now=now).item
    injection = Injection(
        item_id=item.id, reviewer_id=reviewer.id, kind=InjectionKind.CANARY, source=InjectionSource.LIBRARY,
        bucket="hallucinated_fact", library_entry_id=entry or f"{'long' if long else 'short'}-{uuid.uuid4().hex[:8]}",
        explanation="planted", week_start=week_start_of(now), scheduled_for=now, created_at=now,
    )
    session.add(injection)
    session.flush()
    return item


def test_the_skipper_no_longer_looks_better(session, settings, now, backend):
    """Equally able reviewers (95% on short items, 40% on long); one skips every long item, which then
    expires. Decided-only, the skipper looks better; the skip-aware rate does not, and their skips are
    flagged as concentrated on long items, while the skip rates on real and planted items are shown."""
    rng = random.Random(13)
    honest = make_user(session, "honest", now=now)
    skipper = make_user(session, "skipper", now=now)
    weeks = 70 if backend == "sqlite" else 40
    start = now - timedelta(weeks=weeks + 1)
    for w in range(weeks):
        t = start + timedelta(weeks=w, hours=10)
        for who in (honest, skipper):
            long = rng.random() < 0.4
            item = _plant(session, who, now=t, long=long)
            held = claim_next(session=session, reviewer_id=who.id, now=t, lease_seconds=600)
            assert held.id == item.id
            if who is skipper and long:
                assert skip_item(session=session, public_id=held.public_id, reviewer=who, now=t + timedelta(seconds=5))
                continue
            caught = rng.random() < (0.40 if long else 0.95)
            decide(session=session, public_id=held.public_id, reviewer=who,
                   data=DecisionCreate(verdict=Verdict.REJECT if caught else Verdict.APPROVE,
                                       reason=ReasonBucket.HALLUCINATED_FACT if caught else None, active_ms=20_000),
                   now=t + timedelta(seconds=20), settings=settings)
        expire_unseen(session=session, now=t + timedelta(days=7))  # the week ends: what is left expires
    # Real items: the skipper gives back a long one, the honest reviewer decides two.
    for who, long in ((skipper, True), (honest, False), (honest, True)):
        t = now - timedelta(hours=2)
        enqueue(session=session, data=output_item(payload={"output": LONG if long else SHORT}), now=t)
        held = claim_next(session=session, reviewer_id=who.id, now=t, lease_seconds=600)
        if who is skipper:
            skip_item(session=session, public_id=held.public_id, reviewer=who, now=t)
        else:
            decide(session=session, public_id=held.public_id, reviewer=who,
                   data=DecisionCreate(verdict=Verdict.APPROVE, active_ms=9000), now=t + timedelta(seconds=9),
                   settings=settings)
    session.flush()
    board = build_dashboard(session=session, now=now, filters=Filters(start.date(), now.date()),
                            settings=settings).to_json()
    rows = {r["reviewer"]: r for r in board["scoreboard"]}
    h, s = rows["honest"], rows["skipper"]
    assert s["catch"]["rate"] > h["catch"]["rate"]  # decided-only: skipping pays
    assert s["skips"]["inclusive_catch"]["rate"] <= h["skips"]["inclusive_catch"]["rate"]  # now it does not
    assert h["skips"]["inclusive_catch"]["rate"] == pytest.approx(h["catch"]["rate"])  # nothing skipped: equal
    assert s["skips"]["canaries_skipped_expired"] == s["skips"]["planted"]["skips"] > 10
    assert h["skips"]["planted"]["skips"] == 0 and h["skips"]["canaries_expired_unseen"] == 0
    assert s["skips"]["real"]["skips"] == 1 and s["skips"]["real"]["n"] == 1  # one real item served, skipped
    assert "long items" in s["skips"]["concentrated_on"] and not h["skips"]["concentrated_on"]
    n_skips = session.execute(sa.select(sa.func.count()).select_from(Skip)).scalar_one()
    assert n_skips == s["skips"]["planted"]["skips"] + 1
    assert session.execute(sa.select(sa.func.count()).select_from(AuditEvent)
                           .where(AuditEvent.action == "item.skipped")).scalar_one() == n_skips


def test_expired_unseen_canaries_count_as_not_caught(session, settings, now):
    """A canary never served before its week ended is reported as expired unseen and lowers the skip-aware rate."""
    rita = make_user(session, "rita", now=now)
    t = now - timedelta(days=10)
    for i in range(12):
        review_one(session, rita, verdict=Verdict.REJECT, now=t + timedelta(minutes=i), active_s=10,
                   settings=settings, kind=InjectionKind.CANARY, bucket="hallucinated_fact")
    for _ in range(4):
        _plant(session, rita, now=t, long=False)  # never claimed
    expire_unseen(session=session, now=t + timedelta(days=8))
    row = build_reviewer_page(session=session, name="rita", now=now, filters=Filters(t.date(), now.date()),
                              settings=settings).to_json()["reviewer"]
    assert row["catch"]["rate"] == 1.0
    assert row["skips"]["canaries_expired_unseen"] == 4 and row["skips"]["canaries_skipped_expired"] == 0
    assert row["skips"]["inclusive_catch"]["k"] == 12 and row["skips"]["inclusive_catch"]["n"] == 16
    board = build_dashboard(session=session, now=now, filters=Filters(t.date(), now.date()),
                            settings=settings).to_json()
    assert board["expired_by_kind"]["output"]["k"] == 4 and board["expired_by_kind"]["output"]["n"] == 16


def _revealed(session, settings, reviewer, now, *, entry=None, caught=False):
    item = _plant(session, reviewer, now=now, long=False, entry=entry)
    held = claim_next(session=session, reviewer_id=reviewer.id, now=now, lease_seconds=600)
    assert held.id == item.id
    decide(session=session, public_id=held.public_id, reviewer=reviewer,
           data=DecisionCreate(verdict=Verdict.REJECT if caught else Verdict.APPROVE,
                               reason=ReasonBucket.OTHER if caught else None, active_ms=5000),
           now=now + timedelta(seconds=5), settings=settings)
    return item


def test_upheld_dispute_voids_the_template_for_everyone_and_retires_it(session, settings, now):
    """A reviewer disputes a revealed canary; a lead upholds: every item of that library entry leaves every
    score, the entry is retired, and each step is audited. Rejecting leaves the score alone."""
    ann = make_user(session, "ann", now=now)
    bo = make_user(session, "bo", now=now)
    lead = make_user(session, "lena", Role.LEAD, now=now)
    t = now - timedelta(days=2)
    bad = _revealed(session, settings, ann, t, entry="lib-bad")
    _revealed(session, settings, bo, t + timedelta(minutes=1), entry="lib-bad", caught=True)
    other = _revealed(session, settings, ann, t + timedelta(minutes=2), entry="lib-ok")
    filters = Filters(t.date(), now.date())
    before = {r["reviewer"]: r for r in build_dashboard(session=session, now=now, filters=filters,
                                                        settings=settings).to_json()["scoreboard"]}
    assert before["ann"]["canaries"] == 2 and before["bo"]["canaries"] == 1

    with pytest.raises(ValidationFailed):
        disputes.open_dispute(session=session, item_public_id=bad.public_id, reviewer=ann, note="  ", now=now)
    with pytest.raises(NotFound):  # not bo's item
        disputes.open_dispute(session=session, item_public_id=bad.public_id, reviewer=bo, note="x", now=now)
    d1 = disputes.open_dispute(session=session, item_public_id=bad.public_id, reviewer=ann,
                               note="the date in the answer matches the tool result", now=now)
    with pytest.raises(Conflict):
        disputes.open_dispute(session=session, item_public_id=bad.public_id, reviewer=ann, note="again", now=now)
    d2 = disputes.open_dispute(session=session, item_public_id=other.public_id, reviewer=ann, note="also fine",
                               now=now)
    result = disputes.resolve_dispute(session=session, dispute_public_id=d1.public_id, lead=lead, uphold=True,
                                      note="confirmed: the template's fault is not a fault", now=now)
    assert result.voided == 2 and result.retired == "library:lib-bad"
    disputes.resolve_dispute(session=session, dispute_public_id=d2.public_id, lead=lead, uphold=False,
                             note="the amount is wrong", now=now)
    with pytest.raises(InvalidTransition):
        disputes.resolve_dispute(session=session, dispute_public_id=d2.public_id, lead=lead, uphold=True,
                                 note="changed my mind", now=now)
    after = {r["reviewer"]: r for r in build_dashboard(session=session, now=now, filters=filters,
                                                       settings=settings).to_json()["scoreboard"]}
    assert after["ann"]["canaries"] == 1 and after["bo"]["canaries"] == 0  # voided for everyone
    assert session.get(RetiredTemplate, "library:lib-bad") is not None
    assert disputes.retired_keys(session=session) == {"library:lib-bad"}
    assert d2.status == DisputeStatus.REJECTED
    actions = set(session.exec(select(AuditEvent.action).where(AuditEvent.object_type == "dispute")).all())
    assert actions == {"dispute.opened", "dispute.upheld", "dispute.rejected"}


def test_retired_templates_and_mutators_are_never_planted_again(session, now):
    """After upheld disputes retire a mutator and a library entry, the planter's mutate() never picks that
    mutator (while it would otherwise) and the library fill-in treats that entry as used."""
    from reviewq.canaries.bank import Bank
    from reviewq.canaries.mutators import mutate
    from tests.test_canary_mutators import corpus

    items = corpus()
    bank = Bank.build(items)
    item = items[0]
    chosen = {mutate(item, random.Random(seed), bank)[0].name for seed in range(40)}
    victim = sorted(chosen)[0]
    session.add(RetiredTemplate(key=f"mutator:{victim}", retired_at=now, reason="upheld"))
    session.add(RetiredTemplate(key="library:hf-support-order-date", retired_at=now, reason="upheld"))
    session.flush()
    keys = disputes.retired_keys(session=session)
    assert disputes.retired_mutators(keys) == {victim}
    assert disputes.retired_library_entries(keys) == {"hf-support-order-date"}
    after = set()
    for seed in range(40):
        try:
            after.add(mutate(item, random.Random(seed), bank, exclude=disputes.retired_mutators(keys))[0].name)
        except NotApplicableError:
            pass
    assert victim not in after and (after or len(chosen) == 1)


def test_dispute_pages_over_http(client, database, settings, now):
    """A reviewer disputes from /disputes (note escaped), cannot open the leads' page; a lead upholds
    from /disputes/review; bad input gets an error naming the field."""
    from tests.support.web import csrf_token, login

    with database.session_scope() as s:
        ann = make_user(s, "ann", now=now)
        make_user(s, "lena", Role.LEAD, now=now)
        item = _revealed(s, settings, ann, now - timedelta(hours=3), entry="lib-http")
        public_id = item.public_id
    login(client, "ann")
    page = client.get("/disputes").get_data(as_text=True)
    assert public_id in page and "This planted item was not actually wrong" in page
    assert client.get("/disputes/review").status_code == 403
    token = csrf_token(client, "/disputes")
    r = client.post("/disputes", data={"item": public_id, "note": "", "csrf_token": token},
                    headers={"Accept": "application/json"})
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "note"
    r = client.post("/disputes", data={"item": public_id, "note": "<script>alert(1)</script> date is right",
                                       "csrf_token": token})
    assert r.status_code == 303
    assert "open" in client.get("/disputes").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": token})
    login(client, "lena")
    review = client.get("/disputes/review").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in review and "<script>alert(1)" not in review
    with database.session_scope(readonly=True) as s:
        dispute_id = s.exec(select(disputes.Dispute.public_id)).one()
    token = csrf_token(client, "/disputes/review")
    r = client.post(f"/disputes/{dispute_id}/resolve", data={"decision": "maybe", "resolution_note": "x",
                                                           "csrf_token": token}, headers={"Accept": "application/json"})
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "decision"
    r = client.post(f"/disputes/{dispute_id}/resolve", data={"decision": "uphold", "resolution_note": "agreed",
                                                           "csrf_token": token}, headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.get_json() == {"dispute": dispute_id, "status": "upheld", "voided": 1,
                                                     "retired": "library:lib-http"}
    assert "upheld" in client.get("/disputes/review").get_data(as_text=True)
