"""The two signals of VIGILANCE.md §3 and §5 on simulated reviewers with a known truth (pure functions,
many seeds): steady reviewers rarely alarm at any level, and a real 20-point drop is caught in time."""

from __future__ import annotations

import random

import pytest
from scipy.stats import beta

from reviewq.domain import vigilance_drift as vdr

PER_WEEK = 5
YEAR = 52 * PER_WEEK
PARAMS = vdr.DriftParams()


@pytest.mark.parametrize("level", [0.70, 0.80, 0.90, 0.97])
def test_steady_reviewer_false_alarm_onsets_per_year(level):
    """A reviewer who never changes gets under 0.5 alarm onsets per reviewer-year at any level (.70-.97)."""
    rng = random.Random(int(level * 1000))
    runs = 250
    onsets = 0
    for _ in range(runs):
        missed = [rng.random() > level for _ in range(PARAMS.baseline + YEAR)]
        onsets += len(vdr.own_baseline_cusum(missed, PARAMS).alarms)
    assert onsets / runs < 0.5, f"{onsets / runs:.2f} onsets per reviewer-year at {level}"


def test_twenty_point_drop_is_caught_within_eight_weeks():
    """A reviewer at .90 for 26 weeks who drops to .70 alarms within 8 weeks (40 canaries) in >= 80% of runs."""
    rng = random.Random(99)
    runs, caught = 400, 0
    before = 26 * PER_WEEK
    for _ in range(runs):
        missed = [rng.random() > 0.90 for _ in range(before)] + [rng.random() > 0.70 for _ in range(8 * PER_WEEK)]
        caught += any(a >= before for a in vdr.own_baseline_cusum(missed, PARAMS).alarms)
    assert caught / runs >= 0.80, f"caught {caught}/{runs}"


def test_alarm_needs_the_baseline_and_says_current_state():
    """No drift verdict before the baseline count; a run of misses after a good baseline alarms now."""
    assert vdr.own_baseline_cusum([True] * 20).status == "baseline"
    state = vdr.own_baseline_cusum([False] * 40 + [True] * 6)
    assert state.status == "alarm" and state.alarms and state.p0 < 0.1
    later = vdr.own_baseline_cusum([False] * 40 + [True] * 6 + [False] * 30)
    assert later.status == "ok" and later.alarms == state.alarms


def test_baseline_p0_is_a_posterior_quantile():
    """p0 is the 60% quantile of the Jeffreys posterior of the baseline miss rate, within its floor and cap."""
    assert vdr.baseline_p0(6, 40) == pytest.approx(beta.ppf(0.6, 6.5, 34.5), abs=1e-9)
    assert vdr.baseline_p0(0, 200) == vdr.P0_FLOOR
    assert vdr.beta_quantile(0.3, 2.5, 7.5) == pytest.approx(beta.ppf(0.3, 2.5, 7.5), abs=1e-10)


def test_in_control_run_length_matches_monte_carlo():
    """The documented in-control run length (Brook-Evans Markov chain) agrees with simulation within 12%."""
    rng = random.Random(3)
    for p0 in (0.10, 0.25):
        w_miss, w_catch = vdr.cusum_weights(p0, p0 + 0.2)
        total, runs = 0, 600
        for _ in range(runs):
            s, t = 0.0, 0
            while s < PARAMS.h:
                t += 1
                s = max(0.0, s + (w_miss if rng.random() < p0 else w_catch))
            total += t
        assert vdr.in_control_run_length(p0) == pytest.approx(total / runs, rel=0.12)


def test_below_target_is_a_separate_question():
    """Jeffreys P(rate < target) alerts only past the minimum count; 14/20 gives .87 (§3)."""
    assert vdr.below_target(0, 4, target=0.8, min_canaries=10).probability is None
    b = vdr.below_target(14, 20, target=0.8, min_canaries=10)
    assert round(b.probability, 2) == 0.87 and not b.alert
    assert vdr.below_target(10, 20, target=0.8, min_canaries=10).alert


def test_drift_through_the_queue_equals_the_formula(session, settings, now):
    """Steady reviewers and one who drops .90 -> .70, through the real queue: the dashboard's drift state
    equals the formula on the true sequence, the dropper alarms, and the range filter does not cut the
    baseline (drift reads the whole history up to the range's end)."""
    from datetime import timedelta

    from reviewq.models import InjectionKind, Verdict
    from reviewq.stats import Filters, build_dashboard
    from reviewq.stats.vigilance_view import drift_params
    from tests.factories import make_user
    from tests.support.dashboard_seed import review_one

    rng = random.Random(21)
    weeks = 22
    start = now - timedelta(weeks=weeks)
    truths = {"steady75": [0.75] * 16, "steady95": [0.95] * 16, "dropper": [0.90] * 14 + [0.70] * 8}
    sequences = {}
    for name, levels in truths.items():
        user = make_user(session, name, now=now)
        seq = []
        for w, level in enumerate(levels):
            for i in range(PER_WEEK):
                caught = rng.random() < level
                seq.append(not caught)
                t = start + timedelta(weeks=w, days=i, hours=10)
                review_one(session, user, verdict=Verdict.REJECT if caught else Verdict.APPROVE, now=t, active_s=30,
                           settings=settings, kind=InjectionKind.CANARY, bucket="hallucinated_fact")
        sequences[name] = seq
    session.flush()
    recent = Filters((now - timedelta(days=27)).date(), now.date())  # the default 4 weeks
    rows = {r["reviewer"]: r for r in build_dashboard(session=session, now=now, filters=recent,
                                                      settings=settings).to_json()["scoreboard"]}
    for name, seq in sequences.items():
        expected = vdr.own_baseline_cusum(seq, drift_params(settings))
        assert rows[name]["drift"]["n"] == len(seq) == len(truths[name]) * PER_WEEK
        assert rows[name]["drift"]["alarm_at"] == [a + 1 for a in expected.alarms]
        assert rows[name]["drift"]["status"] == expected.status
    assert rows["dropper"]["drift"]["alarm"] and any(a > 14 * PER_WEEK for a in rows["dropper"]["drift"]["alarm_at"])


def test_a_drop_stays_flagged_until_the_reviewer_recovers():
    """After an alarm the flag stays while the reviewer stays low (>= 70% of runs 12 weeks on), and a
    steady reviewer is flagged at a random moment in under 8% of reviewer-years."""
    rng = random.Random(5)
    still = sum(vdr.own_baseline_cusum([rng.random() > 0.9 for _ in range(130)]
                                       + [rng.random() > 0.7 for _ in range(60)]).alarm for _ in range(200))
    assert still >= 140, f"{still}/200 still flagged"
    for level in (0.75, 0.9):
        flagged = sum(vdr.own_baseline_cusum([rng.random() > level for _ in range(290)]).alarm for _ in range(150))
        assert flagged < 12, f"{flagged}/150 steady reviewers at {level} flagged"
    recovered = vdr.own_baseline_cusum([False] * 60 + [True] * 6 + [False] * 40)
    assert recovered.alarms and recovered.status == "ok"
