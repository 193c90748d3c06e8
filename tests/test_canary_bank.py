"""A value bank built from remembered item contributions is the bank read afresh, iterated alike."""

from __future__ import annotations

import random
from datetime import date

from faker import Faker

from reviewq.canaries import bank as bank_module
from reviewq.canaries.bank import Bank
from reviewq.demo.traffic import AGENTS, agent_output, approval_request


def _items(n: int) -> list[dict]:
    rng, faker = random.Random(3), Faker()
    faker.seed_instance(3)
    items = []
    for i in range(n):
        if i % 5 == 4:
            body = approval_request(rng=rng, faker=faker, kind="refund", today=date(2026, 11, 2))
            payload = {k: body[k] for k in ("actor", "intent", "constraints", "tool_call", "context") if k in body}
            items.append({"kind": "approval", "agent": body["actor"], "category": body["intent"], "payload": payload,
                          "key": ("item", i)})
        else:
            body = agent_output(AGENTS[i % len(AGENTS)], rng=rng, faker=faker, today=date(2026, 11, 2))
            payload = {k: body[k] for k in ("input", "output", "trace", "context") if k in body}
            items.append({"kind": "output", "agent": body["agent"], "category": body["category"], "payload": payload,
                          "key": ("item", i)})
    return items


def _as_read(bank: Bank) -> dict:
    """Every part of a bank as its code would iterate it (mutators draw from lists made of its sets)."""
    def part(value):
        if isinstance(value, dict):
            return [(k, part(v)) for k, v in value.items()]
        return value if isinstance(value, int) else list(value)

    return {name: part(getattr(bank, name)) for name in (
        "values", "numbers", "strings", "entities", "refusals", "answers", "tools", "key_counts", "slot_items",
        "vocabulary")}


def test_remembered_contributions_build_the_same_bank_and_read_each_item_once(monkeypatch):
    items = _items(120)
    afresh = Bank.build(items)
    assert afresh.values and afresh.numbers and afresh.strings and afresh.answers and afresh.tools
    reads = []
    real = bank_module.contribution
    monkeypatch.setattr(bank_module, "contribution", lambda item: reads.append(item["key"]) or real(item))
    known: dict = {}
    first = Bank.build(items[:80], known=known)
    again = Bank.build(items[40:], known=known)  # a minute later: 40 items gone, 40 new
    assert _as_read(first) == _as_read(Bank.build(items[:80]))
    assert _as_read(again) == _as_read(Bank.build(items[40:]))
    assert len(reads) == 80 + 40 + 80 + 80  # the shared 40 read once, not twice (the two afresh builds read all)
    assert _as_read(Bank.build(items, known=known)) == _as_read(afresh)
