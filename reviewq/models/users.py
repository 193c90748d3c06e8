"""Users: reviewers, leads and admins."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime, str_enum


class Role(str, Enum):
    REVIEWER = "reviewer"
    LEAD = "lead"
    ADMIN = "admin"


class UserBase(SQLModel):
    name: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    role: Role = Field(default=Role.REVIEWER, sa_type=str_enum(Role, 16), nullable=False)
    active: bool = Field(default=True, nullable=False)


class UserCreate(UserBase):
    password: str = Field(min_length=8)


class UserPublic(UserBase):
    id: int
    created_at: datetime


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=256, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Stamped into each login's cookie and checked on every request: bumping it (logout, password
    # change, deactivation, role change) ends every session of this user at once.
    session_version: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
