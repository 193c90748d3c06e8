"""Display rules (issue 13, VIGILANCE.md §3-§5, §7): one page test per verdict state, through the real
queue, the real dashboard queries and the rendered HTML. Each state's wording is checked, and so is
the absence of the contradictions the issue found ("p = 0.000", "not enough data" beside a significant
test, a slope from an unconverged fit, a red row from 4 canaries)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from reviewq.models import InjectionKind, Role, User, Verdict
from tests.factories import make_user
from tests.support.dashboard_seed import review_one
from tests.support.web import login

C = InjectionKind.CANARY


def _sitting(s, user, settings, start, outcomes, *, secs=60.0, kind=C):
    """One sitting of planted canaries, one per `secs` active seconds; outcomes are True for caught."""
    t = start
    for caught in outcomes:
        review_one(s, user, verdict=Verdict.REJECT if caught else Verdict.APPROVE, now=t, active_s=secs,
                   settings=settings, kind=kind, bucket="hallucinated_fact" if kind == C else None)
        t += timedelta(seconds=secs)
    return t


def _pattern(k, n):
    """k True among n, spread evenly (deterministic)."""
    return [(i * k) // n != ((i + 1) * k) // n for i in range(n)]


def _seed(database, settings, now, name, sittings):
    """sittings: list of (early (k, n), late (k, n)). The early canaries share the first 19 active
    minutes, the late ones follow at 60 s each, so the first of them ends after minute 20."""
    with database.session_scope() as s:
        user = make_user(s, name, now=now)
        if s.exec(select(User).where(User.name == "lena")).first() is None:
            make_user(s, "lena", Role.LEAD, now=now)
        t = now - timedelta(days=3)
        for early, late in sittings:
            if early[1]:
                t = _sitting(s, user, settings, t, _pattern(*early), secs=19 * 60 / early[1])
            t = _sitting(s, user, settings, t, _pattern(*late), secs=61.0)
            t += timedelta(hours=2)


def _page(client, path):
    login(client, "lena")
    r = client.get(path)
    assert r.status_code == 200
    return r.get_data(as_text=True)


RANGE = "from=2026-10-20&to=2026-11-02"


def _data(html):
    return json.loads(re.search(r'id="dashboard-data">(.*?)</script>', html, re.S).group(1))


def test_decrement_with_p_below_one_in_a_thousand(client, database, settings, now):
    """A clear drop reads 'catch rate drops', its p as '< 0.001', never 'p = 0.000' nor 'not enough data'."""
    _seed(database, settings, now, "dora", [((19, 19), (3, 20))] * 2)
    html = _page(client, f"/dashboard?{RANGE}")
    d = _data(html)
    assert d["decay"]["verdict"] == "decrement"
    assert "catch rate drops after 20 min (within reviewers)" in html
    assert "p &lt; 0.001" in html or "p < 0.001" in html
    assert "0.000" not in html and "not enough data" not in html


def test_no_decrement_with_enough_power(client, database, settings, now):
    """Equal rates with enough canaries each side read 'no evidence of a drop', with the power behind it."""
    _seed(database, settings, now, "nina", [((17, 19), (17, 19))] * 6)
    d = _data(_page(client, f"/dashboard?{RANGE}"))
    assert d["decay"]["verdict"] == "no_decrement" and d["decay"]["mh"]["power"] >= 0.8
    html = _page(client, f"/dashboard?{RANGE}")
    assert "no evidence of a drop after 20 min (within reviewers)" in html and "not enough data" not in html


def test_not_enough_data_only_when_not_significant_and_underpowered(client, database, settings, now):
    """Few canaries and no significant difference read 'not enough data yet', naming the power."""
    _seed(database, settings, now, "fay", [((8, 10), (7, 10))])
    html = _page(client, f"/dashboard?{RANGE}")
    d = _data(html)
    assert d["decay"]["verdict"] == "not_enough_data" and d["decay"]["mh"]["p"] > 0.05
    assert "not enough data yet for a verdict (power" in html


def test_unconverged_trend_shows_no_slope(client, database, settings, now):
    """All caught early and all missed late: the trend fit cannot converge, so no slope is printed."""
    _seed(database, settings, now, "sep", [((10, 10), (0, 10))])
    html = _page(client, f"/dashboard/reviewers/sep?{RANGE}")
    d = _data(html)
    assert d["decay"]["logistic"]["converged"] is False and "slope_per_min" not in d["decay"]["logistic"]
    assert "did not converge, so no slope is shown" in html and "log-odds per 10 min" not in html
    assert d["decay"]["verdict"] == "decrement"  # the exact stratified test still speaks


def test_four_missed_canaries_raise_no_alarm(client, database, settings, now):
    """A reviewer with 4 canaries, all missed, gets no rate, no drift alarm and no below-target alert."""
    _seed(database, settings, now, "few", [((0, 4), (0, 0))])
    html = _page(client, f"/dashboard?{RANGE}")
    row = next(r for r in _data(html)["scoreboard"] if r["reviewer"] == "few")
    assert row["catch"]["status"] == "no_rate" and not row["drift"]["alarm"] and not row["below_target"]["alert"]
    assert row["drift"]["status"] == "baseline"
    assert re.search(r'<tr data-reviewer="few" class="\s*">', html)  # not a red row
    assert "not asked before 30 canaries (4 so far)" in _page(client, f"/dashboard/reviewers/few?{RANGE}")


def test_below_target_and_drift_are_two_signals_with_their_own_words(client, database, settings, now):
    """A reviewer steady at 60% is likely below target but has not dropped from their own level;
    one who drops from their own high level alarms on drift; each is worded for its question."""
    _seed(database, settings, now, "low", [((11, 18), (11, 18))] * 3)  # ~61% throughout: 108 canaries
    _seed(database, settings, now, "drop", [((19, 19), (19, 19))] * 2 + [((4, 19), (3, 19))])
    d = _data(_page(client, f"/dashboard?{RANGE}"))
    rows = {r["reviewer"]: r for r in d["scoreboard"]}
    assert rows["low"]["below_target"]["alert"] and not rows["low"]["drift"]["alarm"]
    assert rows["drop"]["drift"]["alarm"]
    low = _page(client, f"/dashboard/reviewers/low?{RANGE}")
    assert "likely below target 80%" in low and "no drop from own level" in low
    drop = _page(client, f"/dashboard/reviewers/drop?{RANGE}")
    assert "dropped from own level" in drop and "alarm falsely about once every" in drop  # in-control run length


def test_d_prime_has_an_interval_and_the_rate_thresholds(client, database, settings, now):
    """d′ and c show 95% intervals once canaries and controls both reach the minimum; provisional under 30."""
    _seed(database, settings, now, "dee", [((9, 12), (0, 0))])
    with database.session_scope() as s:
        dee = s.exec(select(User).where(User.name == "dee")).one()
        _sitting(s, dee, settings, now - timedelta(days=1), [False] * 11 + [True], kind=InjectionKind.CONTROL)
    html = _page(client, f"/dashboard/reviewers/dee?{RANGE}")
    sdt = _data(html)["reviewer"]["sdt"]
    assert sdt["status"] == "provisional" and sdt["d_low"] < sdt["d_prime"] < sdt["d_high"]
    assert re.search(r"d′ -?\d\.\d\d \(-?\d\.\d\d–-?\d\.\d\d\)", html)


@pytest.mark.parametrize("reported", [0, None])
def test_server_timed_decisions_are_counted_and_not_pinned_at_minute_zero(client, database, settings, now, reported):
    """A browser reporting 0 (or nothing) gets server time: minutes into session move on, and the
    dashboard says how many decisions and canaries were timed that way (§4)."""
    from reviewq.domain.claims import claim_next
    from reviewq.domain.decide import decide
    from reviewq.models import DecisionCreate
    from tests.support.dashboard_seed import plant

    with database.session_scope() as s:
        zed = make_user(s, "zed", now=now)
        make_user(s, "lena", Role.LEAD, now=now)
        t = now - timedelta(days=1)
        for _ in range(25):
            plant(s, zed, C, now=t, bucket="hallucinated_fact")
            item = claim_next(session=s, reviewer_id=zed.id, now=t, lease_seconds=600)
            decide(session=s, public_id=item.public_id, reviewer=zed,
                   data=DecisionCreate(verdict=Verdict.APPROVE, active_ms=reported), now=t + timedelta(seconds=50),
                   settings=settings)
            t += timedelta(seconds=55)
    html = _page(client, f"/dashboard?{RANGE}")
    d = _data(html)
    assert d["team"]["active_fallback"] == 25 and d["decay"]["timing"] == {"canaries": 25, "server_fallback": 25}
    assert max(b["end"] for b in d["decay"]["bins"]) >= 20  # 25 x 50 s of server time: past minute 20
    assert "25 of 25 canaries on this curve are placed by server time" in html
    assert 'id="active-fallback">25 of 25<' in html
