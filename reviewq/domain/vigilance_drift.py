"""Two questions, two signals (VIGILANCE.md §3, §5): pure functions, no database.

- "Is this reviewer below target?": the Jeffreys probability P(catch rate < target) (§3).
- "Has this reviewer dropped from their own level?": a Bernoulli CUSUM whose in-control miss
  rate p0 is the reviewer's own, estimated from their earlier canaries (§5), not a fixed .10.

Drift rule, tuned by simulation (tests/test_drift_targets.py re-checks it):
- the baseline is every canary but the latest `guard` (20), and at least `baseline` (30) of them,
  so a fresh drop is not absorbed into the reviewer's own level for 4 weeks;
- p0 is the `quantile` (0.6) of the Jeffreys posterior of the baseline miss rate, a little above
  its mean, because an underestimated p0 is what makes an estimated-baseline CUSUM alarm on noise;
- p1 = p0 + rise (cusum_p1 - cusum_p0 = 0.20); alarm at S >= h (4.2), then S restarts at 0, so
  each alarm is one onset.
At 5 canaries a week this gives fewer than 0.4 false-alarm onsets per reviewer-year at any
steady level from .70 to .97, and catches a drop from .90 to .70 within 8 weeks in ~84% of runs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reviewq.domain.vigilance import betainc, prob_rate_below

P0_FLOOR, P0_CAP, P1_CAP = 0.03, 0.60, 0.95


def beta_quantile(q: float, a: float, b: float) -> float:
    """Inverse of the Beta(a, b) CDF: Newton steps on the incomplete beta, kept inside a
    shrinking bisection bracket so it cannot leave (0, 1); ~1e-12 in a handful of steps."""
    lo, hi = 0.0, 1.0
    x = min(max(a / (a + b), 1e-6), 1 - 1e-6)
    log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    for _ in range(100):
        f = betainc(a, b, x) - q
        if abs(f) < 1e-12:
            break
        if f < 0:
            lo = x
        else:
            hi = x
        pdf = math.exp(log_norm + (a - 1) * math.log(x) + (b - 1) * math.log1p(-x))
        step = x - f / pdf if pdf > 0 else -1.0
        x = step if lo < step < hi else (lo + hi) / 2
        if hi - lo < 1e-13:
            break
    return x


@functools.lru_cache(maxsize=4096)
def baseline_p0(misses: int, n: int, quantile: float = 0.6) -> float:
    """The reviewer's own in-control miss rate: a quantile of Beta(misses + 1/2, n - misses + 1/2) (§5)."""
    p0 = beta_quantile(quantile, misses + 0.5, n - misses + 0.5)
    return min(max(p0, P0_FLOOR), P0_CAP)


def cusum_weights(p0: float, p1: float) -> tuple[float, float]:
    """(weight of a miss, weight of a catch) of the Bernoulli CUSUM (§5: +1.10 and -0.25 at .10/.30)."""
    return math.log(p1 / p0), math.log((1 - p1) / (1 - p0))


@dataclass(frozen=True)
class CusumState:
    value: float
    alarm: bool
    first_alarm_at: int | None  # index of the canary that first crossed h
    path: tuple[float, ...]
    n: int


def bernoulli_cusum(
    missed: Iterable[bool], *, p0: float = 0.10, p1: float = 0.30, h: float = 3.5
) -> CusumState:
    """The fixed-p0 CUSUM of §5 ("is this reviewer below 90%?"): S_t = max(0, S_(t-1) + W) over
    canaries in decision order; alarm at S_t >= h. `own_baseline_cusum` below is the drift signal.

    The alarm state is the current one: after an alarm the statistic keeps running, and the
    alarm clears once S falls back under h (a lead can see when it first fired).
    """
    w_miss, w_catch = cusum_weights(p0, p1)
    s = 0.0
    path: list[float] = []
    first = None
    for i, miss in enumerate(missed):
        s = max(0.0, s + (w_miss if miss else w_catch))
        path.append(s)
        if first is None and s >= h:
            first = i
    return CusumState(value=s, alarm=s >= h, first_alarm_at=first, path=tuple(path), n=len(path))


@dataclass(frozen=True)
class DriftParams:
    baseline: int = 30  # canaries needed before the drift question is asked at all
    guard: int = 20  # the latest canaries kept out of the baseline
    quantile: float = 0.6
    rise: float = 0.20  # p1 - p0: the drop in catch rate the alarm is built to see
    h: float = 4.2


@dataclass(frozen=True)
class DriftState:
    n: int
    status: str  # "baseline" (too few canaries to ask), "ok" or "alarm"
    p0: float | None  # the own-baseline miss rate in force at the last canary
    p1: float | None
    value: float  # S after the last canary
    alarms: tuple[int, ...]  # canary indexes (0-based) where an alarm fired (onsets)
    path: tuple[float, ...]  # S per canary, None-free; 0 during the baseline
    h: float

    @property
    def alarm(self) -> bool:
        return self.status == "alarm"

    @property
    def baseline_catch(self) -> float | None:
        return None if self.p0 is None else 1 - self.p0


def own_baseline_cusum(missed: Sequence[bool], params: DriftParams = DriftParams()) -> DriftState:
    """CUSUM against the reviewer's own level (§5). `missed` is in decision order, True = miss.

    The alarm stays current while the latest alarm fell within the last `guard` canaries, and
    after that for as long as the reviewer's miss rate since the alarm stays at least halfway
    from the baseline the alarm was raised against to its p1 (they have not recovered). Alarm onsets, the figure
    the false-alarm target counts, are not affected by this display rule.
    """
    n = len(missed)
    prefix = [0]
    for x in missed:
        prefix.append(prefix[-1] + int(bool(x)))
    s, path, alarms = 0.0, [], []
    p0 = p1 = p0_at_alarm = None
    for t in range(n):
        if t < params.baseline:
            path.append(0.0)
            continue
        m = max(params.baseline, t - params.guard)
        p0 = baseline_p0(prefix[m], m, params.quantile)
        p1 = min(p0 + params.rise, P1_CAP)
        w_miss, w_catch = cusum_weights(p0, p1)
        s = max(0.0, s + (w_miss if missed[t] else w_catch))
        if s >= params.h:
            alarms.append(t)
            p0_at_alarm = p0
            path.append(s)
            s = 0.0  # one alarm, one onset: the statistic restarts
            continue
        path.append(s)
    if n <= params.baseline:
        status = "baseline"
    elif alarms and (alarms[-1] >= n - params.guard or _not_recovered(missed, alarms[-1], p0_at_alarm, params)):
        status = "alarm"
    else:
        status = "ok"
    return DriftState(n=n, status=status, p0=p0, p1=p1, value=s, alarms=tuple(alarms), path=tuple(path),
                      h=params.h)


def _not_recovered(missed: Sequence[bool], alarm_at: int, p0: float, params: DriftParams) -> bool:
    since = missed[alarm_at + 1:]
    return bool(since) and sum(since) / len(since) >= p0 + params.rise / 2


@functools.lru_cache(maxsize=512)
def in_control_run_length(p0: float, rise: float = 0.20, h: float = 4.2, *, states: int = 200) -> float:
    """Average canaries to a false alarm when the true miss rate is p0 itself (§5 in-control ARL).

    Brook & Evans (1972): S is discretised on a grid over [0, h); the expected run length from
    each state solves (I - Q) L = 1, done here by Gaussian elimination (pure Python, cached).
    """
    p0 = round(min(max(p0, P0_FLOOR), P0_CAP) * 200) / 200  # cache per half point
    p1 = min(p0 + rise, P1_CAP)
    w_miss, w_catch = cusum_weights(p0, p1)
    step = h / states

    def index(value: float) -> int | None:
        if value >= h:
            return None
        return max(0, int(round(value / step)))

    a = [[0.0] * states for _ in range(states)]
    rhs = [1.0] * states
    for i in range(states):
        a[i][i] += 1.0
        for w, prob in ((w_miss, p0), (w_catch, 1 - p0)):
            j = index(max(0.0, i * step + w))
            if j is not None and j < states:
                a[i][j] -= prob
    return _solve(a, rhs)[0]


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (small dense systems only)."""
    n = len(b)
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        b[col], b[pivot] = b[pivot], b[col]
        piv = a[col][col]
        for r in range(col + 1, n):
            f = a[r][col] / piv
            if f:
                row, top = a[r], a[col]
                for c in range(col, n):
                    row[c] -= f * top[c]
                b[r] -= f * b[col]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (b[r] - sum(a[r][c] * x[c] for c in range(r + 1, n))) / a[r][r]
    return x


# --- §3 below target -----------------------------------------------------------------------


@dataclass(frozen=True)
class BelowTarget:
    probability: float | None  # P(catch rate < target), None below the minimum count
    alert: bool


def below_target(caught: int, n: int, *, target: float, min_canaries: int, alert_at: float = 0.9) -> BelowTarget:
    """Jeffreys P(rate < target); an alert only past the minimum count and at >= alert_at (§3)."""
    if n < min_canaries:
        return BelowTarget(probability=None, alert=False)
    p = prob_rate_below(caught, n, target)
    return BelowTarget(probability=p, alert=p >= alert_at)
