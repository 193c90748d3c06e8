"""DecisionCreate holds the decide body's rules once: the queue page and the judges' API both validate with it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reviewq.models import DecisionCreate, ReasonBucket, Verdict


def test_a_reject_needs_a_reason_and_an_approve_carries_none():
    """A reject without a reason is refused naming `reason`; an approve drops any reason given."""
    for reason in (None, ""):
        with pytest.raises(ValidationError) as err:
            DecisionCreate.model_validate({"verdict": "reject", "reason": reason})
        assert err.value.errors()[0]["loc"] == ("reason",)
    assert DecisionCreate(verdict=Verdict.APPROVE, reason="off_topic").reason is None
    assert DecisionCreate(verdict=Verdict.REJECT, reason=ReasonBucket.OTHER).reason == "other"


def test_reasons_are_checked_against_the_configured_buckets_when_given():
    """With context={"reasons": [...]} only those buckets pass; the team's own bucket is one of them."""
    context = {"reasons": ["other", "tone"]}
    assert DecisionCreate.model_validate({"verdict": "reject", "reason": "tone"}, context=context).reason == "tone"
    with pytest.raises(ValidationError, match="unknown reason bucket"):
        DecisionCreate.model_validate({"verdict": "reject", "reason": "bogus"}, context=context)


def test_note_is_trimmed_and_active_ms_is_a_whole_number():
    """A null note is empty, a note is stored trimmed; active_ms refuses text, booleans and fractions."""
    assert DecisionCreate.model_validate({"verdict": "approve", "note": None}).note == ""
    assert DecisionCreate.model_validate({"verdict": "approve", "note": "  fine \n"}).note == "fine"
    for bad in ("12", True, 1.5, -1):
        with pytest.raises(ValidationError) as err:
            DecisionCreate.model_validate({"verdict": "approve", "active_ms": bad})
        assert err.value.errors()[0]["loc"] == ("active_ms",)
