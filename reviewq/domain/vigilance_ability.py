"""Difficulty, ability and reliability (VIGILANCE.md §7): pure functions over counts.

- Difficulty of a canary template or mutator: its catch rate over all reviewers, with interval.
- A Rasch-style model, logit P(caught) = ability - difficulty, so a reviewer who drew hard
  canaries does not look worse (Hofer & Schwaninger 2005).
- Reliability from split halves and Spearman-Brown, with "N more canaries until 0.7"
  (Buser et al. 2025: about 100 TIP events per screener).
- Skips and expiries: the catch rate that counts a planted item skipped or left to expire as
  not caught, beside the decided-only rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reviewq.domain.vigilance import Z95, Interval, wilson


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


# --- Rasch ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ability:
    theta: float  # logit ability
    se: float
    adjusted_rate: float  # expit(theta): expected catch rate on a template of average difficulty
    low: float
    high: float


@dataclass(frozen=True)
class RaschFit:
    abilities: dict[int, Ability]
    difficulties: dict[str, float]  # logit difficulty, 0 = average
    converged: bool


def rasch(
    cells: Mapping[tuple[int, str], tuple[int, int]], *, prior_sd: float = 1.5, max_iter: int = 300,
    tol: float = 1e-8, ability_prior_mean: float | None = None,
) -> RaschFit:
    """Penalised joint maximum likelihood for logit P(caught) = theta_reviewer - b_template (§7).

    `cells` maps (reviewer, template) to (n, caught). Normal priors N(0, prior_sd^2) on the
    difficulties and N(logit team rate, prior_sd^2) on the abilities identify the scale and keep
    perfect scores finite (a template seen by one reviewer says little about either). Each
    parameter takes a Newton step given the others, until nothing moves.
    """
    import numpy as np  # here, not at import: the server loads it only once a lead opens a dashboard

    reviewers = sorted({r for r, _ in cells})
    templates = sorted({t for _, t in cells})
    n_all = sum(n for n, _ in cells.values())
    k_all = sum(k for _, k in cells.values())
    mu = math.log((k_all + 0.5) / (n_all - k_all + 0.5)) if n_all else 0.0
    if ability_prior_mean is not None:
        mu = ability_prior_mean
    r_index = {r: i for i, r in enumerate(reviewers)}
    t_index = {t: i for i, t in enumerate(templates)}
    seen = [(r_index[r], t_index[t], n, k) for (r, t), (n, k) in cells.items() if n]
    ri = np.array([c[0] for c in seen], dtype=np.intp)
    ti = np.array([c[1] for c in seen], dtype=np.intp)
    n = np.array([c[2] for c in seen], dtype=float)
    k = np.array([c[3] for c in seen], dtype=float)
    theta = np.full(len(reviewers), mu)
    b = np.zeros(len(templates))
    prec = 1 / prior_sd**2
    converged = False
    info = np.full(len(reviewers), prec)

    def caught(x):  # expit, without overflow at either end
        return 0.5 * (1.0 + np.tanh(0.5 * x))

    # Each sweep takes a Newton step for every difficulty given the abilities, then for every
    # ability given the new difficulties. Within a block the steps do not depend on each other,
    # so they are taken together (the dashboard at 1M decisions spent a quarter of its time here
    # when they were taken one cell at a time).
    for _ in range(max_iter):
        p = caught(theta[ri] - b[ti])
        g = -b * prec - np.bincount(ti, weights=k - n * p, minlength=len(templates))
        h = prec + np.bincount(ti, weights=n * p * (1 - p), minlength=len(templates))
        step_b = g / h
        b = b + step_b
        p = caught(theta[ri] - b[ti])
        g = -(theta - mu) * prec + np.bincount(ri, weights=k - n * p, minlength=len(reviewers))
        info = prec + np.bincount(ri, weights=n * p * (1 - p), minlength=len(reviewers))
        step_theta = g / info
        theta = theta + step_theta
        move = max(float(np.abs(step_b).max(initial=0.0)), float(np.abs(step_theta).max(initial=0.0)))
        if move < tol:
            converged = True
            break
    abilities = {}
    for r, i in r_index.items():
        th, se = float(theta[i]), 1 / math.sqrt(float(info[i]))
        abilities[r] = Ability(th, se, _expit(th), _expit(th - Z95 * se), _expit(th + Z95 * se))
    return RaschFit(abilities=abilities, difficulties={t: float(b[i]) for t, i in t_index.items()},
                    converged=converged)


# --- difficulty -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difficulty:
    template: str
    interval: Interval  # catch rate across all reviewers, Wilson 95%
    reviewers: int


def difficulties(cells: Mapping[tuple[int, str], tuple[int, int]]) -> list[Difficulty]:
    """Each template's catch rate across all reviewers, hardest first (§7).

    Ranked by the interval's upper bound, so a template missed 6 times out of 6 comes before one
    missed once out of once: the top of the list is hard with some confidence, not just rare."""
    acc: dict[str, list[int]] = {}
    for (_r, t), (n, k) in cells.items():
        a = acc.setdefault(t, [0, 0, 0])
        a[0] += n
        a[1] += k
        a[2] += 1
    out = [Difficulty(t, wilson(k, n), rv) for t, (n, k, rv) in acc.items()]
    out.sort(key=lambda d: (d.interval.high, d.interval.rate if d.interval.rate is not None else 2, d.template))
    return out


# --- reliability ----------------------------------------------------------------------------------


def spearman_brown(r: float, factor: float) -> float:
    """Reliability of a score `factor` times as long: k r / (1 + (k - 1) r) (§7)."""
    return factor * r / (1 + (factor - 1) * r)


def canaries_for_reliability(r1: float, target: float = 0.7) -> int | None:
    """Smallest n with spearman_brown(r1, n) >= target; None when r1 <= 0 (no signal to amplify)."""
    if r1 <= 0:
        return None
    if r1 >= target:
        return 1
    return math.ceil(target * (1 - r1) / (r1 * (1 - target)) - 1e-9)


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / math.sqrt(sxx * syy)


@dataclass(frozen=True)
class SplitHalf:
    r_halves: float | None  # correlation of odd- and even-numbered canaries' catch rates across reviewers
    mean_half: float  # mean canaries per half
    r_single: float | None  # one canary's reliability (Spearman-Brown stepped down)
    reviewers: int


def split_half(sequences: Mapping[int, Sequence[bool]], *, min_per_reviewer: int = 6) -> SplitHalf:
    """Single-canary reliability from odd/even split halves across reviewers (§7).

    `sequences` hold each reviewer's canaries in decision order, True = caught. The halves'
    correlation is the reliability of a half-length score; Spearman-Brown steps it down to one
    canary. The spread of template difficulties enters here: canaries that differ in difficulty
    add noise to each half and lower r.
    """
    xs, ys, lens = [], [], []
    for seq in sequences.values():
        if len(seq) < min_per_reviewer:
            continue
        odd, even = seq[0::2], seq[1::2]
        xs.append(sum(odd) / len(odd))
        ys.append(sum(even) / len(even))
        lens.append(len(seq) / 2)
    r = pearson(xs, ys)
    if r is None:
        return SplitHalf(None, 0.0, None, len(xs))
    mean_half = sum(lens) / len(lens)
    r_single = spearman_brown(r, 1 / mean_half) if r > 0 else r
    return SplitHalf(r, mean_half, r_single, len(xs))


@dataclass(frozen=True)
class Reliability:
    value: float | None  # of this reviewer's catch rate from their n canaries
    more_for_target: int | None  # canaries still needed for `target`; 0 once reached
    target: float


def reliability_for(n: int, r_single: float | None, *, target: float = 0.7) -> Reliability:
    if r_single is None or r_single <= 0 or n <= 0:
        return Reliability(None, None, target)
    need = canaries_for_reliability(r_single, target)
    return Reliability(spearman_brown(r_single, n), max(0, (need or 0) - n), target)


# --- skips and expiries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SkipCounts:
    real_decided: int = 0
    real_skips: int = 0
    planted_decided: int = 0
    planted_skips: int = 0
    canaries_caught: int = 0
    canaries_missed: int = 0
    canaries_skipped_expired: int = 0  # skipped by this reviewer, never decided, now expired
    canaries_expired_unseen: int = 0  # never served to them before it expired


def skip_rate(skips: int, decided: int) -> Interval:
    """Share of servings that ended in a skip (skip events over decisions plus skip events)."""
    return wilson(skips, skips + decided)


def inclusive_catch(c: SkipCounts) -> Interval:
    """Caught over every canary planted for them and closed: a canary skipped or left to expire
    counts as not caught (§7), so skipping hard items cannot raise the rate."""
    n = c.canaries_caught + c.canaries_missed + c.canaries_skipped_expired + c.canaries_expired_unseen
    return wilson(c.canaries_caught, n)


def skip_concentration(long_skips: int, skips: int, share_long: float) -> float | None:
    """One-sided binomial p that this many of a reviewer's skips land on long (or hard) items
    when a `share_long` of what they are served is long: small p = skips concentrate there."""
    if skips <= 0 or not 0 < share_long < 1:
        return None
    return sum(math.comb(skips, x) * share_long**x * (1 - share_long) ** (skips - x)
               for x in range(long_skips, skips + 1))
