"""Long-poll waits on an event loop: woken by a commit in another thread, no missed wake-up, bounded."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from reviewq.domain.wakeups import hub, wait_until_async
from tests.support.in_thread import in_thread


def _run(coro):
    # A thread of its own: the browser tests leave Playwright's loop running in the main thread.
    return in_thread(asyncio.run, coro)


def test_a_notify_from_another_thread_wakes_the_coroutine():
    """A waiter parked on the loop returns soon after a thread notifies its key, with the new state."""
    state = {"settled": False}
    pool = ThreadPoolExecutor(2)

    async def main():
        loop = asyncio.get_running_loop()
        waiting = asyncio.create_task(wait_until_async(
            "k1", check=lambda: (state["settled"], dict(state)), timeout=10,
            run=lambda fn: loop.run_in_executor(pool, fn)))
        await asyncio.sleep(0.2)
        assert not waiting.done()

        def settle():
            state["settled"] = True
            hub.notify("k1")

        started = time.monotonic()
        threading.Thread(target=settle).start()
        value = await waiting
        return value, time.monotonic() - started

    value, took = _run(main())
    assert value["settled"] and took < 1.0
    assert hub.waiting() == 0


def test_a_commit_between_check_and_sleep_is_not_missed():
    """The state changes during the first check (before the sleep): the waiter still wakes at once."""
    calls = {"n": 0}
    pool = ThreadPoolExecutor(2)

    def check():
        calls["n"] += 1
        if calls["n"] == 1:
            hub.notify("k2")  # the commit lands while the first read is still running
            return False, "pending"
        return True, "approved"

    async def main():
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        value = await wait_until_async("k2", check=check, timeout=10, run=lambda fn: loop.run_in_executor(pool, fn))
        return value, time.monotonic() - started

    value, took = _run(main())
    assert value == "approved" and took < 1.0


def test_the_wait_ends_at_its_timeout_or_the_values_own_deadline():
    """Unsettled, the waiter returns at `timeout`; with a sooner deadline it re-checks just after it."""
    pool = ThreadPoolExecutor(2)
    deadline = time.monotonic() + 0.5

    def check():
        return time.monotonic() >= deadline, time.monotonic()

    async def main(timeout, wake_in):
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        value = await wait_until_async("k3", check=check, timeout=timeout, wake_in=wake_in,
                                       run=lambda fn: loop.run_in_executor(pool, fn))
        return value, time.monotonic() - started

    _, took = _run(main(0.3, None))
    assert 0.3 <= took < 0.8  # nothing woke it: the timeout did
    _, took = _run(main(10, lambda _value: deadline - time.monotonic()))
    assert took < 1.5  # the value's own deadline woke it, long before the 10 s timeout


def test_a_parked_waiter_keeps_a_lean_value_and_answers_with_a_check_at_its_end():
    """Given a registered waiter and a lean value (what wake_in reads), a wait that runs out checks
    once more and returns that check's value: the lean one is never the answer."""
    from reviewq.domain.wakeups import LoopEvent

    reads = []

    def check():
        reads.append(time.monotonic())
        return False, {"status": "pending", "read": len(reads)}

    async def main():
        loop = asyncio.get_running_loop()
        waiter = hub.register("k-lean", LoopEvent(loop))
        started = time.monotonic()
        value = await wait_until_async("k-lean", check=check, timeout=0.3, waiter=waiter, value="lean",
                                       run=lambda fn: loop.run_in_executor(None, fn))
        return value, time.monotonic() - started, started

    value, took, started = _run(main())
    assert value == {"status": "pending", "read": 1}
    assert 0.3 <= took < 2.0 and reads[0] - started >= 0.3  # checked at the end, not at once
    assert hub.waiting() == 0


def test_loop_event_wait_is_a_future_whose_timer_goes_with_it():
    """LoopEvent.wait: done when set, or at its timeout; a cancelled wait leaves no timer behind."""
    from reviewq.domain.wakeups import LoopEvent

    async def main():
        loop = asyncio.get_running_loop()
        event = LoopEvent(loop)
        started = time.monotonic()
        await event.wait(0.1)  # times out
        timed_out = time.monotonic() - started
        sleeping = asyncio.ensure_future(event.wait(10))
        await asyncio.sleep(0.01)
        threading.Thread(target=event.set).start()
        await asyncio.wait_for(sleeping, 2)
        assert event._timer is None and event._sleeping is None
        await asyncio.wait_for(event.wait(10), 1)  # already set: done at once
        event.clear()
        cancelled = asyncio.ensure_future(event.wait(10))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        await asyncio.sleep(0)
        return timed_out, event._timer, event._sleeping, cancelled.cancelled()

    timed_out, timer, sleeping, was_cancelled = _run(main())
    assert 0.1 <= timed_out < 1.0
    assert timer is None and sleeping is None and was_cancelled


def test_an_answer_handed_with_the_wake_up_is_taken_without_a_read():
    """A settling commit hands its answer over: the waiter returns accept(answer) and never runs
    its check again; a later wake-up without one (another process's commit) makes it read."""
    pool = ThreadPoolExecutor(2)
    checks = []

    def check():
        checks.append(1)
        return False, "pending"

    async def main(answers):
        loop = asyncio.get_running_loop()
        waiting = asyncio.create_task(wait_until_async(
            "k-handed", check=check, timeout=10, run=lambda fn: loop.run_in_executor(pool, fn),
            accept=lambda answer: (answer == "settled", f"accepted {answer}")))
        await asyncio.sleep(0.1)
        for answer in answers:
            threading.Thread(target=hub.notify, args=("k-handed", answer)).start()
            await asyncio.sleep(0.1)
        return await asyncio.wait_for(waiting, 5)

    assert _run(main(["settled"])) == "accepted settled" and len(checks) == 1  # the first check only
    checks.clear()
    # Handed a still-pending answer, it waits on; the next commit's answer ends the wait.
    assert _run(main(["pending", "settled"])) == "accepted settled" and len(checks) == 1
    checks.clear()

    async def overtaken():
        # Two wake-ups before the waiter runs: the later one, without an answer, decides (a read).
        loop = asyncio.get_running_loop()
        waiting = asyncio.create_task(wait_until_async(
            "k-handed", check=check, timeout=0.5, run=lambda fn: loop.run_in_executor(pool, fn),
            accept=lambda answer: (True, answer)))
        await asyncio.sleep(0.1)
        hub.notify("k-handed", "settled")
        hub.notify("k-handed")
        return await asyncio.wait_for(waiting, 5)

    assert _run(overtaken()) == "pending" and len(checks) >= 2
    assert hub.waiting() == 0
