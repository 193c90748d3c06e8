"""Difficulty, ability, reliability and skip-aware rates (VIGILANCE.md §7) against references."""

from __future__ import annotations

import random

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from reviewq.domain import vigilance as v
from reviewq.domain import vigilance_ability as va


def _cells(rng, abilities, difficulty, per_cell):
    cells = {}
    for r, theta in enumerate(abilities):
        for t, b in enumerate(difficulty):
            p = 1 / (1 + np.exp(-(theta - b)))
            k = sum(rng.random() < p for _ in range(per_cell))
            cells[(r, f"t{t}")] = (per_cell, k)
    return cells


def test_rasch_matches_statsmodels_penalised_glm():
    """Abilities and difficulties equal statsmodels' L2-penalised binomial GLM with the same normal prior."""
    rng = random.Random(1)
    cells = _cells(rng, [0.5, 1.5, 2.5], [-1.0, 0.0, 1.0, 0.5], per_cell=40)
    fit = va.rasch(cells, prior_sd=1.5, ability_prior_mean=0.0, max_iter=5000, tol=1e-12)
    rows, endog = [], []
    for (r, t), (n, k) in cells.items():
        ti = int(t[1:])
        rows.append([1.0 if r == i else 0.0 for i in range(3)] + [-1.0 if ti == j else 0.0 for j in range(4)])
        endog.append([k, n - k])
    # statsmodels' elastic net: -loglike / nobs + alpha |beta|^2 / 2, so alpha = 1 / (sd^2 nobs)
    ref = sm.GLM(np.array(endog), np.array(rows), family=sm.families.Binomial()).fit_regularized(
        alpha=1 / (1.5**2 * len(rows)), L1_wt=0.0)
    assert fit.converged
    assert [fit.abilities[r].theta for r in range(3)] == pytest.approx(list(ref.params[:3]), abs=1e-4)
    assert [fit.difficulties[f"t{j}"] for j in range(4)] == pytest.approx(list(ref.params[3:]), abs=1e-4)


def test_hard_canaries_do_not_make_a_reviewer_look_worse():
    """Two equally able reviewers, one drawing the hard templates: raw rates differ, adjusted ones agree."""
    cells = {}
    rng = random.Random(2)
    for r in range(8):  # a team that fixes each template's difficulty
        for t, b in enumerate([-1.5, -1.0, 1.0, 1.5]):
            p = 1 / (1 + np.exp(-(1.0 - b)))
            cells[(r, f"t{t}")] = (30, sum(rng.random() < p for _ in range(30)))
    cells[(100, "t0")] = (20, 18)
    cells[(100, "t1")] = (20, 17)  # easy draws: 35/40
    cells[(101, "t2")] = (20, 10)
    cells[(101, "t3")] = (20, 8)  # hard draws: 18/40
    fit = va.rasch(cells)
    a, b = fit.abilities[100], fit.abilities[101]
    assert abs(a.theta - b.theta) < 1.0 and a.low < b.adjusted_rate < a.high


def test_difficulty_is_the_catch_rate_across_reviewers():
    """A template's difficulty is its pooled catch rate with a Wilson interval, hardest first."""
    d = va.difficulties({(1, "a"): (10, 9), (2, "a"): (10, 8), (1, "b"): (5, 1)})
    assert [x.template for x in d] == ["b", "a"]
    assert d[1].interval.k == 17 and d[1].interval.n == 20 and d[1].reviewers == 2


def test_spearman_brown_worked_examples():
    """r=.5 doubled gives .667; a single-canary r of .0228 needs ~100 canaries for .7 (Buser et al. 2025)."""
    assert va.spearman_brown(0.5, 2) == pytest.approx(2 / 3)
    r1 = 0.7 / (100 - 99 * 0.7)
    assert va.canaries_for_reliability(r1) == 100
    assert va.spearman_brown(r1, 100) == pytest.approx(0.7)
    rel = va.reliability_for(40, r1)
    assert rel.more_for_target == 60 and rel.value < 0.7
    assert va.reliability_for(120, r1).more_for_target == 0
    assert va.reliability_for(40, None).value is None


def test_split_half_against_numpy_and_scipy():
    """The split-half r equals numpy's Pearson correlation of odd/even catch rates, stepped down by Spearman-Brown."""
    rng = random.Random(4)
    seqs = {}
    for r in range(12):
        p = 0.55 + 0.04 * r
        seqs[r] = [rng.random() < p for _ in range(40)]
    sh = va.split_half(seqs)
    odd = [sum(s[0::2]) / 20 for s in seqs.values()]
    even = [sum(s[1::2]) / 20 for s in seqs.values()]
    assert sh.r_halves == pytest.approx(np.corrcoef(odd, even)[0, 1], rel=1e-12)
    assert sh.r_halves == pytest.approx(sps.pearsonr(odd, even).statistic, rel=1e-12)
    assert sh.r_single == pytest.approx(sh.r_halves / (20 - 19 * sh.r_halves), rel=1e-12)
    # stepping the single-canary figure back up to 20 gives the halves' correlation again
    assert va.spearman_brown(sh.r_single, 20) == pytest.approx(sh.r_halves)


def test_skips_and_expiries_count_as_not_caught():
    """The inclusive rate counts skipped-then-expired and expired-unseen canaries as not caught."""
    c = va.SkipCounts(canaries_caught=40, canaries_missed=0, canaries_skipped_expired=40, canaries_expired_unseen=0)
    assert va.inclusive_catch(c).rate == 0.5
    assert va.skip_rate(10, 30).rate == 0.25
    assert va.skip_concentration(9, 10, 0.25) < 0.001
    assert va.skip_concentration(3, 10, 0.25) > 0.3


def test_sdt_interval_delta_method_brackets_and_shrinks():
    """d' and c get 95% intervals around the point value that narrow as counts grow (§2, §3)."""
    small = v.sdt_interval(v.signal_detection(hits=9, n_canary=10, false_alarms=1, n_good=10))
    big = v.sdt_interval(v.signal_detection(hits=90, n_canary=100, false_alarms=10, n_good=100))
    assert small.d_low < small.d_prime < small.d_high and small.c_low < small.c < small.c_high
    assert (big.d_high - big.d_low) < (small.d_high - small.d_low) / 2.5
    # Delta method by hand: Var z(H) = H(1-H) / ((n+1) phi(z)^2) with the corrected H
    h, f = (90.5 / 101), (10.5 / 101)
    var = sum(p * (1 - p) / (101 * sps.norm.pdf(sps.norm.ppf(p)) ** 2) for p in (h, f))
    assert big.d_high - big.d_prime == pytest.approx(1.959963984540054 * var**0.5)


def _rasch_one_cell_at_a_time(cells, *, prior_sd=1.5, max_iter=300, tol=1e-8, ability_prior_mean=None):
    """The fit as it was written before it was vectorised: each template, then each reviewer, one
    cell at a time. The reference the numpy sweep is held to."""
    import math

    reviewers = sorted({r for r, _ in cells})
    templates = sorted({t for _, t in cells})
    n_all = sum(n for n, _ in cells.values())
    k_all = sum(k for _, k in cells.values())
    mu = math.log((k_all + 0.5) / (n_all - k_all + 0.5)) if n_all else 0.0
    if ability_prior_mean is not None:
        mu = ability_prior_mean
    theta, b = dict.fromkeys(reviewers, mu), dict.fromkeys(templates, 0.0)
    by_r, by_t = {r: [] for r in reviewers}, {t: [] for t in templates}
    for (r, t), (n, k) in cells.items():
        if n:
            by_r[r].append((t, n, k))
            by_t[t].append((r, n, k))
    prec, converged, info = 1 / prior_sd**2, False, {}
    for _ in range(max_iter):
        move = 0.0
        for t, rows in by_t.items():
            g, h = -b[t] * prec, prec
            for r, n, k in rows:
                p = 1 / (1 + math.exp(-(theta[r] - b[t])))
                g -= k - n * p
                h += n * p * (1 - p)
            b[t] += g / h
            move = max(move, abs(g / h))
        for r, rows in by_r.items():
            g, h = -(theta[r] - mu) * prec, prec
            for t, n, k in rows:
                p = 1 / (1 + math.exp(-(theta[r] - b[t])))
                g += k - n * p
                h += n * p * (1 - p)
            theta[r] += g / h
            info[r] = h
            move = max(move, abs(g / h))
        if move < tol:
            converged = True
            break
    return theta, b, {r: 1 / math.sqrt(info.get(r, prec)) for r in reviewers}, converged


@pytest.mark.parametrize("seed", range(12))
def test_rasch_sweep_equals_the_one_cell_at_a_time_fit(seed):
    """Random teams (sparse draws, perfect and zero scores, empty cells, a lone reviewer): the same
    abilities, standard errors, difficulties and convergence as the cell-by-cell fit."""
    rng = random.Random(seed)
    reviewers = rng.randint(1, 40)
    templates = rng.randint(1, 25)
    cells = {}
    for r in range(reviewers):
        theta = rng.gauss(1.0, 1.5 if seed % 3 else 4.0)  # every third team: extreme abilities
        for t in range(templates):
            if rng.random() < 0.4:
                continue  # not drawn
            n = rng.choice([0, 1, 2, 5, 20, 60])
            p = 1 / (1 + np.exp(-(theta - (t % 7 - 3) / 2)))
            cells[(r, f"t{t}")] = (n, sum(rng.random() < p for _ in range(n)))
    if not cells:
        cells[(0, "t0")] = (3, 3)
    max_iter = rng.choice([3, 300])  # stopped early as well as converged
    fit = va.rasch(cells, max_iter=max_iter)
    theta, b, se, converged = _rasch_one_cell_at_a_time(cells, max_iter=max_iter)
    assert fit.converged == converged
    assert {r: a.theta for r, a in fit.abilities.items()} == pytest.approx(theta, abs=1e-9)
    assert {r: a.se for r, a in fit.abilities.items()} == pytest.approx(se, abs=1e-9)
    assert fit.difficulties == pytest.approx(b, abs=1e-9)
