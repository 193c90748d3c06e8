"""Agent API tokens: stored only as a hash, shown once at creation."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime


class Scope(str, Enum):
    ITEMS_WRITE = "items:write"
    APPROVALS_WRITE = "approvals:write"
    APPROVALS_READ = "approvals:read"
    # An automated judge: claims and decides queue items through /api/v1/review like a reviewer.
    REVIEW = "review"


ALL_SCOPES = tuple(s.value for s in Scope)


class ApiTokenBase(SQLModel):
    agent: str = Field(max_length=64, index=True, nullable=False)
    # Space-separated Scope values.
    scopes: str = Field(max_length=200, nullable=False)


class ApiTokenCreate(ApiTokenBase):
    pass


class ApiTokenPublic(ApiTokenBase):
    id: int
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiToken(ApiTokenBase, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    # The first characters of the token, for people to tell tokens apart in listings.
    prefix: str = Field(max_length=16, nullable=False)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    # Signs this agent's webhooks; it must be readable to sign, so it is not hashed.
    webhook_secret: str = Field(max_length=80, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # For a `review` token: the reviewer account its decisions are recorded under (an automated judge).
    reviewer_id: int | None = Field(default=None, foreign_key="users.id")

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())
