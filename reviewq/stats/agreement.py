"""Agreement between raters on the same items: pure functions over labels (VIGILANCE.md §8).

A *unit* is one item and the labels its raters gave it (a label is any hashable: a verdict, a
reason bucket). Units with fewer than two labels carry no agreement information and are dropped,
which is how Krippendorff's alpha handles missing data.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from reviewq.domain.vigilance import JUDGE_AT, NO_RATE, PROVISIONAL, PROVISIONAL_BELOW, RATED

Unit = Sequence[Hashable]
Pair = tuple[Hashable, Hashable]


def pairable(units: Sequence[Unit]) -> list[tuple[Hashable, ...]]:
    """Units with at least two labels, None labels removed (missing data)."""
    out = []
    for unit in units:
        labels = tuple(label for label in unit if label is not None)
        if len(labels) >= 2:
            out.append(labels)
    return out


def _counted(units) -> Counter:
    """Distinct pairable units with their multiplicity: every statistic below is a sum over units,
    so it runs over the few distinct label patterns, not over every item (bootstrap speed)."""
    if isinstance(units, Counter):
        return units
    return Counter(pairable(units))


def coincidences(units) -> Counter:
    """Krippendorff's coincidence matrix o_ck: each ordered pair of labels in a unit of m labels
    counts 1/(m-1), so every pairable label contributes exactly 1 to the margins."""
    o: Counter = Counter()
    for labels, weight in _counted(units).items():
        m = len(labels)
        for i, c in enumerate(labels):
            for j, k in enumerate(labels):
                if i != j:
                    o[(c, k)] += weight / (m - 1)
    return o


def raw_agreement(units) -> float | None:
    """Share of agreeing label pairs, sum_c o_cc / n; with two raters, the share of units agreed on."""
    o = coincidences(units)
    n = sum(o.values())
    if n == 0:
        return None
    return sum(v for (c, k), v in o.items() if c == k) / n


def krippendorff_alpha_nominal(units) -> float | None:
    """Krippendorff's alpha, nominal metric: 1 - D_o / D_e (VIGILANCE.md §8).

    D_o = (1/n) * sum_{c != k} o_ck and D_e = (1/(n(n-1))) * sum_{c != k} n_c n_k, so
    alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k. None when D_e = 0 (one label
    only: agreement cannot be told from chance).
    """
    o = coincidences(units)
    n = sum(o.values())
    if n <= 1:
        return None
    margins: Counter = Counter()
    for (c, _k), v in o.items():
        margins[c] += v
    disagree_observed = sum(v for (c, k), v in o.items() if c != k)
    disagree_expected = n * n - sum(v * v for v in margins.values())  # sum_{c != k} n_c n_k
    if disagree_expected <= 1e-12:
        return None
    return 1.0 - (n - 1) * disagree_observed / disagree_expected


def cohen_kappa(pairs) -> float | None:
    """Cohen's kappa for two raters: (p_o - p_e) / (1 - p_e), p_e from each rater's own margins.

    Pairs are (first rater's label, second rater's label). None when p_e = 1 (both raters always
    gave the same single label) or when a unit does not have exactly two labels.
    """
    counted = _counted(pairs)
    if any(len(u) != 2 for u in counted):
        return None
    n = sum(counted.values())
    if n == 0:
        return None
    first: Counter = Counter()
    second: Counter = Counter()
    agree = 0
    for (a, b), w in counted.items():
        first[a] += w
        second[b] += w
        agree += w if a == b else 0
    p_o = agree / n
    p_e = sum(first[c] * second.get(c, 0) for c in first) / (n * n)
    if p_e >= 1.0 - 1e-12:
        return None
    return (p_o - p_e) / (1.0 - p_e)


def confusion(pairs: Sequence[Pair], labels: Sequence[Hashable]) -> list[list[int]]:
    """Counts[i][j]: first rater said labels[i], second said labels[j]."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for a, b in pairs:
        if a in index and b in index:
            matrix[index[a]][index[b]] += 1
    return matrix


def bootstrap_interval(
    units, statistic: Callable[[Counter], float | None], *, rng: random.Random,
    resamples: int = 1000, level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap over units (items are resampled, their labels kept together).

    Resamples where the statistic is undefined are left out; None if fewer than half are defined.
    """
    counted = _counted(units)
    n = sum(counted.values())
    if n < 2:
        return None
    patterns = list(counted)
    weights = [counted[p] for p in patterns]
    values = []
    for _ in range(resamples):
        value = statistic(Counter(rng.choices(patterns, weights=weights, k=n)))
        if value is not None:
            values.append(value)
    if len(values) < resamples / 2:
        return None
    values.sort()
    tail = (1.0 - level) / 2
    low = values[int(tail * (len(values) - 1))]
    high = values[int(round((1.0 - tail) * (len(values) - 1)))]
    return low, high


@dataclass(frozen=True)
class AgreementFigure:
    """Agreement over `n` items, shown by the same small-sample rule as a catch rate (VIGILANCE.md §3)."""

    n: int
    status: str  # NO_RATE, PROVISIONAL or RATED
    raw: float | None
    raw_ci: tuple[float, float] | None
    kappa: float | None
    kappa_ci: tuple[float, float] | None
    alpha: float | None
    alpha_ci: tuple[float, float] | None
    fit_to_judge: bool

    def as_json(self) -> dict:
        shown = self.status != NO_RATE

        def hide(value):
            return value if shown else None

        return {
            "n": self.n, "status": self.status, "fit_to_judge": self.fit_to_judge,
            "raw": hide(self.raw), "raw_ci": hide(self.raw_ci),
            "kappa": hide(self.kappa), "kappa_ci": hide(self.kappa_ci),
            "alpha": hide(self.alpha), "alpha_ci": hide(self.alpha_ci),
        }


def display_status(n: int, *, minimum: int) -> str:
    """Below the minimum: no figure; up to 29: provisional; then shown (VIGILANCE.md §3)."""
    if n < minimum:
        return NO_RATE
    return PROVISIONAL if n < max(PROVISIONAL_BELOW, minimum) else RATED


def agreement(units, *, rng: random.Random, minimum: int = 10, resamples: int = 1000) -> AgreementFigure:
    """Raw agreement, Cohen's kappa (when every unit has exactly two raters, first rater first)
    and Krippendorff's alpha, each with a bootstrap 95% interval (VIGILANCE.md §8)."""
    counted = _counted(units)
    n = sum(counted.values())
    status = display_status(n, minimum=minimum)
    two = all(len(u) == 2 for u in counted)
    ci = status != NO_RATE  # no interval work for a figure that is not shown

    def interval(stat):
        return bootstrap_interval(counted, stat, rng=rng, resamples=resamples) if ci else None

    return AgreementFigure(
        n=n, status=status,
        raw=raw_agreement(counted), raw_ci=interval(raw_agreement),
        kappa=cohen_kappa(counted) if two else None, kappa_ci=interval(cohen_kappa) if two else None,
        alpha=krippendorff_alpha_nominal(counted), alpha_ci=interval(krippendorff_alpha_nominal),
        fit_to_judge=n >= JUDGE_AT,
    )
