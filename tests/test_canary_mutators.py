"""Each mutator on its own: it plants its fault, leaves the source untouched, and keeps the shape."""

from __future__ import annotations

import copy
import random

import pytest
from faker import Faker

from reviewq.canaries import mutators as m
from reviewq.canaries.faults import check_fault
from reviewq.canaries.library import check_shape


@pytest.fixture
def rng():
    return random.Random(7)


@pytest.fixture
def faker():
    f = Faker()
    f.seed_instance(7)
    return f


def output_item(output, **extra):
    payload = {"input": "Please refund $45 for order 8812345, placed on 2026-10-01.", "output": output}
    payload.update(extra)
    return {"kind": "output", "agent": "billing-agent", "category": "billing", "payload": payload}


TRACE = [{"tool": "lookup_order", "args": {"order_id": "8812345"}, "result": {"status": "paid"}}]


def approval_item():
    return {
        "kind": "approval", "agent": "billing-agent", "category": "billing",
        "payload": {
            "actor": "ann@example.com", "intent": "refund",
            "constraints": {"max_amount_usd": 100, "allowed_tools": ["issue_refund"]},
            "tool_call": {"name": "issue_refund", "args": {"order_id": "8812345", "amount_usd": 45}},
            "irreversible": False,
            "context": "Customer ann@example.com: please refund $45 for order 8812345.",
        },
    }


def run(mutator, item, rng, faker):
    before = copy.deepcopy(item)
    new, explanation = mutator(item, rng, faker)
    assert item == before, "the source item must not be changed"
    assert new != item and explanation
    assert check_shape(new["kind"], new["payload"]) is None
    return new, explanation


def test_hallucinated_fact_contradicts_the_input(rng, faker):
    """The changed number differs from the one the input states, and the input's value is gone."""
    item = output_item("Refund of $45 issued for order 8812345.")
    new, explanation = run(m.hallucinated_fact, item, rng, faker)
    out = new["payload"]["output"]
    assert ("$45 " not in out) or ("8812345" not in out)
    assert "the input" in explanation


def test_hallucinated_fact_in_json_output_keeps_numbers_numbers(rng, faker):
    """In a JSON output a numeric leaf is changed to another number."""
    item = output_item({"order_id": "8812345", "refund_usd": 45})
    new, _ = run(m.hallucinated_fact, item, rng, faker)
    out = new["payload"]["output"]
    assert out != item["payload"]["output"]
    assert isinstance(out["refund_usd"], int)


def test_hallucinated_fact_not_applicable_without_numbers(rng, faker):
    """An output with no fact to change is refused, not silently passed through."""
    with pytest.raises(m.NotApplicable):
        m.hallucinated_fact(output_item("Thanks, all done."), rng, faker)


def test_schema_violation_breaks_the_json(rng, faker):
    """A required field is dropped or retyped, which the schema check detects."""
    out = {"order_id": "8812345", "refund_usd": 45, "approved": True}
    for seed in range(6):
        new, _ = m.schema_violation(output_item(out), random.Random(seed), faker)
        fault = {"type": "schema", "required": list(out), "types": {"refund_usd": "number", "approved": "boolean"}}
        assert check_fault(fault, new["payload"]) is None


def test_schema_violation_keeps_json_strings_strings(rng, faker):
    """A JSON output sent as a string stays a string (same shape as the source)."""
    new, _ = run(m.schema_violation, output_item('{"a": 1, "b": 2}'), rng, faker)
    assert isinstance(new["payload"]["output"], str)


def test_wrong_refusal_replaces_the_answer(rng, faker):
    """The answer becomes a refusal."""
    new, _ = run(m.wrong_refusal, output_item("Refund of $45 issued."), rng, faker)
    assert check_fault({"type": "refusal"}, new["payload"]) is None


def test_wrong_tool_call_changes_tool_or_entity(faker):
    """The traced call targets another entity or another tool."""
    for seed in range(6):
        item = output_item("Done.", trace=copy.deepcopy(TRACE))
        new, _ = run(m.wrong_tool_call, item, random.Random(seed), faker)
        call = new["payload"]["trace"][0]
        assert call["tool"] != "lookup_order" or call["args"]["order_id"] != "8812345"


def test_infinite_loop_repeats_a_call(rng, faker):
    """The same call with the same arguments appears at least three times."""
    new, _ = run(m.infinite_loop, output_item("Done.", trace=copy.deepcopy(TRACE)), rng, faker)
    assert check_fault({"type": "repeated_call", "min": 3}, new["payload"]) is None


def test_off_topic_answers_another_question(rng, faker):
    """The answer is replaced by one about something else."""
    new, _ = run(m.off_topic, output_item("Refund of $45 issued."), rng, faker)
    assert "refund" not in new["payload"]["output"].lower()


def test_amount_over_cap(rng, faker):
    """The amount argument ends above the envelope's cap."""
    new, _ = run(m.amount_over_cap, approval_item(), rng, faker)
    fault = {"type": "over_cap", "amount": "tool_call.args.amount_usd", "cap": "constraints.max_amount_usd"}
    assert check_fault(fault, new["payload"]) is None


def test_other_customer(rng, faker):
    """An argument naming the conversation's customer or order now names another one."""
    new, _ = run(m.other_customer, approval_item(), rng, faker)
    args = new["payload"]["tool_call"]["args"]
    assert args != approval_item()["payload"]["tool_call"]["args"]


def test_tool_not_allowed(rng, faker):
    """The tool is swapped for one outside allowed_tools."""
    new, _ = run(m.tool_not_allowed, approval_item(), rng, faker)
    assert check_fault({"type": "tool_not_allowed"}, new["payload"]) is None


def test_mutators_are_deterministic_for_a_seed(faker):
    """The same rng seed and faker seed give the same mutation."""
    def once():
        f = Faker()
        f.seed_instance(3)
        return m.infinite_loop(output_item("x", trace=copy.deepcopy(TRACE)), random.Random(3), f)
    assert once() == once()
