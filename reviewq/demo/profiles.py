"""The demo's eight reviewers, each with a distinct, known vigilance profile.

The simulation draws every decision from these numbers, so the dashboard can be checked
against a known truth: the decay after 20 minutes, the rubber-stamper, the cautious one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ReviewerProfile:
    name: str
    story: str
    catch_rate: float  # probability of rejecting a canary early in a session, in week 1
    false_alarm_rate: float  # probability of rejecting a known-good item
    dwell_seconds: float  # median active seconds per item
    decay_after_min: float | None = None  # minutes into session after which catch rate falls
    decayed_catch_rate: float | None = None
    weekly_gain: float = 0.0  # catch-rate improvement per week (learning from reveals)
    session_minutes: tuple[int, int] = (45, 75)
    start_hour: int = 9  # usual start of the working day (local time)
    days: tuple[int, ...] = (0, 1, 2, 3, 4)  # weekdays worked

    def p_catch(self, *, minutes_into_session: float, week_index: int) -> float:
        p = self.catch_rate + self.weekly_gain * week_index
        if self.decay_after_min is not None and minutes_into_session > self.decay_after_min:
            p = self.decayed_catch_rate if self.decayed_catch_rate is not None else p
        return min(0.99, max(0.01, p))


PROFILES: tuple[ReviewerProfile, ...] = (
    ReviewerProfile("ada", "steady and sharp", catch_rate=0.93, false_alarm_rate=0.02, dwell_seconds=150),
    ReviewerProfile("ben", "decays after 20 minutes", catch_rate=0.95, false_alarm_rate=0.03,
                    dwell_seconds=110, decay_after_min=20, decayed_catch_rate=0.30, session_minutes=(55, 85)),
    ReviewerProfile("cleo", "rubber-stamper: very short dwell, low catch rate", catch_rate=0.20,
                    false_alarm_rate=0.01, dwell_seconds=1.5, session_minutes=(3, 5), days=(0, 3)),
    ReviewerProfile("dev", "cautious: many false alarms", catch_rate=0.95, false_alarm_rate=0.30,
                    dwell_seconds=180),
    ReviewerProfile("eli", "new hire improving week by week after reveals", catch_rate=0.45,
                    false_alarm_rate=0.08, dwell_seconds=160, weekly_gain=0.15),
    ReviewerProfile("fay", "decays after 20 minutes, late shift", catch_rate=0.93, false_alarm_rate=0.04,
                    dwell_seconds=100, decay_after_min=20, decayed_catch_rate=0.30, start_hour=13,
                    session_minutes=(55, 85)),
    ReviewerProfile("gus", "solid, part-time, fades a little after 25 minutes", catch_rate=0.88,
                    false_alarm_rate=0.05, dwell_seconds=130, days=(1, 3), decay_after_min=25,
                    decayed_catch_rate=0.50),
    ReviewerProfile("hana", "fast and accurate, fades after 25 minutes", catch_rate=0.93, false_alarm_rate=0.03,
                    dwell_seconds=110, decay_after_min=25, decayed_catch_rate=0.45),
)

LEAD_NAME = "lena"
ADMIN_NAME = "root"
DEMO_PASSWORD = "demo-password"


def dwell_sample(profile: ReviewerProfile, rng) -> float:
    """Active seconds on one item: log-normal around the profile's median."""
    return max(0.4, profile.dwell_seconds * math.exp(rng.gauss(0.0, 0.35)))
