"""Generic mutators: one known fault planted in any agent output or approval, from the deployment's own data.

Threat Image Projection for agents. Each mutator is a pure function `(item, rng, bank) -> Mutation`
over a plain dict {"kind", "agent", "category", "payload"}; the input is never changed (deep copy).
Replacement values come from `bank` (reviewq/canaries/bank.py), the deployment's own items: a
changed id is another id of the same format seen here, a refusal is the agent's own phrasing,
an off-topic answer is another item's answer. Every mutation states its fault in the
machine-checkable form of faults.py, so `check_fault(mutation.fault, mutation.item["payload"])`
proves it is really there. A mutator that cannot plant its fault here raises NotApplicable.
"""

from __future__ import annotations

import random

from reviewq.canaries.bank import Bank
from reviewq.canaries.mutation import Mutation, Mutator, NotApplicable
from reviewq.canaries.structure_mutators import (
    amount_over_cap,
    dropped_key,
    other_customer,
    repeated_call,
    retyped_key,
    swapped_tool,
    tool_not_allowed,
)
from reviewq.canaries.text_mutators import changed_value, negation, other_topic, refusal, swapped_entity

__all__ = ["APPROVAL_MUTATORS", "OUTPUT_MUTATORS", "Mutation", "Mutator", "NotApplicable", "mutate"]

OUTPUT_MUTATORS = (
    Mutator("changed_value", "hallucinated_fact", "output", changed_value),
    Mutator("swapped_entity", "hallucinated_fact", "output", swapped_entity),
    Mutator("negation", "hallucinated_fact", "output", negation),
    Mutator("dropped_key", "schema_violation", "output", dropped_key),
    Mutator("retyped_key", "schema_violation", "output", retyped_key),
    Mutator("refusal", "wrong_refusal", "output", refusal),
    Mutator("swapped_tool", "wrong_tool_call", "output", swapped_tool),
    Mutator("repeated_call", "infinite_loop", "output", repeated_call),
    Mutator("other_topic", "off_topic", "output", other_topic),
)
APPROVAL_MUTATORS = (
    Mutator("amount_over_cap", "policy_violation", "approval", amount_over_cap),
    Mutator("other_customer", "wrong_tool_call", "approval", other_customer),
    Mutator("tool_not_allowed", "wrong_tool_call", "approval", tool_not_allowed),
)

def mutate(item: dict, rng: random.Random, bank: Bank, *, exclude: frozenset[str] = frozenset()
           ) -> tuple[Mutator, Mutation]:
    """One applicable mutator, chosen evenly over the buckets the item allows (then over mutators).

    `exclude` names mutators retired by an upheld dispute (VIGILANCE.md §7)."""
    mutators = [m for m in (APPROVAL_MUTATORS if item.get("kind") == "approval" else OUTPUT_MUTATORS)
                if m.name not in exclude]
    buckets = sorted({m.bucket for m in mutators})
    rng.shuffle(buckets)
    for bucket in buckets:
        options = [m for m in mutators if m.bucket == bucket]
        rng.shuffle(options)
        for mutator in options:
            try:
                return mutator, mutator.fn(item, rng, bank)
            except NotApplicable:
                continue
    raise NotApplicable("no mutator applies to this item")
