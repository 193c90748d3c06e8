"""Quantiles from a bucket histogram (the rollups keep counts per bucket, not every value)."""

from __future__ import annotations

from collections.abc import Sequence


def quantile_from_histogram(counts: Sequence[int], edges: Sequence[float], q: float) -> float | None:
    """Estimate the q-quantile by linear interpolation inside the bucket that holds it.

    Bucket i spans [edges[i], edges[i+1]); the last bucket is open-ended, so a quantile that
    lands in it is reported as its lower edge (a floor, not an estimate).
    """
    if len(counts) != len(edges):
        raise ValueError("one count per bucket edge")
    total = sum(counts)
    if total == 0:
        return None
    target = q * total
    seen = 0
    for i, c in enumerate(counts):
        if c and seen + c >= target:
            if i == len(edges) - 1:
                return float(edges[i])
            frac = (target - seen) / c
            return edges[i] + frac * (edges[i + 1] - edges[i])
        seen += c
    return float(edges[-1])  # pragma: no cover - target <= total always lands above
