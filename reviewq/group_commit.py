"""Many threads' small writes, committed together: one transaction for all that are waiting.

Each agent GET counts against its token's rate limit in a write transaction of its own (the
count must live in the database, issue 11). On SQLite those transactions take the one write
lock in turn, and a thread holding it waits for the GIL at every driver call while the other
request threads run: 10,000 long-polls arriving at once were parked at about 170 a second, each
queued behind the others' counts. Here a thread that finds no flush running flushes everything
submitted so far in one transaction; threads that arrive meanwhile wait, and the next flush
takes them all. Every item still gets its own result, as exact as if it were written alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Entry(Generic[T, R]):
    __slots__ = ("error", "item", "leads", "ready", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.ready = threading.Event()  # set when its result is in, or when it is to flush next
        self.leads = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """`submit(item)` returns `flush([..., item, ...])`'s result for `item`.

    `flush` receives the items in submission order and returns one result each; if it raises,
    every item of that batch raises the same error.
    """

    def __init__(self, flush: Callable[[Sequence[T]], Sequence[R]]) -> None:
        self._flush = flush
        self._lock = threading.Lock()
        self._pending: list[_Entry[T, R]] = []
        self._flushing = False

    def submit(self, item: T) -> R:
        entry: _Entry[T, R] = _Entry(item)
        with self._lock:
            self._pending.append(entry)
            entry.leads = not self._flushing
            self._flushing = True
        if not entry.leads:
            entry.ready.wait()  # bounded by the flush ahead of it, which always hands on or answers
        if entry.leads:
            self._flush_pending()
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]

    def _flush_pending(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        try:
            results = self._flush([e.item for e in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"flush returned {len(results)} results for {len(batch)} items")
            for entry, result in zip(batch, results, strict=True):
                entry.result = result
        except BaseException as error:  # every waiter must hear, whatever happened
            for entry in batch:
                entry.error = error
        finally:
            with self._lock:
                # The next waiting thread flushes what arrived meanwhile (not this one: its
                # own answer is ready and its request should go on).
                successor = self._pending[0] if self._pending else None
                if successor is None:
                    self._flushing = False
                else:
                    successor.leads = True
            for entry in batch:
                if not entry.leads:
                    entry.ready.set()
            if successor is not None:
                successor.ready.set()
