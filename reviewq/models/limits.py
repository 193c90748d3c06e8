"""Counters shared by every worker process: login throttling and the agent API's rate limit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime


class RateCounter(SQLModel, table=True):
    """Events counted for one key within a fixed window that starts at the window's first event.

    Keys name what is counted, e.g. `login:pair:<name>|<address>` or `api:token:<id>`. Rows are
    bumped with one atomic upsert, so simultaneous requests in any process never under-count.
    """

    __tablename__ = "rate_counters"

    key: str = Field(primary_key=True, max_length=200)
    window_start: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    count: int = Field(default=0, nullable=False)
