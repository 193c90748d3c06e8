"""The MCP side's way to reviewq: its agent API, through `reviewq.client`, off the event loop.

Every MCP process talks to reviewq over HTTP like any agent, so it runs anywhere and holds no
database connection. Blocking client calls run in worker threads so one long-poll does not stall
the other sessions of the same process.
"""

from __future__ import annotations

import functools
import hashlib
import time
import urllib.error
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio.to_thread

from reviewq.client import ReviewQ, ReviewQError

T = TypeVar("T")

# What "reviewq could not be reached" looks like from the client: never a reason to proceed.
UNREACHABLE = (urllib.error.URLError, TimeoutError, ConnectionError, OSError)
VERIFIED_FOR_S = 30.0


class MissingToken(Exception):
    pass


def bearer_token(headers: Mapping[str, str] | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    kind, _, token = value.partition(" ")
    return token.strip() or None if kind.lower() == "bearer" else None


class Gateway:
    """reviewq at `url`; `token` is fixed over stdio, else each request brings its own."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0):
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout
        self._verified: dict[str, float] = {}

    def client(self, token: str | None = None) -> ReviewQ:
        token = token or self.token
        if not token:
            raise MissingToken("no agent token: send Authorization: Bearer <token>")
        return ReviewQ(self.url, token, timeout=self.timeout, rate_limit_retries=1)

    def token_for(self, headers: Mapping[str, str] | None) -> str:
        """The fixed token (stdio), else the request's bearer token (streamable HTTP)."""
        token = self.token or bearer_token(headers)
        if not token:
            raise MissingToken("no agent token: send Authorization: Bearer <token>")
        return token

    async def run(self, token: str, call: Callable[[ReviewQ], T]) -> T:
        return await anyio.to_thread.run_sync(functools.partial(call, self.client(token)))

    async def verify(self, token: str) -> bool:
        """True if reviewq knows this token (GET /api/v1/whoami); successes are remembered briefly."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        if self._verified.get(key, 0.0) > now:
            return True
        try:
            await self.run(token, lambda rq: rq._request("GET", "/api/v1/whoami"))
        except ReviewQError as exc:
            if exc.status == 401:
                return False
            raise
        self._verified[key] = now + VERIFIED_FOR_S
        if len(self._verified) > 10_000:  # bounded: forget the oldest half
            for stale in sorted(self._verified, key=self._verified.get)[:5_000]:
                self._verified.pop(stale, None)
        return True


def describe_error(exc: BaseException) -> dict[str, Any]:
    """A reviewq failure as data for the model; nothing in it ever means "go ahead"."""
    if isinstance(exc, ReviewQError):
        return {"code": exc.code, "message": exc.message, "field": exc.field, "status": exc.status}
    if isinstance(exc, MissingToken):
        return {"code": "unauthorized", "message": str(exc)}
    return {"code": "reviewq_unreachable", "message": f"reviewq could not be reached: {type(exc).__name__}"}
