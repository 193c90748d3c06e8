"""Bearer tokens, scopes and the per-token rate limit of the agent API."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, g, request

from reviewq.domain.tokens import verify_token
from reviewq.models import ApiToken, Scope, utcnow
from reviewq.web.database import db_session, get_database, get_settings
from reviewq.web.errors import ApiError


class TokenBuckets:
    """A token bucket per API token: `per_minute` requests, refilled continuously.

    Kept in process memory: with several workers each enforces the limit on its own share.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, tuple[float, float]] = {}  # token id -> (tokens, at)

    def take(self, key: int, per_minute: int, now: float | None = None) -> float:
        """0 if allowed, else the seconds until a request would be."""
        now = time.monotonic() if now is None else now
        rate = per_minute / 60.0
        with self._lock:
            tokens, at = self._buckets.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate


def _buckets() -> TokenBuckets:
    return current_app.extensions.setdefault("reviewq.api_rate_limits", TokenBuckets())


@dataclass(frozen=True)
class Caller:
    token: ApiToken  # detached snapshot: read its agent, id and scopes only

    @property
    def agent(self) -> str:
        return self.token.agent


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="reviewq"'})


def authenticate(*scopes: Scope) -> Caller:
    """The calling agent's token, holding at least one of `scopes`; 401, 403 or 429 otherwise."""
    header = request.headers.get("Authorization", "")
    kind, _, plaintext = header.partition(" ")
    if kind.lower() != "bearer" or not plaintext.strip():
        raise _unauthorized("send Authorization: Bearer <token>")
    now = utcnow()
    # The request's own session: reads (GET) stay in a deferred SQLite transaction, writes share
    # the transaction the view commits, so authentication costs one indexed lookup.
    readonly = request.method == "GET"
    session = db_session(readonly=readonly)
    token = verify_token(session=session, plaintext=plaintext.strip(), now=now)
    if token is None:
        raise _unauthorized("the token is unknown or revoked")
    stale_use = token in session.dirty
    session.expunge(token)  # a detached snapshot: usable after this request's session lets go
    if stale_use:
        # last_used_at moves at most once a minute; a read request writes it in its own tiny transaction.
        update = sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
        if readonly:
            with get_database().session_scope() as writer:
                writer.execute(update)
        else:
            session.execute(update)
    if scopes and not (token.scope_set & {s.value for s in scopes}):
        needed = " or ".join(s.value for s in scopes)
        raise ApiError(403, "insufficient_scope", f"this token lacks the {needed} scope")
    wait = _buckets().take(token.id, get_settings().api.rate_limit_per_minute)
    if wait > 0:
        raise ApiError(429, "rate_limited", "too many requests for this token; slow down",
                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
    g.api_caller = Caller(token)
    return g.api_caller
