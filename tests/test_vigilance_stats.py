"""The vigilance statistics against VIGILANCE.md's worked examples, plus property tests."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewq.domain import vigilance as v
from reviewq.domain import vigilance_drift as vdr
from reviewq.domain.vigilance import MinuteCounts

counts = st.integers(min_value=0, max_value=400).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


def test_signal_detection_worked_example():
    """18/20 caught and 3/380 false flags give H .881, F .0092, d' 3.54, c 0.59, beta ~8.0 (§2)."""
    s = v.signal_detection(hits=18, n_canary=20, false_alarms=3, n_good=380)
    assert f"{s.h:.3f}" == "0.881"
    assert f"{s.f:.4f}" == "0.0092"
    assert f"{s.d_prime:.2f}" == "3.54"
    assert f"{s.c:.2f}" == "0.59"
    assert f"{s.beta:.1f}" == "8.0"
    assert s.ln_beta == pytest.approx(s.d_prime * s.c)
    assert 0.5 < s.a_prime < 1


def test_jeffreys_worked_example():
    """14/20 caught gives P(catch rate < .8) = .87 under the Jeffreys posterior (§3)."""
    assert f"{v.prob_rate_below(14, 20, 0.8):.2f}" == "0.87"


def test_betainc_matches_known_values():
    """The incomplete beta agrees with closed forms: I_x(1,1)=x, I_x(a,1)=x^a, I_.5(a,a)=.5."""
    assert v.betainc(1, 1, 0.3) == pytest.approx(0.3, abs=1e-12)
    assert v.betainc(3, 1, 0.6) == pytest.approx(0.6**3, abs=1e-12)
    assert v.betainc(7.5, 7.5, 0.5) == pytest.approx(0.5, abs=1e-12)
    assert v.betainc(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-12)  # 1 - sum of binomial terms


def test_sample_sizes_for_ten_points():
    """Canaries for +-10 points: 35 at .9, 62 at .8, 97 at .5; .90 vs .70 needs ~49 per group (§3, §4)."""
    assert [v.canaries_for_half_width(p) for p in (0.9, 0.8, 0.5)] == [35, 62, 97]
    assert v.MIN_PER_GROUP == 49


def test_cusum_weights_and_alarm():
    """Weights are +1.10 per miss and -0.25 per catch; 4 straight misses cross 3.5 (§5)."""
    w_miss, w_catch = vdr.cusum_weights(0.10, 0.30)
    assert f"{w_miss:.2f}" == "1.10" and f"{w_catch:.2f}" == "-0.25"
    state = vdr.bernoulli_cusum([False] * 10 + [True] * 4)
    assert state.path[9] == 0.0  # never below zero
    assert state.alarm and state.first_alarm_at == 13
    assert state.value == pytest.approx(4 * w_miss)
    quiet = vdr.bernoulli_cusum([True, False, False, False] * 10)  # 25% misses: drifts, but slowly
    assert quiet.n == 40


def test_wilson_known_interval():
    """Wilson 95% for 18/20 is about (0.699, 0.972) (§3)."""
    iv = v.wilson(18, 20)
    assert (round(iv.low, 3), round(iv.high, 3)) == (0.699, 0.972)
    assert v.wilson(0, 0).rate is None


def test_display_rules():
    """Below 10 canaries no rate; 10-29 provisional; 30+ rated; 100+ fit to judge a person (§3)."""
    assert v.rate_display(9, 9).status == v.NO_RATE
    assert "no rate" in v.rate_display(9, 9).label()
    assert v.rate_display(8, 10).status == v.PROVISIONAL
    assert "provisional" in v.rate_display(25, 29).label()
    assert v.rate_display(27, 30).status == v.RATED
    assert not v.rate_display(90, 99).fit_to_judge and v.rate_display(90, 100).fit_to_judge


def test_fisher_one_sided_known_value():
    """9/10 vs 3/10 one-sided Fisher p is 0.00988 (hypergeometric tail)."""
    expected = sum(math.comb(10, x) * math.comb(10, 12 - x) for x in (9, 10)) / math.comb(20, 12)
    assert v.fisher_one_sided(9, 10, 3, 10) == pytest.approx(expected, rel=1e-12)
    assert f"{expected:.5f}" == "0.00988"


def test_early_vs_late_refuses_verdict_on_low_power():
    """A big gap on few canaries gets 'not enough data', not a verdict (§4)."""
    few = [MinuteCounts(5, 10, 9), MinuteCounts(30, 10, 3)]
    split = v.early_vs_late(few)
    assert split.p_value is not None and split.p_value < 0.05
    assert split.verdict == v.NOT_ENOUGH
    assert split.headline() == "first 20 min 90% vs after 30%"
    many = [MinuteCounts(5, 60, 54), MinuteCounts(30, 60, 40)]
    assert v.early_vs_late(many).verdict == "decrement"


def test_logistic_slope_recovers_a_known_decline():
    """Grouped data drawn exactly from logit p = 2 - 0.05 m gives back slope -0.05."""
    slices = []
    for m in range(0, 60, 5):
        p = 1 / (1 + math.exp(-(2 - 0.05 * m)))
        slices.append(MinuteCounts(m, 10000, round(10000 * p)))
    fit = v.logistic_slope(slices)
    assert fit.converged
    assert fit.slope == pytest.approx(-0.05, abs=1e-3)
    assert fit.intercept == pytest.approx(2.0, abs=1e-2)
    assert 0 < fit.se_slope < 0.005
    assert v.logistic_slope([MinuteCounts(1, 5, 5), MinuteCounts(2, 5, 5)]) is None


def test_decay_bins_fill_gaps():
    """Bins run from 0 without gaps; an empty bin has n = 0 and no rate (§4)."""
    bins = v.decay_bins([MinuteCounts(3, 4, 3), MinuteCounts(25, 2, 1)], bin_minutes=10)
    assert [(b.start, b.interval.n) for b in bins] == [(0, 4), (10, 0), (20, 2)]
    assert bins[1].interval.rate is None


@given(counts)
def test_wilson_bounds(kn):
    """The Wilson interval lies within [0, 1] and contains the observed rate."""
    k, n = kn
    iv = v.wilson(k, n)
    assert 0.0 <= iv.low <= iv.high <= 1.0
    if n:
        assert iv.low - 1e-12 <= k / n <= iv.high + 1e-12


@given(st.integers(min_value=1, max_value=300), st.data())
def test_wilson_and_jeffreys_monotone_in_k(n, data):
    """More catches out of the same n never lowers the interval or raises P(rate < target)."""
    k = data.draw(st.integers(min_value=0, max_value=n - 1))
    target = data.draw(st.floats(min_value=0.05, max_value=0.95))
    a, b = v.wilson(k, n), v.wilson(k + 1, n)
    assert b.low >= a.low - 1e-12 and b.high >= a.high - 1e-12
    pa, pb = v.prob_rate_below(k, n, target), v.prob_rate_below(k + 1, n, target)
    assert 0.0 <= pb <= pa + 1e-9 <= 1.0 + 1e-9


@settings(max_examples=60)
@given(counts, counts)
def test_signal_detection_bounds_and_monotonicity(canary, good):
    """H and F stay in (0,1), A' in [0,1]; one more hit raises d', one more false alarm lowers it."""
    hits, n_c = canary
    fa, n_g = good
    s = v.signal_detection(hits=hits, n_canary=n_c, false_alarms=fa, n_good=n_g)
    assert 0 < s.h < 1 and 0 < s.f < 1 and 0 <= s.a_prime <= 1
    if hits < n_c:
        assert v.signal_detection(hits=hits + 1, n_canary=n_c, false_alarms=fa, n_good=n_g).d_prime > s.d_prime
    if fa < n_g:
        assert v.signal_detection(hits=hits, n_canary=n_c, false_alarms=fa + 1, n_good=n_g).d_prime < s.d_prime


@given(st.lists(st.booleans(), max_size=200))
def test_cusum_never_negative_and_misses_only_raise_it(seq):
    """S_t >= 0 always, and turning a catch into a miss never lowers the final S (§5)."""
    s = vdr.bernoulli_cusum(seq)
    assert all(x >= 0 for x in s.path)
    if False in seq:
        i = seq.index(False)
        worse = seq[:i] + [True] + seq[i + 1:]
        assert vdr.bernoulli_cusum(worse).value >= s.value - 1e-12


@given(counts, counts)
def test_fisher_is_a_probability_and_monotone(g1, g2):
    """The one-sided p lies in (0, 1] and falls as group 1 catches more."""
    k1, n1 = g1
    k2, n2 = g2
    p = v.fisher_one_sided(k1, n1, k2, n2)
    assert 0 < p <= 1
    if k1 < n1:
        assert v.fisher_one_sided(k1 + 1, n1, k2, n2) <= p + 1e-9
