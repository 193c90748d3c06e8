"""The judges' part of the OpenAPI document: /api/v1/review (see api_review.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ReviewApprovals(BaseModel):
    required: int
    given: int


class ReviewItem(BaseModel):
    """Exactly what a person's queue page is shown: planted items look like any other."""

    id: str
    kind: Literal["output", "approval"]
    agent: str
    category: str
    payload: Any
    created_at: datetime
    deadline: datetime | None
    approvals: ReviewApprovals | None


class ReviewNext(BaseModel):
    item: ReviewItem | None = Field(description="null when nothing is due for this judge")
    lease_seconds: int = Field(description="decide (or take /next again) within this time, or the item goes back")


class ReviewDecisionCreate(BaseModel):
    verdict: Literal["approve", "reject"]
    reason: str | None = Field(default=None, description="a reject needs a reason bucket (built-in or [reasons] extra)")
    note: str | None = Field(default=None, max_length=2000)
    active_ms: int | None = Field(default=None, ge=0)


class ReviewDecision(BaseModel):
    item: str
    verdict: Literal["approve", "reject"]
    reason: str | None
    note: str
    decided_at: datetime
    active_ms: int
    settled: bool


class ReviewDecided(BaseModel):
    decision: ReviewDecision
    reveal: dict[str, Any] | None = Field(description="the reveal of a planted item, as a person would see it")


class ReviewSkipped(BaseModel):
    released: bool


MODELS: list[type[BaseModel]] = [ReviewNext, ReviewDecisionCreate, ReviewDecided, ReviewSkipped]


def review_paths(*, responses: Callable, json: Callable, ref: Callable, id_param: dict, secured: list) -> dict:
    scope = "Needs a token with the `review` scope (an automated judge); its decisions count like a person's."
    return {
        "/api/v1/review/next": {"post": {
            "operationId": "reviewNext", "summary": "Claim the next item for this judge (or the one it holds)",
            "description": scope, "security": secured,
            "responses": responses({"200": json(ref("ReviewNext"), "the item, or null")}),
        }},
        "/api/v1/review/{public_id}/decide": {"post": {
            "operationId": "reviewDecide", "summary": "Approve or reject the item this judge holds",
            "description": scope, "security": secured, "parameters": [id_param],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": ref("ReviewDecisionCreate")}}},
            "responses": responses({"200": json(ref("ReviewDecided"), "recorded")}, "400", "404", "409", "413",
                                   "422"),
        }},
        "/api/v1/review/{public_id}/skip": {"post": {
            "operationId": "reviewSkip", "summary": "Give the held item back to the queue",
            "description": scope, "security": secured, "parameters": [id_param],
            "responses": responses({"200": json(ref("ReviewSkipped"), "released is false if it was not held")}),
        }},
    }
