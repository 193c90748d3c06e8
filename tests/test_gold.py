"""`reviewq gold export|diff` run as real processes: deterministic bytes, a true hash, honest provenance."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.domain.overlap import adjudicate
from reviewq.domain.overturn import overturn_item
from reviewq.domain.reasons import BUILT_IN
from reviewq.models import DecisionCreate, InjectionKind, Item, OverlapReview, ReasonBucket, Role, Verdict
from tests.conftest import make_test_settings
from tests.factories import make_user, output_item
from tests.support.dashboard_seed import plant
from tests.test_cli import run


@pytest.fixture
def settings(db_url):
    return make_test_settings(db_url, overlap={"rates": {"customer_support": 1.0}})


def _decide_next(s, user, verdict, *, now, settings, reason=None, note=""):
    item = claim_next(session=s, reviewer_id=user.id, now=now, lease_seconds=600)
    assert item is not None
    decide(session=s, public_id=item.public_id, reviewer=user, now=now, settings=settings,
           data=DecisionCreate(verdict=verdict, reason=reason, note=note))
    return item


@pytest.fixture
def seeded(database, settings, now):
    """Two overlap items (one agreed, one adjudicated), one single-review item, one overturned, one canary."""
    ids = {}
    with database.session_scope() as s:
        rita, sam = make_user(s, "rita", now=now), make_user(s, "sam", now=now)
        lena = make_user(s, "lena", Role.LEAD, now=now)
        ids["warmup"] = enqueue(session=s, data=output_item(category="search"), now=now).item.public_id
        _decide_next(s, sam, Verdict.APPROVE, now=now, settings=settings)  # sam is active
        for name, category in (("agreed", "customer_support"), ("disputed", "customer_support"),
                               ("single", "search"), ("overturned", "search")):
            ids[name] = enqueue(session=s, now=now, data=output_item(
                category=category, payload={"input": f"in-{name}", "output": f"out-{name}"})).item.public_id
        t = now + timedelta(minutes=1)
        for _ in range(4):
            _decide_next(s, rita, Verdict.APPROVE, now=t, settings=settings)
            t += timedelta(seconds=30)
        copies = {s.get(Item, o.item_id).public_id: s.get(Item, o.copy_item_id).public_id
                  for o in s.exec(select(OverlapReview))}
        assert set(copies) == {ids["agreed"], ids["disputed"]}
        for _ in copies:
            item = claim_next(session=s, reviewer_id=sam.id, now=t, lease_seconds=600)
            verdict = Verdict.REJECT if item.public_id == copies[ids["disputed"]] else Verdict.APPROVE
            decide(session=s, public_id=item.public_id, reviewer=sam, now=t, settings=settings,
                   data=DecisionCreate(verdict=verdict, note="sam saw a made-up fact" if verdict == Verdict.REJECT
                                       else "", reason=ReasonBucket.HALLUCINATED_FACT if verdict == Verdict.REJECT
                                       else None))
        adjudicate(session=s, original_public_id=ids["disputed"], lead=lena, verdict=Verdict.REJECT,
                   reason="hallucinated_fact", note="sam is right", known_reasons=BUILT_IN, now=t)
        overturn_item(session=s, public_id=ids["overturned"], lead=lena, verdict=Verdict.REJECT,
                      reason="off_topic", note="off topic after all", known_reasons=BUILT_IN, now=t)
        injection = plant(s, rita, InjectionKind.CANARY, now=t, bucket="off_topic")
        _decide_next(s, rita, Verdict.APPROVE, now=t + timedelta(minutes=1), settings=settings)
        ids["canary"] = s.get(Item, injection.item_id).public_id
    return ids


def test_gold_export_is_deterministic_and_hashed(db_url, seeded, tmp_path):
    """Two exports of the same data are byte-identical, the manifest's hash is the file's, and each line
    carries its agreed label and provenance; planted items and blind copies are left out."""
    env = {"REVIEWQ_OVERLAP_RATES": json.dumps({"customer_support": 1.0})}
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        r = run(["gold", "export", "-o", str(out)], db_url=db_url, env=env)
        assert r.returncode == 0, r.stderr
        assert "wrote 5 items" in r.stdout
    body = (first / "gold.jsonl").read_bytes()
    assert body == (second / "gold.jsonl").read_bytes()
    assert (first / "manifest.json").read_bytes() == (second / "manifest.json").read_bytes()
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(body).hexdigest() and manifest["items"] == 5
    records = {r["id"]: r for r in map(json.loads, body.decode().splitlines())}
    assert list(records) == sorted(records)
    assert set(records) == {seeded[k] for k in ("warmup", "agreed", "disputed", "single", "overturned")}
    agreed = records[seeded["agreed"]]
    assert agreed["label"] == {"verdict": "approve", "reason": None}
    assert agreed["provenance"] | {} == {"source": "agreed", "by": None, "reviewers": ["rita", "sam"],
                                         "n_reviewers": 2, "agreement": True, "note": None}
    assert agreed["input"] == "in-agreed" and agreed["output"] == "out-agreed"
    disputed = records[seeded["disputed"]]
    assert disputed["label"] == {"verdict": "reject", "reason": "hallucinated_fact"}
    assert disputed["provenance"]["source"] == "adjudicated" and disputed["provenance"]["agreement"] is False
    assert [d["blind_second_review"] for d in disputed["decisions"]] == [False, True]
    assert records[seeded["single"]]["provenance"]["source"] == "single_reviewer"
    assert records[seeded["overturned"]]["label"] == {"verdict": "reject", "reason": "off_topic"}
    only = tmp_path / "adj"
    assert run(["gold", "export", "--adjudicated", "-o", str(only)], db_url=db_url, env=env).returncode == 0
    assert [json.loads(x)["id"] for x in (only / "gold.jsonl").read_text().splitlines()] == [seeded["disputed"]]
    bad = run(["gold", "export", "--from", "yesterday", "-o", str(tmp_path / "x")], db_url=db_url)
    assert bad.returncode == 1 and "--from" in bad.stderr


def test_gold_diff_says_what_changed(db_url, seeded, database, now, tmp_path):
    """After a relabel and a new item, `gold diff` lists exactly them; --exit-code fails only on a change."""
    before, after = tmp_path / "before", tmp_path / "after"
    assert run(["gold", "export", "-o", str(before)], db_url=db_url).returncode == 0
    same = run(["gold", "diff", str(before), str(before), "--exit-code"])
    assert same.returncode == 0 and same.stdout.startswith("0 added, 0 removed, 0 relabelled")
    with database.session_scope() as s:

        from reviewq.models import User

        lena = s.exec(select(User).where(User.name == "lena")).one()
        rita = s.exec(select(User).where(User.name == "rita")).one()
        overturn_item(session=s, public_id=seeded["single"], lead=lena, verdict=Verdict.REJECT,
                      reason="schema_violation", note="missing key", known_reasons=BUILT_IN, now=now)
        new = enqueue(session=s, data=output_item(category="search"), now=now).item.public_id
        _decide_next(s, rita, Verdict.APPROVE, now=now + timedelta(hours=1), settings=make_test_settings(db_url))
    assert run(["gold", "export", "-o", str(after)], db_url=db_url).returncode == 0
    r = run(["gold", "diff", str(before / "gold.jsonl"), str(after), "--exit-code"])
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0] == "1 added, 0 removed, 1 relabelled, 0 changed otherwise"
    assert f"+ {new}  approve  [search]" in lines
    assert f"~ {seeded['single']}  approve -> reject (schema_violation)" in lines
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n")
    r = run(["gold", "diff", str(broken), str(after)])
    assert r.returncode == 1 and "not a gold record" in r.stderr
