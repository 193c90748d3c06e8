"""Spreading keep-alive connections evenly over gunicorn's worker processes.

Every worker accepts from the same listening socket, so whichever is first to the socket
takes the connection and keeps it for as long as the client keeps it alive. A few busy
reviewers' browsers can all land on one process and queue on its GIL while a sibling idles
(seen in `reviewq bench` on PostgreSQL as two speeds, 130 or 180 decisions/s, by luck of the
draw). Here each worker publishes how many connections it holds, and a worker holding more
than its least-loaded sibling stops accepting until the others catch up (the accept loop is
in reviewq.serving.worker).
"""

from __future__ import annotations

import multiprocessing

# A slot whose worker has exited: never the least loaded.
_VACANT = 2**30


class ConnectionBoard:
    """Open connections per worker slot, in memory the master shares with the workers it forks."""

    def __init__(self, slots: int):
        self._counts = multiprocessing.RawArray("i", [_VACANT] * slots)

    @property
    def slots(self) -> int:
        return len(self._counts)

    def publish(self, slot: int, connections: int) -> None:
        self._counts[slot] = connections

    def vacate(self, slot: int) -> None:
        self._counts[slot] = _VACANT

    def fewest_besides(self, slot: int) -> int:
        """The smallest count among the other live workers (_VACANT when there are none)."""
        return min((c for i, c in enumerate(self._counts) if i != slot), default=_VACANT)


def assign_slot(arbiter, worker) -> None:
    """gunicorn pre_fork hook (in the master): give the new worker the lowest free slot."""
    taken = {getattr(w, "reviewq_slot", None) for w in arbiter.WORKERS.values()}
    worker.reviewq_slot = next(i for i in range(len(taken) + 1) if i not in taken)


def vacate_slot(_arbiter, worker) -> None:
    """gunicorn child_exit hook (in the master): a dead worker's count must not hold the others back."""
    from reviewq.serving.worker import ReviewqWorker

    board = ReviewqWorker.board
    slot = getattr(worker, "reviewq_slot", None)
    if board is not None and slot is not None and slot < board.slots:
        board.vacate(slot)
