"""Decay within reviewers (VIGILANCE.md §4) against statsmodels, plus the display rules."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.contingency_tables import StratifiedTable

from reviewq.domain import vigilance_decay as vd
from reviewq.domain.vigilance import MinuteCounts

WORKED = [  # (early caught, early n, late caught, late n) per reviewer
    vd.Stratum(18, 20, 9, 15),
    vd.Stratum(11, 12, 20, 30),
    vd.Stratum(25, 30, 6, 10),
    vd.Stratum(7, 9, 12, 14),
]


def _tables(strata):
    return [np.array([[s.early_caught, s.early_n - s.early_caught],
                      [s.late_caught, s.late_n - s.late_caught]]) for s in strata]


def test_mantel_haenszel_matches_statsmodels():
    """The pooled OR, its RGB 95% interval and the CMH p-value equal statsmodels' StratifiedTable."""
    ours = vd.mantel_haenszel(WORKED)
    ref = StratifiedTable(_tables(WORKED))
    low, high = ref.oddsratio_pooled_confint()
    assert ours.odds_ratio == pytest.approx(ref.oddsratio_pooled, rel=1e-10)
    assert (ours.low, ours.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert ours.p_two_sided == pytest.approx(ref.test_null_odds(correction=False).pvalue, rel=1e-9)
    assert ours.strata_used == 4 and ours.odds_ratio > 1


def test_mantel_haenszel_random_cases_match_statsmodels():
    """On 200 random sets of reviewer tables, OR, interval and p agree with statsmodels."""
    rng = random.Random(5)
    for _ in range(200):
        strata = []
        for _r in range(rng.randint(2, 8)):
            en, ln = rng.randint(3, 40), rng.randint(3, 40)
            strata.append(vd.Stratum(rng.randint(1, en - 1), en, rng.randint(1, ln - 1), ln))
        ours = vd.mantel_haenszel(strata)
        ref = StratifiedTable(_tables(strata))
        assert ours.odds_ratio == pytest.approx(ref.oddsratio_pooled, rel=1e-9)
        assert ours.low == pytest.approx(ref.oddsratio_pooled_confint()[0], rel=1e-8)
        assert ours.p_two_sided == pytest.approx(ref.test_null_odds(correction=False).pvalue, rel=1e-8, abs=1e-12)


def test_mantel_haenszel_ignores_one_sided_strata_and_handles_empty():
    """A reviewer with canaries on one side only adds nothing; no informative stratum gives no verdict."""
    base = vd.mantel_haenszel(WORKED)
    more = vd.mantel_haenszel([*WORKED, vd.Stratum(3, 30, 0, 0), vd.Stratum(0, 0, 5, 5)])
    assert more.odds_ratio == pytest.approx(base.odds_ratio) and more.strata_used == 4
    empty = vd.mantel_haenszel([vd.Stratum(3, 30, 0, 0)])
    assert empty.odds_ratio is None and empty.verdict == vd.NOT_ENOUGH


def test_simpson_team_is_not_a_decrement_within_reviewers():
    """Weak reviewers sitting long and strong ones sitting short: pooled looks like decay, MH does not."""
    strata = [vd.Stratum(95, 100, 19, 20), vd.Stratum(13, 20, 65, 100)] * 3  # nobody decays
    early, late = vd.pooled_early_late(strata)
    assert early.rate - late.rate > 0.2  # the pooled view shows a 'drop'
    mh = vd.mantel_haenszel(strata)
    assert mh.odds_ratio == pytest.approx(1.0, abs=0.05)
    assert mh.verdict == vd.NO_DECREMENT


def _grouped(rng, reviewers, slope):
    by = {}
    for rid, (level, minutes) in enumerate(reviewers):
        cells = {}
        for _ in range(minutes[2]):
            m = rng.uniform(minutes[0], minutes[1])
            p = 1 / (1 + math.exp(-(level + slope * m)))
            key = int(m)
            n, k = cells.get(key, (0, 0))
            cells[key] = (n + 1, k + (rng.random() < p))
        by[rid] = [MinuteCounts(float(key) + 0.5, n, k) for key, (n, k) in sorted(cells.items())]
    return by


def test_stratified_slope_matches_statsmodels_glm():
    """caught ~ minutes + reviewer by our Newton equals statsmodels' binomial GLM with reviewer dummies."""
    rng = random.Random(3)
    by = _grouped(rng, [(2.5, (0, 20, 80)), (0.5, (0, 60, 120)), (1.5, (5, 45, 90))], slope=-0.02)
    ours = vd.stratified_slope(by)
    rows, ks, ns = [], [], []
    for j, slices in enumerate(by.values()):
        for s in slices:
            rows.append([s.minutes] + [1.0 if i == j else 0.0 for i in range(len(by))])
            ks.append(s.caught)
            ns.append(s.n)
    endog = np.column_stack([ks, np.array(ns) - np.array(ks)])
    fit = sm.GLM(endog, np.array(rows), family=sm.families.Binomial()).fit()
    assert ours.converged
    assert ours.slope == pytest.approx(fit.params[0], rel=1e-6)
    assert ours.se == pytest.approx(fit.bse[0], rel=1e-6)
    assert ours.p_two_sided == pytest.approx(fit.pvalues[0], rel=1e-5)


def test_unconverged_or_empty_fit_shows_no_slope():
    """Reviewers with no outcome variation give no fit: no slope, and the verdict is 'not enough data'."""
    fit = vd.stratified_slope({1: [MinuteCounts(1, 5, 5), MinuteCounts(30, 5, 5)]})
    assert fit.slope is None and not fit.converged and fit.verdict == vd.NOT_ENOUGH


@pytest.mark.parametrize(("p", "text"), [(0.0004, "< 0.001"), (0.0, "< 0.001"), (0.0123, "0.012"), (None, "–")])
def test_format_p(p, text):
    """p below .001 reads '< 0.001', never '0.000' (§4)."""
    assert vd.format_p(p) == text


def test_verdicts_never_contradict():
    """Significant is a decrement even when underpowered; 'not enough data' needs non-significant and low power."""
    assert vd.verdict_for(0.0001, 0.2, direction_ok=True) == vd.DECREMENT
    assert vd.verdict_for(0.3, 0.2, direction_ok=True) == vd.NOT_ENOUGH
    assert vd.verdict_for(0.3, 0.95, direction_ok=True) == vd.NO_DECREMENT
    assert vd.verdict_for(0.001, 0.95, direction_ok=False) == vd.NO_DECREMENT  # an improvement
    assert vd.verdict_for(0.01, 0.2, direction_ok=False) == vd.NO_DECREMENT  # significant: never 'not enough'



def test_within_reviewer_curve_is_flat_when_nobody_decays():
    """A weak reviewer's canaries all late and a strong one's all early: the adjusted bins agree."""
    by = {1: [MinuteCounts(5, 100, 95)], 2: [MinuteCounts(35, 100, 65)]}
    curve = vd.within_reviewer_curve(by, bin_minutes=10)
    assert curve[0].rate == pytest.approx(curve[3].rate, abs=0.01)
    assert curve[1].n == 0 and curve[1].rate is None
    assert curve[0].low < curve[0].rate < curve[0].high


def test_verdict_and_interval_never_disagree():
    """On 300 random teams, 'decrement' is said exactly when the odds ratio's 95% interval lies above 1."""
    rng = random.Random(17)
    for _ in range(300):
        strata = []
        for _r in range(rng.randint(1, 5)):
            en, ln = rng.randint(2, 30), rng.randint(2, 30)
            strata.append(vd.Stratum(rng.randint(1, en - 1), en, rng.randint(1, ln - 1), ln))
        mh = vd.mantel_haenszel(strata)
        assert (mh.verdict == vd.DECREMENT) == (mh.low > 1), (mh.odds_ratio, mh.low, mh.p_value)
