"""Agent API tokens: created once, stored as a SHA-256 hash, checked on every request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from reviewq.domain.audit import record_event
from reviewq.domain.errors import NotFound, ValidationFailed
from reviewq.models import ALL_SCOPES, ApiToken

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
        from reviewq.domain.judges import judge_account

        token.reviewer_id = judge_account(session=session, agent=agent, now=now, actor=actor).id
    session.add(token)
    session.flush()
    record_event(
        session=session, actor=actor, action="token.created", object_type="api_token",
        object_id=token.id, now=now, details={"agent": agent, "scopes": token.scopes},
    )
    return IssuedToken(token=token, plaintext=plaintext, webhook_secret=secret)


def verify_token(*, session: Session, plaintext: str, now: datetime) -> ApiToken | None:
    """The live token for this bearer string, or None if unknown or revoked."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(plaintext)
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if token is None or token.revoked_at is not None:
        return None
    # The lookup was by hash; this keeps the final check constant-time all the same.
    if not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.add(token)
    return token


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
