"""Turns at running Python in this process, for work that only slows when run side by side.

One process runs Python on one thread at a time (the GIL). On SQLite, where one process serves
everything, the reviewers' queue calls and the scheduler's write transactions ran side by side on
many threads and only interleaved: at each SQLite call the thread holding the write lock handed
the GIL to another and waited to get it back. With four reviewers deciding as fast as they could,
a decide held the write lock 6.3 ms for about 2 ms of its own work, and a notification scan chunk
10 ms (p99 23) with 10,000 approvals open. Taking turns, each runs at full speed.

A queue call waits at most `CALL_PATIENCE_S` and a background transaction `BACKGROUND_WAIT_S`
for its turn, then runs anyway beside the holder. Calls go in arrival order, before background
work unless it has waited the write lock's patience (reviewq.write_lock). Under `reviewq serve`
a queue call runs on the event loop's thread (reviewq.serving.front), so the loop serves nothing
else while one runs: a slow one holds back the others for its whole length, not only its
patience (projection banks are rebuilt aside for that reason: reviewq.domain.projection_bank).
PostgreSQL servers run several processes and their statements wait on the network, so they do
not take turns (measured: next p99 17 -> 38 ms with turns).
"""

from __future__ import annotations

import re

from reviewq.write_lock import WriteLock

CALL_PATIENCE_S = 0.05
BACKGROUND_WAIT_S = 0.2

# The reviewer's hot loop: next, decide, skip, heartbeat and the header's status.
QUEUE_CALLS = re.compile(r"/queue/(next|status|items/[^/]+/(decide|skip|heartbeat))")

_TURNS = WriteLock()  # the write lock's hand-over in order, here for whole calls


def is_queue_call(path: str) -> bool:
    return QUEUE_CALLS.fullmatch(path) is not None


async def take_call_turn() -> bool:
    """The turn for a queue call served on an event loop, awaited without blocking the loop's
    thread (give it back with `give_back`); False after CALL_PATIENCE_S without it."""
    return await _TURNS.acquire_async(timeout=CALL_PATIENCE_S)


def take_background_turn() -> bool:
    """A background write transaction's turn (give it back with `give_back`); False after
    BACKGROUND_WAIT_S without one, and it runs anyway."""
    return _TURNS.acquire(timeout=BACKGROUND_WAIT_S, background=True)


def give_back() -> bool:
    """Give the turn up; True if a waiting thread (a background transaction) now holds it."""
    return _TURNS.release()


def turns() -> WriteLock:
    """The turns themselves, for tests."""
    return _TURNS
