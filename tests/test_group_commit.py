"""GroupCommit: writes waiting at the same moment share one flush; each gets its own answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from reviewq.group_commit import GroupCommit

WAIT_S = 10


class _Flushes:
    """A flush that records its batches, and can be held open to let others pile up behind it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.inside = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, items):
        self.batches.append(list(items))
        self.inside.set()
        assert self.release.wait(WAIT_S)
        if any(i < 0 for i in items):
            raise ValueError("negative")
        return [i * 10 for i in items]


def _until(condition) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_threads_that_arrive_during_a_flush_share_the_next_one_and_each_gets_its_own_answer():
    flushes = _Flushes()
    grouped = GroupCommit(flushes)
    flushes.release.clear()
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(grouped.submit, 0)
        assert flushes.inside.wait(WAIT_S)  # the first flush is running, alone
        rest = [pool.submit(grouped.submit, i) for i in range(1, 9)]
        assert _until(lambda: len(grouped._pending) == 8)
        flushes.release.set()
        answers = [first.result(WAIT_S)] + [f.result(WAIT_S) for f in rest]
    assert answers == [i * 10 for i in range(9)]
    assert flushes.batches[0] == [0] and sorted(flushes.batches[1]) == list(range(1, 9))
    assert len(flushes.batches) == 2


def test_a_failed_flush_fails_its_own_batch_only_and_the_next_one_still_runs():
    flushes = _Flushes()
    grouped = GroupCommit(flushes)
    with pytest.raises(ValueError):
        grouped.submit(-1)
    assert grouped.submit(4) == 40
    flushes.release.clear()
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(grouped.submit, 1)
        assert flushes.inside.wait(WAIT_S)
        bad = pool.submit(grouped.submit, -2)
        assert _until(lambda: len(grouped._pending) == 1)
        flushes.release.set()
        assert first.result(WAIT_S) == 10
        with pytest.raises(ValueError):
            bad.result(WAIT_S)
        good = pool.submit(grouped.submit, 3)
        assert good.result(WAIT_S) == 30


def test_many_threads_many_times_every_answer_exact():
    grouped = GroupCommit(lambda items: [i * 10 for i in items])
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(grouped.submit, range(2000)))
    assert answers == [i * 10 for i in range(2000)]
    assert not grouped._flushing and not grouped._pending
