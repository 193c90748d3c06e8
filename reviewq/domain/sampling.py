"""Sampling agent outputs for review: a per-category rate, decided deterministically by trace.

The same (agent, trace_id) always gets the same answer, so a retried request is sampled the
same way and a repeated trace never makes a second item.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from reviewq.config import SamplingSettings
from reviewq.domain.errors import ValidationFailed
from reviewq.domain.queue import enqueue
from reviewq.models import ApiToken, Item, ItemCreate, ItemKind, ItemStatus, new_public_id
from reviewq.models.outputs import OutputCreate

# Rows per IN (...) lookup when checking a batch for already-submitted traces.
LOOKUP_CHUNK = 500


def rate_for(category: str, sampling: SamplingSettings) -> float:
    if category in sampling.high_risk:
        return 1.0
    return sampling.rates.get(category, sampling.default_rate)


def sample_point(agent: str, trace_id: str) -> float:
    """A uniform point in [0, 1) fixed by (agent, trace_id): 64 bits of SHA-256."""
    digest = hashlib.sha256(f"{agent}\x1f{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_sampled(agent: str, trace_id: str, rate: float) -> bool:
    return rate >= 1.0 or sample_point(agent, trace_id) < rate


def output_dedupe_key(agent: str, trace_id: str) -> str:
    return f"output:{agent}:{trace_id}"


@dataclass(frozen=True)
class Submitted:
    trace_id: str
    queued: bool
    item: Item | None
    duplicate: bool


def _item_create(token: ApiToken, data: OutputCreate) -> ItemCreate:
    payload = {"input": data.input, "output": data.output}
    if data.context is not None:
        payload["context"] = data.context
    if data.metadata is not None:
        payload["metadata"] = data.metadata
    return ItemCreate(
        kind=ItemKind.OUTPUT,
        trace_id=data.trace_id,
        agent=token.agent,
        category=data.category,
        payload=payload,
        dedupe_key=output_dedupe_key(token.agent, data.trace_id),
        token_id=token.id,
    )


def check_agent(token: ApiToken, data: OutputCreate, field: str = "agent") -> None:
    if data.agent is not None and data.agent != token.agent:
        raise ValidationFailed(f"agent must be this token's agent ({token.agent!r})", field=field)


def submit_outputs(
    *, session: Session, token: ApiToken, outputs: list[OutputCreate], sampling: SamplingSettings,
    now: datetime,
) -> list[Submitted]:
    """Queue the sampled outputs of a batch; unsampled ones are answered but not stored.

    One lookup per chunk finds traces already submitted and one flush inserts the rest, so a
    large batch costs a few statements rather than a few per item.
    """
    for i, data in enumerate(outputs):
        check_agent(token, data, field=f"items[{i}].agent" if len(outputs) > 1 else "agent")
    sampled = [d for d in outputs if is_sampled(token.agent, d.trace_id, rate_for(d.category, sampling))]
    keys = list(dict.fromkeys(output_dedupe_key(token.agent, d.trace_id) for d in sampled))
    existing: dict[str, Item] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        for item in session.exec(select(Item).where(Item.dedupe_key.in_(chunk))):
            existing[item.dedupe_key] = item
    fresh: dict[str, Item] = {}
    for data in sampled:
        key = output_dedupe_key(token.agent, data.trace_id)
        if key in existing or key in fresh:
            continue
        fields = _item_create(token, data).model_dump()
        fresh[key] = Item(
            **fields, public_id=new_public_id("itm"), status=ItemStatus.QUEUED, created_at=now, updated_at=now
        )
    if fresh:
        try:
            with session.begin_nested():
                session.add_all(fresh.values())
                session.flush()
        except IntegrityError:
            # A concurrent request submitted one of these traces first: go item by item.
            fresh = _one_by_one(session, token, sampled, existing, now)
    results = []
    seen: set[str] = set()
    for data in outputs:
        key = output_dedupe_key(token.agent, data.trace_id)
        if key in existing:
            results.append(Submitted(data.trace_id, True, existing[key], duplicate=True))
        elif key in fresh:
            results.append(Submitted(data.trace_id, True, fresh[key], duplicate=key in seen))
            seen.add(key)
        else:
            results.append(Submitted(data.trace_id, False, None, duplicate=False))
    return results


def _one_by_one(session, token, sampled, existing, now) -> dict[str, Item]:
    fresh: dict[str, Item] = {}
    for data in sampled:
        key = output_dedupe_key(token.agent, data.trace_id)
        if key in existing or key in fresh:
            continue
        done = enqueue(session=session, data=_item_create(token, data), now=now)
        if done.created:
            fresh[key] = done.item
        else:
            existing[key] = done.item
    return fresh

