"""The background jobs: weekly canary injection, lease sweeper, approval expiry, webhook outbox.

Exactly one process runs them: `reviewq scheduler` (PostgreSQL, guarded by an advisory lock)
or, with SQLite, the single `reviewq serve` worker.
"""

from __future__ import annotations

from reviewq.scheduler.runner import build_scheduler, start_in_process

__all__ = ["build_scheduler", "start_in_process"]
