"""Agent API tokens: created once, stored as a SHA-256 hash, checked on every request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.domain import rate_counters
from reviewq.domain.audit import record_event
from reviewq.domain.errors import NotFound, ValidationFailed
from reviewq.domain.judges import judge_account
from reviewq.lean_sql import Prebuilt, loaded
from reviewq.models import ALL_SCOPES, ApiToken
from reviewq.models.common import UTCDateTime

TOKEN_PREFIX = "rq_"
# last_used_at is refreshed at most this often, so busy agents don't write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str
    webhook_secret: str


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_webhook_secret() -> str:
    """Standard Webhooks secret: whsec_ + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def parse_scopes(scopes: list[str] | tuple[str, ...] | str) -> str:
    items = scopes.replace(",", " ").split() if isinstance(scopes, str) else list(scopes)
    if not items:
        raise ValidationFailed("at least one scope is needed", field="scopes")
    unknown = [s for s in items if s not in ALL_SCOPES]
    if unknown:
        raise ValidationFailed(
            f"unknown scope {unknown[0]!r}; known: {', '.join(ALL_SCOPES)}", field="scopes"
        )
    return " ".join(sorted(set(items)))


def create_token(
    *, session: Session, agent: str, scopes, now: datetime, actor: str
) -> IssuedToken:
    agent = agent.strip()
    if not agent or len(agent) > 64:
        raise ValidationFailed("an agent name is 1-64 characters", field="agent")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    secret = new_webhook_secret()
    token = ApiToken(
        agent=agent,
        scopes=parse_scopes(scopes),
        prefix=plaintext[:10],
        token_hash=hash_token(plaintext),
        webhook_secret=secret,
        created_at=now,
    )
    if "review" in token.scope_set:  # an automated judge: its decisions need a reviewer account
        token.reviewer_id = judge_account(session=session, agent=agent, now=now, actor=actor).id
    session.add(token)
    session.flush()
    record_event(
        session=session, actor=actor, action="token.created", object_type="api_token",
        object_id=token.id, now=now, details={"agent": agent, "scopes": token.scopes},
    )
    return IssuedToken(token=token, plaintext=plaintext, webhook_secret=secret)


# Built once and read off the bare cursor (lean_sql.py): every agent request runs it, and the ORM
# load cost more than the query.
_TOKEN_BY_HASH = Prebuilt(select(*ApiToken.__table__.columns).where(ApiToken.token_hash == sa.bindparam("digest")))


def verify_token(*, session: Session, plaintext: str, now: datetime) -> ApiToken | None:
    """The live token for this bearer string, or None if unknown or revoked: the session's own
    object if it holds it, else a detached snapshot (lean_sql.loaded) to read."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(plaintext)
    row = _TOKEN_BY_HASH.run(session, {"digest": digest}).first()
    if row is None or row.revoked_at is not None:
        return None
    token = loaded(session, ApiToken, row)
    # The lookup was by hash; this keeps the final check constant-time all the same.
    if not hmac.compare_digest(token.token_hash, digest):
        return None
    return token


RATE_WINDOW = timedelta(minutes=1)
_TOKENS = ApiToken.__table__
_STAMP_USED = (
    sa.update(_TOKENS)
    .where(_TOKENS.c.id == sa.bindparam("token_id"))
    .values(last_used_at=sa.bindparam("now", type_=UTCDateTime()))
)


def record_use(*, session: Session, token_id: int, last_used_at: datetime | None, now: datetime,
               per_minute: int) -> float:
    """Count one request of this token; 0 if it is within `per_minute`, else the seconds to wait.

    The count lives in the database (rate_counters), so every worker process shares one limit.
    last_used_at moves at most once a minute, so busy agents don't rewrite their token row on
    every request. The caller commits right away: the counter row stays locked until then.
    """
    return record_uses(session=session, uses=[TokenUse(token_id, last_used_at, now, per_minute)])[0]


@dataclass(frozen=True, slots=True)
class TokenUse:
    """One request of a token, to count (see `record_uses`)."""

    token_id: int
    last_used_at: datetime | None
    now: datetime
    per_minute: int


def record_uses(*, session: Session, uses: Sequence[TokenUse]) -> list[float]:
    """`record_use` for many requests in one transaction, in order: each gets the count it would
    have got alone (one bump of `amount` per token, then each request's place within it)."""
    by_token: dict[int, list[int]] = {}
    for i, use in enumerate(uses):
        by_token.setdefault(use.token_id, []).append(i)
    waits = [0.0] * len(uses)
    for token_id, places in by_token.items():
        mine = [uses[i] for i in places]
        now = max(u.now for u in mine)
        if any(u.last_used_at is None or now - u.last_used_at >= LAST_USED_RESOLUTION for u in mine):
            session.execute(_STAMP_USED, {"token_id": token_id, "now": now})
        counted = rate_counters.hit(session=session, key=f"api:token:{token_id}", now=now, window=RATE_WINDOW,
                                    amount=len(mine))
        first = counted.count - len(mine) + 1
        for offset, (i, use) in enumerate(zip(places, mine, strict=True)):
            if first + offset > use.per_minute:
                waits[i] = max(1.0, counted.resets_in(now=now, window=RATE_WINDOW))
    return waits


def revoke_token(*, session: Session, token_id: int, now: datetime, actor: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no token {token_id}", field="token_id")
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
        record_event(
            session=session, actor=actor, action="token.revoked", object_type="api_token",
            object_id=token.id, now=now, details={"agent": token.agent},
        )
    return token


def list_tokens(*, session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(ApiToken.id)))
