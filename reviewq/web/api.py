"""The agent API, /api/v1: sampled outputs, approvals with long-poll, and the OpenAPI document.

Bearer tokens only, no cookies, so the blueprint is exempt from CSRF. Every error is JSON in
the one shape (reviewq.web.errors).
"""

from __future__ import annotations

import random

import orjson
from flask import Blueprint, Flask, current_app, jsonify, request, url_for

from reviewq.domain.approval_consume import consume_approval
from reviewq.domain.approval_settlement import approval_public
from reviewq.domain.approvals import agent_item, cancel_approval, request_approval
from reviewq.domain.judges import record_judge_verdicts
from reviewq.domain.projection_warmer import note_open
from reviewq.domain.sampling import submit_outputs
from reviewq.domain.tokens import verify_token
from reviewq.domain.wakeups import LoopEvent, hub, listener_for, wait_until
from reviewq.models import ItemKind, Scope
from reviewq.models.approvals import ApprovalConsume, ApprovalCreate
from reviewq.models.outputs import OutputBatch, OutputCreate
from reviewq.web.api_auth import authenticate
from reviewq.web.api_input import json_object, validate, validate_each
from reviewq.web.approval_wait import AgentRef, ApprovalAnswer, ApprovalCheck, settles_in
from reviewq.web.clock import app_clock, app_now
from reviewq.web.database import commit, db_session, get_database, get_settings
from reviewq.web.errors import ApiError
from reviewq.web.long_poll import LongPoll, defer, event_loop
from reviewq.web.openapi import for_agent, openapi_document
from reviewq.web.security import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MAX_IDEMPOTENCY_KEY = 120


def _result_json(result) -> dict:
    """OutputResult's JSON, built as a plain dict: a model per output of a batch cost more than
    the output's own validation."""
    return {"trace_id": result.trace_id, "queued": result.queued, "id": result.public_id,
            "duplicate": result.duplicate}


@bp.post("/items")
def submit_items():
    caller = authenticate(Scope.ITEMS_WRITE)
    body = json_object()
    batch = "items" in body
    if batch:
        raw_items = validate(OutputBatch, body).items
        outputs = validate_each(OutputCreate, raw_items, prefix="items")
    else:
        outputs = [validate(OutputCreate, body)]
    settings = get_settings()
    results = submit_outputs(
        session=db_session(), token=caller.token, outputs=outputs, sampling=settings.sampling, now=app_now(),
        canaries=settings.canaries, rng=_RESERVOIR_RNG,
    )
    record_judge_verdicts(session=db_session(), outputs=outputs, results=results)
    commit()
    note_open(session=db_session(), now=app_now(), slots={
        (caller.token.agent, o.category, ItemKind.OUTPUT.value) for o, r in zip(outputs, results, strict=True)
        if r.queued})
    if batch:
        # orjson: the standard encoder took longer over a batch's answer than the insert's Python.
        return current_app.response_class(orjson.dumps({"results": [_result_json(r) for r in results]}) + b"\n",
                                          mimetype="application/json")
    only = results[0]
    created = only.queued and not only.duplicate
    return jsonify(_result_json(only)), 201 if created else 200


# Which unsampled outputs the reservoir keeps; not security-sensitive.
_RESERVOIR_RNG = random.Random()


@bp.get("/items/<public_id>")
def get_item(public_id: str):
    caller = authenticate(Scope.ITEMS_WRITE, Scope.APPROVALS_READ)
    session = db_session(readonly=True)
    item = agent_item(session=session, token=caller.token, public_id=public_id)
    return jsonify(item.to_public().model_dump(mode="json"))


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise ApiError(422, "invalid_field",
                       f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters",
                       field="Idempotency-Key")
    return key


@bp.post("/approvals")
def create_approval():
    caller = authenticate(Scope.APPROVALS_WRITE)
    key = _idempotency_key()
    data = validate(ApprovalCreate, json_object())
    session = db_session()
    done = request_approval(
        session=session, token=caller.token, data=data, idempotency_key=key, settings=get_settings(), now=app_now()
    )
    body = approval_public(session=session, item=done.item).model_dump(mode="json")
    commit()
    note_open(session=session, slots=[(done.item.agent, done.item.category, ItemKind.APPROVAL.value)], now=app_now())
    response = jsonify(body)
    response.status_code = 201 if done.created else 200
    response.headers["Location"] = url_for("api.get_approval", public_id=done.item.public_id)
    return response


def _listen(settings) -> None:
    """On PostgreSQL, this process's LISTEN connection: commits in other processes wake it."""
    if settings.database.url.startswith("postgresql"):
        listener_for(settings.database.url)


def _wait_seconds() -> float:
    raw = request.args.get("wait")
    if raw is None or raw == "":
        return 0.0
    limit = get_settings().approvals.max_wait_s
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not (0 <= wait <= limit):
        raise ApiError(422, "invalid_field", f"wait must be a number of seconds from 0 to {limit}", field="wait")
    return wait


@bp.get("/approvals/<public_id>")
def get_approval(public_id: str):
    caller = authenticate(Scope.APPROVALS_READ)
    wait = _wait_seconds()
    db_session(readonly=True).rollback()  # hand the connection back: nothing is held while waiting
    settings = get_settings()
    # Only what agent_item reads: a waiter may be one of thousands, so it keeps no ORM object.
    # The clock itself: check() may run on the event loop, outside the app context.
    check = ApprovalCheck(database=get_database(), settings=settings,
                          token=AgentRef(id=caller.token.id, agent=caller.agent), public_id=public_id,
                          clock=app_clock())
    loop = event_loop() if wait > 0 else None
    if loop is None:
        done, public = check()
        if wait > 0 and not done:
            _listen(settings)
            public = wait_until(public_id, check=check, timeout=wait, wake_in=settles_in)
        return jsonify(public.model_dump(mode="json"))
    # Served by reviewq.serving: registered before the read, then the event loop waits and
    # this thread is free at once.
    _listen(settings)
    waiter = hub.register(public_id, LoopEvent(loop))
    try:
        done, answer = check.answer()
    except BaseException:
        hub.unregister(public_id, waiter)
        raise
    if done:
        hub.unregister(public_id, waiter)
    else:
        defer(LongPoll(key=public_id, timeout=wait, check=check.answer, wake_in=ApprovalAnswer.settles_in,
                       waiter=waiter, value=answer.lean(), render=ApprovalAnswer.render, accept=check.accept))
    return current_app.response_class(answer.body, mimetype="application/json")


@bp.post("/approvals/<public_id>/cancel")
def cancel(public_id: str):
    caller = authenticate(Scope.APPROVALS_WRITE)
    session = db_session()
    item = cancel_approval(session=session, token=caller.token, public_id=public_id, now=app_now())
    body = approval_public(session=session, item=item).model_dump(mode="json")
    commit()
    return jsonify(body)


@bp.post("/approvals/<public_id>/consume")
def consume(public_id: str):
    """Spend an approved approval on the call with this digest: once, in its validity window."""
    caller = authenticate(Scope.APPROVALS_WRITE)
    data = validate(ApprovalConsume, json_object())
    session = db_session()
    item = consume_approval(session=session, token=caller.token, public_id=public_id,
                            tool_digest=data.tool_digest, now=app_now())
    body = approval_public(session=session, item=item).model_dump(mode="json")
    commit()
    return jsonify(body)


@bp.get("/whoami")
def whoami():
    """The calling token's agent and scopes: how a gateway (reviewq mcp) checks a bearer token."""
    caller = authenticate()
    return jsonify({"agent": caller.agent, "scopes": sorted(caller.token.scope_set)})


@bp.get("/openapi.json")
def openapi():
    """Public; with a valid bearer token, the document is narrowed to that token's agent."""
    limits = get_settings().approvals
    document = openapi_document(limits.max_timeout_s, limits.max_wait_s)
    kind, _, plaintext = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() == "bearer" and plaintext.strip():
        token = verify_token(session=db_session(readonly=True), plaintext=plaintext.strip(), now=app_now())
        if token is not None:
            document = for_agent(document, token.agent)
    return jsonify(document)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
