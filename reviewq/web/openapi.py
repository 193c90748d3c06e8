"""The OpenAPI 3.1 document of /api/v1, built from the same pydantic models that validate requests."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from reviewq.models import ItemPublic
from reviewq.models.approvals import ApprovalConsume, ApprovalCreate, ApprovalPublic
from reviewq.models.outputs import OutputCreate, OutputResult
from reviewq.web import openapi_review

REF = "#/components/schemas/{model}"


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. invalid_field, unauthorized, rate_limited")
    message: str
    field: str | None = Field(default=None, description="the request field at fault, e.g. tool_call.name")


class Error(BaseModel):
    error: ErrorDetail


class OutputBatchCreate(BaseModel):
    items: list[OutputCreate] = Field(min_length=1, max_length=1000)


class OutputBatchResult(BaseModel):
    results: list[OutputResult]


class Whoami(BaseModel):
    agent: str
    scopes: list[str]


class WebhookEvent(BaseModel):
    """Body of every webhook; signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)."""

    type: str = Field(description="approval.decided (also sent on expiry and cancel)")
    timestamp: str = Field(description="when the event was created, RFC 3339")
    data: ApprovalPublic


MODELS: list[type[BaseModel]] = [
    Error, OutputCreate, OutputBatchCreate, OutputResult, OutputBatchResult, ItemPublic, ApprovalCreate,
    ApprovalPublic, ApprovalConsume, Whoami, WebhookEvent, *openapi_review.MODELS,
]

ERRORS = {
    "400": "malformed body (not JSON, not an object)",
    "401": "missing, unknown or revoked bearer token",
    "403": "the token lacks the scope (or the judge's reviewer account is deactivated)",
    "404": "no such item for this agent",
    "409": "conflict: Idempotency-Key reused with another body, the approval already settled, or a consume "
    "refused (not_approved, digest_mismatch, already_consumed, approval_stale)",
    "413": "body larger than [api] max_body_bytes",
    "422": "a field is missing or wrong; error.field names it",
    "429": "rate limit of this token exceeded; see Retry-After",
}


def _ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _responses(ok: dict[str, dict], *errors: str) -> dict:
    out = dict(ok)
    for code in ("401", "403", "429", *errors):
        headers = None
        if code == "429":
            headers = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
        if code == "401":
            headers = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[code] = _json(_ref("Error"), ERRORS[code], headers)
    return dict(sorted(out.items()))


# Printable ASCII with at least one visible character, as the server checks it.
IDEMPOTENCY_KEY_PATTERN = r"^[ -~]*[!-~][ -~]*$"

ID_PARAM = {"name": "public_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 32}}


@functools.cache
def openapi_document(max_timeout_s: int = 86400, max_wait_s: int = 60) -> dict:
    """The document; the two limits come from [approvals] so the schema says what the server enforces."""
    _, defs = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    schemas = defs["$defs"]
    timeout = schemas["ApprovalCreate"]["properties"]["timeout_s"]["anyOf"][0]
    # pydantic leaves the validator-wrapped bound as a raw "ge"; JSON Schema spells it "minimum".
    timeout["minimum"] = timeout.pop("ge", 1)
    timeout["maximum"] = max_timeout_s
    approval_ok = _json(_ref("ApprovalPublic"), "the approval")
    secured = [{"bearer": []}]
    paths = {
        "/api/v1/items": {
            "post": {
                "operationId": "submitItems",
                "summary": "Submit one sampled output, or {items: [...]} for a batch",
                "description": "Sampling is per category and deterministic by (agent, trace_id); a repeated "
                "trace_id from the same agent returns the first item (duplicate: true). Unsampled outputs are "
                "answered with queued: false and are not stored.",
                "security": secured,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [_ref("OutputCreate"), _ref("OutputBatchCreate")]}}}},
                "responses": _responses({
                    "200": _json({"oneOf": [_ref("OutputResult"), _ref("OutputBatchResult")]},
                                 "batch results in order, or a single output that was not newly queued"),
                    "201": _json(_ref("OutputResult"), "the single output was queued as a new item"),
                }, "400", "413", "422"),
            }
        },
        "/api/v1/items/{public_id}": {
            "get": {
                "operationId": "getItem",
                "summary": "Status and decision of an item this agent sent",
                "security": secured,
                "parameters": [ID_PARAM],
                "responses": _responses({"200": _json(_ref("ItemPublic"), "the item")}, "404"),
            }
        },
        "/api/v1/approvals": {
            "post": {
                "operationId": "requestApproval",
                "summary": "Ask a person to approve an action (the policy envelope)",
                "description": "The same Idempotency-Key and body return the same approval (200); the same key "
                "with another body is a 409. On timeout the approval expires with outcome deny.",
                "security": secured,
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                "description": "1-120 printable ASCII characters (surrounding spaces are trimmed)",
                                "schema": {"type": "string", "minLength": 1, "maxLength": 120,
                                           "pattern": IDEMPOTENCY_KEY_PATTERN}}],
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("ApprovalCreate")}}},
                "responses": _responses({
                    "200": _json(_ref("ApprovalPublic"), "replay of an earlier request with this Idempotency-Key"),
                    "201": _json(_ref("ApprovalPublic"), "created",
                                 {"Location": {"schema": {"type": "string"}}}),
                }, "400", "409", "413", "422"),
            }
        },
        "/api/v1/approvals/{public_id}": {
            "get": {
                "operationId": "getApproval",
                "summary": "The approval's state; with ?wait=N, long-poll until it settles or N seconds pass",
                "security": secured,
                "parameters": [ID_PARAM, {"name": "wait", "in": "query", "required": False,
                                          "schema": {"type": "number", "minimum": 0, "maximum": max_wait_s}}],
                "responses": _responses({"200": approval_ok}, "404", "422"),
            }
        },
        "/api/v1/approvals/{public_id}/cancel": {
            "post": {
                "operationId": "cancelApproval",
                "summary": "Withdraw a pending approval (a no-op if already cancelled)",
                "security": secured,
                "parameters": [ID_PARAM],
                "responses": _responses({"200": approval_ok}, "404", "409"),
            }
        },
        "/api/v1/approvals/{public_id}/consume": {
            "post": {
                "operationId": "consumeApproval",
                "summary": "Spend an approved approval on the tool call about to run (single use)",
                "description": "tool_digest must be the approval's: SHA-256 hex of the canonical JSON of "
                "{\"args\", \"name\"} (sorted keys, no whitespace, UTF-8, whole floats as integers). "
                "Refused with 409 unless approved, the digest matches, it was not consumed before and "
                "valid_until has not passed.",
                "security": secured,
                "parameters": [ID_PARAM],
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("ApprovalConsume")}}},
                "responses": _responses({"200": _json(_ref("ApprovalPublic"), "consumed: run the call now")},
                                        "400", "404", "409", "413", "422"),
            }
        },
        "/api/v1/whoami": {
            "get": {
                "operationId": "whoami",
                "summary": "The agent and scopes of the calling token",
                "security": secured,
                "responses": _responses({"200": _json(_ref("Whoami"), "the token's agent and scopes")}),
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }
        },
    }
    paths.update(openapi_review.review_paths(responses=_responses, json=_json, ref=_ref, id_param=ID_PARAM,
                                             secured=secured))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "reviewq agent API",
            "version": "1.0.0",
            "description": "Sampled outputs for human review, and blocking approvals that fail closed. "
            "Errors are always {\"error\": {\"code\", \"message\", \"field\"?}}. Strings must not contain NUL "
            "(U+0000) or unpaired surrogates (422), and callback_url must be on the server's allow-list (422).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "webhooks": {
            "approval.decided": {
                "post": {
                    "summary": "Sent to callback_url when an approval is decided, expires or is cancelled",
                    "parameters": [
                        {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                        for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
                    ],
                    "requestBody": {"content": {"application/json": {"schema": _ref("WebhookEvent")}}},
                    "responses": {"2XX": {"description": "received; 410 disables the endpoint"}},
                }
            }
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token from `reviewq token create`"}},
        },
    }


def for_agent(document: dict, agent: str) -> dict:
    """The document as one agent's token sees it: an output's `agent`, if sent, can only be its own."""
    import copy

    document = copy.deepcopy(document)
    agent_schema = document["components"]["schemas"]["OutputCreate"]["properties"]["agent"]
    agent_schema.clear()
    agent_schema.update({"const": agent, "description": "if given, must be this token's agent"})
    return document
