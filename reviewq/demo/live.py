"""The demo's live state: a queue with work waiting, approvals counting down, and a trickle."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from faker import Faker
from sqlmodel import select

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.demo.traffic import AGENTS, agent_output, approval_request
from reviewq.domain.approvals import request_approval
from reviewq.domain.sampling import submit_outputs
from reviewq.models import ApiToken, utcnow
from reviewq.models.approvals import ApprovalCreate
from reviewq.models.outputs import OutputCreate

# Trickle: one new agent call every this many seconds while the demo runs.
TRICKLE_SECONDS = 15


def _tokens(session) -> dict[str, ApiToken]:
    return {t.agent: t for t in session.exec(select(ApiToken).where(ApiToken.revoked_at.is_(None)))}


def _output(rng: random.Random, faker: Faker, now: datetime) -> OutputCreate:
    agent = rng.choice(AGENTS)
    body = agent_output(agent, rng=rng, faker=faker, today=now.date())
    return OutputCreate(**body)


def _submit(session, tokens, settings: Settings, rng, faker, now: datetime, *, queued_only: bool) -> None:
    data = _output(rng, faker, now)
    sampling = settings.sampling
    if queued_only:  # the live backlog is made of items that were sampled in
        sampling = type(sampling)(default_rate=1.0, high_risk=sampling.high_risk, rates={})
    submit_outputs(session=session, token=tokens[data.agent], outputs=[data], sampling=sampling, now=now)


def _approve_request(session, tokens, settings, rng, faker, now, timeout_s: int) -> None:
    body = approval_request(rng=rng, faker=faker, timeout_s=timeout_s, today=now.date())
    request_approval(session=session, token=tokens[body["actor"]], data=ApprovalCreate(**body),
                     idempotency_key=f"demo-live-{body['trace_id']}", settings=settings, now=now)


def make_live_state(*, database: Database, settings: Settings, now: datetime, seed: int) -> None:
    """About forty outputs waiting, spread over the last hour, and four approvals counting down."""
    rng = random.Random(seed + 1)
    faker = Faker()
    faker.seed_instance(seed + 1)
    with database.session_scope() as session:
        tokens = _tokens(session)
        for i in range(40):
            _submit(session, tokens, settings, rng, faker, now - timedelta(minutes=60 - i * 1.4), queued_only=True)
        for minutes in (6, 14, 35, 55):
            _approve_request(session, tokens, settings, rng, faker, now - timedelta(minutes=2),
                             timeout_s=(minutes + 2) * 60)


def add_trickle(scheduler, settings: Settings, seed: int) -> None:
    """`reviewq demo`'s scheduler setup, in the server's worker: new agent traffic every few seconds."""
    scheduler.add_job(trickle_job, "interval", seconds=TRICKLE_SECONDS,
                      args=[Database.from_settings(settings), settings, seed],
                      id="demo_trickle", max_instances=1, coalesce=True)


def trickle_job(database: Database, settings: Settings, seed: int) -> None:
    """One agent call: mostly an output (sampled as configured), sometimes an approval."""
    rng = random.Random(f"{seed}-{utcnow().timestamp()}")
    faker = Faker()
    faker.seed_instance(rng.getrandbits(32))
    with database.session_scope() as session:
        tokens = _tokens(session)
        if rng.random() < 0.1:
            _approve_request(session, tokens, settings, rng, faker, utcnow(), timeout_s=rng.choice([600, 1800]))
        else:
            _submit(session, tokens, settings, rng, faker, utcnow(), queued_only=True)
