"""`reviewq gold export`: decided real items, their agreed label and its provenance, deterministically.

The same data always gives the same bytes: lines are sorted by item id, keys are sorted, nothing
depends on the clock, and the manifest carries the SHA-256 of the JSONL, so a team can commit
both and review a change like code (`reviewq gold diff`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.models import Item, OverlapReview, Overturn, User
from reviewq.stats.item_search import ItemQuery, iter_items

FORMAT = "reviewq-gold/1"


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _label_sources(session: Session, public_ids: list[str]) -> tuple[dict, dict]:
    """Latest overturn and the adjudication, per item public id."""
    overturns: dict[str, dict] = {}
    for public_id, verdict, reason, note, lead in session.execute(
        sa.select(Item.public_id, Overturn.verdict, Overturn.reason, Overturn.note, User.name)
        .join(Item, Item.id == Overturn.item_id).join(User, User.id == Overturn.lead_id)
        .where(Item.public_id.in_(public_ids)).order_by(Overturn.at, Overturn.id)
    ):
        overturns[public_id] = {"verdict": verdict.value, "reason": reason, "note": note, "by": lead}
    adjudications: dict[str, dict] = {}
    for public_id, verdict, reason, note, lead in session.execute(
        sa.select(Item.public_id, OverlapReview.adjudicated_verdict, OverlapReview.adjudicated_reason,
                  OverlapReview.adjudication_note, User.name)
        .join(Item, Item.id == OverlapReview.item_id).join(User, User.id == OverlapReview.adjudicated_by)
        .where(Item.public_id.in_(public_ids), OverlapReview.adjudicated_verdict.is_not(None))
    ):
        adjudications[public_id] = {"verdict": verdict.value, "reason": reason, "note": note, "by": lead}
    return overturns, adjudications


def gold_record(row: dict[str, Any], overturn: dict | None, adjudication: dict | None) -> dict[str, Any] | None:
    """One gold line, or None when the item has no agreed label (an unsettled disagreement)."""
    decisions = row["decisions"]
    labels = {(d["verdict"], d["reason"] if d["verdict"] == "reject" else None) for d in decisions}
    reviewers = sorted({d["reviewer"] for d in decisions})
    agreement = None if len(decisions) < 2 else len(labels) == 1
    if overturn is not None:
        verdict, reason, source, by = overturn["verdict"], overturn["reason"], "overturned", overturn["by"]
    elif adjudication is not None:
        verdict, reason, source, by = adjudication["verdict"], adjudication["reason"], "adjudicated", adjudication["by"]
    elif len(labels) == 1:
        (verdict, reason), by = next(iter(labels)), None
        source = "agreed" if len(decisions) > 1 else "single_reviewer"
    else:
        return None
    payload = row["payload"]
    return {
        "id": row["id"], "agent": row["agent"], "category": row["category"], "kind": row["kind"],
        "trace_id": row["trace_id"],
        "input": payload.get("input") if row["kind"] == "output" else payload.get("tool_call"),
        "output": payload.get("output") if row["kind"] == "output" else None,
        "payload": payload,
        "label": {"verdict": verdict, "reason": reason},
        "decisions": [{"reviewer": d["reviewer"], "verdict": d["verdict"], "reason": d["reason"], "note": d["note"],
                       "blind_second_review": d["second_review"]} for d in decisions],
        "provenance": {"source": source, "by": by, "reviewers": reviewers, "n_reviewers": len(reviewers),
                       "agreement": agreement,
                       "note": (overturn or adjudication or {}).get("note")},
    }


def gold_records(*, session: Session, query: ItemQuery, adjudicated_only: bool = False) -> list[dict[str, Any]]:
    """The gold lines for the decided real items matching `query`, sorted by item id."""
    query = replace(query, status="decided", planted="real", sort="created_desc")
    rows = list(iter_items(session=session, query=query))
    out = []
    for start in range(0, len(rows), 500):
        chunk = rows[start:start + 500]
        overturns, adjudications = _label_sources(session, [r["id"] for r in chunk])
        for row in chunk:
            if adjudicated_only and row["id"] not in adjudications:
                continue
            record = gold_record(row, overturns.get(row["id"]), adjudications.get(row["id"]))
            if record is not None:
                out.append(record)
    out.sort(key=lambda r: r["id"])
    return out


def to_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield _dumps(record) + "\n"


def manifest(records: list[dict[str, Any]], body: bytes, filters: dict[str, str]) -> dict[str, Any]:
    """What the file holds and its SHA-256; no timestamp, so an unchanged set gives an unchanged manifest."""
    return {
        "format": FORMAT,
        "file": "gold.jsonl",
        "sha256": hashlib.sha256(body).hexdigest(),
        "items": len(records),
        "filters": dict(sorted(filters.items())),
        "labels": dict(sorted(Counter(r["label"]["verdict"] for r in records).items())),
        "reasons": dict(sorted(Counter(r["label"]["reason"] for r in records if r["label"]["reason"]).items())),
        "sources": dict(sorted(Counter(r["provenance"]["source"] for r in records).items())),
        "categories": dict(sorted(Counter(r["category"] for r in records).items())),
    }


def export_gold(*, session: Session, query: ItemQuery, adjudicated_only: bool = False) -> tuple[bytes, bytes]:
    """(gold.jsonl bytes, manifest.json bytes)."""
    records = gold_records(session=session, query=query, adjudicated_only=adjudicated_only)
    body = "".join(to_lines(records)).encode("utf-8")
    filters = {**query.as_args(), **({"adjudicated": "only"} if adjudicated_only else {})}
    filters.pop("sort", None)
    text = json.dumps(manifest(records, body, filters), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return body, text.encode("utf-8")

