"""The stealth audit itself: it reads the reviewer view without the fault, and cannot win by memorising templates."""

from __future__ import annotations

import random
from datetime import timedelta

from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.models import DecisionCreate, Injection, InjectionKind, InjectionSource, Verdict
from reviewq.stats.reviewer_view import ViewRow, reviewer_view_rows
from reviewq.stats.stealth_audit import auc_score, audit_rows, out_of_fold_scores
from tests.factories import make_user, output_item

LONG = "Your order is on its way; it left the warehouse on Monday and the carrier expects to deliver it Friday."


def test_the_reviewer_view_leaves_the_planted_fault_out(session, settings, now):
    """A mutated copy's text features are read from its source payload, not from the text carrying the fault."""
    rita = make_user(session, "rita", now=now)
    for i, output in enumerate((LONG, "Sorry, I can't help with that.")):
        enqueue(session=session, now=now - timedelta(minutes=10),
                data=output_item(agent="acme", category="orders", payload={"input": "Where?", "output": output}))
        item = claim_next(session=session, reviewer_id=rita.id, now=now + timedelta(minutes=i), lease_seconds=60)
        if i == 1:  # the refusal is a planted copy of the long answer: its fault is the refusal itself
            session.add(Injection(item_id=item.id, reviewer_id=rita.id, kind=InjectionKind.CANARY,
                                  source=InjectionSource.PROJECTION, template="refusal", source_ref="acme:x",
                                  original_payload={"input": "Where?", "output": LONG}, explanation="refused",
                                  week_start=now - timedelta(days=1), scheduled_for=now, created_at=now))
        decide(session=session, public_id=item.public_id, reviewer=rita, settings=settings,
               now=now + timedelta(minutes=i, seconds=30), data=DecisionCreate(verdict=Verdict.APPROVE))
    real, planted = reviewer_view_rows(session=session, now=now + timedelta(hours=1), weeks=1)
    assert not real.planted and planted.planted and planted.template == "refusal"
    assert planted.features["len_output"] == real.features["len_output"]
    assert planted.features["same_created_as_previous"] == 1  # both came in the same batch
    assert planted.group == "ref:acme:x"


def _rows(seed: int, *, shifted: str | None = None, memorable: bool = True) -> list[ViewRow]:
    """Real items, and 20 templates of 10 planted items each. `memorable`: every template's items share
    one fingerprint value drawn from the real items' own distribution, so only memorising a template
    could separate them."""
    rng = random.Random(seed)
    rows = [ViewRow({"fingerprint": rng.gauss(0, 1), "len": rng.gauss(0, 1)}, False, None, None, f"ref:{i}",
                    ("a", "c", "output"), f"ref:{i}") for i in range(400)]
    for t in range(20):
        fingerprint = rng.gauss(0, 1)
        for _ in range(10):
            if not memorable:
                fingerprint = rng.gauss(0, 1)
            shift = 3.0 if shifted == f"t{t}" else 0.0
            rows.append(ViewRow({"fingerprint": fingerprint, "len": rng.gauss(shift, 1)}, True, "library",
                                f"t{t}", f"entry:t{t}", ("a", "c", "output"), f"planted:{len(rows)}"))
    return rows


def test_folds_grouped_by_template_stop_the_classifier_memorising_templates():
    """Grouped folds keep the overall AUC near chance where ungrouped ones would not; memorable templates flagged."""
    rows = _rows(1)
    labels = [int(r.planted) for r in rows]
    grouped = out_of_fold_scores(rows)
    ungrouped = out_of_fold_scores(rows, grouped=False)
    assert auc_score(labels, grouped["boosting"]) <= 0.6
    assert auc_score(labels, ungrouped["boosting"]) >= 0.75  # what grouping prevents
    audit = audit_rows(rows)
    assert audit.auc <= 0.6
    # Each template has a look of its own (its fingerprint): a reviewer could learn it from reveals.
    assert len([p for p in audit.by_template if p.flagged]) >= 10


def test_a_separable_template_is_flagged_and_named_as_the_tell():
    """A template whose items differ from real ones is flagged for retirement, and its feature tops the tells."""
    audit = audit_rows(_rows(2, shifted="t7", memorable=False))
    flagged = [p.name for p in audit.by_template if p.flagged]
    assert flagged == ["t7"]
    assert audit.tells[0][0] == "len"


def test_a_separable_mutator_is_flagged_with_the_key_a_lead_retires():
    """Mutators are flagged like library entries, with their retire key; a replay (control) has none."""
    rows = _rows(3, shifted="t4", memorable=False)
    rows = [ViewRow(r.features, True, "mutation", r.template, r.group, r.slot, r.unit) if r.template == "t4"
            else ViewRow(r.features, True, "control", "replay", r.group, r.slot, r.unit) if r.template == "t5"
            else r for r in rows]
    parts = {p.name: p for p in audit_rows(rows).by_template}
    assert parts["t4"].flagged and parts["t4"].key == "mutator:t4"
    assert parts["t1"].key == "library:t1" and not parts["t1"].flagged
    assert parts["replay"].key is None


def test_the_audit_compares_planted_items_with_the_real_work_of_their_own_stream():
    """Two reviewers' streams differ (one works at night); each stream's planted items are a uniform draw
    of its claims, but the quiet one holds a larger share of them. Weighted by stream the audit sees
    chance; pooled as it was, it learned who reviews. A stream never planted on (a lead's) is left out."""
    rng = random.Random(4)
    rows = []
    for stream, hour, n_real, n_planted in (((1, "w1"), 0.0, 1800, 100), ((2, "w1"), 4.0, 100, 100),
                                            ((9, "w1"), 8.0, 300, 0)):
        for i in range(n_real + n_planted):
            planted = i >= n_real
            group = f"ref:{stream[0]}:{i}"
            rows.append(ViewRow({"hour": rng.gauss(hour, 1), "len": rng.gauss(0, 1)}, planted,
                                "projection" if planted else None, "refusal" if planted else None, group,
                                ("a", "c", "output"), group, stream))
    audit = audit_rows(rows)
    assert audit.n_real == 1900  # the lead's 300 left out
    assert audit.auc <= 0.58, audit.message
    from reviewq.stats.stealth_audit import stream_weights

    pooled = [ViewRow(r.features, r.planted, r.source, r.template, r.group, r.slot, r.unit, None) for r in rows]
    pooled_auc = audit_rows(pooled).auc
    assert pooled_auc >= 0.65, pooled_auc  # what stream weights prevent
    weights = stream_weights([r for r in rows if r.stream != (9, "w1")])
    assert abs(sum(w for w, r in zip(weights, rows, strict=False) if not r.planted) - 1900) < 1e-6


def test_an_item_opened_from_a_notification_link_is_not_in_the_audit(session, settings, now):
    """Only real approvals are announced, so an item opened from its link was never a plantable claim."""
    from reviewq.domain.audit import record_event, user_actor

    rita = make_user(session, "rita", now=now)
    for i in range(2):
        item = enqueue(session=session, now=now - timedelta(minutes=10),
                       data=output_item(agent="acme", category="orders", payload={"input": "Where?", "output": LONG}))
        item = claim_next(session=session, reviewer_id=rita.id, now=now + timedelta(minutes=i), lease_seconds=60)
        if i == 1:
            record_event(session=session, actor=user_actor("rita"), action="item.opened_from_link",
                         object_type="item", object_id=item.public_id, now=now + timedelta(minutes=i))
        decide(session=session, public_id=item.public_id, reviewer=rita, settings=settings,
               now=now + timedelta(minutes=i, seconds=30), data=DecisionCreate(verdict=Verdict.APPROVE))
    rows = reviewer_view_rows(session=session, now=now + timedelta(hours=1), weeks=1)
    assert len(rows) == 1 and rows[0].stream[0] == rita.id
