"""Run as a process: the bench's crowd set-up (crowd_phase.create_approvals) on REVIEWQ_DATABASE_URL.

A separate process, as in the bench, so its writes meet the scheduler's only in SQLite itself.
Usage: python -m tests.support.crowd_writer TOKEN COUNT
"""

from __future__ import annotations

import sys

from reviewq.bench import crowd_phase
from reviewq.bench.harness import BenchTarget
from reviewq.config import load_settings


def main(token: str, count: int) -> None:
    settings = load_settings()
    target = BenchTarget(url="", settings=settings, database_url=settings.database.url, token=token,
                         reviewer_names=[], lead_name="", proc=None, cleanup=[])
    print(len(crowd_phase.create_approvals(target, count)))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
