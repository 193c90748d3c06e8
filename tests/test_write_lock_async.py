"""The write lock's turns awaited on an event loop (reviewq.write_lock.WriteLock.acquire_async).

Threads and coroutines queue for the same turns, in arrival order; a coroutine that gives up or
is cancelled leaves the queue, and one handed the turn as it gave up still holds it.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from reviewq.write_lock import WriteLock
from tests.support.waiting import WAIT_S, until


def _run(coroutine) -> None:
    """asyncio.run in a thread of its own: a session's browser may keep a loop running in this one."""
    failed: list[BaseException] = []

    def target():
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - raised again below, in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    if failed:
        raise failed[0]


def test_a_free_turn_is_taken_at_once_and_a_held_one_after_its_release():
    lock = WriteLock()

    async def main():
        assert await lock.acquire_async(timeout=0)
        waiter = asyncio.create_task(lock.acquire_async(timeout=WAIT_S))
        await asyncio.sleep(0.01)
        assert not waiter.done() and lock.waiting() == 1
        lock.release()
        assert await waiter  # handed over: the lock stays held, now by the waiter
        assert lock.locked() and lock.waiting() == 0
        lock.release()
        assert not lock.locked()

    _run(main())


def test_threads_and_coroutines_get_their_turns_in_arrival_order():
    lock = WriteLock()
    order: list[str] = []
    assert lock.acquire(timeout=WAIT_S)

    def thread_waiter(name: str) -> None:
        assert lock.acquire(timeout=WAIT_S)
        order.append(name)
        lock.release()

    async def coroutine_waiter(name: str) -> None:
        assert await lock.acquire_async(timeout=WAIT_S)
        order.append(name)
        lock.release()

    first = threading.Thread(target=thread_waiter, args=("thread 1",))
    first.start()
    until(lambda: lock.waiting() == 1)
    second = threading.Thread(target=asyncio.run, args=(coroutine_waiter("coroutine 2"),))
    second.start()
    until(lambda: lock.waiting() == 2)
    third = threading.Thread(target=thread_waiter, args=("thread 3",))
    third.start()
    until(lambda: lock.waiting() == 3)
    lock.release()
    for t in (first, second, third):
        t.join(WAIT_S)
    assert order == ["thread 1", "coroutine 2", "thread 3"]
    assert not lock.locked()


def test_a_coroutine_that_waits_out_its_patience_leaves_the_queue():
    lock = WriteLock()
    assert lock.acquire(timeout=WAIT_S)

    async def main():
        assert not await lock.acquire_async(timeout=0.02)

    _run(main())
    assert lock.waiting() == 0 and lock.locked()
    lock.release()
    assert not lock.locked()  # nobody was left to hand it to


def test_a_cancelled_waiter_leaves_the_queue_and_the_turn_goes_on():
    lock = WriteLock()

    async def main():
        assert await lock.acquire_async(timeout=0)
        cancelled = asyncio.create_task(lock.acquire_async(timeout=WAIT_S))
        after = asyncio.create_task(lock.acquire_async(timeout=WAIT_S))
        await asyncio.sleep(0.01)
        assert lock.waiting() == 2
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert lock.waiting() == 1
        lock.release()
        assert await after

    _run(main())
    assert lock.locked()
    lock.release()
    assert not lock.locked()


def test_a_turn_handed_to_a_closed_loop_goes_to_the_next_waiter():
    lock = WriteLock()
    assert lock.acquire(timeout=WAIT_S)
    started = threading.Event()

    async def wait_forever():
        started.set()
        await lock.acquire_async(timeout=WAIT_S)

    def loop_that_closes():
        loop = asyncio.new_event_loop()
        task = loop.create_task(wait_forever())
        loop.run_until_complete(asyncio.sleep(0.01))
        task.cancel()
        loop.close()  # a loop gone with its waiter still queued (a worker stopping)

    closer = threading.Thread(target=loop_that_closes)
    closer.start()
    closer.join(WAIT_S)
    assert started.is_set() and lock.waiting() == 1
    taken: list[bool] = []
    thread = threading.Thread(target=lambda: taken.append(lock.acquire(timeout=WAIT_S)))
    thread.start()
    until(lambda: lock.waiting() == 2)
    lock.release()
    thread.join(WAIT_S)
    assert taken == [True] and lock.locked()
    lock.release()
    assert not lock.locked()


def test_release_says_whether_a_thread_now_holds_the_turn():
    """The front steps aside for a background thread handed the turn, never for a coroutine."""
    lock = WriteLock()
    assert lock.acquire(timeout=WAIT_S)
    assert lock.release() is False  # nobody waiting

    assert lock.acquire(timeout=WAIT_S)
    handed = threading.Event()
    thread = threading.Thread(target=lambda: lock.acquire(timeout=WAIT_S, background=True) and handed.set())
    thread.start()
    until(lambda: lock.waiting() == 1)
    assert lock.release() is True
    thread.join(WAIT_S)
    assert handed.is_set()

    async def main():
        waiter = asyncio.create_task(lock.acquire_async(timeout=WAIT_S))
        await asyncio.sleep(0.01)
        assert lock.release() is False  # handed to a coroutine on this loop
        assert await waiter
        assert lock.release() is False

    _run(main())
    assert not lock.locked()


def test_a_turn_released_on_the_waiters_own_loop_reaches_it_in_one_pass():
    """Every pass of the loop first runs whatever else is ready (with 10,000 long-polls open, a
    reviewer's queued call waited 9 ms at p99 for its turn through wait_for and shield)."""
    lock = WriteLock()

    async def main():
        assert await lock.acquire_async(timeout=0)
        waiter = asyncio.create_task(lock.acquire_async(timeout=WAIT_S))
        await asyncio.sleep(0.01)
        assert lock.waiting() == 1
        lock.release()
        passes = 0
        while not waiter.done() and passes < 10:
            await asyncio.sleep(0)
            passes += 1
        assert waiter.result() is True and passes == 1
        lock.release()

    _run(main())
    assert not lock.locked()
