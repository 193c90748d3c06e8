"""Overlap: blind second reviews routed by the real decision path, and agreement read back from /agreement."""

from __future__ import annotations

import base64
import random
from collections import defaultdict
from datetime import timedelta

import krippendorff
import numpy as np
import pytest
import sqlalchemy as sa

from reviewq.domain import items as items_domain
from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.models import DecisionCreate, Item, OverlapReview, ReasonBucket, Role, Verdict
from reviewq.stats import agreement as ag
from reviewq.web.review_view import item_view
from tests.conftest import make_test_settings
from tests.factories import make_user, output_item
from tests.support.web import csrf_token, login

RANGE = "from=2026-10-01&to=2026-12-31"
ACCURACY = {"ann": 0.95, "bob": 0.85, "cat": 0.7}


BUCKETS = (ReasonBucket.HALLUCINATED_FACT, ReasonBucket.OFF_TOPIC)


@pytest.fixture
def settings(db_url):
    return make_test_settings(db_url, overlap={"rates": {"customer_support": 1.0}})


@pytest.fixture(autouse=True)
def _seeded_public_ids(monkeypatch):
    """The second reviewer is picked by a hash of the original's random public id, and that decides
    which simulated labels each pair gets: seeded ids make every run the same sample."""
    ids = random.Random(0)
    monkeypatch.setattr(items_domain, "new_public_id",
                        lambda prefix: f"{prefix}_{base64.urlsafe_b64encode(ids.randbytes(12)).decode()}")


def _label(rng, fault: ReasonBucket | None, accuracy: float) -> tuple[Verdict, ReasonBucket | None]:
    """A reviewer of this accuracy tells bad from good with that probability and, on a bad output,
    names its true fault with that probability too; a false alarm names either bucket."""
    says_bad = (fault is not None) if rng.random() < accuracy else (fault is None)
    if not says_bad:
        return Verdict.APPROVE, None
    if fault is None:
        return Verdict.REJECT, rng.choice(BUCKETS)
    return Verdict.REJECT, fault if rng.random() < accuracy else next(b for b in BUCKETS if b != fault)


def _simulate(database, settings, now, *, n_items: int, seed: int):
    """Three simulated reviewers of known accuracy work the real queue until it is empty."""
    rng = random.Random(seed)
    truth: dict[str, ReasonBucket | None] = {}  # trace -> its fault, None for a good output
    record: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)  # trace -> [(who, verdict, reason)]
    with database.session_scope() as s:
        users = {name: make_user(s, name, now=now) for name in ACCURACY}
        make_user(s, "lena", Role.LEAD, now=now)
        t = now
        for user in users.values():  # a warm-up decision each, outside the overlap share: all are active
            enqueue(session=s, data=output_item(category="search"), now=t)
            item = claim_next(session=s, reviewer_id=user.id, now=t, lease_seconds=600)
            decide(session=s, public_id=item.public_id, reviewer=user, now=t, settings=settings,
                   data=DecisionCreate(verdict=Verdict.APPROVE))
        for i in range(n_items):
            trace = f"ov-{seed}-{i}"
            truth[trace] = rng.choice(BUCKETS) if rng.random() < 0.35 else None
            enqueue(session=s, data=output_item(trace_id=trace, category="customer_support"), now=t)
        for step in range(20 * n_items):
            user = list(users.values())[step % 3]
            t += timedelta(seconds=20)
            item = claim_next(session=s, reviewer_id=user.id, now=t, lease_seconds=600)
            if item is None:
                if s.execute(sa.select(sa.func.count()).select_from(Item).where(Item.status == "queued")).scalar():
                    continue
                break
            verdict, reason = _label(rng, truth[item.trace_id], ACCURACY[user.name])
            decide(session=s, public_id=item.public_id, reviewer=user, now=t + timedelta(seconds=5),
                   settings=settings, data=DecisionCreate(verdict=verdict, reason=reason, note=f"{user.name}-note"))
            record[item.trace_id].append((user.name, verdict.value, reason.value if reason else None))
    return truth, record


def _pair_units(record) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Per unordered reviewer pair, the (verdict or reason bucket) labels, the first name's first."""
    units: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for (a, *first), (b, *second) in record.values():
        labels = {a: first[1] or first[0], b: second[1] or second[0]}
        units[tuple(sorted(labels))].append(tuple(labels[name] for name in sorted(labels)))
    return units


def test_every_overlap_output_gets_a_blind_second_reviewer(database, settings, now):
    """With the share at 1.0 each real output is decided by exactly two different people; the copy
    shows the second nothing of the first verdict; planted and other-category items are left alone."""
    truth, record = _simulate(database, settings, now, n_items=30, seed=1)
    assert all(len(record[trace]) == 2 for trace in truth)
    assert all(record[trace][0][0] != record[trace][1][0] for trace in truth)
    with database.session_scope() as s:
        rows = s.execute(sa.select(OverlapReview)).scalars().all()
        assert len(rows) == 30
        copy = s.get(Item, rows[0].copy_item_id)
        original = s.get(Item, rows[0].item_id)
        view = item_view(copy, approvals_required=copy.required_approvals, approvals_given=0)
        assert view["payload"] == original.payload and view["created_at"] == item_view(
            original, approvals_required=original.required_approvals, approvals_given=0)["created_at"]
        assert set(view) == {"id", "kind", "agent", "category", "payload", "created_at", "deadline", "approvals"}
        assert not any(f"{name}-note" in str(view) for name in ACCURACY)  # nothing of the first decision
        searches = s.execute(sa.select(sa.func.count()).select_from(Item).where(Item.category == "search")).scalar()
        assert searches == 3  # the search warm-ups (share 0) were never copied


def test_agreement_page_equals_the_formulas_over_the_simulated_pairs(client, database, settings, now):
    """/agreement's overall, per-category, per-pair and per-bucket figures equal the pure formulas (and the
    krippendorff package) over the pairs the simulation recorded; better reviewers agree more."""
    truth, record = _simulate(database, settings, now, n_items=300, seed=7)
    pairs = [(record[t][0][1], record[t][1][1]) for t in truth]
    login(client, "lena")
    data = client.get(f"/agreement?format=json&{RANGE}").get_json()
    overall = data["overall"]["verdict"]
    assert overall["n"] == 300 and overall["status"] == "rated"
    assert overall["kappa"] == pytest.approx(ag.cohen_kappa(pairs))
    assert overall["raw"] == pytest.approx(sum(a == b for a, b in pairs) / 300)
    codes = {"approve": 0.0, "reject": 1.0}
    matrix = np.array([[codes[a] for a, _ in pairs], [codes[b] for _, b in pairs]])
    reference = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert overall["alpha"] == pytest.approx(reference)
    lo, hi = overall["kappa_ci"]
    assert lo < overall["kappa"] < hi
    (category,) = data["by_category"]
    assert category["category"] == "customer_support" and category["kappa"] == pytest.approx(overall["kappa"])
    by_pair = {tuple(r["reviewers"]): r for r in data["by_pair"]}
    units = _pair_units(record)
    assert set(by_pair) == set(units) == {("ann", "bob"), ("ann", "cat"), ("bob", "cat")}
    for names, labels in units.items():
        figure = by_pair[names]
        assert figure["n"] == len(labels)
        assert figure["raw"] == pytest.approx(ag.raw_agreement(labels))
        assert figure["kappa"] == pytest.approx(ag.cohen_kappa(labels))
        assert figure["alpha"] == pytest.approx(ag.krippendorff_alpha_nominal(labels))
    # Known truth: ann (.95) and bob (.85) agree more often than bob and cat (.70), by verdict and bucket
    # (expected .76 against .55; seeded ids fix the sample, the gap keeps it from being a lucky one).
    assert by_pair[("ann", "bob")]["raw"] > by_pair[("bob", "cat")]["raw"]
    buckets = {r["bucket"]: r for r in data["by_bucket"]}
    assert set(buckets) <= {"hallucinated_fact", "off_topic"} and buckets["off_topic"]["n"] == 300
    disagreements = [t for t in truth if (record[t][0][1], record[t][0][2]) != (record[t][1][1], record[t][1][2])]
    assert len(data["disagreements"]) == len(disagreements)


def test_small_samples_show_no_agreement_figure(client, database, settings, now):
    """Under ten overlap items the page gives counts but no raw agreement, kappa or alpha (VIGILANCE.md §3)."""
    _simulate(database, settings, now, n_items=6, seed=3)
    login(client, "lena")
    data = client.get(f"/agreement?format=json&{RANGE}").get_json()
    overall = data["overall"]["verdict"]
    assert overall["n"] == 6 and overall["status"] == "no_rate"
    assert overall["kappa"] is None and overall["alpha"] is None and overall["raw"] is None
    assert "no figure yet" in client.get(f"/agreement?{RANGE}").get_data(as_text=True)


def test_lead_adjudicates_a_disagreement_and_items_show_both_reviews(client, database, settings, now):
    """A disagreement is settled by a lead (audited); the original's page lists both decisions; copies stay
    out of the items browser; reviewers cannot open /agreement."""
    _simulate(database, settings, now, n_items=40, seed=11)
    login(client, "ann")
    assert client.get("/agreement").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, "lena")
    data = client.get(f"/agreement?format=json&{RANGE}").get_json()
    target = data["disagreements"][0]["item"]
    headers = {"X-CSRFToken": csrf_token(client), "Accept": "application/json"}
    r = client.post(f"/agreement/{target}/adjudicate", json={"verdict": "reject", "note": "x"}, headers=headers)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "reason"
    r = client.post(f"/agreement/{target}/adjudicate", headers=headers,
                    json={"verdict": "reject", "reason": "off_topic", "note": "the answer drifts"})
    assert r.status_code == 200
    after = client.get(f"/agreement?format=json&{RANGE}").get_json()
    settled = next(x for x in after["disagreements"] if x["item"] == target)
    assert settled["adjudicated"] == "off_topic"
    page = client.get(f"/items/{target}?format=json").get_json()
    assert len(page["decisions"]) == 2 and [d["second_review"] for d in page["decisions"]] == [False, True]
    assert page["overlap"]["adjudicated"] == "reject"
    assert any(e["action"] == "item.adjudicated" for e in page["history"])
    browsed = client.get("/items?format=json&limit=200&category=customer_support").get_json()["items"]
    assert len(browsed) == 40


def test_planted_items_are_never_sent_to_a_second_reviewer(database, settings, now):
    """Even an unassigned planted item in the overlap share gets no blind copy: a copy would be an unmarked canary."""
    from reviewq.models import Injection, InjectionKind, InjectionSource

    with database.session_scope() as s:
        ann, bob = make_user(s, "ann", now=now), make_user(s, "bob", now=now)
        enqueue(session=s, data=output_item(category="search"), now=now)
        item = claim_next(session=s, reviewer_id=bob.id, now=now, lease_seconds=600)
        decide(session=s, public_id=item.public_id, reviewer=bob, now=now, settings=settings,
               data=DecisionCreate(verdict=Verdict.APPROVE))
        planted = enqueue(session=s, data=output_item(category="customer_support"), now=now).item
        s.add(Injection(item_id=planted.id, reviewer_id=ann.id, kind=InjectionKind.CANARY,
                        source=InjectionSource.MUTATION, bucket="off_topic", explanation="x", week_start=now,
                        scheduled_for=now, created_at=now))
        s.flush()
        item = claim_next(session=s, reviewer_id=ann.id, now=now, lease_seconds=600)
        assert item.id == planted.id
        decide(session=s, public_id=item.public_id, reviewer=ann, now=now, settings=settings,
               data=DecisionCreate(verdict=Verdict.APPROVE))
        assert s.execute(sa.select(sa.func.count()).select_from(OverlapReview)).scalar() == 0
