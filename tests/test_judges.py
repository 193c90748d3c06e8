"""Automated judges: a `review` token works the queue over HTTP, gets canaries, and is scored like a person."""

from __future__ import annotations

import random
import re
import uuid

import pytest
import requests
import sqlalchemy as sa

from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.judges import NO_PASSWORD
from reviewq.domain.users import authenticate as authenticate_user
from reviewq.models import (
    ApiToken,
    DecisionCreate,
    Injection,
    InjectionKind,
    InjectionOutcome,
    JudgeVerdict,
    Role,
    User,
    Verdict,
    utcnow,
)
from reviewq.web import create_app
from tests.conftest import make_test_settings
from tests.support.api import add_reviewer, bearer, issue_token
from tests.support.live_server import serve_app_in_thread
from tests.support.web import login

# A judge is planted on like a person: projection at claim time spends its weekly budget (VIGILANCE.md §8).
JUDGE_CANARIES = {"per_reviewer_per_week": 16, "controls_per_reviewer_per_week": 12, "budget_jitter": 0.0,
                  "max_probability": 0.5, "onboarding_drill": False}


@pytest.fixture
def judge_settings(db_url):
    return make_test_settings(db_url, canaries=JUDGE_CANARIES)


@pytest.fixture
def judge_server(judge_settings):
    from sqlmodel import SQLModel

    from reviewq.db import Database

    database = Database.from_settings(judge_settings)
    SQLModel.metadata.create_all(database.engine)
    app = create_app(judge_settings)
    server = serve_app_in_thread(app)
    yield server, database, app
    server.stop()
    app.extensions["reviewq.db"].dispose()
    database.dispose()


def _submit(http, url, token, n, *, category="customer_support", judge=None):
    ids = []
    for i in range(n):
        amount, day = 10 + (i * 37) % 400, 1 + (i * 7) % 28
        body = {"trace_id": f"t-{uuid.uuid4()}", "category": category,
                "input": f"What is the balance of account A-{1000 + i}?",
                "output": f"The balance of account A-{1000 + i} is ${amount}.{i % 100:02d} as of 2026-11-{day:02d}."}
        if judge is not None:
            body["judge"] = judge(i)
        r = http.post(f"{url}/api/v1/items", json=body, headers=bearer(token), timeout=10)
        assert r.status_code in (200, 201), r.text
        if r.json()["queued"]:
            ids.append(r.json()["id"])
    return ids


def _user(database, name):
    with database.session_scope() as s:
        user = s.execute(sa.select(User).where(User.name == name)).scalar_one()
        s.expunge(user)
    return user


def _work_queue(http, url, token, rng, *, limit=400) -> int:
    """The judge claims and decides until nothing is due; a coin with p(reject) = .6 is its policy."""
    decided = 0
    for _ in range(limit):
        r = http.post(f"{url}/api/v1/review/next", headers=bearer(token), timeout=10)
        assert r.status_code == 200, r.text
        item = r.json()["item"]
        if item is None:
            return decided
        assert set(item) == {"id", "kind", "agent", "category", "payload", "created_at", "deadline", "approvals"}
        body = ({"verdict": "reject", "reason": "hallucinated_fact", "note": "judge says no"}
                if rng.random() < 0.6 else {"verdict": "approve"})
        r = http.post(f"{url}/api/v1/review/{item['id']}/decide", json=body, headers=bearer(token), timeout=10)
        assert r.status_code == 200, r.text
        decided += 1
    raise AssertionError("the queue never emptied")


def test_judge_works_the_queue_gets_canaries_and_is_on_the_scoreboard(judge_server, judge_settings):
    """Over HTTP a review token claims and decides, receives planted canaries and controls, and the
    dashboard shows it marked automated with catch and false-alarm counts equal to SQL."""
    server, database, _app = judge_server
    now = utcnow()
    add_reviewer(database, "lena", now=now, role=Role.LEAD)
    agent = issue_token(database, "support-bot", ["items:write"], now=now)
    judge = issue_token(database, "llm-judge", ["review"], now=now)
    http = requests.Session()
    rng = random.Random(5)
    _submit(http, server.url, agent, 30, category="billing")
    # A lead approves the first twenty: known-good sources for controls, real ones for mutation canaries.
    lead = _user(database, "lena")
    with database.session_scope() as s:
        for _ in range(20):
            item = claim_next(session=s, reviewer_id=lead.id, now=utcnow(), lease_seconds=60)
            decide(session=s, public_id=item.public_id, reviewer=lead, now=utcnow(), settings=judge_settings,
                   data=DecisionCreate(verdict=Verdict.APPROVE))
    decided = _work_queue(http, server.url, judge, rng)
    # Four rounds, not two: planting is random (SystemRandom), and with two a run fell short of
    # the thresholds below about one time in twenty (2 canaries, or 1 control, of ~90 claims).
    for _ in range(4):  # more real work; projection plants on the judge's claims as it goes
        _submit(http, server.url, agent, 30, category="billing")
        decided += _work_queue(http, server.url, judge, rng)
    assert decided >= 70

    with database.session_scope() as s:
        judge_id = s.execute(sa.select(ApiToken.reviewer_id).where(ApiToken.agent == "llm-judge")).scalar_one()
        rows = s.execute(sa.select(Injection.kind, Injection.outcome).where(Injection.reviewer_id == judge_id)).all()
    canaries = [o for k, o in rows if k == InjectionKind.CANARY]
    controls = [o for k, o in rows if k == InjectionKind.CONTROL]
    assert InjectionOutcome.PENDING not in canaries + controls
    assert len(canaries) >= 3 and len(controls) >= 2, (len(canaries), len(controls))
    caught = canaries.count(InjectionOutcome.CAUGHT)
    false_alarms = controls.count(InjectionOutcome.FALSE_ALARM)

    page = http.get(f"{server.url}/login", timeout=10).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    http.post(f"{server.url}/login", data={"name": "lena", "password": "correct-horse-battery", "csrf_token": token},
              timeout=10)
    dash = http.get(f"{server.url}/dashboard?format=json", timeout=30).json()
    row = next(r for r in dash["scoreboard"] if r["reviewer"] == "llm-judge")
    assert row["automated"] is True
    assert (row["canaries"], row["caught"]) == (len(canaries), caught)
    assert (row["controls"], row["false_alarms"]) == (len(controls), false_alarms)
    assert row["catch"]["k"] == caught and row["catch"]["n"] == len(canaries)
    assert row["catch"]["rate"] == pytest.approx(caught / len(canaries))
    html = http.get(f"{server.url}/dashboard", timeout=30).text
    assert re.search(r'data-reviewer="llm-judge".*?automated', html, re.S)
    assert not any(r["automated"] for r in dash["scoreboard"] if r["reviewer"] != "llm-judge")


def test_review_endpoints_need_the_review_scope(client, database, now):
    """Without a token 401; with a token lacking the review scope 403; bad bodies name the field."""
    agent = issue_token(database, "support-bot", ["items:write"], now=now)
    judge = issue_token(database, "llm-judge", ["review"], now=now)
    assert client.post("/api/v1/review/next").status_code == 401
    r = client.post("/api/v1/review/next", headers=bearer(agent))
    assert r.status_code == 403 and r.json["error"]["code"] == "insufficient_scope"
    assert client.post("/api/v1/review/next", headers=bearer(judge)).json == {"item": None, "lease_seconds": 120}
    r = client.post("/api/v1/review/itm_x/decide", json={"verdict": "maybe"}, headers=bearer(judge))
    assert r.status_code == 422 and r.json["error"]["field"] == "verdict"
    r = client.post("/api/v1/review/itm_x/decide", json={"verdict": "approve"}, headers=bearer(judge))
    assert r.status_code == 404 and r.json["error"]["field"] == "id"


def test_judge_account_cannot_log_in_and_is_shared_by_its_tokens(client, database, now):
    """A judge's reviewer account has no password, and a second review token of the same agent reuses it."""
    first = issue_token(database, "llm-judge", ["review"], now=now)
    second = issue_token(database, "llm-judge", ["review", "items:write"], now=now)
    with database.session_scope() as s:
        tokens = s.execute(sa.select(ApiToken).where(ApiToken.id.in_([first.token.id, second.token.id]))).scalars()
        assert len({t.reviewer_id for t in tokens}) == 1
        user = s.execute(sa.select(User).where(User.name == "llm-judge")).scalar_one()
        assert user.password_hash == NO_PASSWORD
        assert authenticate_user(session=s, name="llm-judge", password=NO_PASSWORD) is None
    assert login(client, "llm-judge", NO_PASSWORD).status_code == 401
    add_reviewer(database, "ada", now=now)
    with pytest.raises(Exception, match="already called"):
        issue_token(database, "ada", ["review"], now=now)


def test_judge_verdict_on_submit_is_stored_apart_and_compared_with_people(client, database, now, settings):
    """A `judge` sent with an output is never in the reviewer's payload; the agreement page's judge-vs-person
    confusion matrix and kappa follow the decisions."""
    agent = issue_token(database, "support-bot", ["items:write"], now=now)
    ids = []
    for i in range(12):
        body = {"trace_id": f"j-{i}", "category": "billing", "input": "q", "output": "a",
                "judge": {"verdict": "reject" if i < 4 else "approve", "score": i / 10, "model": "gpt-judge"}}
        r = client.post("/api/v1/items", json=body, headers=bearer(agent))
        assert r.status_code == 201, r.json
        ids.append(r.json["id"])
    bad = client.post("/api/v1/items", json={"trace_id": "j-x", "category": "billing", "input": "q", "output": "a",
                                             "judge": {"verdict": "unsure"}}, headers=bearer(agent))
    assert bad.status_code == 422 and bad.json["error"]["field"].startswith("judge")
    from reviewq.domain.claims import claim_next
    from reviewq.domain.decide import decide
    from reviewq.models import DecisionCreate, ReasonBucket, Verdict

    rita = add_reviewer(database, "rita", now=now)
    add_reviewer(database, "lena", now=utcnow(), role=Role.LEAD)
    with database.session_scope() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(JudgeVerdict)).scalar() == 12
        for _ in range(12):
            item = claim_next(session=s, reviewer_id=rita.id, now=utcnow(), lease_seconds=60)
            assert "judge" not in item.payload
            # People reject items 0-2 and 6; the judge rejected 0-3.
            index = ids.index(item.public_id)
            reject = index in (0, 1, 2, 6)
            decide(session=s, public_id=item.public_id, reviewer=rita, now=utcnow(), settings=settings,
                   data=DecisionCreate(verdict=Verdict.REJECT if reject else Verdict.APPROVE,
                                       reason=ReasonBucket.OTHER if reject else None))
    login(client, "lena")
    data = client.get("/agreement?format=json").get_json()
    (row,) = data["judge_vs_human"]
    assert row["category"] == "billing" and row["n"] == 12
    assert row["confusion"] == [[7, 1], [1, 3]]  # rows judge approve/reject, columns person approve/reject
    # p_o = 10/12; judge margins (8, 4), person (8, 4): p_e = (64 + 16) / 144.
    assert row["kappa"] == pytest.approx((10 / 12 - 80 / 144) / (1 - 80 / 144))
    assert row["status"] == "provisional"
