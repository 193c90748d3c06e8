"""Approval requests: the agent-side record beside each approval item, and the policy envelope.

The item's payload is what reviewers see; the callback URL, the idempotency key and the
token stay here, out of reviewers' sight and out of canary templates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, StrictInt, StrictStr
from pydantic import Field as PydField
from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime


class Approval(SQLModel, table=True):
    __tablename__ = "approvals"

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id", nullable=False, sa_column_kwargs={"unique": True})
    token_id: int = Field(foreign_key="api_tokens.id", nullable=False, index=True)
    idempotency_key: str | None = Field(default=None, max_length=128)
    # SHA-256 of the canonical request body: the same key with another body is a 409.
    body_hash: str = Field(max_length=64, nullable=False)
    callback_url: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


def _whole_number(value: Any) -> Any:
    """JSON has one number type: 60.0 is the integer 60 (as JSON Schema says), "60" and true are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeSeconds = Annotated[StrictInt, BeforeValidator(_whole_number), PydField(ge=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ToolCall(_Strict):
    name: StrictStr = PydField(min_length=1, max_length=200)
    args: dict[str, Any] = PydField(default_factory=dict)


class ApprovalCreate(_Strict):
    """The policy envelope an agent sends to ask for a human decision."""

    trace_id: StrictStr = PydField(min_length=1, max_length=128)
    actor: StrictStr = PydField(min_length=1, max_length=200)
    intent: StrictStr = PydField(min_length=1, max_length=64)
    constraints: dict[str, Any] = PydField(default_factory=dict)
    tool_call: ToolCall
    irreversible: StrictBool = False
    timeout_s: WholeSeconds | None = None
    # No whitespace or control characters: a URL with CR/LF could never be sent as a request line.
    callback_url: StrictStr | None = PydField(default=None, min_length=1, max_length=2000,
                                              pattern=r"^[^\x00-\x20\x7F]+$")
    context: Any = None


class ApprovalCounts(BaseModel):
    required: int
    given: int


class ApprovalPublic(BaseModel):
    """What the agent (GET /api/v1/approvals/<id>) and the webhook see of an approval."""

    id: str
    trace_id: str
    intent: str
    irreversible: bool
    status: str = PydField(description="pending | approved | denied | expired | cancelled")
    outcome: str | None = PydField(description="approve | deny, or null while pending or when cancelled")
    reason: str | None = PydField(default=None, description="the reviewer's reason bucket on a deny")
    approvals: ApprovalCounts
    created_at: datetime
    deadline: datetime
    decided_at: datetime | None
