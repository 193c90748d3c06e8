"""Helpers for agent-API tests: tokens, reviewer decisions, and a real webhook receiver."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlmodel import Session

from reviewq.db import Database
from reviewq.domain.approvals import request_approval
from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.tokens import IssuedToken, create_token
from reviewq.models import ALL_SCOPES, DecisionCreate, ReasonBucket, Role, User, Verdict
from reviewq.models.approvals import ApprovalCreate
from tests.factories import make_user
from tests.support.live_server import SHUTDOWN_POLL_S


def issue_token(database: Database, agent: str = "billing-agent", scopes=ALL_SCOPES, *, now: datetime) -> IssuedToken:
    with database.session_scope() as session:
        issued = create_token(session=session, agent=agent, scopes=list(scopes), now=now, actor="system:test")
    return issued


def bearer(issued: IssuedToken | str) -> dict[str, str]:
    plaintext = issued if isinstance(issued, str) else issued.plaintext
    return {"Authorization": f"Bearer {plaintext}"}


def add_reviewer(database: Database, name: str, *, now: datetime, role: Role = Role.REVIEWER) -> User:
    with database.session_scope() as session:
        user = make_user(session, name, role=role, now=now)
    return user


def decide_next(
    database: Database, reviewer: User, verdict: Verdict, *, settings, now: datetime, public_id: str | None = None
) -> str:
    """Claim the reviewer's next item and decide it, committed; returns its public id."""
    with database.session_scope() as session:
        item = claim_next(session=session, reviewer_id=reviewer.id, now=now, lease_seconds=60)
        assert item is not None, "nothing to claim"
        if public_id is not None:
            assert item.public_id == public_id
        decide_in(session, item.public_id, reviewer, verdict, settings=settings, now=now)
        return item.public_id


def decide_in(session: Session, public_id: str, reviewer: User, verdict: Verdict, *, settings, now) -> None:
    reason = ReasonBucket.POLICY_VIOLATION if verdict == Verdict.REJECT else None
    decide(session=session, public_id=public_id, reviewer=reviewer,
           data=DecisionCreate(verdict=verdict, reason=reason, active_ms=1000), now=now, settings=settings)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 recording every POST; `respond` picks each status code."""

    respond: Callable[[int], int] = lambda n: 204
    # When set, picks the status from the request path instead (deliveries may arrive in any order).
    respond_to_path: Callable[[str], int] | None = None
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    server: ThreadingHTTPServer | None = None

    def start(self, port: int = 0) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.arrived:
                    if receiver.respond_to_path is not None:
                        status = receiver.respond_to_path(self.path)
                    else:
                        status = receiver.respond(len(receiver.received))
                    receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body, status))
                    receiver.arrived.notify_all()
                self.send_response(status)
                if status in (429, 503):
                    self.send_header("Retry-After", "7")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S},
                         daemon=True).start()
        return self

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/reviewq"

    @property
    def allowed(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# Approvals with a webhook callback, as an agent asks for them.
def envelope(callback_url, **overrides):
    body = {"trace_id": str(uuid.uuid4()), "actor": "ops@example.com", "intent": "refund",
            "tool_call": {"name": "issue_refund", "args": {"amount_usd": 5}}, "timeout_s": 60,
            "callback_url": callback_url}
    body.update(overrides)
    return ApprovalCreate(**body)


def hook_settings(settings, *hosts, **webhooks):
    return settings.replace(webhooks={"allowed_hosts": tuple(hosts), **webhooks})


def ask(database, token, settings, url, now, **overrides):
    with database.session_scope() as s:
        done = request_approval(session=s, token=token.token, data=envelope(url, **overrides),
                                idempotency_key=None, settings=settings, now=now)
        return done.item.public_id
