"""A small, stdlib-only Python client for the reviewq agent API.

    from reviewq.client import ReviewQ, ApprovalDenied

    rq = ReviewQ("http://127.0.0.1:8000", token="rq_...")
    rq.submit_output(trace_id="t-1", category="customer_support", input="hi", output="hello")

    @rq.require_approval(intent="refund", irreversible=True)
    def refund(order_id: str, amount_usd: float) -> None:
        ...  # runs only once a person approved this exact call

Webhook receivers check signatures with `verify_webhook(secret, headers, body)`.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import hashlib
import hmac
import inspect
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from reviewq.tool_digest import tool_call_digest

__all__ = [
    "ApprovalCancelled",
    "ApprovalDenied",
    "ApprovalExpired",
    "ApprovalNotUsable",
    "DigestMismatch",
    "ReviewQ",
    "ReviewQError",
    "WebhookVerificationError",
    "tool_call_digest",
    "verify_tool_call",
    "verify_webhook",
]

SETTLED = ("approved", "denied", "expired", "cancelled")
_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("reviewq_trace", default=None)


class ReviewQError(Exception):
    """An error answer from the API: `status`, and the body's `code`, `message` and `field`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 retry_after: float | None = None):
        super().__init__(f"{status} {code}: {message}" + (f" ({field})" if field else ""))
        self.status, self.code, self.message, self.field, self.retry_after = status, code, message, field, retry_after


class ApprovalDenied(Exception):
    """A person denied the action (or the approval was withdrawn); `approval` is its final state."""

    def __init__(self, approval: dict[str, Any]):
        super().__init__(f"approval {approval.get('id')} {approval.get('status')}")
        self.approval = approval


class ApprovalCancelled(ApprovalDenied):
    pass


class ApprovalExpired(Exception):
    """Nobody decided in time; the approval failed closed."""

    def __init__(self, approval: dict[str, Any]):
        super().__init__(f"approval {approval.get('id')} expired without a decision")
        self.approval = approval


class WebhookVerificationError(Exception):
    pass


class DigestMismatch(Exception):
    """The call about to run is not the call that was approved: it must not run."""

    def __init__(self, approval: dict[str, Any], digest: str):
        super().__init__(f"approval {approval.get('id')} is for tool call {approval.get('tool_digest')}, "
                         f"not {digest}; refusing to run it")
        self.approval, self.digest = approval, digest


class ApprovalNotUsable(Exception):
    """The server refused to consume the approval (`code`: already_consumed, approval_stale, not_approved,
    digest_mismatch): the call must not run."""

    def __init__(self, approval: dict[str, Any], error: ReviewQError):
        super().__init__(f"approval {approval.get('id')} cannot be used: {error.code}: {error.message}")
        self.approval, self.code, self.error = approval, error.code, error


def verify_tool_call(approval: Mapping[str, Any], name: str, args: Mapping[str, Any] | None) -> str:
    """The call's digest if it is the approved one; raises DigestMismatch otherwise (nothing is sent)."""
    digest = tool_call_digest(name, dict(args or {}))
    approved = approval.get("tool_digest")
    if not approved or not hmac.compare_digest(str(approved), digest):
        raise DigestMismatch(dict(approval), digest)
    return digest


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class ReviewQ:
    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, max_wait_s: int = 60,
                 actor: str | None = None, rate_limit_retries: int = 3):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.max_wait_s = max_wait_s
        self.actor = actor
        self.rate_limit_retries = rate_limit_retries

    # --- transport -------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None,
                 timeout: float | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        for attempt in range(self.rate_limit_retries + 1):
            req = urllib.request.Request(self.base_url + path, data=data, headers=all_headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:  # noqa: S310 - http(s) only
                    return json.loads(resp.read() or b"null")
            except urllib.error.HTTPError as exc:
                error = self._error(exc)
                if error.status == 429 and attempt < self.rate_limit_retries:
                    time.sleep(min(error.retry_after or 1.0, 60.0))
                    continue
                raise error from None
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _error(exc: urllib.error.HTTPError) -> ReviewQError:
        try:
            detail = json.loads(exc.read())["error"]
        except (ValueError, KeyError, TypeError):
            detail = {"code": "http_error", "message": exc.reason or "error"}
        retry = exc.headers.get("Retry-After")
        return ReviewQError(exc.code, detail.get("code", "error"), detail.get("message", ""), detail.get("field"),
                            float(retry) if retry and retry.isdigit() else None)

    # --- sampled outputs -------------------------------------------------------------------
    def submit_output(self, *, trace_id: str, category: str, input: Any, output: Any, context: Any = None,
                      trace: list[dict] | None = None, metadata: dict | None = None,
                      agent: str | None = None) -> dict:
        """Send one output; the answer says whether it was sampled into the queue (`queued`).

        `trace` is the agent's tool calls on the way, as `{"tool", "args", "result"}` steps."""
        body = {"trace_id": trace_id, "category": category, "input": input, "output": output}
        optional = {"context": context, "trace": trace, "metadata": metadata, "agent": agent}
        body.update({k: v for k, v in optional.items() if v is not None})
        return self._request("POST", "/api/v1/items", body)

    def submit_outputs(self, batch: list[dict]) -> list[dict]:
        """Send up to 1000 outputs in one request; one result per output, in order."""
        return self._request("POST", "/api/v1/items", {"items": batch})["results"]

    def get_item(self, item_id: str) -> dict:
        return self._request("GET", f"/api/v1/items/{urllib.parse.quote(item_id, safe='')}")

    # --- approvals -------------------------------------------------------------------------
    def request_approval(self, *, trace_id: str, actor: str, intent: str, tool_call: dict,
                         constraints: dict | None = None, irreversible: bool = False, timeout_s: int | None = None,
                         callback_url: str | None = None, context: Any = None,
                         idempotency_key: str | None = None) -> dict:
        body: dict[str, Any] = {"trace_id": trace_id, "actor": actor, "intent": intent, "tool_call": tool_call,
                                "constraints": constraints or {}, "irreversible": irreversible}
        body.update({k: v for k, v in {"timeout_s": timeout_s, "callback_url": callback_url,
                                       "context": context}.items() if v is not None})
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._request("POST", "/api/v1/approvals", body, headers=headers)

    def get_approval(self, approval_id: str, *, wait: float = 0) -> dict:
        query = f"?wait={wait:g}" if wait > 0 else ""
        return self._request("GET", f"/api/v1/approvals/{urllib.parse.quote(approval_id, safe='')}{query}",
                             timeout=wait + self.timeout)

    def wait(self, approval_id: str, timeout: float | None = None) -> dict:
        """Long-poll until the approval settles; after `timeout` seconds return it as it is (pending)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = self.max_wait_s if deadline is None else min(self.max_wait_s, deadline - time.monotonic())
            approval = self.get_approval(approval_id, wait=max(remaining, 0))
            if approval["status"] in SETTLED or (deadline is not None and time.monotonic() >= deadline):
                return approval

    def consume(self, approval: Mapping[str, Any], *, name: str, args: Mapping[str, Any] | None) -> dict:
        """Spend an approved approval on the call `name(**args)` just before running it.

        Refuses locally (DigestMismatch) when the call differs from the approved one; the server
        refuses (ApprovalNotUsable) a second use, a stale or unapproved approval, or another digest."""
        digest = verify_tool_call(approval, name, args)
        path = f"/api/v1/approvals/{urllib.parse.quote(str(approval['id']), safe='')}/consume"
        try:
            return self._request("POST", path, {"tool_digest": digest})
        except ReviewQError as exc:
            if exc.status == 409:
                raise ApprovalNotUsable(dict(approval), exc) from None
            raise

    def cancel(self, approval_id: str) -> dict:
        return self._request("POST", f"/api/v1/approvals/{urllib.parse.quote(approval_id, safe='')}/cancel", {})

    @contextlib.contextmanager
    def trace(self, trace_id: str) -> Iterator[None]:
        """Scope `require_approval` calls to one trace: the same call in another trace asks again."""
        token = _trace.set(trace_id)
        try:
            yield
        finally:
            _trace.reset(token)

    def require_approval(self, *, intent: str, irreversible: bool = False, actor: str | None = None,
                         constraints: dict | None = None, timeout_s: int | None = None,
                         callback_url: str | None = None) -> Callable:
        """Run the wrapped function only once a person approves this exact call, and only once.

        Blocks until decided. Raises ApprovalDenied (or ApprovalCancelled) and ApprovalExpired
        otherwise. The Idempotency-Key is derived from the intent, the function, its arguments and
        the current trace, so retrying the same call finds the same approval instead of asking twice;
        the approval is consumed just before the function runs, so a retry after it ran raises
        ApprovalNotUsable instead of running it again (run it again in a new `trace` to ask again).
        """
        def decorator(fn: Callable) -> Callable:
            signature = inspect.signature(fn)

            @functools.wraps(fn)
            def wrapped(*args, **kwargs):
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                call_args = json.loads(_canonical(dict(bound.arguments)))
                tool_call = {"name": fn.__qualname__, "args": call_args}
                fingerprint = hashlib.sha256(
                    _canonical([intent, irreversible, tool_call, constraints or {}, _trace.get()]).encode()
                ).hexdigest()
                trace_id = _trace.get() or f"call-{fingerprint[:16]}"
                approval = self.request_approval(
                    trace_id=trace_id, actor=actor or self.actor or "agent", intent=intent, tool_call=tool_call,
                    constraints=constraints, irreversible=irreversible, timeout_s=timeout_s,
                    callback_url=callback_url, idempotency_key=f"call-{fingerprint[:40]}",
                )
                if approval["status"] not in SETTLED:
                    approval = self.wait(approval["id"])
                if approval["outcome"] == "approve":
                    self.consume(approval, name=tool_call["name"], args=tool_call["args"])
                    return fn(*args, **kwargs)
                if approval["status"] == "expired":
                    raise ApprovalExpired(approval)
                if approval["status"] == "cancelled":
                    raise ApprovalCancelled(approval)
                raise ApprovalDenied(approval)

            return wrapped

        return decorator


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes | str, *, tolerance_s: int = 300,
                   now: float | None = None) -> dict:
    """Check a Standard Webhooks signature and timestamp; return the parsed event or raise."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (lower.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("bad webhook-timestamp") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is too old or in the future")
    raw = body.encode() if isinstance(body, str) else body
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return json.loads(raw)
    raise WebhookVerificationError("no matching signature")
