"""Decay within reviewers (VIGILANCE.md §4): each reviewer is compared with themselves.

Reviewers differ in level and in how long they sit, so pooling them mixes who works long with
decay (Simpson's paradox). The headline is the Mantel-Haenszel odds ratio of catching in the
first 20 minutes vs after, strata = reviewers, with its Robins-Breslow-Greenland interval and
the Cochran-Mantel-Haenszel test; the trend is a logistic model caught ~ minutes + reviewer.
Pure functions over counts; no database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from reviewq.domain.vigilance import (
    DECREMENT,
    DETECTABLE,
    NO_DECREMENT,
    NOT_ENOUGH,
    POWER_NEEDED,
    SIGNIFICANCE,
    Z95,
    MinuteCounts,
    wilson,
)

_NORMAL = NormalDist()
# The reference decrement of §4 (.90 vs .70) as an odds ratio: what the test must be able to see.
REFERENCE_OR = (DETECTABLE[0] / (1 - DETECTABLE[0])) / (DETECTABLE[1] / (1 - DETECTABLE[1]))


def format_p(p: float | None) -> str:
    """p below .001 reads "< 0.001", never "0.000" (§4)."""
    if p is None:
        return "–"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}"


def verdict_for(p_value: float | None, power: float | None, *, direction_ok: bool) -> str:
    """Significant (in the decrement direction) is a decrement, whatever the power; not
    significant and underpowered is "not enough data"; otherwise "no evidence of a drop" (§4)."""
    if p_value is None:
        return NOT_ENOUGH
    if p_value < SIGNIFICANCE:  # significant either way: a drop, or (an improvement) evidence against one
        return DECREMENT if direction_ok else NO_DECREMENT
    if power is None or power < POWER_NEEDED:
        return NOT_ENOUGH
    return NO_DECREMENT


@dataclass(frozen=True)
class Stratum:
    """One reviewer's canaries: caught/total in the first `split` minutes and after."""

    early_caught: int
    early_n: int
    late_caught: int
    late_n: int


def split_strata(by_reviewer: Mapping[int, Iterable[MinuteCounts]], split_minutes: float = 20) -> dict[int, Stratum]:
    out = {}
    for rid, slices in by_reviewer.items():
        ek = en = lk = ln = 0
        for s in slices:
            if s.minutes < split_minutes:
                ek, en = ek + s.caught, en + s.n
            else:
                lk, ln = lk + s.caught, ln + s.n
        out[rid] = Stratum(ek, en, lk, ln)
    return out


@dataclass(frozen=True)
class MantelHaenszel:
    odds_ratio: float | None  # odds of catching early / odds after; > 1 = decrement
    low: float | None
    high: float | None
    p_two_sided: float | None  # CMH chi-square (1 df), no continuity correction
    p_decrement: float | None  # one-sided, early better than late
    p_wald: float | None  # ln OR / its RGB SE: the test that agrees with the interval shown
    power: float | None  # to detect REFERENCE_OR at SIGNIFICANCE (one-sided), from the observed SE
    strata_used: int
    early: tuple[int, int]  # (caught, n) over informative strata
    late: tuple[int, int]

    @property
    def p_value(self) -> float | None:
        """The p the verdict uses: the Wald p while the odds ratio is finite, so a verdict and
        its interval never disagree; the CMH p when a zero cell leaves no finite ratio (§4)."""
        return self.p_wald if self.p_wald is not None else self.p_two_sided

    @property
    def verdict(self) -> str:
        direction_ok = self.odds_ratio > 1 if self.odds_ratio is not None else (self.p_decrement or 1) < 0.5
        return verdict_for(self.p_value, self.power, direction_ok=direction_ok)


def mantel_haenszel(strata: Iterable[Stratum]) -> MantelHaenszel:
    """Pooled OR, RGB 95% interval of ln OR, and the CMH test over 2x2 tables (§4).

    Table per reviewer: rows early/late, columns caught/missed. Strata with canaries on one
    side only carry no within-reviewer information and are left out.
    """
    r_sum = s_sum = pr = ps_qr = qs = 0.0
    a_sum = e_sum = v_sum = 0.0
    used = 0
    ek = en = lk = ln = 0
    for st in strata:
        a, b = st.early_caught, st.early_n - st.early_caught
        c, d = st.late_caught, st.late_n - st.late_caught
        n = a + b + c + d
        if st.early_n == 0 or st.late_n == 0 or n < 2:
            continue
        used += 1
        ek, en, lk, ln = ek + a, en + st.early_n, lk + c, ln + st.late_n
        r, s = a * d / n, b * c / n
        p, q = (a + d) / n, (b + c) / n
        r_sum, s_sum = r_sum + r, s_sum + s
        pr, ps_qr, qs = pr + p * r, ps_qr + p * s + q * r, qs + q * s
        m1, m0 = a + c, b + d  # caught, missed margins
        e_sum += st.early_n * m1 / n
        v_sum += st.early_n * st.late_n * m1 * m0 / (n * n * (n - 1))
        a_sum += a
    if used == 0:
        return MantelHaenszel(None, None, None, None, None, None, None, 0, (0, 0), (0, 0))
    p_two = p_one = None
    if v_sum > 0:
        z = (a_sum - e_sum) / math.sqrt(v_sum)
        p_two = min(1.0, 2 * (1 - _NORMAL.cdf(abs(z))))
        p_one = 1 - _NORMAL.cdf(z)
    odds = low = high = power = p_wald = None
    if r_sum > 0 and s_sum > 0:
        odds = r_sum / s_sum
        var = pr / (2 * r_sum**2) + ps_qr / (2 * r_sum * s_sum) + qs / (2 * s_sum**2)  # RGB (1986)
        se = math.sqrt(var)
        low, high = math.exp(math.log(odds) - Z95 * se), math.exp(math.log(odds) + Z95 * se)
        power = _NORMAL.cdf(math.log(REFERENCE_OR) / se - _NORMAL.inv_cdf(1 - SIGNIFICANCE / 2))
        p_wald = min(1.0, 2 * (1 - _NORMAL.cdf(abs(math.log(odds)) / se)))
    return MantelHaenszel(odds, low, high, p_two, p_one, p_wald, power, used, (ek, en), (lk, ln))


# --- §4 trend: logistic caught ~ minutes + reviewer ---------------------------------------------


@dataclass(frozen=True)
class StratifiedSlope:
    slope: float | None  # log-odds per minute, None when not converged
    se: float | None
    p_two_sided: float | None
    power: float | None
    n: int
    converged: bool

    @property
    def verdict(self) -> str:
        if not self.converged:
            return NOT_ENOUGH
        return verdict_for(self.p_two_sided, self.power, direction_ok=(self.slope or 0) < 0)


# The reference slope: .90 at minute 0 falling to .70 by minute 40, in log-odds per minute.
REFERENCE_SLOPE = -math.log(REFERENCE_OR) / 40


def stratified_slope(
    by_reviewer: Mapping[int, Sequence[MinuteCounts]], *, max_iter: int = 100, tol: float = 1e-9
) -> StratifiedSlope:
    """Newton-Raphson for logit P = a_reviewer + b * minutes on grouped data (§4 trend test).

    Only reviewers whose canaries vary in outcome and minute inform b (the others' intercepts
    run off to infinity and drop out of the likelihood for b). The slope's information is the
    Schur complement of the intercepts' block. Unconverged fits report no slope (§4).
    """
    groups = []
    for slices in by_reviewer.values():
        data = [(s.minutes, s.n, s.caught) for s in slices if s.n > 0]
        n = sum(x[1] for x in data)
        k = sum(x[2] for x in data)
        if len({x[0] for x in data}) >= 2 and 0 < k < n:
            groups.append(data)
    n_total = sum(x[1] for g in groups for x in g)
    if not groups:
        return StratifiedSlope(None, None, None, None, 0, False)
    means = [sum(m * n for m, n, _ in g) / sum(n for _, n, _ in g) for g in groups]
    groups = [[(m - mu, n, k) for m, n, k in g] for g, mu in zip(groups, means, strict=True)]
    alphas = [math.log((sum(k for *_, k in g) + 0.5) / (sum(n - k for _, n, k in g) + 0.5)) for g in groups]
    b, info_b, converged = 0.0, 0.0, False
    for _ in range(max_iter):
        g_b = i_bb = 0.0
        schur = 0.0
        steps = []
        for j, g in enumerate(groups):
            g_a = i_aa = i_ab = 0.0
            for x, n, k in g:
                p = 1 / (1 + math.exp(-(alphas[j] + b * x)))
                w = n * p * (1 - p)
                g_a += k - n * p
                g_b += (k - n * p) * x
                i_aa += w
                i_ab += w * x
                i_bb += w * x * x
            steps.append((g_a, i_aa, i_ab))
            schur += i_ab * i_ab / i_aa if i_aa > 0 else 0.0
        info_b = i_bb - schur
        if info_b <= 1e-12:
            break
        # Joint Newton step via the block structure: db from the Schur complement, then each da.
        db = (g_b - sum(ga * iab / iaa for ga, iaa, iab in steps if iaa > 0)) / info_b
        moves = [abs(db)]
        for j, (ga, iaa, iab) in enumerate(steps):
            da = (ga - iab * db) / iaa if iaa > 0 else 0.0
            alphas[j] += da
            moves.append(abs(da))
        b += db
        if max(moves) < tol:
            converged = True
            break
    if not converged or info_b <= 0:
        return StratifiedSlope(None, None, None, None, n_total, False)
    se = 1 / math.sqrt(info_b)
    p_two = min(1.0, 2 * (1 - _NORMAL.cdf(abs(b / se))))
    power = _NORMAL.cdf(abs(REFERENCE_SLOPE) / se - _NORMAL.inv_cdf(1 - SIGNIFICANCE / 2))
    return StratifiedSlope(b, se, p_two, power, n_total, True)


# --- §4 the team curve, within reviewers ----------------------------------------------------------


@dataclass(frozen=True)
class AdjustedBin:
    start: float
    end: float
    n: int
    caught: int
    expected: float  # catches expected from each reviewer's own overall rate
    rate: float | None  # team rate + (observed - expected) / n, clipped to [0, 1]
    low: float | None
    high: float | None


def within_reviewer_curve(
    by_reviewer: Mapping[int, Sequence[MinuteCounts]], *, bin_minutes: int = 10
) -> list[AdjustedBin]:
    """Catch rate by minutes into session with each reviewer measured against their own level.

    Indirect standardisation: a bin's canaries are expected to be caught at their reviewers'
    own overall rates; the bin shows the team rate shifted by (observed - expected) / n, so a
    bin full of a weaker reviewer's canaries is not read as decay. The interval is the normal
    one for that difference, with each canary's variance p_r(1 - p_r) (never a bare rate, §3).
    """
    own = {}
    total_n = total_k = 0
    for rid, slices in by_reviewer.items():
        n = sum(s.n for s in slices)
        k = sum(s.caught for s in slices)
        if n:
            own[rid] = (k + 0.5) / (n + 1)  # log-linear, so a perfect reviewer still has variance
            total_n, total_k = total_n + n, total_k + k
    if not total_n:
        return []
    team = total_k / total_n
    acc: dict[int, list[float]] = {}
    for rid, slices in by_reviewer.items():
        for s in slices:
            if not s.n:
                continue
            b = int(max(0.0, s.minutes) // bin_minutes)
            cell = acc.setdefault(b, [0, 0, 0.0, 0.0])
            p = own[rid]
            cell[0] += s.n
            cell[1] += s.caught
            cell[2] += s.n * p
            cell[3] += s.n * p * (1 - p)
    out = []
    for b in range(max(acc) + 1):
        n, k, e, var = acc.get(b, [0, 0, 0.0, 0.0])
        if n == 0:
            out.append(AdjustedBin(b * bin_minutes, (b + 1) * bin_minutes, 0, 0, 0.0, None, None, None))
            continue
        n = int(n)
        rate = team + (k - e) / n
        half = Z95 * math.sqrt(var) / n
        out.append(AdjustedBin(b * bin_minutes, (b + 1) * bin_minutes, n, int(k), e,
                               min(1.0, max(0.0, rate)), max(0.0, rate - half), min(1.0, rate + half)))
    return out


def pooled_early_late(strata: Iterable[Stratum]) -> tuple:
    """The raw pooled first-20-min and after intervals (the secondary, labelled view)."""
    ek = en = lk = ln = 0
    for st in strata:
        ek, en, lk, ln = ek + st.early_caught, en + st.early_n, lk + st.late_caught, ln + st.late_n
    return wilson(ek, en), wilson(lk, ln)
