"""The lead's items browser: filters, sorting and keyset pagination over every item.

Keyset, not OFFSET: a page is `WHERE (sort_key, id) < (last row's) ORDER BY sort_key, id LIMIT n`,
read off the (created_at, id) / (decided_at, id) indexes, so page 1,000 costs what page 1 does at
a million items. Overlap copies (second blind reviews) are left out: they belong to their
original, whose page shows both reviews.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.domain.errors import ValidationFailed
from reviewq.models import (
    Decision,
    Injection,
    Item,
    ItemKind,
    ItemStatus,
    Outcome,
    OverlapReview,
    Overturn,
    User,
)

SORTS = {
    "created_desc": ("created_at", True),
    "created_asc": ("created_at", False),
    "decided_desc": ("decided_at", True),
    "decided_asc": ("decided_at", False),
}
PLANTED = ("real", "canary", "control")
MAX_PAGE = 200
MAX_TEXT = 200



@dataclass(frozen=True)
class ItemQuery:
    agent: str | None = None
    category: str | None = None
    kind: str | None = None
    status: str | None = None
    outcome: str | None = None
    reason: str | None = None
    reviewer: str | None = None
    planted: str | None = None
    start: date | None = None  # created on or after this UTC day
    end: date | None = None  # created on or before this UTC day
    trace_id: str | None = None
    text: str | None = None  # a substring of the payload, case-insensitive
    sort: str = "created_desc"
    cursor: str | None = None
    limit: int = 50
    reasons: tuple[str, ...] = field(default=(), compare=False)  # the known buckets, for validation

    @classmethod
    def from_args(cls, args: Mapping[str, str], *, reasons: tuple[str, ...]) -> ItemQuery:
        """Parse the browser's query string; a bad value is a ValidationFailed naming its field."""

        def text(name: str, limit: int = 64) -> str | None:
            value = (args.get(name) or "").strip()
            if len(value) > limit:
                raise ValidationFailed(f"{name} is at most {limit} characters", field=name)
            return value or None

        def choice(name: str, allowed) -> str | None:
            value = text(name)
            if value is not None and value not in allowed:
                raise ValidationFailed(f"{name} must be one of {', '.join(allowed)}", field=name)
            return value

        limit_text = text("limit") or "50"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
            raise ValidationFailed(f"limit must be a whole number from 1 to {MAX_PAGE}", field="limit")
        query = cls(
            agent=text("agent"), category=text("category"),
            kind=choice("kind", [k.value for k in ItemKind]),
            status=choice("status", [s.value for s in ItemStatus]),
            outcome=choice("outcome", [o.value for o in Outcome]),
            reason=choice("reason", reasons), reviewer=text("reviewer"),
            planted=choice("planted", PLANTED),
            start=_day(args.get("from"), "from"), end=_day(args.get("to"), "to"),
            trace_id=text("trace_id", 128), text=text("q", MAX_TEXT),
            sort=choice("sort", list(SORTS)) or "created_desc",
            cursor=text("cursor", 200), limit=int(limit_text), reasons=reasons,
        )
        if query.start and query.end and query.end < query.start:
            raise ValidationFailed("'to' is before 'from'", field="to")
        if query.cursor:
            decode_cursor(query.cursor)  # refuse a mangled cursor before running anything
        return query

    def as_args(self) -> dict[str, str]:
        """The filters (not the cursor) as query-string arguments, for links and exports."""
        out = {
            "agent": self.agent, "category": self.category, "kind": self.kind, "status": self.status,
            "outcome": self.outcome, "reason": self.reason, "reviewer": self.reviewer, "planted": self.planted,
            "from": self.start.isoformat() if self.start else None, "to": self.end.isoformat() if self.end else None,
            "trace_id": self.trace_id, "q": self.text,
            "sort": self.sort if self.sort != "created_desc" else None,
        }
        return {k: v for k, v in out.items() if v}


def _day(value: str | None, name: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{name} must be a date like 2026-11-02", field=name) from None


def encode_cursor(at: datetime, item_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.astimezone(UTC).isoformat()}|{item_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        at_text, _, id_text = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, int(id_text)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("cursor is not one this page gave out; start from the first page",
                               field="cursor") from None


def _payload_text():
    return sa.func.lower(sa.cast(Item.payload, sa.Text))


def _like_escape(text: str) -> str:
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: ItemQuery, *, sqlite: bool):
    column_name, _desc = SORTS[query.sort]
    sort_col = getattr(Item, column_name)
    conditions = [~sa.exists().where(OverlapReview.copy_item_id == Item.id)]
    if column_name == "decided_at":
        conditions.append(Item.decided_at.is_not(None))
    if query.trace_id is not None:
        conditions.append(Item.trace_id == query.trace_id)
    for attr in ("agent", "category", "kind", "status", "outcome"):
        value = getattr(query, attr)
        if value is not None:
            column = getattr(Item, attr)
            # SQLite has no statistics here and would take an equality on a few-valued column (agent,
            # status) as selective, read all its matches and sort them; ifnull() keeps it on the sort
            # index instead, which finds a page of matches after a short walk. PostgreSQL plans by its
            # statistics and keeps the plain comparison.
            conditions.append((sa.func.ifnull(column, "") if sqlite else column) == value)
    if query.start:
        conditions.append(Item.created_at >= datetime.combine(query.start, time(0), tzinfo=UTC))
    if query.end:
        conditions.append(Item.created_at < datetime.combine(query.end + timedelta(days=1), time(0), tzinfo=UTC))
    if query.text:
        conditions.append(_payload_text().like(f"%{_like_escape(query.text)}%", escape="\\"))
    decided_by = []
    if query.reason:
        decided_by.append(Decision.reason == query.reason)
    if query.reviewer:
        decided_by.append(Decision.reviewer_id == sa.select(User.id).where(User.name == query.reviewer)
                          .scalar_subquery())
    if decided_by:
        conditions.append(sa.exists().where(Decision.item_id == Item.id, *decided_by))
    if query.planted == "real":
        conditions.append(~sa.exists().where(Injection.item_id == Item.id))
    elif query.planted:
        conditions.append(sa.exists().where(Injection.item_id == Item.id, Injection.kind == query.planted))
    return sort_col, conditions


@dataclass
class ItemPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    query: ItemQuery


def _page_ids(session: Session, query: ItemQuery, limit: int) -> list[tuple[int, datetime]]:
    sort_col, conditions = _filtered(query, sqlite=session.get_bind().dialect.name == "sqlite")
    desc = SORTS[query.sort][1]
    if query.cursor:
        at, last_id = decode_cursor(query.cursor)
        after = sa.tuple_(sort_col, Item.id) < sa.tuple_(sa.literal(at, sort_col.type), sa.literal(last_id))
        before = sa.tuple_(sort_col, Item.id) > sa.tuple_(sa.literal(at, sort_col.type), sa.literal(last_id))
        conditions.append(after if desc else before)
    order = (sort_col.desc(), Item.id.desc()) if desc else (sort_col.asc(), Item.id.asc())
    stmt = sa.select(Item.id, sort_col).where(*conditions).order_by(*order).limit(limit)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def search_items(*, session: Session, query: ItemQuery) -> ItemPage:
    """One page of items matching the filters, and the cursor of the next page (None at the end)."""
    ids = _page_ids(session, query, query.limit + 1)
    more = len(ids) > query.limit
    ids = ids[: query.limit]
    rows = describe(session=session, item_ids=[i for i, _ in ids])
    next_cursor = encode_cursor(ids[-1][1], ids[-1][0]) if more and ids else None
    return ItemPage(rows=rows, next_cursor=next_cursor, query=query)


def iter_items(*, session: Session, query: ItemQuery, batch: int = 500) -> Iterator[dict[str, Any]]:
    """Every item matching the filters (an export), page by page along the same keyset."""
    query = replace(query, limit=batch, cursor=None)
    while True:
        page = search_items(session=session, query=query)
        yield from page.rows
        if page.next_cursor is None:
            return
        query = replace(query, cursor=page.next_cursor)


def describe(*, session: Session, item_ids: list[int]) -> list[dict[str, Any]]:
    """Rows for the given items in the given order: the item, planted kind, decisions, overturn."""
    if not item_ids:
        return []
    items = {
        row.id: row for row in session.execute(
            sa.select(Item.id, Item.public_id, Item.kind, Item.agent, Item.category, Item.trace_id,
                      Item.status, Item.outcome, Item.created_at, Item.decided_at, Item.payload,
                      Injection.kind.label("planted"))
            .outerjoin(Injection, Injection.item_id == Item.id)
            .where(Item.id.in_(item_ids))
        )
    }
    # Decisions on the items and on their overlap copies, oldest first.
    copies = dict(session.execute(
        sa.select(OverlapReview.copy_item_id, OverlapReview.item_id).where(OverlapReview.item_id.in_(item_ids))
    ).all())
    decisions: dict[int, list[dict]] = {i: [] for i in item_ids}
    for d in session.execute(
        sa.select(Decision.item_id, Decision.verdict, Decision.reason, Decision.note, Decision.decided_at,
                  User.name)
        .join(User, User.id == Decision.reviewer_id)
        .where(Decision.item_id.in_(list(item_ids) + list(copies)))
        .order_by(Decision.decided_at, Decision.id)
    ):
        decisions[copies.get(d.item_id, d.item_id)].append({
            "reviewer": d.name, "verdict": _value(d.verdict), "reason": _value(d.reason), "note": d.note,
            "decided_at": d.decided_at.isoformat(), "second_review": d.item_id in copies,
        })
    overturned: dict[int, str] = {}
    for item_id, verdict in session.execute(
        sa.select(Overturn.item_id, Overturn.verdict).where(Overturn.item_id.in_(item_ids))
        .order_by(Overturn.at, Overturn.id)
    ):
        overturned[item_id] = _value(verdict)
    out = []
    for item_id in item_ids:
        it = items[item_id]
        payload = it.payload if isinstance(it.payload, dict) else {"value": it.payload}
        out.append({
            "id": it.public_id, "kind": _value(it.kind), "agent": it.agent, "category": it.category,
            "trace_id": it.trace_id, "status": _value(it.status), "outcome": _value(it.outcome),
            "created_at": it.created_at.isoformat(),
            "decided_at": it.decided_at.isoformat() if it.decided_at else None,
            "planted": _value(it.planted) or "real", "decisions": decisions[item_id],
            "overturned_to": overturned.get(item_id), "payload": payload,
        })
    return out


def _value(v):
    return getattr(v, "value", v)


EXPORT_COLUMNS = (
    "id", "kind", "agent", "category", "trace_id", "status", "outcome", "created_at", "decided_at", "planted",
    "reviewers", "verdicts", "reasons", "notes", "overturned_to", "payload",
)


def export_row(row: dict[str, Any]) -> dict[str, Any]:
    """A flat row for CSV: decisions joined with " | ", the payload as JSON text."""
    ds = row["decisions"]
    return {
        **{k: row[k] for k in EXPORT_COLUMNS if k in row and k not in ("payload",)},
        "reviewers": " | ".join(d["reviewer"] for d in ds),
        "verdicts": " | ".join(d["verdict"] for d in ds),
        "reasons": " | ".join(d["reason"] or "" for d in ds),
        "notes": " | ".join(d["note"] for d in ds),
        "payload": json.dumps(row["payload"], sort_keys=True, ensure_ascii=False),
    }
