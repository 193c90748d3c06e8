"""Sampling agent outputs for review: a per-category rate, decided deterministically by trace.

The same (agent, trace_id) always gets the same answer, so a retried request is sampled the
same way and a repeated trace never makes a second item.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime
from typing import NamedTuple

from sqlmodel import Session, select

from reviewq.config import CanarySettings, SamplingSettings
from reviewq.domain import reservoir
from reviewq.domain.bulk_insert import insert_ignoring_conflicts
from reviewq.domain.errors import ValidationFailed
from reviewq.models import ApiToken, Item, ItemKind, ItemStatus
from reviewq.models.common import json_text, new_public_ids
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


class Submitted(NamedTuple):
    """One output's answer. A named tuple: a frozen dataclass's init cost a microsecond an output."""

    trace_id: str
    queued: bool
    public_id: str | None
    duplicate: bool


def _payload(data: OutputCreate) -> dict:
    payload = {"input": data.input, "output": data.output}
    if data.context is not None:
        payload["context"] = data.context
    if data.trace is not None:
        # What step.model_dump(exclude_none=True) gives, without a serializer call per step.
        payload["trace"] = [{"tool": step.tool, "args": step.args} if step.result is None
                            else {"tool": step.tool, "args": step.args, "result": step.result}
                            for step in data.trace]
    if data.metadata is not None:
        payload["metadata"] = data.metadata
    return payload


# What every row of a batch shares is in _shared(); these vary by output (bulk_insert.py).
_ROW_COLUMNS = ("trace_id", "category", "payload", "public_id", "dedupe_key")


def _row(data: OutputCreate, dedupe_key: str, public_id: str) -> tuple:
    """An items row's own values, in driver form (the payload as JSON text): batch speed."""
    return (data.trace_id, data.category, json_text(_payload(data)), public_id, dedupe_key)


def _shared(token: ApiToken, now: datetime) -> dict:
    """The values every row of one batch has. Columns left out stay NULL or take their default."""
    return {"kind": ItemKind.OUTPUT, "agent": token.agent, "priority": 0, "status": ItemStatus.QUEUED,
            "required_approvals": 1, "token_id": token.id, "created_at": now, "updated_at": now}


def check_agent(token: ApiToken, data: OutputCreate, field: str = "agent") -> None:
    if data.agent is not None and data.agent != token.agent:
        raise ValidationFailed(f"agent must be this token's agent ({token.agent!r})", field=field)


def _existing(session: Session, keys: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        found.update(session.exec(select(Item.dedupe_key, Item.public_id).where(Item.dedupe_key.in_(chunk))).all())
    return found


def _insert_new(session: Session, rows: list[tuple], shared: dict) -> set[str]:
    """Insert the rows whose dedupe key is new (ON CONFLICT DO NOTHING: race-free against a
    concurrent resubmission); the keys actually inserted."""
    return set(insert_ignoring_conflicts(session, Item.__table__, columns=_ROW_COLUMNS, rows=rows, shared=shared,
                                         conflict="dedupe_key", returning="dedupe_key"))


def submit_outputs(
    *, session: Session, token: ApiToken, outputs: list[OutputCreate], sampling: SamplingSettings,
    now: datetime, canaries: CanarySettings | None = None, rng: random.Random | None = None,
) -> list[Submitted]:
    """Queue the sampled outputs of a batch; unsampled ones are answered but not queued.

    Given `canaries` settings with the reservoir on, a bounded share of the unsampled ones is kept
    as projection sources (domain/reservoir.py); no reviewer is ever served them.

    One INSERT .. ON CONFLICT DO NOTHING per 500 rows stores the new traces (race-free against a
    concurrent resubmission), and only conflicting keys are looked up: a few statements per batch.
    """
    agent = token.agent  # read once: an attribute of an ORM object costs a descriptor call a read
    for i, data in enumerate(outputs):
        check_agent(token, data, field=f"items[{i}].agent" if len(outputs) > 1 else "agent")
    sampled = [d for d in outputs if is_sampled(agent, d.trace_id, rate_for(d.category, sampling))]
    if canaries is not None and canaries.reservoir and len(sampled) < len(outputs):
        chosen = {id(d) for d in sampled}
        reservoir.keep_unsampled(
            session=session, agent=agent, settings=canaries, now=now, rng=rng or random.Random(),
            outputs=[(d.category, d.trace_id, _payload(d)) for d in outputs if id(d) not in chosen],
        )
    fresh: dict[str, tuple] = {}
    public_ids = new_public_ids("itm", len(sampled))
    for data, public_id in zip(sampled, public_ids, strict=True):
        key = output_dedupe_key(agent, data.trace_id)
        if key not in fresh:
            fresh[key] = _row(data, key, public_id)
    inserted = _insert_new(session, list(fresh.values()), _shared(token, now)) if fresh else set()
    at = _ROW_COLUMNS.index("public_id")
    fresh_ids = {key: row[at] for key, row in fresh.items() if key in inserted}
    existing = _existing(session, [k for k in fresh if k not in inserted])
    results = []
    seen: set[str] = set()
    for data in outputs:
        key = output_dedupe_key(agent, data.trace_id)
        if key in existing:
            results.append(Submitted(data.trace_id, True, existing[key], duplicate=True))
        elif key in fresh_ids:
            results.append(Submitted(data.trace_id, True, fresh_ids[key], duplicate=key in seen))
            seen.add(key)
        else:
            results.append(Submitted(data.trace_id, False, None, duplicate=False))
    return results

