"""Reason buckets: the built-in eight (the seeds' six, policy_violation, other) plus the team's own."""

from __future__ import annotations

from reviewq.config import Settings
from reviewq.models import ReasonBucket

BUILT_IN = tuple(r.value for r in ReasonBucket)


def known_reasons(settings: Settings) -> tuple[str, ...]:
    """Every reason bucket a reject may carry, in key order: built-in first, then [reasons] extra."""
    return BUILT_IN + tuple(b for b in settings.reasons.extra if b not in BUILT_IN)


def reason_label(bucket: str | None) -> str:
    return "" if not bucket else bucket.replace("_", " ").capitalize()
