"""Vigilance statistics: pure functions over counts, no database, no Flask (VIGILANCE.md §2-§5)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

Z95 = 1.959963984540054  # two-sided 95%
_NORMAL = NormalDist()


def z_of(p: float) -> float:
    """Inverse standard normal CDF (VIGILANCE.md §2: z)."""
    return _NORMAL.inv_cdf(p)


# --- §3 small samples --------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    k: int
    n: int
    rate: float | None  # k/n, None when n == 0
    low: float
    high: float


def wilson(k: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval for k successes in n (VIGILANCE.md §3)."""
    if n <= 0:
        return Interval(k=0, n=0, rate=None, low=0.0, high=1.0)
    if not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return Interval(k=k, n=n, rate=p, low=max(0.0, centre - half), high=min(1.0, centre + half))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta (Lentz's method, Numerical Recipes §6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):  # converges in O(sqrt(max(a, b))) steps
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b): the Beta(a, b) CDF at x."""
    if a <= 0 or b <= 0:
        raise ValueError("a and b must be positive")
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The fraction converges fast only on this side of the mean; use symmetry otherwise.
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def prob_rate_below(k: int, n: int, target: float) -> float:
    """Jeffreys posterior Beta(k+1/2, n-k+1/2): P(true rate < target) (VIGILANCE.md §3)."""
    if not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n")
    return betainc(k + 0.5, n - k + 0.5, target)


def canaries_for_half_width(p: float, half_width: float = 0.10, z: float = Z95) -> int:
    """Canaries needed for a +-half_width interval at rate p (VIGILANCE.md §3: 35, 62, 97)."""
    return math.ceil(z * z * p * (1 - p) / (half_width * half_width))


# §4's tests: significant below 5%, and a verdict of "no drop" only with 80% power to see DETECTABLE.
SIGNIFICANCE = 0.05
POWER_NEEDED = 0.80


def per_group_sample_size(p1: float, p2: float, *, alpha: float = SIGNIFICANCE, power: float = POWER_NEEDED) -> int:
    """Per-group n for a one-sided two-proportion test (VIGILANCE.md §4: .90 vs .70 needs ~49)."""
    za, zb = z_of(1 - alpha), z_of(power)
    pbar = (p1 + p2) / 2
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(num * num / ((p1 - p2) ** 2))


# The decrement the trend tests must be able to see before they may give a verdict (§4).
DETECTABLE = (0.90, 0.70)
MIN_PER_GROUP = per_group_sample_size(*DETECTABLE)

# --- display rules (§3) ------------------------------------------------------------------

NO_RATE, PROVISIONAL, RATED = "no_rate", "provisional", "rated"
PROVISIONAL_BELOW = 30
JUDGE_AT = 100  # §3: ~100 canaries before a figure is used to judge a person


@dataclass(frozen=True)
class RateDisplay:
    status: str  # NO_RATE, PROVISIONAL or RATED
    interval: Interval
    fit_to_judge: bool

    @property
    def shown(self) -> bool:
        return self.status != NO_RATE

    def label(self) -> str:
        """What a page prints: no bare percentage, always the interval (VIGILANCE.md §3)."""
        iv = self.interval
        if not self.shown or iv.rate is None:
            return f"no rate ({iv.n} canaries)"
        text = f"{iv.rate:.0%} ({iv.low:.0%}–{iv.high:.0%})"
        return f"{text} provisional" if self.status == PROVISIONAL else text


def rate_display(k: int, n: int, *, min_canaries: int = 10) -> RateDisplay:
    """Below min_canaries: no rate; up to 29: provisional; then a rate (VIGILANCE.md §3)."""
    interval = wilson(k, n)
    if n < min_canaries:
        status = NO_RATE
    elif n < max(PROVISIONAL_BELOW, min_canaries):
        status = PROVISIONAL
    else:
        status = RATED
    return RateDisplay(status=status, interval=interval, fit_to_judge=n >= JUDGE_AT)


# --- §2 signal detection -----------------------------------------------------------------


@dataclass(frozen=True)
class SignalDetection:
    hits: int
    n_canary: int
    false_alarms: int
    n_good: int
    h: float  # log-linear corrected hit rate
    f: float  # log-linear corrected false-alarm rate
    d_prime: float
    c: float
    ln_beta: float
    a_prime: float

    @property
    def beta(self) -> float:
        return math.exp(self.ln_beta)


def signal_detection(*, hits: int, n_canary: int, false_alarms: int, n_good: int) -> SignalDetection:
    """H, F with the Hautus log-linear correction, then d', c, ln(beta), A' (VIGILANCE.md §2)."""
    if not (0 <= hits <= n_canary and 0 <= false_alarms <= n_good):
        raise ValueError("counts out of range")
    h = (hits + 0.5) / (n_canary + 1)  # §2 log-linear correction, always applied
    f = (false_alarms + 0.5) / (n_good + 1)
    zh, zf = z_of(h), z_of(f)
    d_prime = zh - zf  # §2
    c = -(zh + zf) / 2  # §2
    ln_beta = d_prime * c  # §2
    if h >= f:  # §2 A'
        a_prime = 0.5 + (h - f) * (1 + h - f) / (4 * h * (1 - f))
    else:
        a_prime = 0.5 - (f - h) * (1 + f - h) / (4 * f * (1 - h))
    return SignalDetection(hits, n_canary, false_alarms, n_good, h, f, d_prime, c, ln_beta, a_prime)


# --- §4 decay curve ----------------------------------------------------------------------


@dataclass(frozen=True)
class MinuteCounts:
    """Canaries decided in one slice of minutes into session (aggregated in SQL)."""

    minutes: float  # mean minutes into session of the slice
    n: int
    caught: int


@dataclass(frozen=True)
class DecayBin:
    start: float
    end: float
    interval: Interval


def decay_bins(slices: Iterable[MinuteCounts], *, bin_minutes: int = 10) -> list[DecayBin]:
    """Catch rate per bin of minutes into session, Wilson intervals, no empty gaps (§4)."""
    counts: dict[int, list[int]] = {}
    for s in slices:
        b = int(max(0.0, s.minutes) // bin_minutes)
        acc = counts.setdefault(b, [0, 0])
        acc[0] += s.n
        acc[1] += s.caught
    if not counts:
        return []
    return [
        DecayBin(
            start=b * bin_minutes,
            end=(b + 1) * bin_minutes,
            interval=wilson(counts.get(b, [0, 0])[1], counts.get(b, [0, 0])[0]),
        )
        for b in range(max(counts) + 1)
    ]


@dataclass(frozen=True)
class LogisticFit:
    intercept: float
    slope: float  # per minute into session; negative = decrement
    se_slope: float
    n: int
    converged: bool

    @property
    def z(self) -> float:
        return self.slope / self.se_slope if self.se_slope > 0 else 0.0

    @property
    def p_decrement(self) -> float:
        """One-sided p-value (Wald) for slope < 0."""
        return _NORMAL.cdf(self.z)


def logistic_slope(slices: Sequence[MinuteCounts], *, max_iter: int = 50) -> LogisticFit | None:
    """Fit logit P(caught) = a + b * minutes by Newton-Raphson on grouped data (§4 trend test).

    Returns None when the slope is not identifiable (fewer than two distinct minutes, or no
    variation in outcome); with complete separation the fit stops at max_iter unconverged.
    """
    data = [(s.minutes, s.n, s.caught) for s in slices if s.n > 0]
    n_total = sum(n for _, n, _ in data)
    caught_total = sum(k for _, _, k in data)
    if len({x for x, _, _ in data}) < 2 or caught_total in (0, n_total):
        return None
    # Centre x for numerical stability; the slope is unchanged, the intercept is shifted back.
    xbar = sum(x * n for x, n, _ in data) / n_total
    a = math.log((caught_total + 0.5) / (n_total - caught_total + 0.5))
    b = 0.0
    converged = False
    info = (1.0, 0.0, 1.0)
    for _ in range(max_iter):
        g0 = g1 = i00 = i01 = i11 = 0.0
        for x, n, k in data:
            xc = x - xbar
            p = 1.0 / (1.0 + math.exp(-(a + b * xc)))
            w = n * p * (1 - p)
            g0 += k - n * p
            g1 += (k - n * p) * xc
            i00 += w
            i01 += w * xc
            i11 += w * xc * xc
        det = i00 * i11 - i01 * i01
        if det <= 1e-300:
            break
        info = (i00, i01, i11)
        da = (i11 * g0 - i01 * g1) / det
        db = (-i01 * g0 + i00 * g1) / det
        a, b = a + da, b + db
        if abs(da) < 1e-10 and abs(db) < 1e-10:
            converged = True
            break
    i00, i01, i11 = info
    det = i00 * i11 - i01 * i01
    se = math.sqrt(i00 / det) if det > 0 else math.inf  # inverse information, slope element
    return LogisticFit(intercept=a - b * xbar, slope=b, se_slope=se, n=n_total, converged=converged)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_one_sided(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided Fisher exact p-value that group 1's rate exceeds group 2's (§4 two groups).

    With the margins fixed, k1 is hypergeometric; p = P(X >= k1).
    """
    total_k, total_n = k1 + k2, n1 + n2
    lo, hi = max(0, total_k - n2), min(n1, total_k)
    denom = _log_comb(total_n, total_k)
    p = 0.0
    for x in range(max(k1, lo), hi + 1):
        p += math.exp(_log_comb(n1, x) + _log_comb(n2, total_k - x) - denom)
    return min(1.0, p)


DECREMENT, NO_DECREMENT, NOT_ENOUGH = "decrement", "no_decrement", "not_enough_data"  # §4 verdicts


@dataclass(frozen=True)
class EarlyVsLate:
    split_minutes: float
    early: Interval
    late: Interval
    p_value: float | None  # one-sided Fisher: early catch rate > late
    verdict: str  # DECREMENT, NO_DECREMENT or NOT_ENOUGH

    def headline(self) -> str:
        def pct(iv: Interval) -> str:
            return "–" if iv.rate is None else f"{iv.rate:.0%}"

        return f"first {self.split_minutes:g} min {pct(self.early)} vs after {pct(self.late)}"


def early_vs_late(
    slices: Iterable[MinuteCounts], *, split_minutes: float = 20, alpha: float = SIGNIFICANCE
) -> EarlyVsLate:
    """First 20 min against after, one-sided Fisher; no verdict while power is too low (§4)."""
    k1 = n1 = k2 = n2 = 0
    for s in slices:
        if s.minutes < split_minutes:
            n1, k1 = n1 + s.n, k1 + s.caught
        else:
            n2, k2 = n2 + s.n, k2 + s.caught
    p = fisher_one_sided(k1, n1, k2, n2) if n1 and n2 else None
    if p is None or min(n1, n2) < MIN_PER_GROUP:
        verdict = NOT_ENOUGH  # §4: power is low; say so rather than give a verdict
    else:
        verdict = DECREMENT if p < alpha else NO_DECREMENT
    return EarlyVsLate(split_minutes, wilson(k1, n1), wilson(k2, n2), p, verdict)


# --- §2, §3 precision of d' and c: intervals and the same display thresholds as rates ---------


@dataclass(frozen=True)
class SdtInterval:
    d_prime: float
    d_low: float
    d_high: float
    c: float
    c_low: float
    c_high: float


def sdt_interval(s: SignalDetection) -> SdtInterval:
    """Delta-method 95% intervals: Var z(p) = p(1-p) / (n phi(z)^2) on the corrected rates (§2, §3).

    d' = zH - zF and c = -(zH + zF)/2, with H and F independent: Var d' = vH + vF, Var c = (vH + vF)/4.
    """
    def var_z(p: float, n: int) -> float:
        z = z_of(p)
        return p * (1 - p) / ((n + 1) * _NORMAL.pdf(z) ** 2)

    v = var_z(s.h, s.n_canary) + var_z(s.f, s.n_good)
    half_d, half_c = Z95 * math.sqrt(v), Z95 * math.sqrt(v) / 2
    return SdtInterval(s.d_prime, s.d_prime - half_d, s.d_prime + half_d, s.c, s.c - half_c, s.c + half_c)
