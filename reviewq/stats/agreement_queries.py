"""Agreement read from the database: overlap pairs, judge-vs-human pairs, and the page's figures.

Queries return label pairs; every number comes from the pure functions in agreement.py
(VIGILANCE.md §8), shown by the §3 small-sample rule.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session

from reviewq.config import Settings
from reviewq.domain.judges import automated_ids
from reviewq.models import Decision, Item, JudgeVerdict, OverlapReview, User, Verdict
from reviewq.stats import agreement as ag
from reviewq.stats.filters import Filters

APPROVE = Verdict.APPROVE.value
VERDICTS = (Verdict.APPROVE.value, Verdict.REJECT.value)


def _v(value):
    return getattr(value, "value", value)


def bucket_label(verdict, reason) -> str:
    """The finer label: "approve", or the reject's reason bucket."""
    return APPROVE if _v(verdict) == APPROVE else (_v(reason) or "other")


@dataclass(frozen=True)
class OverlapPair:
    item: str  # the original's public id
    category: str
    agent: str
    first: str
    second: str
    first_verdict: str
    second_verdict: str
    first_bucket: str
    second_bucket: str
    first_note: str
    second_note: str
    created_at: datetime
    adjudicated: str | None
    adjudicated_reason: str | None

    @property
    def disagree(self) -> bool:
        return self.first_bucket != self.second_bucket


def overlap_pairs(*, session: Session, filters: Filters) -> list[OverlapPair]:
    """Every overlap whose second review is decided, routed in the date range (and category)."""
    original, first_d, second_d = aliased(Item), aliased(Decision), aliased(Decision)
    first_u, second_u = aliased(User), aliased(User)
    query = (
        sa.select(original.public_id, original.category, original.agent, first_u.name, second_u.name,
                  first_d.verdict, first_d.reason, first_d.note, second_d.verdict, second_d.reason, second_d.note,
                  OverlapReview.created_at, OverlapReview.adjudicated_verdict, OverlapReview.adjudicated_reason)
        .select_from(OverlapReview)
        .join(original, original.id == OverlapReview.item_id)
        .join(first_d, sa.and_(first_d.item_id == OverlapReview.item_id,
                               first_d.reviewer_id == OverlapReview.first_reviewer_id))
        .join(second_d, sa.and_(second_d.item_id == OverlapReview.copy_item_id,
                                second_d.reviewer_id == OverlapReview.second_reviewer_id))
        .join(first_u, first_u.id == first_d.reviewer_id)
        .join(second_u, second_u.id == second_d.reviewer_id)
        .where(OverlapReview.created_at >= filters.since, OverlapReview.created_at < filters.until)
        .order_by(OverlapReview.created_at.desc(), OverlapReview.id.desc())
    )
    if filters.category:
        query = query.where(original.category == filters.category)
    return [
        OverlapPair(item=r[0], category=r[1], agent=r[2], first=r[3], second=r[4],
                    first_verdict=_v(r[5]), second_verdict=_v(r[8]),
                    first_bucket=bucket_label(r[5], r[6]), second_bucket=bucket_label(r[8], r[9]),
                    first_note=r[7], second_note=r[10], created_at=r[11],
                    adjudicated=_v(r[12]), adjudicated_reason=r[13])
        for r in session.execute(query)
    ]


def judge_pairs(*, session: Session, filters: Filters) -> list[tuple[str, str, str]]:
    """(category, judge verdict, human verdict) over items a person decided and the agent's judge labelled.

    The human label is the first decision by a person (not an automated judge) on the item.
    """
    judges = automated_ids(session=session)
    query = (
        sa.select(Item.id, Item.category, JudgeVerdict.verdict, Decision.verdict, Decision.reviewer_id)
        .select_from(JudgeVerdict)
        .join(Item, Item.id == JudgeVerdict.item_id)
        .join(Decision, Decision.item_id == Item.id)
        .where(Decision.decided_at >= filters.since, Decision.decided_at < filters.until)
        .order_by(Item.id, Decision.decided_at, Decision.id)
    )
    if filters.category:
        query = query.where(Item.category == filters.category)
    seen: set[int] = set()
    out = []
    for item_id, category, judge, human, reviewer_id in session.execute(query):
        if item_id in seen or reviewer_id in judges:
            continue
        seen.add(item_id)
        out.append((category, _v(judge), _v(human)))
    return out


def _resamples(n: int) -> int:
    """Fewer bootstrap resamples for big groups: the interval is narrow there anyway."""
    return 1000 if n <= 500 else max(200, 500_000 // n)


def _figure(units, rng: random.Random, minimum: int) -> dict[str, Any]:
    counted = Counter(units)
    n = sum(counted.values())
    return ag.agreement(counted, rng=rng, minimum=minimum, resamples=_resamples(n)).as_json()


def build_agreement(*, session: Session, filters: Filters, settings: Settings, rng: random.Random,
                    reasons: tuple[str, ...]) -> dict[str, Any]:
    """Everything the agreement page shows: overall, per category, per reason bucket, per reviewer pair,
    judge vs human per category, and the disagreements still to adjudicate."""
    minimum = settings.vigilance.min_canaries
    pairs = overlap_pairs(session=session, filters=filters)
    verdict_units = [(p.first_verdict, p.second_verdict) for p in pairs]
    bucket_units = [(p.first_bucket, p.second_bucket) for p in pairs]
    by_category: dict[str, list] = defaultdict(list)
    by_pair: dict[tuple[str, str], list] = defaultdict(list)
    for p in pairs:
        by_category[p.category].append((p.first_verdict, p.second_verdict))
        # Unordered pair; kappa's rater order is then by name, so its margins are the people's own.
        a, b = sorted((p.first, p.second))
        labels = (p.first_bucket, p.second_bucket) if a == p.first else (p.second_bucket, p.first_bucket)
        by_pair[(a, b)].append(labels)
    by_bucket = []
    for bucket in reasons:
        # Per bucket: does each reviewer call it this bucket or not (a two-label agreement per bucket).
        units = [(p.first_bucket == bucket, p.second_bucket == bucket) for p in pairs]
        used = sum(1 for p in pairs if bucket in (p.first_bucket, p.second_bucket))
        if used:
            by_bucket.append({"bucket": bucket, "chosen": used, **_figure(units, rng, minimum)})
    judge_rows = judge_pairs(session=session, filters=filters)
    judges: dict[str, list] = defaultdict(list)
    for category, judge, human in judge_rows:
        judges[category].append((judge, human))
    return {
        "filters": filters.as_args(),
        "pairs": len(pairs),
        "overall": {"verdict": _figure(verdict_units, rng, minimum), "bucket": _figure(bucket_units, rng, minimum)},
        "by_category": [{"category": c, **_figure(u, rng, minimum)} for c, u in sorted(by_category.items())],
        "by_bucket": by_bucket,
        "by_pair": [{"reviewers": list(k), **_figure(u, rng, minimum)} for k, u in sorted(by_pair.items())],
        "judge_vs_human": [
            {"category": c, "labels": list(VERDICTS), "confusion": ag.confusion(u, VERDICTS),
             **_figure(u, rng, minimum)}
            for c, u in sorted(judges.items())
        ],
        "disagreements": [
            {"item": p.item, "category": p.category, "agent": p.agent, "first": p.first, "second": p.second,
             "first_label": p.first_bucket, "second_label": p.second_bucket, "first_note": p.first_note,
             "second_note": p.second_note, "at": p.created_at.isoformat(),
             "adjudicated": bucket_label(p.adjudicated, p.adjudicated_reason) if p.adjudicated else None}
            for p in pairs if p.disagree
        ],
        "min_items": minimum,
    }
