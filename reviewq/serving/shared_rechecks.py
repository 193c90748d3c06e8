"""Long-poll re-reads shared by the waiters woken together.

A decision wakes every waiter on its approval at once: with 10,000 agents waiting on 20
approvals, 500 waiters each re-read the same approval, 500 short transactions queued in the
re-read pool, and the decision's own answer waited behind them for the GIL (issue 11). Here a
waiter that asks for a re-read of a key joins the one already queued for that key, if it has
not started: a read that starts after the waiter asked sees everything committed before it
was woken, so its answer is as good as the waiter's own. Once a read has started, a later
waiter gets a new one (the commit that woke it may have come after that read began).

Every waiter on a key shares one answer: a key is one approval, which belongs to one agent,
and each waiter passed that agent's check before it parked. Runs on the event loop's thread,
except for the flag a read sets when it starts.

On SQLite (`on_loop`) the read itself runs on the loop's thread too, in a callback queued behind
the wake-ups already due, so the waiters woken together still share it. A WAL read never waits
for a writer, and a pool thread had to win the CPU and the GIL from the loop, which runs the
reviewers' queue calls itself: with four reviewers deciding without a break, wake-up p50 14 ->
24 ms and p99 31 -> 49-65 ms, until the reads moved here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any


class _Read:
    __slots__ = ("future", "started")

    def __init__(self, future: asyncio.Future) -> None:
        self.future = future
        self.started = False


class SharedRechecks:
    """`run(key, check)`: the value of `check()`, run in `pool`, shared by callers with that key
    until it starts (see the module doc)."""

    def __init__(self, pool: Executor, *, on_loop: bool = False) -> None:
        self.pool = pool
        self.on_loop = on_loop
        self._queued: dict[str, _Read] = {}

    def run(self, key: str, check: Callable[[], Any]) -> asyncio.Future:
        read = self._queued.get(key)
        if read is None or read.started:
            read = self._queued[key] = self._start(key, check)
        return asyncio.shield(read.future)  # a waiter that hangs up must not cancel the others' read

    def _start(self, key: str, check: Callable[[], Any]) -> _Read:
        loop = asyncio.get_running_loop()
        read = _Read(loop.create_future())

        def in_thread() -> Any:
            read.started = True  # before the read's first statement: see the module doc
            return check()

        def settled(done) -> None:
            if self._queued.get(key) is read:
                del self._queued[key]
            if read.future.cancelled():
                return
            if done.cancelled():  # the pool shut down
                read.future.cancel()
            elif done.exception() is not None:
                read.future.set_exception(done.exception())
            else:
                read.future.set_result(done.result())

        if self.on_loop:
            loop.call_soon(_run_here, in_thread, loop, settled)
        else:
            loop.run_in_executor(self.pool, in_thread).add_done_callback(settled)
        # Read by whoever awaits it; marked read here too, or a failure every waiter left
        # behind (hung up) would be logged as never retrieved.
        read.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return read

    def queued(self) -> int:
        """Reads queued or running (for tests)."""
        return len(self._queued)


def _run_here(read: Callable[[], Any], loop: asyncio.AbstractEventLoop, settled: Callable) -> None:
    """Run `read` now, on the loop's thread, and settle it as a pool's future would be."""
    done = loop.create_future()
    try:
        done.set_result(read())
    except Exception as exc:  # noqa: BLE001 - handed to the waiters, as from the pool
        done.set_exception(exc)
    settled(done)
