"""Bearer tokens, scopes and the per-token rate limit of the agent API (counted in the database)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app, g, request

from reviewq.domain.tokens import TokenUse, record_use, record_uses, verify_token
from reviewq.group_commit import GroupCommit
from reviewq.models import ApiToken, Scope
from reviewq.web.clock import app_now
from reviewq.web.database import commit, db_session, get_database, get_settings, unless_committed
from reviewq.web.errors import ApiError


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
    now = app_now()
    # The request's own session: reads (GET) stay in a deferred SQLite transaction, writes share
    # the transaction the view commits, so authentication costs one indexed lookup.
    readonly = request.method == "GET"
    session = db_session(readonly=readonly)
    token = verify_token(session=session, plaintext=plaintext.strip(), now=now)
    if token is None:
        raise _unauthorized("the token is unknown or revoked")
    if token in session:
        session.expunge(token)  # a detached snapshot: usable after this request's session lets go
    if scopes and not (token.scope_set & {s.value for s in scopes}):
        needed = " or ".join(s.value for s in scopes)
        raise ApiError(403, "insufficient_scope", f"this token lacks the {needed} scope")
    per_minute = get_settings().api.rate_limit_per_minute
    use = {"token_id": token.id, "last_used_at": token.last_used_at, "now": now, "per_minute": per_minute}
    if readonly:
        # A read request counts in its own tiny write transaction.
        wait = _count_alone(use)
    else:
        wait = record_use(session=session, **use)
        if wait > 0 or not get_database().is_sqlite:
            # PostgreSQL: committed at once, so the counter's row lock is not held through the request.
            commit()
        else:
            # SQLite: every write transaction holds the one write lock anyway, so the count joins
            # the view's transaction (one commit for a batch of outputs, not two). If the view
            # never commits (a refused body, an error), the request is counted on its own.
            unless_committed(lambda: _count_alone(use))
    if wait > 0:
        raise ApiError(429, "rate_limited", "too many requests for this token; slow down",
                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
    g.api_caller = Caller(token)
    return g.api_caller


def _count_alone(use: dict) -> float:
    """Count one request of a token in a short write transaction of its own, or shared with the
    other requests counting at that moment (reviewq.group_commit)."""
    counts = current_app.extensions.get(_GROUPED)
    if counts is None:
        database = get_database()

        def flush(uses: Sequence[TokenUse]) -> list[float]:
            with database.session_scope() as writer:
                return record_uses(session=writer, uses=uses)

        counts = current_app.extensions.setdefault(_GROUPED, GroupCommit(flush))
    return counts.submit(TokenUse(**use))


_GROUPED = "reviewq.grouped_token_counts"
