"""Waiters woken together share a re-read, but never one that began before they asked."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reviewq.serving.shared_rechecks import SharedRechecks
from tests.support.in_thread import in_thread

WAIT_S = 10


class _Reads:
    """A check that counts its calls and returns the state as it is when the call starts."""

    def __init__(self) -> None:
        self.calls = 0
        self.state = "pending"
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self):
        self.calls += 1
        seen = self.state
        self.started.set()
        assert self.release.wait(WAIT_S)
        return seen != "pending", seen


def _run(main):
    pool = ThreadPoolExecutor(1)
    try:
        return in_thread(asyncio.run, main(SharedRechecks(pool), pool))
    finally:
        pool.shutdown()


def _occupy(pool: ThreadPoolExecutor) -> threading.Event:
    """Keep the pool's one thread busy until the event is set, so reads queue behind it."""
    gate = threading.Event()
    pool.submit(gate.wait, WAIT_S)
    return gate


def test_waiters_that_ask_before_the_read_starts_share_it():
    reads = _Reads()

    async def main(shared, pool):
        gate = _occupy(pool)
        asked = [shared.run("apr_1", reads) for _ in range(50)]
        gate.set()
        return await asyncio.gather(*asked)

    assert _run(main) == [(False, "pending")] * 50
    assert reads.calls == 1


def test_a_waiter_woken_after_the_read_began_gets_a_read_of_its_own():
    """The commit that woke it may have come after the running read's snapshot."""
    reads = _Reads()

    async def main(shared, pool):
        reads.release.clear()
        early = shared.run("apr_1", reads)
        assert await asyncio.to_thread(reads.started.wait, WAIT_S)  # the read has begun
        reads.state = "approved"  # committed, then the late waiter is woken
        late = shared.run("apr_1", reads)
        reads.release.set()
        return await early, await late

    early, late = _run(main)
    assert early == (False, "pending") and late == (True, "approved")
    assert reads.calls == 2


def test_keys_do_not_share_and_failures_reach_every_waiter():
    reads = _Reads()

    def failing():
        raise LookupError("gone")

    async def main(shared, pool):
        gate = _occupy(pool)
        one, other = shared.run("apr_1", reads), shared.run("apr_2", reads)
        broken = [shared.run("apr_3", failing) for _ in range(3)]
        gate.set()
        results = await asyncio.gather(one, other, *broken, return_exceptions=True)
        return results, shared.queued()

    results, queued = _run(main)
    assert results[:2] == [(False, "pending")] * 2 and reads.calls == 2
    assert all(isinstance(r, LookupError) for r in results[2:])
    assert queued == 0  # nothing kept once answered


def test_a_waiter_that_hangs_up_does_not_cancel_the_others_read():
    reads = _Reads()

    async def main(shared, pool):
        gate = _occupy(pool)
        leaving = asyncio.ensure_future(shared.run("apr_1", reads))
        staying = shared.run("apr_1", reads)
        await asyncio.sleep(0)
        leaving.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return await staying

    assert _run(main) == (False, "pending")
    assert reads.calls == 1


def _run_on_loop(main):
    """The same, with reads run on the loop's own thread (SQLite)."""
    return in_thread(asyncio.run, main(SharedRechecks(None, on_loop=True)))


def test_on_the_loop_the_read_runs_on_its_thread_and_waiters_woken_together_share_it():
    reads = _Reads()
    threads: list[str] = []

    def check():
        threads.append(threading.current_thread().name)
        return reads()

    async def main(shared):
        loop_thread = threading.current_thread().name
        # Waiters woken in one pass of the loop each ask before the read runs (a callback after them).
        asked = [shared.run("apr_1", check) for _ in range(50)]
        assert reads.calls == 0 and shared.queued() == 1
        answers = await asyncio.gather(*asked)
        return answers, loop_thread, shared.queued()

    answers, loop_thread, queued = _run_on_loop(main)
    assert answers == [(False, "pending")] * 50 and reads.calls == 1
    assert threads == [loop_thread] and queued == 0


def test_on_the_loop_a_waiter_woken_after_the_read_gets_its_own_and_failures_reach_every_waiter():
    reads = _Reads()

    def failing():
        raise LookupError("gone")

    async def main(shared):
        early = await shared.run("apr_1", reads)
        reads.state = "approved"
        late = await shared.run("apr_1", reads)
        broken = await asyncio.gather(*[shared.run("apr_2", failing) for _ in range(3)], return_exceptions=True)
        return early, late, broken, shared.queued()

    early, late, broken, queued = _run_on_loop(main)
    assert early == (False, "pending") and late == (True, "approved") and reads.calls == 2
    assert all(isinstance(r, LookupError) for r in broken) and queued == 0
