"""Realistic agent traffic for the demo, its live trickle and the benchmark.

Each generator returns the JSON body an agent would POST, in the payload shapes agents really
send (see the agent API). Outputs are written from structured facts that the trace's tool
results carry (reviewq.demo.scenarios), so every item has a known right answer a person can
check; approvals carry a policy envelope whose context agrees with the tool call.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker

from reviewq.demo.scenarios.billing import billing_item
from reviewq.demo.scenarios.ci import ci_item
from reviewq.demo.scenarios.search import search_item
from reviewq.demo.scenarios.support import PRODUCTS, support_item


@dataclass(frozen=True)
class AgentProfile:
    name: str
    category: str


AGENTS = (
    AgentProfile("support-bot", "customer_support"),
    AgentProfile("billing-agent", "billing"),
    AgentProfile("search-agent", "search"),
    AgentProfile("ops-agent", "code"),
)

# Share of each agent in the traffic mix.
AGENT_WEIGHTS = (0.4, 0.2, 0.25, 0.15)


def trace_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


_OUTPUT_MAKERS = {
    "support-bot": support_item,
    "billing-agent": billing_item,
    "search-agent": search_item,
    "ops-agent": ci_item,
}
# Dates in generated facts are relative to this day unless the caller passes its own `today`.
DEFAULT_TODAY = date(2026, 11, 23)


def agent_output(agent: AgentProfile, *, rng: random.Random, faker: Faker, today: date | None = None) -> dict:
    """A body for POST /api/v1/items from this agent, dated around `today` (the simulated day)."""
    body = _OUTPUT_MAKERS[agent.name](faker, rng, today or DEFAULT_TODAY)
    return {"trace_id": trace_id(rng), "agent": agent.name, "category": agent.category, **body}


def random_output(*, rng: random.Random, faker: Faker, today: date | None = None) -> dict:
    agent = rng.choices(AGENTS, weights=AGENT_WEIGHTS)[0]
    return agent_output(agent, rng=rng, faker=faker, today=today)


def padded_output(*, rng: random.Random, faker: Faker, size_bytes: int = 1500) -> dict:
    """An output body of about `size_bytes` of JSON (the benchmark's 1.5 KB items)."""
    body = random_output(rng=rng, faker=faker)
    body.setdefault("metadata", {})
    missing = size_bytes - len(json.dumps(body))
    if missing > 0:
        body["metadata"]["notes"] = faker.text(max_nb_chars=max(20, missing))[:missing]
    return body


APPROVAL_KINDS = ("refund", "record_change", "access_grant")


def _refund(rng: random.Random, faker: Faker, today: date) -> dict:
    customer = faker.name()
    product, price = rng.choice(PRODUCTS)
    order = f"A-{rng.randint(100000, 999999)}"
    cap = rng.choice([100, 250, 500])
    # A full refund when the price is under the cap, else the partial refund the agent offered.
    amount = price if price <= cap * 0.95 else round(rng.uniform(0.2, 0.6) * min(price, cap), 2)
    reason, said = rng.choice([
        ("damaged", f"The {product} arrived damaged, the box was crushed."),
        ("late", f"The {product} came a week after the promised date and I no longer need it."),
        ("duplicate charge", f"I was charged twice for the {product}."),
    ])
    return {
        "actor": "billing-agent", "intent": "refund",
        "constraints": {"max_amount_usd": cap, "allowed_tools": ["issue_refund"]},
        "tool_call": {"name": "issue_refund",
                      "args": {"customer": customer, "order_id": order, "amount_usd": amount, "reason": reason}},
        "irreversible": amount > cap * 0.6,
        "context": (f"{customer} (order {order}, {product}, paid ${price:.2f} on "
                    f"{(today - timedelta(days=rng.randint(3, 20))).isoformat()}): \"{said} "
                    f"Can I get my money back?\" Agent offered a refund of ${amount:.2f}."),
    }


def _record_change(rng: random.Random, faker: Faker) -> dict:
    customer = faker.name()
    field = rng.choice(["email", "shipping_address", "phone"])
    value = {"email": faker.email(), "shipping_address": faker.address().replace("\n", ", "),
             "phone": faker.numerify("+1-###-###-####")}[field]
    return {
        "actor": "support-bot", "intent": "record_change",
        "constraints": {"allowed_tools": ["crm.update_contact"], "fields": [field]},
        "tool_call": {"name": "crm.update_contact", "args": {"customer": customer, "field": field, "value": value}},
        "irreversible": False,
        "context": f"{customer} (verified by one-time code): \"Please change my {field.replace('_', ' ')} "
                   f"to {value}.\"",
    }


def _access_grant(rng: random.Random, faker: Faker) -> dict:
    system = rng.choice(["billing-console", "prod-db-readonly", "hr-portal"])
    user = faker.user_name()
    hours = rng.choice([1, 4, 8])
    ticket = f"OPS-{rng.randint(1000, 9999)}"
    why = {"billing-console": "to correct a mis-posted credit note",
           "prod-db-readonly": f"to debug incident INC-{rng.randint(100, 999)} (slow checkout queries)",
           "hr-portal": "to upload signed onboarding documents"}[system]
    return {
        "actor": "ops-agent", "intent": "access_grant",
        "constraints": {"allowed_tools": ["iam.grant"], "max_duration_hours": 8},
        "tool_call": {"name": "iam.grant", "args": {"user": user, "system": system, "duration_hours": hours}},
        "irreversible": system == "prod-db-readonly",
        "context": f"Ticket {ticket}: {user} asks for {hours} h of access to {system} {why}. Manager approved.",
    }


def approval_request(*, rng: random.Random, faker: Faker, kind: str | None = None,
                     timeout_s: int | None = None, today: date | None = None) -> dict:
    """A body for POST /api/v1/approvals: refunds, record changes and access grants."""
    kind = kind or rng.choice(APPROVAL_KINDS)
    if kind == "refund":
        envelope = _refund(rng, faker, today or DEFAULT_TODAY)
    elif kind == "record_change":
        envelope = _record_change(rng, faker)
    else:
        envelope = _access_grant(rng, faker)
    body = {"trace_id": trace_id(rng), **envelope}
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    return body
