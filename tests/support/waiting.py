"""Waiting for another thread in a test: bounded, polled every millisecond."""

from __future__ import annotations

import time

WAIT_S = 5.0  # bounds every wait; each normally takes milliseconds


def until(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)
