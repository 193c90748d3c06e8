"""Simulated review teams with a known truth (issue 13): a plan of sittings and canary outcomes,
drawn from a seeded rng, that either goes through the real queue (enqueue, plant, claim, decide,
scoring, rollups) or is summarised directly into the per-reviewer minute counts the formulas take.

Minutes into session are computed the way decide() records them: cumulative active time of the
sitting, this item included.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from reviewq.domain.vigilance import MinuteCounts
from reviewq.models import InjectionKind, Verdict
from tests.factories import make_user
from tests.support.dashboard_seed import review_one


@dataclass(frozen=True)
class Member:
    name: str
    sitting_minutes: tuple[float, float]  # a sitting's length, drawn uniformly from this range
    p_catch: Callable[[float], float]  # true catch probability at a minute into the session
    sittings: int = 3


@dataclass(frozen=True)
class Step:
    reviewer: str
    at: datetime
    active_s: float
    minutes: float
    caught: bool


ITEM_SECONDS = (80.0, 130.0)  # one canary per ~1.75 active minutes keeps the runs short


def plan(members: list[Member], *, seed: int, start: datetime) -> list[Step]:
    rng = random.Random(seed)
    steps = []
    for member in members:
        t = start
        for _ in range(member.sittings):
            length = rng.uniform(*member.sitting_minutes) * 60
            active = 0.0
            while active < length:
                secs = round(rng.uniform(*ITEM_SECONDS), 3)
                minutes = (active + secs) / 60
                steps.append(Step(member.name, t, secs, minutes, rng.random() < member.p_catch(minutes)))
                active += secs
                t += timedelta(seconds=secs)
            t += timedelta(hours=3)  # a break: the next sitting is a new session
    return steps


def minute_counts(steps: list[Step]) -> dict[str, list[MinuteCounts]]:
    """What the dashboard's SQL would aggregate, computed directly (the many-seed path)."""
    out: dict[str, dict[int, list[float]]] = {}
    for s in steps:
        cell = out.setdefault(s.reviewer, {}).setdefault(int(s.minutes), [0.0, 0, 0])
        cell[0] += s.minutes
        cell[1] += 1
        cell[2] += int(s.caught)
    return {r: [MinuteCounts(m / n, n, k) for _, (m, n, k) in sorted(cells.items())] for r, cells in out.items()}


def run_through_queue(session, settings, steps: list[Step], *, now: datetime, prefix: str) -> None:
    """Every step as a planted canary claimed and decided through the real queue."""
    users = {}
    for s in steps:
        if s.reviewer not in users:
            users[s.reviewer] = make_user(session, f"{prefix}{s.reviewer}", now=now)
        review_one(session, users[s.reviewer], verdict=Verdict.REJECT if s.caught else Verdict.APPROVE, now=s.at,
                   active_s=s.active_s, settings=settings, kind=InjectionKind.CANARY, bucket="hallucinated_fact")
    session.flush()


def flat(p: float) -> Callable[[float], float]:
    return lambda _m: p


def drops_after_20(early: float, late: float) -> Callable[[float], float]:
    return lambda m: early if m < 20 else late


def no_decay_team() -> list[Member]:
    """Nobody decays; the weaker reviewers sit long, the stronger ones short (issue 13's first case)."""
    return [
        *[Member(f"long{i}", (45, 70), flat(0.65)) for i in range(3)],
        *[Member(f"short{i}", (12, 26), flat(0.95)) for i in range(3)],
    ]


def decaying_team() -> list[Member]:
    """Everyone drops from .92 to .62 after 20 active minutes, with mixed sitting lengths."""
    return [
        *[Member(f"long{i}", (45, 70), drops_after_20(0.92, 0.62)) for i in range(3)],
        *[Member(f"short{i}", (20, 35), drops_after_20(0.92, 0.62)) for i in range(3)],
    ]
