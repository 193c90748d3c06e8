"""Mutators over an answer's text: a changed value or entity, a negation, a refusal, another topic.

Values come from the deployment's own data (the bank), never random strings (mutators.py).
"""

from __future__ import annotations

import random
import re
from typing import Any

from reviewq.canaries.bank import ANSWER_KEYS, ENTITY, NAME, VALUE, Bank, content_words, text_of
from reviewq.canaries.faults import REFUSAL, as_text, mentions
from reviewq.canaries.mutation import (
    Mutation,
    NotApplicable,
    copy_item,
    decoded,
    evidence_path,
    leaves,
    replace_everywhere,
    store,
)

AUXILIARY = re.compile(r"\b(is|are|was|were|will|has|have|does|did|should|could|can)\b (?!not\b)([a-z]+)")


def _contradict(item: dict, rng: random.Random, bank: Bank, *, entities: bool) -> Mutation:
    new, payload = copy_item(item)
    output, was_string = decoded(payload)
    whole = text_of(payload)
    slots: list[tuple[Any, list]] = []  # (old value, replacements)
    for key, leaf in leaves(output):
        if isinstance(leaf, bool) or leaf is None:
            continue
        if isinstance(leaf, int | float) and not entities:
            options = [n for n in bank.numbers.get(key or "", ()) if type(n) is type(leaf) and n != leaf
                       and not mentions(whole, n)] or [
                type(leaf)(v) for v in bank.same_shape(str(leaf), avoid=whole) if _number_like(v, leaf)]
            slots.append((leaf, options))
        elif isinstance(leaf, str):
            pattern = ENTITY if entities else VALUE
            for match in pattern.finditer(leaf):
                old = match.group()
                if entities:
                    options = sorted(e for e in bank.entities | bank.strings.get(key or "", set())
                                     if e != old and NAME.fullmatch(e) and not mentions(whole, e))
                else:
                    options = bank.same_shape(old, avoid=whole)
                slots.append((old, options))
    slots = [(old, opts) for old, opts in slots if opts and evidence_path(payload, old)]
    if not slots:
        raise NotApplicable("no value of the output is stated in the input and has a look-alike in the data")
    old, options = rng.choice(slots)
    claim = rng.choice(options)
    truth_in = evidence_path(payload, old)
    store(payload, replace_everywhere(output, old, claim), was_string)
    what = "name" if entities else "value"
    return Mutation(
        new, f"The {truth_in} says {old}; the output says {claim}: a changed {what}.",
        {"type": "contradiction", "truth": str(old), "claim": str(claim), "truth_in": truth_in, "claim_in": "output"},
    )


def _number_like(text: str, leaf: Any) -> bool:
    try:
        type(leaf)(text)
    except ValueError:
        return False
    return True


def changed_value(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """A number, amount, date or id of the answer that the input states, changed to another of its format."""
    return _contradict(item, rng, bank, entities=False)


def swapped_entity(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """A name the input states, swapped in the answer for a name from another item."""
    return _contradict(item, rng, bank, entities=True)


def _answer_slot(payload: dict) -> tuple[str, Any, bool, str | None]:
    """(path, decoded output, was_string, dict key) of the free-text answer; NotApplicable if none."""
    output, was_string = decoded(payload)
    if isinstance(output, str) and output.strip() and not was_string:
        return "output", output, was_string, None
    key = next((k for k in ANSWER_KEYS if isinstance(output, dict) and isinstance(output.get(k), str)), None)
    if key is None or not output[key].strip():
        raise NotApplicable("no free-text answer")
    return f"output.{key}", output, was_string, key


def _put_answer(payload: dict, output: Any, was_string: bool, key: str | None, text: str) -> None:
    if key is None:
        payload["output"] = text
    else:
        output[key] = text
        store(payload, output, was_string)


def negation(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """A statement of the answer negated ("is in transit" -> "is not in transit")."""
    new, payload = copy_item(item)
    path, output, was_string, key = _answer_slot(payload)
    text = output if key is None else output[key]
    spots = [m for m in AUXILIARY.finditer(text) if text.count(m.group()) == 1]
    if not spots:
        raise NotApplicable("no statement to negate")
    spot = rng.choice(spots)
    verb, word = spot.groups()
    after = f"cannot {word}" if verb == "can" else f"{verb} not {word}"
    _put_answer(payload, output, was_string, key, text[:spot.start()] + after + text[spot.end():])
    return Mutation(
        new, f"The answer says \"{after}\" where the facts say \"{spot.group()}\": a negated statement.",
        {"type": "negation", "path": path, "before": spot.group(), "after": after},
        frozenset({"not", "cannot"}),
    )


# --- schema violations -------------------------------------------------------------------------


def refusal(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """The answer to an ordinary request replaced by a refusal in the agent's own phrasing."""
    new, payload = copy_item(item)
    path, output, was_string, key = _answer_slot(payload)
    if REFUSAL.search(output if key is None else output[key]):
        raise NotApplicable("the answer is a refusal already")
    own = bank.refusals.get(item["agent"])  # never another agent's: its voice and topics would show
    if not own:
        raise NotApplicable("this agent has no refusal to take the phrasing from")
    _put_answer(payload, output, was_string, key, rng.choice(own))
    return Mutation(new, "An ordinary request the agent answers elsewhere; here it refused it.",
                    {"type": "refusal", "path": path})


def other_topic(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """The answer replaced by another item's answer to a different question."""
    new, payload = copy_item(item)
    path, output, was_string, key = _answer_slot(payload)
    question = as_text(payload.get("input")).lower()
    asked_words = set(content_words(question))
    current = (output if key is None else output[key])
    own = [a for agent, _c, _i, a in bank.answers if agent == item["agent"] and a != current]
    rng.shuffle(own)
    for answer in own[:40]:  # the agent's own answers only, so the voice stays its own
        lowered = answer.lower()
        asked = sorted(w for w in asked_words if w not in lowered)
        answered = sorted(w for w in set(content_words(answer)) if w not in question)
        if asked and answered and len(asked) == len(asked_words):
            _put_answer(payload, output, was_string, key, answer)
            return Mutation(new, "The answer is fluent but answers another item's question, not this one.",
                            {"type": "off_topic", "asked": asked[:6], "answered": answered[:6],
                             "asked_in": "input", "answered_in": path})
    raise NotApplicable("no answer in the data is about something else")


# --- approvals: break the envelope's own constraints --------------------------------------------
