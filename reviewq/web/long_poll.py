"""Handing a long-poll from its Flask view to the event loop that serves it.

Under `reviewq serve` the front puts its event loop under ASYNC_WAIT in the environ. A view
that would block registers a waiter on that loop *before* its first read (so no commit after
the read is missed), and if still unsettled puts a LongPoll under LONG_POLL and returns its
current answer; the front waits on the loop and sends `render(value)` of the last check with
that answer's status and headers. Elsewhere (the test client, a plain WSGI server) the view
waits in its thread as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request

ASYNC_WAIT = "reviewq.async_wait"
LONG_POLL = "reviewq.long_poll"


@dataclass(frozen=True, slots=True)
class LongPoll:
    key: str  # the wake-up key (reviewq.domain.wakeups)
    timeout: float  # seconds to wait at most
    check: Callable[[], tuple[bool, Any]]  # a short transaction of its own: (settled?, value)
    wake_in: Callable[[Any], float | None]  # seconds until the value changes by itself (a deadline)
    render: Callable[[Any], bytes]
    waiter: Any = None  # the LoopEvent registered before the view's read (reviewq.domain.wakeups)
    value: Any = None  # what that read found (or a lean summary of it: only wake_in reads it)
    # What a settling commit handed to the waiter -> check()'s value, with no read (wakeups.py).
    accept: Callable[[Any], tuple[bool, Any]] | None = None


def event_loop():
    """The serving event loop, when a long-poll can be handed to it; else None."""
    return request.environ.get(ASYNC_WAIT)


def defer(poll: LongPoll) -> None:
    request.environ[LONG_POLL] = poll
