"""Realistic agent traffic for the demo, its live trickle and the benchmark.

Each generator returns the JSON body an agent would POST, built with a seeded Faker, in the
payload shapes agents really send (see the agent API): outputs have input/output and
sometimes context or a tool trace; approvals carry a policy envelope.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass

from faker import Faker


@dataclass(frozen=True)
class AgentProfile:
    name: str
    category: str


AGENTS = (
    AgentProfile("support-bot", "customer_support"),
    AgentProfile("billing-agent", "billing"),
    AgentProfile("search-agent", "search"),
    AgentProfile("ops-agent", "scheduling"),
)

# Share of each agent in the traffic mix.
AGENT_WEIGHTS = (0.4, 0.2, 0.25, 0.15)


def trace_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _support(f: Faker, rng: random.Random) -> dict:
    order = f"A-{rng.randint(100000, 999999)}"
    name = f.first_name()
    product = rng.choice(["standing desk", "noise-cancelling headphones", "espresso grinder",
                          "trail running shoes", "4K monitor", "ergonomic chair"])
    days = rng.randint(2, 9)
    question = rng.choice([
        f"Hi, I'm {name}. My order {order} for the {product} hasn't arrived yet. Where is it?",
        f"Can I return the {product} from order {order}? It arrived scratched.",
        f"Order {order}: I was charged twice for the {product}. Please help.",
    ])
    answer = (
        f"Hi {name}, thanks for reaching out about order {order}. I checked the shipment of your "
        f"{product}: it left our warehouse {days} days ago and the carrier shows it in transit. "
        f"{f.paragraph(nb_sentences=3)} If it has not arrived within {days + 2} days, reply here "
        "and I will open a trace with the carrier."
    )
    return {"input": question, "output": answer,
            "context": {"customer": name, "order_id": order, "channel": rng.choice(["chat", "email"])}}


def _billing(f: Faker, rng: random.Random) -> dict:
    invoice = f"INV-{rng.randint(10000, 99999)}"
    amount = round(rng.uniform(20, 900), 2)
    company = f.company()
    question = f"Summarise invoice {invoice} for {company} as JSON for the ledger."
    output = {
        "invoice_id": invoice,
        "customer": company,
        "amount_usd": amount,
        "currency": "USD",
        "due_date": f.date_between("+5d", "+45d").isoformat(),
        "line_items": [
            {"sku": f.bothify("SKU-####"), "description": f.bs(), "amount_usd": round(amount / 2, 2)},
            {"sku": f.bothify("SKU-####"), "description": f.bs(), "amount_usd": round(amount / 2, 2)},
        ],
        "status": rng.choice(["open", "paid", "overdue"]),
    }
    return {"input": question, "output": output, "context": {"source": "erp", "note": f.sentence()}}


def _search(f: Faker, rng: random.Random) -> dict:
    topic = rng.choice(["vacation policy", "expense limits", "on-call rota", "laptop refresh",
                        "parental leave", "security training"])
    question = f"What does the handbook say about the {topic}?"
    results = [{"title": f"{topic.title()} — {f.catch_phrase()}", "url": f"https://intranet.example/{f.slug()}",
                "snippet": f.sentence(nb_words=16)} for _ in range(3)]
    answer = f"According to the handbook section on the {topic}: {f.paragraph(nb_sentences=4)}"
    trace = [{"tool": "search_handbook", "args": {"query": topic}, "result": f"{len(results)} results"},
             {"tool": "read_page", "args": {"url": results[0]["url"]}, "result": "ok"}]
    return {"input": question, "output": answer, "context": {"results": results}, "trace": trace}


def _ops(f: Faker, rng: random.Random) -> dict:
    person = f.name()
    when = f.date_time_between("+1d", "+10d")
    question = f"Book a 30-minute sync with {person} next week, mornings only."
    answer = (f"Booked '{f.bs().capitalize()} sync' with {person} on {when:%A %d %B} at "
              f"{rng.choice(['09:00', '09:30', '10:00', '11:00'])} (30 min). Invite sent.")
    trace = [{"tool": "calendar.find_slot", "args": {"attendee": person, "window": "mornings"}, "result": "3 slots"},
             {"tool": "calendar.create_event", "args": {"attendee": person, "minutes": 30}, "result": "created"}]
    return {"input": question, "output": answer, "trace": trace}


_OUTPUT_MAKERS = {
    "support-bot": _support,
    "billing-agent": _billing,
    "search-agent": _search,
    "ops-agent": _ops,
}


def agent_output(agent: AgentProfile, *, rng: random.Random, faker: Faker) -> dict:
    """A body for POST /api/v1/items from this agent."""
    body = _OUTPUT_MAKERS[agent.name](faker, rng)
    return {"trace_id": trace_id(rng), "agent": agent.name, "category": agent.category, **body}


def random_output(*, rng: random.Random, faker: Faker) -> dict:
    agent = rng.choices(AGENTS, weights=AGENT_WEIGHTS)[0]
    return agent_output(agent, rng=rng, faker=faker)


def padded_output(*, rng: random.Random, faker: Faker, size_bytes: int = 1500) -> dict:
    """An output body of about `size_bytes` of JSON (the benchmark's 1.5 KB items)."""
    body = random_output(rng=rng, faker=faker)
    body.setdefault("metadata", {})
    missing = size_bytes - len(json.dumps(body))
    if missing > 0:
        body["metadata"]["notes"] = faker.text(max_nb_chars=max(20, missing))[:missing]
    return body


APPROVAL_KINDS = ("refund", "record_change", "access_grant")


def approval_request(*, rng: random.Random, faker: Faker, kind: str | None = None,
                     timeout_s: int | None = None) -> dict:
    """A body for POST /api/v1/approvals: refunds, record changes and access grants."""
    kind = kind or rng.choice(APPROVAL_KINDS)
    customer = faker.name()
    if kind == "refund":
        cap = rng.choice([100, 250, 500])
        amount = round(rng.uniform(10, cap * 0.95), 2)
        envelope = {
            "actor": "billing-agent", "intent": "refund",
            "constraints": {"max_amount_usd": cap, "allowed_tools": ["issue_refund"]},
            "tool_call": {"name": "issue_refund",
                          "args": {"customer": customer, "order_id": f"A-{rng.randint(100000, 999999)}",
                                   "amount_usd": amount,
                                   "reason": rng.choice(["damaged", "late", "duplicate charge"])}},
            "irreversible": amount > cap * 0.6,
            "context": f"{customer}: {faker.sentence()} Can I get my money back?",
        }
    elif kind == "record_change":
        field = rng.choice(["email", "shipping_address", "phone"])
        envelope = {
            "actor": "support-bot", "intent": "record_change",
            "constraints": {"allowed_tools": ["crm.update_contact"], "fields": [field]},
            "tool_call": {"name": "crm.update_contact",
                          "args": {"customer": customer, "field": field,
                                   "value": {"email": faker.email(), "shipping_address": faker.address(),
                                             "phone": faker.phone_number()}[field]}},
            "irreversible": False,
            "context": f"{customer}: please update my {field.replace('_', ' ')}.",
        }
    else:
        system = rng.choice(["billing-console", "prod-db-readonly", "hr-portal"])
        envelope = {
            "actor": "ops-agent", "intent": "access_grant",
            "constraints": {"allowed_tools": ["iam.grant"], "max_duration_hours": 8},
            "tool_call": {"name": "iam.grant",
                          "args": {"user": faker.user_name(), "system": system,
                                   "duration_hours": rng.choice([1, 4, 8])}},
            "irreversible": system == "prod-db-readonly",
            "context": f"Ticket {faker.bothify('OPS-####')}: {faker.sentence()}",
        }
    body = {"trace_id": trace_id(rng), **envelope}
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    return body
