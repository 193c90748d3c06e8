"""Outbox durability: a process killed between the deciding commit and the send still delivers after restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid

from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from reviewq.domain.approvals import request_approval
from reviewq.models import DeliveryStatus, WebhookDelivery, utcnow
from reviewq.models.approvals import ApprovalCreate
from tests.support.api import WebhookReceiver, add_reviewer, issue_token
from tests.support.live_server import serve_in_subprocess

DECIDE_THEN_DIE = textwrap.dedent("""
    import os, signal, sys
    from reviewq.config import load_settings
    from reviewq.db import Database
    from reviewq.domain.claims import claim_next
    from reviewq.domain.decide import decide
    from reviewq.models import DecisionCreate, User, Verdict, utcnow

    settings = load_settings()
    database = Database.from_settings(settings)
    with database.session_scope() as s:
        reviewer = s.get(User, int(sys.argv[1]))
        item = claim_next(session=s, reviewer_id=reviewer.id, now=utcnow(), lease_seconds=60)
        decide(session=s, public_id=item.public_id, reviewer=reviewer,
               data=DecisionCreate(verdict=Verdict.APPROVE, active_ms=1000), now=utcnow(), settings=settings)
    # Committed; the outbox has not run. Die the hard way before anything could be sent.
    os.kill(os.getpid(), signal.SIGKILL)
""")

RUN_OUTBOX = textwrap.dedent("""
    from reviewq.config import load_settings
    from reviewq.db import Database
    from reviewq.scheduler.api_jobs import outbox_job

    settings = load_settings()
    print(outbox_job(Database.from_settings(settings), settings).delivered)
""")


def test_killed_after_commit_is_delivered_after_restart(database, settings, db_url, now, backend, tmp_path):
    """The decision commits, the process is SIGKILLed, and the restarted service still sends the webhook once."""
    receiver = WebhookReceiver().start()
    try:
        env = {**os.environ, "REVIEWQ_SERVER_MODE": "test", "REVIEWQ_DATABASE_URL": db_url,
               "REVIEWQ_WEBHOOKS_ALLOWED_HOSTS": receiver.allowed, "REVIEWQ_WEBHOOKS_OUTBOX_INTERVAL_S": "1"}
        hooks = settings.replace(webhooks={"allowed_hosts": (receiver.allowed,)})
        token = issue_token(database, now=now)
        with database.session_scope() as s:
            data = ApprovalCreate(trace_id=str(uuid.uuid4()), actor="a", intent="refund",
                                  tool_call={"name": "refund", "args": {}}, callback_url=receiver.url)
            approval_id = request_approval(session=s, token=token.token, data=data, idempotency_key=None,
                                           settings=hooks, now=utcnow()).item.public_id
        reviewer = add_reviewer(database, "rita", now=now)
        script = tmp_path / "decide_then_die.py"
        script.write_text(DECIDE_THEN_DIE)
        died = subprocess.run([sys.executable, str(script), str(reviewer.id)], env=env, timeout=60,
                              capture_output=True)
        assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]
        with database.session() as s:
            row = s.exec(select(WebhookDelivery)).one()
        assert row.status == DeliveryStatus.PENDING and receiver.received == []

        if backend == "sqlite":  # restart = `reviewq serve`, whose in-process scheduler runs the outbox
            server, _proc = serve_in_subprocess({k: v for k, v in env.items() if k.startswith("REVIEWQ_")})
            try:
                got = receiver.wait_for(1, timeout=60)
            finally:
                server.stop()
        else:  # restart = a fresh process running the outbox job the scheduler runs
            out = tmp_path / "run_outbox.py"
            out.write_text(RUN_OUTBOX)
            ran = subprocess.run([sys.executable, str(out)], env=env, timeout=60, capture_output=True)
            assert ran.returncode == 0, ran.stderr.decode()[-2000:]
            got = receiver.wait_for(1, timeout=10)
        assert len(got) == 1 and got[0].headers["webhook-id"] == row.webhook_id
        event = Webhook(token.webhook_secret).verify(got[0].body, got[0].headers)
        assert event["data"]["id"] == approval_id and event["data"]["status"] == "approved"
    finally:
        receiver.stop()
