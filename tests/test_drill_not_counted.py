"""Drill items (an onboarding drill, a lead's drill boost) are announced training: no figure counts them."""

from __future__ import annotations

from datetime import timedelta

from reviewq.domain.queue_status import planted_totals
from reviewq.models import InjectionKind, Verdict
from reviewq.stats import build_dashboard
from reviewq.stats.canary_queries import counts_by_reviewer
from reviewq.stats.export import decision_rows
from reviewq.stats.filters import Filters
from reviewq.stats.vigilance_queries import drift_sequences, minute_slices_by_reviewer
from tests.factories import make_user
from tests.support.dashboard_seed import BUCKETS, review_one

C, G = InjectionKind.CANARY, InjectionKind.CONTROL
A, R = Verdict.APPROVE, Verdict.REJECT


def _figures(session, now, settings, alice):
    board = build_dashboard(session=session, now=now, filters=None, settings=settings).to_json()
    row = next(r for r in board["scoreboard"] if r["reviewer"] == "alice")
    filters = Filters.default(now)
    return {
        "scoreboard": (row["canaries"], row["caught"], row["controls"], row["false_alarms"], row["catch"]["rate"],
                       row["false_alarm"]["rate"]),
        "team": (board["team"]["catch"]["k"], board["team"]["catch"]["n"]),
        "decay": [(b["n"], b["k"]) for b in board["decay"]["bins"]],
        "buckets": sorted((b["bucket"], b["n"]) for b in board["buckets"]),
        "counts": counts_by_reviewer(session=session, filters=filters).get(alice.id),
        "drift": drift_sequences(session=session, filters=filters).get(alice.id),
        "minutes": minute_slices_by_reviewer(session=session, filters=filters).get(alice.id),
        "totals": planted_totals(session=session, reviewer_id=alice.id),
    }


def test_drill_misses_and_false_alarms_do_not_move_a_reviewers_figures(session, now, settings):
    """Alice catches 9 of 12 canaries; a drill where she misses every canary and flags every control
    leaves her catch rate, false-alarm rate, decay, buckets, drift and own totals as they were."""
    alice = make_user(session, "alice", now=now)
    t = now - timedelta(days=2)
    for i in range(12):
        review_one(session, alice, verdict=R if i % 4 else A, now=t, active_s=30, settings=settings, kind=C,
                   bucket=BUCKETS[i % 3])
        t += timedelta(seconds=31)
    for i in range(10):
        review_one(session, alice, verdict=R if i == 0 else A, now=t, active_s=5, settings=settings, kind=G)
        t += timedelta(seconds=6)
    session.flush()
    before = _figures(session, now, settings, alice)
    assert before["scoreboard"][:4] == (12, 9, 10, 1)

    t += timedelta(hours=3)  # a later sitting, a lead's drill: every canary missed, every control flagged
    for i in range(8):
        review_one(session, alice, verdict=A, now=t, active_s=30, settings=settings, kind=C, bucket=BUCKETS[i % 3],
                   drill=True)
        t += timedelta(seconds=31)
    for _ in range(4):
        review_one(session, alice, verdict=R, now=t, active_s=5, settings=settings, kind=G, drill=True)
        t += timedelta(seconds=6)
    session.flush()
    after = _figures(session, now, settings, alice)
    assert after == before

    # The export still lists the drill decisions, marked so an analyst can leave them out too.
    rows = list(decision_rows(session=session, filters=Filters.default(now)))
    assert sum(1 for r in rows if r["planted_drill"]) == 12
    assert sum(1 for r in rows if r["planted"] and not r["planted_drill"]) == 22
