"""Dashboard queries on both databases: every figure equals a direct count of the raw rows."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.domain.rollups import bucket_of
from reviewq.domain.transitions import set_status
from reviewq.models import (
    Decision,
    DecisionCreate,
    Injection,
    InjectionKind,
    InjectionOutcome,
    InjectionSource,
    Item,
    ItemKind,
    ItemStatus,
    ReviewSession,
    Role,
    Verdict,
)
from reviewq.models.rollups import ACTIVE_EDGES_S, DecisionRollup
from reviewq.stats import Filters, build_dashboard, build_reviewer_page
from tests.factories import approval_item, make_user, output_item
from tests.support.dashboard_seed import BUCKETS, review_one

C, G = InjectionKind.CANARY, InjectionKind.CONTROL
A, R = Verdict.APPROVE, Verdict.REJECT


@pytest.fixture
def seeded(session, now, settings):
    """Two reviewers and a lead; two sessions for alice; canaries, controls and real items."""
    alice = make_user(session, "alice", now=now)
    bob = make_user(session, "bob", now=now)
    lead = make_user(session, "lena", Role.LEAD, now=now)
    t = now - timedelta(days=3)
    plan = [  # (reviewer, verdict, kind, active seconds, category)
        *[(alice, R if i % 4 else A, C, 40, "customer_support") for i in range(12)],
        *[(alice, R if i == 0 else A, G, 1.5, "customer_support") for i in range(10)],
        *[(alice, A, None, 1 + i, "search") for i in range(8)],
        *[(bob, R if i % 2 else A, C, 25, "search") for i in range(6)],
        *[(bob, A, G, 3, "search") for i in range(4)],
        (lead, A, None, 5, "customer_support"),
    ]
    for i, (who, verdict, kind, secs, cat) in enumerate(plan):
        if i == 15:
            t += timedelta(hours=2)  # a gap: alice's second session
        review_one(session, who, verdict=verdict, now=t, active_s=secs, settings=settings,
                   kind=kind, bucket=BUCKETS[i % 3] if kind == C else None, category=cat)
        t += timedelta(seconds=secs + 1)
    session.flush()
    return {"alice": alice, "bob": bob, "lena": lead}


def _row(board, name):
    return next(r for r in board["scoreboard"] if r["reviewer"] == name)


def _count(session, *where):
    return session.execute(sa.select(sa.func.count()).select_from(Injection).where(*where)).scalar_one()


def test_scoreboard_counts_equal_direct_sql(session, now, settings, seeded):
    """Canaries, catches, controls, false alarms and decisions match direct counts per reviewer."""
    board = build_dashboard(session=session, now=now, filters=None, settings=settings).to_json()
    for name, user in seeded.items():
        row = _row(board, name)
        assert row["canaries"] == _count(session, Injection.reviewer_id == user.id, Injection.kind == C,
                                         Injection.outcome.in_(["caught", "missed"]))
        assert row["caught"] == _count(session, Injection.reviewer_id == user.id, Injection.outcome == "caught")
        assert row["controls"] == _count(session, Injection.reviewer_id == user.id, Injection.kind == G)
        assert row["false_alarms"] == _count(session, Injection.reviewer_id == user.id,
                                             Injection.outcome == "false_alarm")
        decisions = session.exec(select(Decision).where(Decision.reviewer_id == user.id)).all()
        assert row["decisions"] == len(decisions)
        assert row["under_2s"] == sum(d.active_ms < 2000 for d in decisions)
    alice = _row(board, "alice")
    assert (alice["canaries"], alice["caught"], alice["controls"], alice["false_alarms"]) == (12, 9, 10, 1)
    assert alice["catch"]["status"] == "provisional" and alice["sdt"] is not None
    assert _row(board, "bob")["catch"]["status"] == "no_rate" and _row(board, "bob")["sdt"] is None


def test_time_on_task_matches_raw_rows(session, now, settings, seeded):
    """Median active seconds sits in the exact median's bucket; sessions and their median match."""
    board = build_dashboard(session=session, now=now, filters=None, settings=settings).to_json()
    for name, user in seeded.items():
        row = _row(board, name)
        actives = [d.active_ms / 1000 for d in session.exec(select(Decision).where(Decision.reviewer_id == user.id))]
        exact = statistics.median(actives)
        lo = ACTIVE_EDGES_S[bucket_of(exact, ACTIVE_EDGES_S)]
        assert lo <= row["median_active_s"] <= max(ACTIVE_EDGES_S[bucket_of(exact, ACTIVE_EDGES_S) + 1], lo)
        sessions = session.exec(select(ReviewSession).where(ReviewSession.reviewer_id == user.id)).all()
        assert row["sessions"] == len(sessions)
        assert row["median_session_min"] == pytest.approx(statistics.median(s.active_ms for s in sessions) / 60000)
        assert row["last_active"] == max(s.last_activity_at for s in sessions).isoformat()
    assert _row(board, "alice")["sessions"] == 2


def test_rollup_rows_equal_grouped_decisions(session, seeded):
    """The rollup's per-reviewer/category counts equal GROUP BY over the decisions table."""
    from reviewq.models import Item

    direct = dict(
        ((rid, cat), n)
        for rid, cat, n in session.execute(
            sa.select(Decision.reviewer_id, Item.category, sa.func.count())
            .join(Item, Item.id == Decision.item_id)
            .group_by(Decision.reviewer_id, Item.category)
        )
    )
    rolled = dict(
        ((rid, cat), int(n))
        for rid, cat, n in session.execute(
            sa.select(DecisionRollup.reviewer_id, DecisionRollup.category, sa.func.sum(DecisionRollup.decisions))
            .group_by(DecisionRollup.reviewer_id, DecisionRollup.category)
        )
    )
    assert rolled == direct and sum(direct.values()) == 41


def test_decay_trend_and_buckets_add_up(session, now, settings, seeded):
    """Decay bins, weekly trend and per-bucket rows each account for every decided canary once."""
    board = build_dashboard(session=session, now=now, filters=None, settings=settings).to_json()
    total = _count(session, Injection.kind == C, Injection.outcome.in_(["caught", "missed"]))
    caught = _count(session, Injection.outcome == "caught")
    assert sum(b["n"] for b in board["decay"]["bins"]) == total
    assert sum(b["k"] for b in board["decay"]["bins"]) == caught
    assert board["decay"]["early"]["n"] + board["decay"]["late"]["n"] == total
    assert board["decay"]["verdict"] == "not_enough_data"
    assert sum(w["n"] for w in board["trend"]["team"]) == total
    assert sum(b["n"] for b in board["buckets"]) == total
    assert {b["bucket"] for b in board["buckets"]} == set(BUCKETS)
    assert board["team"]["catch"]["k"] == caught


def test_filters_narrow_every_figure(session, now, settings, seeded):
    """A category, a team or a date range outside the data each narrow the figures accordingly."""
    search = build_dashboard(session=session, now=now, settings=settings,
                             filters=Filters.from_args({"category": "search"}, now=now)).to_json()
    assert _row(search, "alice")["canaries"] == 0 and _row(search, "alice")["decisions"] == 8
    assert _row(search, "bob")["canaries"] == 6
    leads = build_dashboard(session=session, now=now, settings=settings,
                            filters=Filters.from_args({"team": "lead"}, now=now)).to_json()
    assert [r["reviewer"] for r in leads["scoreboard"]] == ["lena"]
    old = build_dashboard(session=session, now=now, settings=settings,
                          filters=Filters.from_args({"from": "2020-01-01", "to": "2020-02-01"}, now=now)).to_json()
    assert all(r["canaries"] == 0 and r["decisions"] == 0 and r["sessions"] == 0 for r in old["scoreboard"])
    assert old["decay"]["bins"] == []


def test_reviewer_page_lists_misses_with_explanations(session, now, settings, seeded):
    """The reviewer page lists each missed canary with its explanation, and their histogram."""
    page = build_reviewer_page(session=session, name="alice", now=now, filters=None, settings=settings).to_json()
    assert len(page["missed"]) == 3
    assert all(m["explanation"].startswith("planted ") for m in page["missed"])
    assert sum(page["active_histogram"]["counts"]) == page["reviewer"]["decisions"] == 30


def test_queue_health_figures(session, now, settings, seeded):
    """Backlog, oldest age, approval wait, expired approvals (planted ones excluded) and next run."""
    reviewer = seeded["alice"]
    enqueue(session=session, data=approval_item(now=now), now=now - timedelta(minutes=30))
    first = approval_item(now=now, required_approvals=1)
    item = enqueue(session=session, data=first, now=now - timedelta(hours=1)).item
    claimed = claim_next(session=session, reviewer_id=reviewer.id, now=now - timedelta(seconds=90), lease_seconds=600)
    assert claimed.id == item.id
    decide(session=session, public_id=item.public_id, reviewer=reviewer,
           data=DecisionCreate(verdict=A, active_ms=5000), now=now - timedelta(minutes=1), settings=settings)
    gone = enqueue(session=session, data=approval_item(now=now), now=now - timedelta(hours=2)).item
    set_status(session=session, item=gone, status=ItemStatus.EXPIRED, now=now - timedelta(minutes=5))
    session.flush()
    queue = build_dashboard(session=session, now=now, filters=None, settings=settings).to_json()["queue"]
    backlog = {b["kind"]: b for b in queue["backlog"]}
    assert backlog["approval"]["open"] == 1 and backlog["approval"]["oldest_age_s"] == pytest.approx(1800)
    assert backlog["output"]["open"] == 0
    assert queue["approval_wait"]["settled"] == 1
    assert 2700 <= queue["approval_wait"]["p50_s"] <= 3600  # waited 59 min: the [45, 60) min bucket
    assert queue["approvals_expired"] == 1
    assert queue["webhooks"] == {"failed": 0, "retrying": 0}
    assert queue["injection"]["next_run"] == "2026-11-09T06:00:00+00:00"  # now is Monday 09:00
    assert queue["injection"]["pending"] == {"canary": 0, "control": 0}


def test_outcomes_are_scored_by_the_real_pipeline(session, seeded):
    """Every planted item in the seed was scored by decide (no pending injections remain)."""
    assert _count(session, Injection.outcome == InjectionOutcome.PENDING) == 0
    assert _count(session, Injection.decided_at.is_(None)) == 0


def test_expired_canaries_split_by_item_kind_equal_direct_counts(session, now, settings, seeded):
    """Canaries on approvals and on outputs, expired or decided, per kind and per category: the
    dashboard's split (approvals found through the index, the rest outputs) equals a count of the rows."""
    alice = seeded["alice"]
    t = now - timedelta(days=2)
    ap, out, exp = ItemKind.APPROVAL, ItemKind.OUTPUT, InjectionOutcome.EXPIRED
    made = [(ap, "billing", exp), (ap, "billing", exp), (ap, "refunds", InjectionOutcome.CAUGHT),
            (out, "billing", exp), (out, "search", InjectionOutcome.MISSED)]
    for kind, category, outcome in made:
        data = approval_item(now=now, category=category) if kind == ap else output_item(category=category)
        item = enqueue(session=session, data=data, now=t).item
        session.add(Injection(item_id=item.id, reviewer_id=alice.id, kind=C, source=InjectionSource.LIBRARY,
                              bucket="hallucinated_fact", explanation="planted", week_start=t, scheduled_for=t,
                              created_at=t, outcome=outcome))
    session.flush()

    def direct(filters: Filters) -> dict[str, tuple[int, int]]:
        query = sa.select(Item.kind, Injection.outcome).join(Item, Item.id == Injection.item_id).where(
            Injection.kind == C, Injection.voided_at.is_(None),
            Injection.scheduled_for >= filters.since, Injection.scheduled_for < filters.until,
            Injection.outcome.in_([InjectionOutcome.CAUGHT, InjectionOutcome.MISSED, exp]))
        if filters.category:
            query = query.where(Item.category == filters.category)
        counts: dict[str, tuple[int, int]] = {}
        for kind, outcome in session.execute(query):
            k, n = counts.get(ItemKind(kind).value, (0, 0))
            counts[ItemKind(kind).value] = (k + (outcome == exp), n + 1)
        return counts

    def shown(filters: Filters) -> dict[str, tuple[int, int]]:
        board = build_dashboard(session=session, now=now, filters=filters, settings=settings).to_json()
        board = board["expired_by_kind"]
        return {kind: (cell["k"], cell["n"]) for kind, cell in board.items()}

    everyone = Filters.default(now)
    assert shown(everyone) == direct(everyone)
    assert shown(everyone)["approval"] == (2, 3)
    billing = Filters(everyone.start, everyone.end, None, "billing")
    assert shown(billing) == direct(billing) == {"approval": (2, 2), "output": (1, 1)}
