"""Estimator recovery: simulated reviewers with known catch, decay and false-alarm rates go
through the real queue (enqueue, claim, decide, canary scoring, rollups), and the dashboard's
queries and statistics must recover the truth within their intervals for most seeds."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from reviewq.models import InjectionKind, Verdict
from reviewq.stats import Filters, build_dashboard
from tests.factories import make_user
from tests.support.dashboard_seed import BUCKETS, review_one


@dataclass(frozen=True)
class Truth:
    early: float  # P(catch) in the first 20 active minutes of a session
    late: float  # P(catch) after minute 20 (the vigilance decrement)
    false_alarm: float  # P(reject) of a known-good item


REVIEWERS = {"decays": Truth(0.92, 0.55, 0.04), "steady": Truth(0.85, 0.85, 0.08), "sharp": Truth(0.95, 0.65, 0.02)}
SESSIONS, ITEMS_PER_SESSION, ITEM_SECONDS = 2, 55, 40  # two ~37-minute sessions each


def simulate(session, settings, now, seed: int, day_offset: int):
    """Generate one seed's history in its own week; return the true rates behind each figure."""
    rng = random.Random(seed)
    truth_p = {"early": [], "late": []}
    per_reviewer = {}
    start = now - timedelta(days=day_offset)
    for name, truth in REVIEWERS.items():
        user = make_user(session, f"{name}-{seed}", now=now)
        ps: list[float] = []
        t = start
        for _s in range(SESSIONS):
            active_ms = 0
            for _i in range(ITEMS_PER_SESSION):
                secs = ITEM_SECONDS + rng.uniform(-5, 5)
                minutes = (active_ms + secs * 1000) / 60000  # what decide will record
                draw = rng.random()
                kind = InjectionKind.CANARY if draw < 0.45 else InjectionKind.CONTROL if draw < 0.7 else None
                if kind == InjectionKind.CANARY:
                    p = truth.early if minutes < 20 else truth.late
                    ps.append(p)
                    truth_p["early" if minutes < 20 else "late"].append(p)
                    verdict = Verdict.REJECT if rng.random() < p else Verdict.APPROVE
                elif kind == InjectionKind.CONTROL:
                    verdict = Verdict.REJECT if rng.random() < truth.false_alarm else Verdict.APPROVE
                else:
                    verdict = Verdict.APPROVE if rng.random() < 0.9 else Verdict.REJECT
                review_one(session, user, verdict=verdict, now=t, active_s=secs, settings=settings,
                           kind=kind, bucket=rng.choice(BUCKETS))
                active_ms += int(secs * 1000)
                t += timedelta(seconds=secs)
            t += timedelta(hours=3)  # a break: the next session starts afresh
        per_reviewer[user.name] = (sum(ps) / len(ps), truth.false_alarm)
    session.flush()
    day = start.date()
    filters = Filters(start=day, end=day + timedelta(days=1))
    expected = {k: sum(v) / len(v) for k, v in truth_p.items()}
    return filters, expected, per_reviewer


def covers(interval: dict, value: float) -> bool:
    return interval["low"] <= value <= interval["high"]


def test_dashboard_recovers_known_parameters(session, settings, now, backend):
    """Wilson intervals cover the true catch, false-alarm, early and late rates >= 80% of the time,
    the decay headline shows the drop, and the logistic slope is negative in most seeds."""
    seeds = [11, 12, 13] if backend == "sqlite" else [21]
    hits = checks = negative_slopes = 0
    for i, seed in enumerate(seeds):
        filters, expected, per_reviewer = simulate(session, settings, now, seed, day_offset=7 * (i + 1))
        board = build_dashboard(session=session, now=now, filters=filters, settings=settings).to_json()
        rows = {r["reviewer"]: r for r in board["scoreboard"] if r["reviewer"] in per_reviewer}
        assert len(rows) == len(REVIEWERS)
        for name, (true_catch, true_fa) in per_reviewer.items():
            row = rows[name]
            assert row["catch"]["status"] != "no_rate"
            results = [covers(row["catch"], true_catch), covers(row["false_alarm"], true_fa)]
            hits, checks = hits + sum(results), checks + len(results)
        decay = board["decay"]
        results = [covers(decay["early"], expected["early"]), covers(decay["late"], expected["late"])]
        hits, checks = hits + sum(results), checks + len(results)
        assert decay["early"]["rate"] > decay["late"]["rate"]
        assert decay["logistic"] is not None
        negative_slopes += decay["logistic"]["slope_per_min"] < 0
        assert sum(b["n"] for b in decay["bins"]) == sum(r["canaries"] for r in rows.values())
        assert decay["bins"][-1]["start"] >= 30  # sessions reach the 30-40 minute bin
    assert hits / checks >= 0.8, f"intervals covered the truth only {hits}/{checks} times"
    assert negative_slopes >= len(seeds) - 1 if len(seeds) > 1 else negative_slopes == 1
