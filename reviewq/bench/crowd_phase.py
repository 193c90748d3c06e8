"""The review loop with thousands of agents blocked in long-polls, and how fast each is woken.

Every waiter blocks on its own approval (GET /api/v1/approvals/<id>?wait=N, one connection
each); reviewers then decide through the queue as in the review phase. Figures: next and
decide latency with the crowd open, and wake-up latency (the approval's decided_at to the
waiter's answer) for the approvals they decided.
"""

from __future__ import annotations

import random
import time

from faker import Faker

from reviewq.bench import harness, http_load
from reviewq.bench.figures import percentile
from reviewq.bench.waiters import WaiterCrowd, wait_until_idle
from reviewq.db import Database
from reviewq.domain.approvals import request_approval
from reviewq.domain.tokens import verify_token
from reviewq.models import utcnow
from reviewq.models.approvals import ApprovalCreate

WAIT_S = 300  # the bench server's [approvals] max_wait_s (harness.start_server)


# Approvals written per transaction, and a pause after each: the server writes to the same SQLite
# file from another process, past its in-process write lock, so it waits in SQLite's busy handler,
# which polls up to 100 ms apart. One 10,000-row transaction outlasted its busy_timeout (the
# scheduler's jobs logged "database is locked"), and back-to-back chunks never left it a gap.
CREATE_CHUNK = 200
CHUNK_PAUSE_S = 0.2


def create_approvals(target: harness.BenchTarget, count: int, seed: int = 23) -> list[str]:
    """`count` pending approvals of the bench agent, written directly (setting up, not measured)."""
    from reviewq.demo.traffic import approval_request

    rng, faker = random.Random(seed), Faker()
    faker.seed_instance(seed)
    # A server job (the notification scan) may hold the write lock for a moment: wait longer than
    # the default 5 s, since a setup that gives up ends the whole bench.
    settings = target.settings.model_copy(update={"database": target.settings.database.model_copy(
        update={"sqlite_busy_timeout_ms": 60_000})})
    database = Database.from_settings(settings)
    ids: list[str] = []
    try:
        while len(ids) < count:
            with database.session_scope() as session:
                now = utcnow()
                token = verify_token(session=session, plaintext=target.token, now=now)
                for _ in range(min(CREATE_CHUNK, count - len(ids))):
                    body = approval_request(rng=rng, faker=faker, kind="record_change")
                    body.update(trace_id=f"crowd-{rng.getrandbits(64):x}", timeout_s=3600)
                    done = request_approval(session=session, token=token, data=ApprovalCreate(**body),
                                            idempotency_key=None, settings=target.settings, now=now)
                    ids.append(done.item.public_id)
            time.sleep(CHUNK_PAUSE_S)
    finally:
        database.dispose()
    return ids


def wait_until_announced(target: harness.BenchTarget, *, timeout: float) -> bool:
    """Wait until the server has announced every open approval and sent every notification.

    Creating 10,000 approvals in seconds leaves the notification scan a backlog (500 a run, every
    5 s) that outlasts the long-polls' opening. That is the cost of the burst, not of 10,000 agents
    waiting; the phase measures the latter, so it starts once the backlog is done.
    """
    from sqlmodel import select

    from reviewq.domain.notifications import due_work
    from reviewq.models import DeliveryStatus, NotificationDelivery

    if not target.settings.notify.enabled:
        return True
    database = Database.from_settings(target.settings)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with database.session_scope(readonly=True) as session:
                unannounced = due_work(session=session, now=utcnow(), limit=1).announce
                unsent = session.exec(select(NotificationDelivery.id).where(
                    NotificationDelivery.status == DeliveryStatus.PENDING).limit(1)).first()
            if not unannounced and unsent is None:
                return True
            time.sleep(0.5)
        return False
    finally:
        database.dispose()


def review_under_waiters(target: harness.BenchTarget, *, waiters: int, decisions: int, log=print) -> dict:
    log(f"crowd: creating {waiters:,} approvals…")
    ids = create_approvals(target, waiters)
    crowd = WaiterCrowd(target.url, target.token, ids, wait_s=WAIT_S)
    try:
        log(f"crowd: opening {waiters:,} long-polls…")
        opened_s = crowd.open(timeout=300)
        server = [target.proc.pid, *harness.children(target.proc.pid)]
        announced = wait_until_announced(target, timeout=300)
        settled = wait_until_idle(server, timeout=300) and announced
        early = crowd.answered()
        early_answers = crowd.wait_for(early, timeout=0)
        log(f"crowd: {waiters:,} waiting (opened in {opened_s:.1f} s); reviewers decide {decisions}…")
        rev = http_load.review(target.url, target.reviewer_names, harness.BENCH_PASSWORD, decisions=decisions,
                               warmup_per_reviewer=0)
        decided = set(rev["decided_ids"]) & set(ids)
        answers = crowd.wait_for(early + len(decided), timeout=60)
        woken = [a for a in answers if a.approval_id in decided and a.body.get("status") == "approved"]
        woken_ids = {a.approval_id for a in woken}
        unwoken = [(i, next((f"{a.status_code} {a.body.get('status')}" for a in answers if a.approval_id == i),
                            "no answer")) for i in sorted(decided - woken_ids)]
        latencies = [max(0.0, a.received_at - _timestamp(a.body["decided_at"])) * 1000 for a in woken]
        return {
            "waiters": waiters, "open_s": opened_s, "settled": settled, "early_answers": early,
            "decided_approvals": len(decided), "woken": len(woken),
            "next_p99_ms": rev["next_p99_ms"], "decide_p99_ms": rev["decide_p99_ms"],
            "next_p50_ms": rev["next_p50_ms"], "decide_p50_ms": rev["decide_p50_ms"],
            "wake_p50_ms": percentile(latencies, 50), "wake_p99_ms": percentile(latencies, 99),
            "errors": crowd.errors[:5], "error_count": len(crowd.errors),
            "early_samples": [f"{a.approval_id}: {a.status_code} {a.body}"[:300] for a in early_answers[:5]],
            "unwoken_samples": unwoken[:10], "unwoken_count": len(unwoken),
        }
    finally:
        crowd.close()


def _timestamp(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()
