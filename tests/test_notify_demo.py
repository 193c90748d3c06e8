"""Simulated reviewers with a known truth answer escalations, and the dashboard's queue health shows the gain."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reviewq import migrate
from reviewq.db import Database
from reviewq.demo.oncall import demo_notify_settings
from reviewq.demo.simulate import simulate_history
from reviewq.stats.dashboard import build_dashboard
from reviewq.stats.filters import Filters
from tests.conftest import make_test_settings

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def attention_after(tmp_path, name: str, *, answer: bool) -> tuple[dict, dict]:
    """Ten simulated days (same seed) with the on-call desk answering escalations or not, read back
    through build_dashboard's queue health."""
    log = tmp_path / f"{name}.log"
    settings = make_test_settings(f"sqlite:///{tmp_path / name}.db", canaries={"per_reviewer_per_week": 10},
                                  notify=demo_notify_settings(str(log)))
    migrate.upgrade(settings)
    database = Database.from_settings(settings)
    try:
        result = simulate_history(database=database, settings=settings, now=NOW, seed=20261122, days=10,
                                  answer_escalations=answer)
        with database.session(readonly=True) as s:
            dashboard = build_dashboard(session=s, now=NOW, filters=Filters.default(NOW, days=20),
                                        settings=settings).to_json()
    finally:
        database.dispose()
    return dashboard["queue"]["attention"], result


@pytest.mark.slow
def test_answered_escalations_cut_the_expired_share(tmp_path):
    """The same traffic and reviewers: answering escalations at least halves the share of approvals that expire."""
    unanswered, quiet = attention_after(tmp_path, "quiet", answer=False)
    answered, desk = attention_after(tmp_path, "oncall", answer=True)
    assert quiet["answered"] == 0 and desk["answered"] > 20 and desk["escalations"] > 50
    before, after = unanswered["total"], answered["total"]
    assert before["requested"] == after["requested"] > 80  # the same arrivals either way
    assert before["expired_share"] > 0.25  # nobody reading: a third fail closed (issue 18's 108 of ~300)
    assert after["expired_share"] <= before["expired_share"] / 2
    assert after["expired_unread"] < before["expired_unread"]
    # Medians cover the approvals that were opened: without answers only the quick ones ever are.
    assert after["median_first_open_s"] is not None and after["median_decision_s"] is not None
    intents = {r["intent"] for r in answered["intents"]}
    assert intents == {"refund", "record_change", "access_grant"}
