"""Decay within reviewers on simulated teams (issue 13, VIGILANCE.md §4): a team where nobody decays
but the weaker reviewers sit longer gets no decrement verdict; a decaying team is detected. Many
seeds through the pure formulas, a few through the real queue and the real dashboard queries."""

from __future__ import annotations

from datetime import timedelta

from reviewq.config import load_settings
from reviewq.domain import vigilance_decay as vd
from reviewq.stats import Filters, build_dashboard
from reviewq.stats.vigilance_view import decay_json
from tests.support.sim_team import Member, decaying_team, minute_counts, no_decay_team, plan, run_through_queue

SETTINGS = load_settings(env={"REVIEWQ_SERVER_MODE": "test"})


def _verdict(steps):
    by = minute_counts(steps)
    return decay_json({i: s for i, s in enumerate(by.values())}, SETTINGS, timing=(0, 0), reviewers=[],
                      selected=None)


def test_no_decay_team_gets_no_decrement_verdict_in_95_percent_of_seeds(now):
    """200 seeds of the mixed-sitting team: the within-reviewer verdict says 'decrement' in <= 5%,
    while the pooled comparison shows a gap in nearly all of them (median 10+ points: the confound is real)."""
    decrements = 0
    gaps = []
    seeds = range(200)
    for seed in seeds:
        d = _verdict(plan(no_decay_team(), seed=seed, start=now))
        decrements += d["verdict"] == vd.DECREMENT
        gaps.append(d["early"]["rate"] - d["late"]["rate"])
    assert decrements <= 0.05 * len(seeds), f"{decrements} false decrement verdicts in {len(seeds)} seeds"
    gaps.sort()
    assert gaps[len(gaps) // 2] > 0.10 and gaps[len(gaps) // 10] > 0.05, "the team should fool a pooled comparison"


def test_decaying_team_is_detected(now):
    """100 seeds of a team dropping .92 -> .62 after 20 min: the verdict is 'decrement' in >= 90%."""
    hits = sum(_verdict(plan(decaying_team(), seed=s, start=now))["verdict"] == vd.DECREMENT for s in range(100))
    assert hits >= 90, f"decrement found in {hits}/100 seeds"


def _board(session, settings, now, steps, prefix):
    run_through_queue(session, settings, steps, now=now, prefix=prefix)
    first = min(s.at for s in steps).date()
    last = max(s.at for s in steps).date() + timedelta(days=1)
    return build_dashboard(session=session, now=now, filters=Filters(first, last), settings=settings).to_json()


def test_no_decay_team_through_the_queue_and_dashboard(session, settings, now, backend):
    """Through enqueue/claim/decide and the dashboard's SQL: no decrement verdict, the pooled view
    (kept, labelled) shows the spurious gap, the odds ratio's interval covers 1, and the SQL aggregation
    equals the direct one."""
    seeds = [3] if backend == "sqlite" else [5]
    for i, seed in enumerate(seeds):
        steps = plan(no_decay_team(), seed=seed, start=now - timedelta(days=40 - 10 * i))
        decay = _board(session, settings, now, steps, f"s{seed}-")["decay"]
        assert decay["verdict"] != vd.DECREMENT, decay["headline"]
        assert decay["early"]["rate"] - decay["late"]["rate"] > 0.05  # pooled: the Simpson gap
        assert decay["mh"]["strata"] >= 3 and decay["mh"]["low"] < 1.0 < decay["mh"]["high"]
        pure = _verdict(steps)["mh"]
        assert decay["mh"]["odds_ratio"] == pure["odds_ratio"]  # SQL aggregation = direct aggregation
        assert sum(b["n"] for b in decay["adjusted_bins"]) == len(steps)


def test_decaying_team_through_the_queue_and_dashboard(session, settings, now):
    """Through the real queue: the decaying team gets a 'decrement' verdict with OR > 1 and a negative trend."""
    steps = plan(decaying_team(), seed=8, start=now - timedelta(days=20))
    decay = _board(session, settings, now, steps, "d-")["decay"]
    assert decay["verdict"] == vd.DECREMENT, decay["headline"]
    assert decay["mh"]["low"] > 1.0
    assert decay["logistic"]["converged"] and decay["logistic"]["slope_per_min"] < 0


def test_curve_reviewer_filter(session, settings, now):
    """?curve=<name> narrows the decay section to one reviewer; an unknown name is refused on its field."""
    import pytest

    from reviewq.domain.errors import ValidationFailed

    team = [Member(m.name, m.sitting_minutes, m.p_catch, sittings=1) for m in decaying_team()[:2]]
    steps = plan(team, seed=9, start=now - timedelta(days=5))
    run_through_queue(session, settings, steps, now=now, prefix="f-")
    filters = Filters((now - timedelta(days=6)).date(), now.date())
    board = build_dashboard(session=session, now=now, filters=filters, settings=settings,
                            curve_reviewer="f-long0").to_json()
    mine = sum(1 for s in steps if s.reviewer == "long0")
    assert board["decay"]["selected"] == "f-long0" and board["decay"]["mh"]["strata"] <= 1
    assert sum(b["n"] for b in board["decay"]["bins"]) == mine
    assert set(board["decay"]["reviewers"]) == {"f-long0", "f-long1"}
    with pytest.raises(ValidationFailed) as err:
        build_dashboard(session=session, now=now, filters=filters, settings=settings, curve_reviewer="nobody").to_json()
    assert err.value.field == "curve"
