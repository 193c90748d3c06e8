"""Column types and helpers shared by every table."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    SQLite keeps no offset, so values are normalised to UTC on the way in and tagged UTC on
    the way out; naive datetimes are refused rather than guessed at.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_text(value: Any) -> str:
    """`value` as JSON text for a JSON column, as SQLAlchemy's sa.JSON would store it in meaning.

    orjson, compact and UTF-8, is several times faster than json.dumps; what it will not write
    (nesting past 254 levels, integers past 64 bits, keys that are not strings) json writes.
    """
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def utcnow() -> datetime:
    """The wall clock, for shells (web, CLI, scheduler) to pass into domain functions as now=."""
    return datetime.now(UTC)


def new_public_id(prefix: str) -> str:
    """A random opaque id: nothing about order, time or origin can be read from it."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def new_public_ids(prefix: str, count: int) -> list[str]:
    """`count` ids like new_public_id's, from one read of the system's random source (a batch's
    100 reads cost more than its dedupe lookup): 12 random bytes are 16 base64 characters."""
    text = base64.urlsafe_b64encode(secrets.token_bytes(12 * count)).decode()
    return [f"{prefix}_{text[i:i + 16]}" for i in range(0, 16 * count, 16)]


def str_enum(enum_cls, length: int = 32) -> sa.Enum:
    """A str Enum stored as its value in a VARCHAR (no native type to migrate), read back as the Enum."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
