"""A deployment shaped unlike the demo, simulated through the real domain code.

Two agents with their own names and categories and JSON outputs (`acme-helpdesk`: orders and
returns, never asks for approvals; `ledger-bot`: invoices, and payout approvals), two reviewers
and a lead who spot-checks a few items a day. Agents submit in batches around the clock with
sampling below 1 (so the reservoir fills); reviewers sit weekday sessions and claim through the
projection path; the weekly job draws budgets on Mondays. The simulation knows the truth only
through the injections table, like the demo.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from faker import Faker
from sqlmodel import select

from reviewq.db import Database
from reviewq.domain import projection
from reviewq.domain.approvals import expire_due, request_approval
from reviewq.domain.canary_scoring import injection_for_item
from reviewq.domain.claims import sweep_expired_leases
from reviewq.domain.decide import decide
from reviewq.domain.errors import DeadlinePassed
from reviewq.domain.injection import expire_unseen, plan_week
from reviewq.domain.sampling import submit_outputs
from reviewq.domain.tokens import create_token
from reviewq.models import DecisionCreate, InjectionKind, ReasonBucket, Role, User, Verdict
from reviewq.models.approvals import ApprovalCreate
from reviewq.models.outputs import OutputCreate
from tests.factories import make_user

START = datetime(2026, 10, 5, 0, 0, tzinfo=UTC)  # a Monday
PRODUCTS = ["walnut desk", "oak shelf", "linen sheets", "steel kettle", "wool rug", "glass vase", "desk lamp"]
REFUSALS = ["I'm sorry, I can't change an order that has already shipped.",
            "Unfortunately I'm unable to refund an order older than 90 days."]
HELPDESK_TOOLS = ["orders.lookup", "returns.create_label", "orders.track", "customers.get"]


@dataclass
class World:
    tokens: dict
    reviewers: list[User]
    lead: User


def _order_id(rng: random.Random) -> str:
    return f"ACM-{rng.randint(100000, 999999)}"


def helpdesk_output(rng: random.Random, faker: Faker, category: str) -> dict:
    order, name, product = _order_id(rng), faker.first_name(), rng.choice(PRODUCTS)
    amount = rng.randint(15, 400)
    if category == "orders":
        question = f"Hello, this is {name}. Where is my {product}, order {order}?"
        days = rng.randint(1, 6)
        reply = (f"Hi {name}, your {product} from order {order} is in transit and will arrive in {days} days. "
                 f"The carrier is {rng.choice(['Parcelo', 'Swiftship'])}.")
        trace = [{"tool": "orders.lookup", "args": {"order_id": order}, "result": {"status": "in_transit"}},
                 {"tool": "orders.track", "args": {"order_id": order}, "result": {"eta_days": days}}]
        output = {"reply": reply, "order_id": order, "status": "in_transit", "eta_days": days}
    else:
        question = f"I'm {name} and I want to return the {product} from order {order}; I paid ${amount}."
        reply = (f"Thanks {name}. The return for order {order} is open and a label is on its way. "
                 f"We will refund ${amount} once the {product} reaches us.")
        trace = [{"tool": "orders.lookup", "args": {"order_id": order}, "result": {"paid_usd": amount}},
                 {"tool": "returns.create_label", "args": {"order_id": order}, "result": {"label": "sent"}}]
        output = {"reply": reply, "order_id": order, "refund_usd": amount, "label_sent": True}
    if rng.random() < 0.04:
        output["reply"] = rng.choice(REFUSALS)
    return {"category": category, "input": question, "output": output, "trace": trace}


def ledger_output(rng: random.Random, faker: Faker) -> dict:
    invoice, company = f"LG-{rng.randint(10000, 99999)}", faker.company().replace(",", "")
    total = round(rng.uniform(200, 9000), 2)
    lines = rng.randint(1, 9)
    return {"category": "invoices", "input": f"Extract invoice {invoice} from {company}: {lines} lines, total {total}.",
            "output": {"invoice": invoice, "vendor": company, "total": total, "lines": lines, "currency": "EUR"}}


def payout_request(rng: random.Random, faker: Faker) -> dict:
    amount = rng.randint(100, 4000)
    vendor = faker.company().replace(",", "")
    return {
        "trace_id": uuid.UUID(int=rng.getrandbits(128), version=4).hex, "actor": "ledger-bot",
        "intent": "issue_payout", "constraints": {"max_amount_eur": 5000, "allowed_tools": ["payouts.create"]},
        "tool_call": {"name": "payouts.create", "args": {"vendor": vendor, "amount_eur": amount}},
        "irreversible": rng.random() < 0.4, "timeout_s": rng.choice([3600, 7200]),
        "context": f"Monthly payout for {vendor}, approved budget line {rng.randint(10, 99)}.",
    }


def build_world(database: Database, settings) -> World:
    with database.session_scope() as s:
        tokens = {agent: create_token(session=s, agent=agent, scopes=("items:write", "approvals:write"),
                                      now=START, actor="system").token
                  for agent in ("acme-helpdesk", "ledger-bot")}
        reviewers = [make_user(s, name, now=START) for name in ("alice", "bob")]
        lead = make_user(s, "lee", role=Role.LEAD, now=START)
        for obj in (*tokens.values(), *reviewers, lead):
            s.expunge(obj)
    return World(tokens, reviewers, lead)


def _traffic(database, settings, world, day, rng, faker, outputs_per_day):
    """Batches of outputs around the clock and payout requests in office hours."""
    with database.session_scope() as s:
        for _ in range(outputs_per_day // 12):
            at = day + timedelta(minutes=rng.uniform(0, 24 * 60 - 1))
            agent = "acme-helpdesk" if rng.random() < 0.7 else "ledger-bot"
            batch = []
            for _ in range(12):
                body = helpdesk_output(rng, faker, rng.choice(["orders", "returns"])) if agent == "acme-helpdesk" \
                    else ledger_output(rng, faker)
                batch.append(OutputCreate(trace_id=f"{agent[:4]}-{rng.getrandbits(40):010x}", **body))
            submit_outputs(session=s, token=world.tokens[agent], outputs=batch, sampling=settings.sampling,
                           now=at, canaries=settings.canaries, rng=rng)


def _approvals_due(day, rng, n):
    return sorted(day + timedelta(hours=rng.uniform(7, 18)) for _ in range(n))


def simulate(database: Database, settings, *, weeks: int = 4, seed: int = 7, outputs_per_day: int = 240,
             approvals_per_day: int = 6, claims_per_session: tuple[int, int] = (25, 40)) -> World:
    """`weeks` of traffic and review; returns the cast. Bounded: every loop has a fixed count."""
    rng, faker = random.Random(seed), Faker()
    faker.seed_instance(seed)
    world = build_world(database, settings)
    for d in range(weeks * 7):
        day = START + timedelta(days=d)
        if day.weekday() == 0:
            with database.session_scope() as s:
                plan_week(session=s, settings=settings, now=day + timedelta(hours=6), rng=rng)
        _traffic(database, settings, world, day, rng, faker, outputs_per_day)
        arrivals = _approvals_due(day, rng, approvals_per_day if day.weekday() < 5 else 1)
        turns = []
        if day.weekday() < 5:
            for reviewer in world.reviewers:
                start = day + timedelta(hours=rng.choice([9, 10, 14]), minutes=rng.uniform(0, 50))
                for _ in range(rng.choice([1, 2])):
                    turns.append((start, reviewer, rng.randint(*claims_per_session)))
                    start += timedelta(hours=rng.uniform(1.5, 3))
            turns.append((day + timedelta(hours=16), world.lead, 4))  # the lead's spot check
        turns.sort(key=lambda t: t[0])
        with database.session_scope() as s:
            for start, user, claims in turns:
                at = start
                for _ in range(claims):
                    while arrivals and arrivals[0] <= at:
                        t = arrivals.pop(0)
                        request_approval(session=s, token=world.tokens["ledger-bot"], settings=settings, now=t,
                                         data=ApprovalCreate(**payout_request(rng, faker)), idempotency_key=None)
                    item = projection.claim(session=s, reviewer_id=user.id, now=at, settings=settings, rng=rng)
                    if item is None:
                        break
                    dwell = rng.lognormvariate(3.6, 0.4)
                    verdict = _verdict(injection_for_item(session=s, item_id=item.id), user, rng)
                    try:
                        decide(session=s, public_id=item.public_id, reviewer=user, settings=settings,
                               now=at + timedelta(seconds=dwell),
                               data=DecisionCreate(verdict=verdict, active_ms=int(dwell * 1000),
                                                   reason=ReasonBucket.OTHER if verdict == Verdict.REJECT else None))
                    except DeadlinePassed:
                        pass  # too slow for the approval's deadline: it fails closed, as on the real page
                    at += timedelta(seconds=dwell + rng.uniform(1, 4))
            for t in arrivals:
                request_approval(session=s, token=world.tokens["ledger-bot"], settings=settings, now=t,
                                 data=ApprovalCreate(**payout_request(rng, faker)), idempotency_key=None)
            night = day + timedelta(hours=23, minutes=59)
            expire_due(session=s, now=night, settings=settings)
            sweep_expired_leases(session=s, now=night)
            expire_unseen(session=s, now=night)
    return world


def _verdict(injection, user, rng) -> Verdict:
    if injection is not None and injection.kind == InjectionKind.CANARY:
        return Verdict.REJECT if rng.random() < 0.8 else Verdict.APPROVE
    return Verdict.REJECT if rng.random() < 0.03 else Verdict.APPROVE


def planted_and_real(session):
    """(planted items, real items) served, as Item rows."""
    from reviewq.models import Decision, Injection, Item

    planted_ids = set(session.exec(select(Injection.item_id)).all())
    served = session.exec(select(Item).where(Item.id.in_(select(Decision.item_id)))).all()
    return [i for i in served if i.id in planted_ids], [i for i in served if i.id not in planted_ids]
