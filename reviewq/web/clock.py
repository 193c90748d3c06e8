"""The app's clock and the claim rng, kept on the app so a test can put its own there.

Every request handler reads the time with `app_now()` and passes it into the domain (which never
reads a clock itself); claims draw from `claim_rng()`. Production uses the wall clock and the
system's randomness: a reviewer cannot observe or predict the claim draws (projection, interleave).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

from flask import Flask, current_app

from reviewq.models import utcnow

CLOCK = "reviewq.clock"
CLAIM_RNG = "reviewq.claim_rng"


def init_app(app: Flask, *, clock: Callable[[], datetime] | None = None,
             claim_rng: random.Random | None = None) -> None:
    app.extensions[CLOCK] = clock or utcnow
    app.extensions[CLAIM_RNG] = claim_rng or random.SystemRandom()


def app_now() -> datetime:
    return current_app.extensions[CLOCK]()


def app_clock() -> Callable[[], datetime]:
    """The clock itself, for work that outlives the request's app context (a deferred long-poll)."""
    return current_app.extensions[CLOCK]


def claim_rng() -> random.Random:
    return current_app.extensions[CLAIM_RNG]
