"""Reason buckets: the built-in eight (the seeds' six, policy_violation, other) plus the team's own."""

from __future__ import annotations

from reviewq.config import Settings
from reviewq.domain.errors import ValidationFailed
from reviewq.models import ReasonBucket, Verdict

BUILT_IN = tuple(r.value for r in ReasonBucket)


def known_reasons(settings: Settings) -> tuple[str, ...]:
    """Every reason bucket a reject may carry, in key order: built-in first, then [reasons] extra."""
    return BUILT_IN + tuple(b for b in settings.reasons.extra if b not in BUILT_IN)


def reason_label(bucket: str | None) -> str:
    return "" if not bucket else bucket.replace("_", " ").capitalize()


def reason_for(verdict: Verdict | str, reason: str | None, known: tuple[str, ...] | None = None) -> str | None:
    """A reject needs a reason bucket (one of `known`, when given); an approve carries none."""
    if Verdict(verdict) != Verdict.REJECT:
        return None
    if not reason:
        raise ValidationFailed("a reject needs a reason bucket", field="reason")
    if known is not None and reason not in known:
        raise ValidationFailed("unknown reason bucket", field="reason")
    return reason
