"""Planted copies owed to a reviewer: drawn at one claim, planted at a later one.

Under `reviewq serve` on SQLite a reviewer's queue call runs on the event loop's thread, and every
other reviewer and waiting agent waits while it runs. The first canary a fresh server plants for
an agent builds its value bank (80-140 ms) and the first for a category its slot profile (20-55
ms); on the loop those builds were the review loop's worst stalls. There the claim that drew the
plant serves its real item, the build runs in a thread of its own (projection_bank), and the
plant is owed: the reviewer's next claim that draws nothing carries it out instead, so the week's
planted count is kept and a planted item moves by a claim or so, not out of the session's minutes.

An owed plant is kept in this process only, one per reviewer, for OWED_FOR_S; a claim that draws
a plant of its own plants that one and leaves the owed one for later.
"""

from __future__ import annotations

import threading
import time

from reviewq.models import InjectionKind

OWED_FOR_S = 600.0


class DeferredPlants:
    """Reviewer id -> the kind of planted copy owed to them, and since when (monotonic seconds)."""

    def __init__(self, owed_for_s: float = OWED_FOR_S) -> None:
        self._owed: dict[int, tuple[InjectionKind, float]] = {}
        self._lock = threading.Lock()
        self._owed_for_s = owed_for_s

    def owe(self, reviewer_id: int, kind: InjectionKind) -> None:
        """Owe `kind` to the reviewer, unless a plant is owed already (the older one stands)."""
        with self._lock:
            if self._current(reviewer_id) is None:
                self._owed[reviewer_id] = (kind, time.monotonic())

    def owed(self, reviewer_id: int) -> InjectionKind | None:
        with self._lock:
            return self._current(reviewer_id)

    def settle(self, reviewer_id: int) -> None:
        """The owed plant has been carried out (or given up)."""
        with self._lock:
            self._owed.pop(reviewer_id, None)

    def _current(self, reviewer_id: int) -> InjectionKind | None:
        held = self._owed.get(reviewer_id)
        if held is None:
            return None
        kind, since = held
        if time.monotonic() - since > self._owed_for_s:
            del self._owed[reviewer_id]
            return None
        return kind
