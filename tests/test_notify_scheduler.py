"""The real scheduler scans for new approvals and the outbox sends their notifications right after."""

from __future__ import annotations

import time

from reviewq.db import Database
from reviewq.models import utcnow
from reviewq.scheduler import build_scheduler
from tests.support.api import add_reviewer, issue_token
from tests.support.notify import ask_approval, notify_settings, on_call


def test_scheduler_announces_a_new_approval_within_seconds(database, settings, tmp_path):
    """A committed approval reaches the log channel within a few scan intervals; the outbox interval is an hour."""
    path = tmp_path / "notifications.log"
    settings = notify_settings(settings, channels={"log": {"type": "log", "path": str(path)}}, scan_interval_s=1)
    settings = settings.replace(webhooks={"outbox_interval_s": 3600})
    now = utcnow()
    on_call(database, add_reviewer(database, "ada", now=now), now)
    approval = ask_approval(database, issue_token(database, now=now), settings, now)
    jobs = build_scheduler(settings, Database.from_settings(settings))
    assert {"notify_scan", "webhook_outbox"} <= {job.id for job in jobs.get_jobs()}
    jobs.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (path.exists() and approval in path.read_text()):
            time.sleep(0.2)
    finally:
        jobs.shutdown(wait=True)
    assert path.exists() and f"/queue/items/{approval}" in path.read_text()
