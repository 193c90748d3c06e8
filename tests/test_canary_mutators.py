"""Every generic mutator on a corpus of varied outputs: the fault is really there, and nothing foreign is added.

The corpus mixes plain-text and JSON outputs (objects, lists, JSON in a string), with and without
traces and context, several agents and languages of phrasing, refusals and approvals. A mutated
item may contain no word or number absent from the deployment's own items, except the planted
fault itself (DESIGN.md "Canaries": never random letters).
"""

from __future__ import annotations

import copy
import json
import random

import pytest

from reviewq.canaries import mutators as m
from reviewq.canaries.bank import Bank, tokens
from reviewq.canaries.faults import check_fault
from reviewq.canaries.library import check_shape

NAMES = ["Maria", "Jonas", "Priya", "Tomasz", "Aiko", "Lena"]
PRODUCTS = ["walnut desk", "linen sheets", "wool rug", "desk lamp"]


def corpus(seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for i in range(24):  # a help desk answering in plain text, with a tool trace
        name, order, amount = rng.choice(NAMES), f"ORD-{rng.randint(10000, 99999)}", rng.randint(12, 300)
        items.append({"kind": "output", "agent": "desk", "category": rng.choice(["orders", "returns"]), "payload": {
            "input": f"Hi, {name} here. Order {order} cost ${amount} and it is late.",
            "output": (f"Hello {name}, order {order} is in transit and was charged ${amount}. "
                       f"It will arrive on 2026-11-{10 + i % 15:02d}."),
            "trace": [{"tool": "orders.get", "args": {"order_id": order}, "result": {"paid": amount}},
                      {"tool": rng.choice(["shipping.track", "customers.get"]), "args": {"order_id": order}}],
        }})
    for i in range(18):  # an extractor answering in JSON objects, sometimes as a JSON string
        invoice, total = f"INV-{rng.randint(1000, 9999)}", round(rng.uniform(10, 900), 2)
        vendor = rng.choice(["Nordwind GmbH", "Blue Harbor Ltd", "Casa Verde SA"])
        out = {"invoice": invoice, "vendor": vendor, "total": total, "paid": i % 2 == 0, "lines": [1, 2]}
        items.append({"kind": "output", "agent": "extractor", "category": "invoices", "payload": {
            "input": f"Extract {invoice} from {vendor}, total {total}.",
            "output": json.dumps(out) if i % 3 == 0 else out,
            "context": {"source": "email"},
        }})
    for i in range(10):  # an assistant whose JSON output has an answer field
        name = rng.choice(NAMES)
        items.append({"kind": "output", "agent": "concierge", "category": "bookings", "payload": {
            "input": f"{name} asks: can the {rng.choice(PRODUCTS)} be delivered to the office?",
            "output": {"answer": f"Yes {name}, the delivery can go to the office on floor {i + 2}.",
                       "confidence": 0.9},
        }})
    for question, answer in (  # the concierge on other topics: an off-topic answer is the agent's own
            ("When does the showroom open on Saturdays?", "Saturdays the showroom opens at nine and closes at four."),
            ("Is there parking for visitors?", "Visitors can park in the garage beneath the building."),
            ("Can I pay the invoice by bank transfer?", "Bank transfers are accepted; quote the reference on it.")):
        items.append({"kind": "output", "agent": "concierge", "category": "bookings", "payload": {
            "input": question, "output": {"answer": answer, "confidence": 0.8}}})
    items += [  # refusals in the agents' own words, and a list output
        {"kind": "output", "agent": "desk", "category": "orders", "payload": {
            "input": "Cancel my neighbour's order please.", "output": "Sorry, I can't change someone else's order."}},
        {"kind": "output", "agent": "concierge", "category": "bookings", "payload": {
            "input": "Book me a flight.", "output": {"answer": "I'm afraid I can't book flights.", "confidence": 0.8}}},
        {"kind": "output", "agent": "extractor", "category": "tables", "payload": {
            "input": "List rows.", "output": [{"row": 1, "sum": 10}, {"row": 2, "sum": 12}]}},
    ]
    for i in range(12):  # approvals with caps, allowed tools and a conversation naming the customer
        customer = f"CUS-{rng.randint(100, 999)}"
        items.append({"kind": "approval", "agent": "payments", "category": "refund", "payload": {
            "actor": "payments", "intent": "refund",
            "constraints": {"max_amount_eur": 200, "allowed_tools": ["refunds.create"]},
            "tool_call": {"name": "refunds.create" if i % 4 else "refunds.void",
                          "args": {"customer": customer, "amount_eur": rng.randint(20, 450)}},
            "irreversible": i % 2 == 0, "context": f"Chat with {customer} about a damaged parcel.",
        }})
    return items


@pytest.fixture(scope="module")
def data():
    items = corpus()
    return items, Bank.build(items)


@pytest.mark.parametrize("mutator", m.OUTPUT_MUTATORS + m.APPROVAL_MUTATORS, ids=lambda mu: mu.name)
def test_every_mutator_plants_a_checked_fault_with_only_the_deployments_words(mutator, data):
    """On every item it applies to: the fault checks out, the source is untouched, and no foreign token appears."""
    items, bank = data
    applied = 0
    for index, item in enumerate(items):
        if item["kind"] != mutator.kind:
            continue
        before = copy.deepcopy(item)
        try:
            mutation = mutator.fn(item, random.Random(index), bank)
        except m.NotApplicable:
            continue
        applied += 1
        assert item == before, "the source item must not be changed"
        new = mutation.item
        assert new["payload"] != item["payload"] and mutation.explanation
        assert check_shape(new["kind"], new["payload"]) is None
        assert check_fault(mutation.fault, new["payload"]) is None, (mutator.name, mutation.fault, new["payload"])
        # The same fault statement does not hold for the source: the mutation planted it.
        assert check_fault(mutation.fault, item["payload"]) is not None, mutator.name
        foreign = tokens(new["payload"]) - bank.vocabulary - set(mutation.fault_words)
        assert not foreign, f"{mutator.name} added {sorted(foreign)}"
    assert applied >= 2, f"{mutator.name} applied to only {applied} corpus items"


def test_mutate_spreads_over_buckets_and_refuses_what_it_cannot_break(data):
    """`mutate` picks among several buckets, and an item no mutator can break is refused, not passed through."""
    items, bank = data
    rng = random.Random(5)
    buckets = {m.mutate(items[i % 24], rng, bank)[0].bucket for i in range(60)}
    assert len(buckets) >= 4
    bare = {"kind": "output", "agent": "nobody", "category": "x", "payload": {"input": "hi", "output": ""}}
    with pytest.raises(m.NotApplicable):
        m.mutate(bare, rng, Bank.build([bare]))


def test_replacement_values_have_the_same_format_and_come_from_the_data(data):
    """A changed id or amount is another one of the same shape seen in the deployment, never made-up letters."""
    items, bank = data
    for index in range(24):
        try:
            mutation = m.changed_value(items[index], random.Random(index), bank)
        except m.NotApplicable:
            continue
        old, new = mutation.fault["truth"], mutation.fault["claim"]
        assert len(old) == len(new) and old != new
        assert [c.isdigit() for c in old] == [c.isdigit() for c in new]
        assert new in bank.values[next(k for k, v in bank.values.items() if new in v)]


def test_no_refusal_is_invented_when_the_deployment_never_refuses():
    """A deployment without any refusal gets no refusal canary (the phrasing must be the agent's own)."""
    items = [i for i in corpus() if "sorry" not in json.dumps(i).lower() and "afraid" not in json.dumps(i).lower()]
    bank = Bank.build(items)
    with pytest.raises(m.NotApplicable):
        m.refusal(items[0], random.Random(1), bank)


def _mentions_by_regex(text: str, needle: str) -> bool:
    """mentions() as first written: one pattern per needle (too slow over a whole bank)."""
    import re

    return bool(re.search(rf"(?<![\w.-]){re.escape(needle)}(?![\w-])", text)) if needle else False


def test_mentions_finds_exactly_what_the_whole_token_pattern_finds():
    """Random texts and needles over the characters that decide a token's edge (letters, digits,
    _, ., -, spaces, non-ASCII letters and digits, punctuation), overlapping repeats included."""
    from reviewq.canaries.faults import mentions

    rng = random.Random(11)
    alphabet = "aA9_.-/ :@é٣ß€\n" + "42"
    checked = found = 0
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        if text and rng.random() < 0.6:
            start = rng.randrange(len(text))
            needle = text[start:start + rng.randint(1, 4)]  # often present, at every kind of edge
        else:
            needle = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3)))
        expected = _mentions_by_regex(text, needle)
        assert mentions(text, needle) is expected, (text, needle)
        checked += 1
        found += expected
    assert checked == 20_000 and 2_000 < found < 18_000  # both answers well exercised
    assert mentions("order 142", 42) is False and mentions("order 42.", 42) is True
