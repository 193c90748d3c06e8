"""Test data with a seeded Faker, through the real domain functions."""

from __future__ import annotations

from datetime import datetime, timedelta

from faker import Faker
from sqlmodel import Session

from reviewq.domain.items import enqueue
from reviewq.domain.users import create_user
from reviewq.models import Item, ItemCreate, ItemKind, Role, User, UserCreate

fake = Faker()
Faker.seed(1234)

PASSWORD = "correct-horse-battery"


def make_user(session: Session, name: str | None = None, role: Role = Role.REVIEWER, *, now: datetime) -> User:
    return create_user(
        session=session,
        data=UserCreate(name=name or fake.unique.user_name(), role=role, password=PASSWORD),
        now=now,
        actor="system",
    )


def output_item(**overrides) -> ItemCreate:
    question = fake.sentence()
    data = dict(
        kind=ItemKind.OUTPUT,
        trace_id=fake.uuid4(),
        agent="support-bot",
        category="customer_support",
        payload={"input": question, "output": fake.paragraph()},
    )
    data.update(overrides)
    return ItemCreate(**data)


def approval_item(*, now: datetime, deadline_in: timedelta = timedelta(hours=1), **overrides) -> ItemCreate:
    data = dict(
        kind=ItemKind.APPROVAL,
        trace_id=fake.uuid4(),
        agent="billing-agent",
        category="billing",
        deadline=now + deadline_in,
        payload={
            "actor": fake.email(),
            "intent": "refund",
            "constraints": {"max_amount_usd": 100},
            "tool_call": {"name": "issue_refund", "args": {"amount_usd": 42, "order": fake.ean8()}},
            "irreversible": False,
        },
    )
    data.update(overrides)
    return ItemCreate(**data)


def add_outputs(session: Session, n: int, *, now: datetime, spacing: timedelta = timedelta(seconds=1)):
    return [
        enqueue(session=session, data=output_item(), now=now + i * spacing).item for i in range(n)
    ]


def approved_by_two(session: Session, source: Item, names: tuple[str, ...] = ("bob", "carol"), *, at: datetime,
                    settings) -> None:
    """New reviewers `names` each claim `source` (the oldest item) and approve it at `at`: a known-good item."""
    from reviewq.domain.claims import claim_next
    from reviewq.domain.decide import decide
    from reviewq.domain.users import get_user_by_name
    from reviewq.models import DecisionCreate, Verdict

    for name in names:
        other = get_user_by_name(session=session, name=name) or make_user(session, name, now=at - timedelta(days=20))
        held = claim_next(session=session, reviewer_id=other.id, now=at, lease_seconds=60)
        assert held.id == source.id
        decide(session=session, public_id=held.public_id, reviewer=other, settings=settings, now=at,
               data=DecisionCreate(verdict=Verdict.APPROVE))


def team_with_a_known_good_source(database, settings, now: datetime, *, real_items: int = 2) -> list[str]:
    """rita to review; a source item bob and carol both approved (a known-good control, or a
    canary's mutation source); then `real_items` real items of the same slot, their public ids."""
    with database.session_scope() as s:
        make_user(s, "rita", now=now - timedelta(days=20))
        source = enqueue(session=s, now=now - timedelta(minutes=40),
                         data=output_item(agent="acme", category="orders", required_approvals=2)).item
        approved_by_two(s, source, at=now - timedelta(minutes=30), settings=settings)
        return [enqueue(session=s, now=now - timedelta(minutes=20 - i),
                        data=output_item(agent="acme", category="orders")).item.public_id
                for i in range(real_items)]
