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

import copy
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reviewq.canaries.bank import ANSWER_KEYS, ENTITY, NAME, VALUE, Bank, content_words, text_of
from reviewq.canaries.faults import REFUSAL, as_text, mentions

EVIDENCE = ("input", "context", "trace")
AUXILIARY = re.compile(r"\b(is|are|was|were|will|has|have|does|did|should|could|can)\b (?!not\b)([a-z]+)")


class NotApplicable(Exception):
    """This mutator cannot plant its fault in this item."""


@dataclass(frozen=True)
class Mutation:
    item: dict
    explanation: str
    fault: dict
    # The words the fault itself brings in (e.g. "not"); everything else comes from the source or bank.
    fault_words: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Mutator:
    name: str
    bucket: str  # the reason bucket a diagnosing reviewer would pick
    kind: str  # "output" | "approval"
    fn: Callable[[dict, random.Random, Bank], Mutation]


def _copy(item: dict) -> tuple[dict, dict]:
    new = copy.deepcopy(item)
    return new, new["payload"]


def _decoded(payload: dict, key: str = "output") -> tuple[Any, bool]:
    value = payload.get(key)
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            return json.loads(value), True
        except json.JSONDecodeError:
            pass
    return value, False


def _store(payload: dict, value: Any, was_string: bool, key: str = "output") -> None:
    payload[key] = json.dumps(value) if was_string else value


def _replace_everywhere(value: Any, old: Any, new: Any) -> Any:
    """Every whole-token occurrence of `old` in the strings of `value`, and every leaf equal to it."""
    if isinstance(value, dict):
        return {k: _replace_everywhere(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_everywhere(v, old, new) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return new if value == old and isinstance(new, int | float) else value
    if isinstance(value, str):
        if value == str(old):
            return new if isinstance(new, str) else str(new)
        return re.sub(rf"(?<![\w.-]){re.escape(str(old))}(?![\w-])", str(new), value)
    return value


def _leaves(value: Any, key: str | None = None):
    """(json key, leaf) pairs of a decoded value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v, key)
    else:
        yield key, value


def _evidence_path(payload: dict, value: Any) -> str | None:
    for path in EVIDENCE:
        if path in payload and mentions(as_text(payload[path]), value):
            return path
    return None


# --- hallucinated facts: a value, an entity, a negation ---------------------------------------


def _contradict(item: dict, rng: random.Random, bank: Bank, *, entities: bool) -> Mutation:
    new, payload = _copy(item)
    output, was_string = _decoded(payload)
    whole = text_of(payload)
    slots: list[tuple[Any, list]] = []  # (old value, replacements)
    for key, leaf in _leaves(output):
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
    slots = [(old, opts) for old, opts in slots if opts and _evidence_path(payload, old)]
    if not slots:
        raise NotApplicable("no value of the output is stated in the input and has a look-alike in the data")
    old, options = rng.choice(slots)
    claim = rng.choice(options)
    truth_in = _evidence_path(payload, old)
    _store(payload, _replace_everywhere(output, old, claim), was_string)
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
    output, was_string = _decoded(payload)
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
        _store(payload, output, was_string)


def negation(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """A statement of the answer negated ("is in transit" -> "is not in transit")."""
    new, payload = _copy(item)
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


def _json_target(payload: dict) -> tuple[Any, bool, dict, str]:
    output, was_string = _decoded(payload)
    if isinstance(output, list) and output and isinstance(output[0], dict):
        return output, was_string, output[0], "output.0"
    if isinstance(output, dict) and output:
        return output, was_string, output, "output"
    raise NotApplicable("the output is not a JSON object")


def dropped_key(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """A key every output of this agent and category has, dropped."""
    new, payload = _copy(item)
    output, was_string, target, path = _json_target(payload)
    required = [k for k in bank.required_keys(item["agent"], item["category"]) if k in target]
    if len(target) < 2 or not required:
        raise NotApplicable("no required key to drop")
    key = rng.choice(required)
    del target[key]
    _store(payload, output, was_string)
    return Mutation(new, f"Every {item['agent']} answer has `{key}`; this one dropped it.",
                    {"type": "schema", "required": [key], "path": path})


JSON_TYPE_NAMES = ((bool, "boolean"), (int, "integer"), (float, "number"), (list, "array"), (dict, "object"))


def retyped_key(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """A key's type broken: a number or boolean sent as text, a list as its first element."""
    new, payload = _copy(item)
    output, was_string, target, path = _json_target(payload)
    typed = [k for k, v in target.items() if isinstance(v, int | float | bool) or (isinstance(v, list) and v)]
    if not typed:
        raise NotApplicable("no typed key to break")
    key = rng.choice(typed)
    value = target[key]
    type_name = next(name for t, name in JSON_TYPE_NAMES if isinstance(value, t))
    target[key] = value[0] if isinstance(value, list) else json.dumps(value)
    _store(payload, output, was_string)
    return Mutation(new, f"`{key}` should be {type_name}; the output sends {json.dumps(target[key])}.",
                    {"type": "schema", "required": [], "types": {key: type_name}, "path": path})


# --- tool calls --------------------------------------------------------------------------------


def _calls(payload: dict) -> list[int]:
    trace = payload.get("trace")
    if not isinstance(trace, list):
        return []
    return [i for i, c in enumerate(trace) if isinstance(c, dict) and isinstance(c.get("tool"), str)]


def repeated_call(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """One traced tool call repeated, same arguments, several times in a row."""
    new, payload = _copy(item)
    calls = _calls(payload)
    if not calls:
        raise NotApplicable("no tool calls in the trace")
    index = rng.choice(calls)
    call = payload["trace"][index]
    times = rng.randint(3, 5)
    payload["trace"][index:index + 1] = [copy.deepcopy(call) for _ in range(times)]
    return Mutation(new, f"{call['tool']} was called {times} times in a row with the same arguments: a loop.",
                    {"type": "repeated_call", "path": "trace", "min": times})


def swapped_tool(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """A traced call swapped for another tool this agent uses, or pointed at another entity."""
    new, payload = _copy(item)
    calls = _calls(payload)
    if not calls:
        raise NotApplicable("no tool calls in the trace")
    whole = text_of(payload)
    entity_slots = []
    for i in calls:
        for key, value in (payload["trace"][i].get("args") or {}).items():
            if isinstance(value, str | int) and not isinstance(value, bool):
                truth_in = next((p for p in ("input", "context") if mentions(as_text(payload.get(p)), value)), None)
                options = bank.same_shape(str(value), avoid=whole)
                if truth_in and options:
                    entity_slots.append((i, key, value, truth_in, options))
    in_trace = {payload["trace"][i]["tool"] for i in calls}
    others = sorted(bank.tools.get(item["agent"], set()) - in_trace)
    if entity_slots and (not others or rng.random() < 0.5):
        i, key, old, truth_in, options = rng.choice(entity_slots)
        claim = rng.choice(options)
        payload["trace"][i]["args"][key] = type(old)(claim) if isinstance(old, int) and claim.isdigit() else claim
        return Mutation(
            new, f"The call to {payload['trace'][i]['tool']} uses {key}={claim}, but the request is about {old}.",
            {"type": "contradiction", "truth": str(old), "claim": str(claim), "truth_in": truth_in,
             "claim_in": f"trace.{i}.args"},
        )
    if not others:
        raise NotApplicable("the agent uses no other tool and no call argument names the request's entity")
    i = rng.choice(calls)
    old_tool, tool = payload["trace"][i]["tool"], rng.choice(others)
    payload["trace"][i]["tool"] = tool
    return Mutation(new, f"The agent called {tool} where the request needed {old_tool}.",
                    {"type": "changed", "path": f"trace.{i}.tool", "before": old_tool, "after": tool})


# --- refusals and off-topic answers ------------------------------------------------------------


def refusal(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """The answer to an ordinary request replaced by a refusal in the agent's own phrasing."""
    new, payload = _copy(item)
    path, output, was_string, key = _answer_slot(payload)
    if REFUSAL.search(output if key is None else output[key]):
        raise NotApplicable("the answer is a refusal already")
    own = bank.refusals.get(item["agent"]) or [r for texts in bank.refusals.values() for r in texts]
    if not own:
        raise NotApplicable("this deployment has no refusal to take the phrasing from")
    _put_answer(payload, output, was_string, key, rng.choice(own))
    return Mutation(new, "An ordinary request the agent answers elsewhere; here it refused it.",
                    {"type": "refusal", "path": path})


def other_topic(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """The answer replaced by another item's answer to a different question."""
    new, payload = _copy(item)
    path, output, was_string, key = _answer_slot(payload)
    question = as_text(payload.get("input")).lower()
    asked_words = set(content_words(question))
    current = (output if key is None else output[key])
    own = [a for agent, _c, _i, a in bank.answers if agent == item["agent"] and a != current]
    others = [a for agent, _c, _i, a in bank.answers if agent != item["agent"]]
    rng.shuffle(own)
    rng.shuffle(others)
    for answer in own[:40] + others[:40]:  # the agent's own answers first, so the voice stays its own
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


def amount_over_cap(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    new, payload = _copy(item)
    constraints = payload.get("constraints") or {}
    args = (payload.get("tool_call") or {}).get("args") or {}
    for cap_key, cap in constraints.items():
        if not cap_key.startswith("max_") or isinstance(cap, bool) or not isinstance(cap, int | float):
            continue
        suffix = cap_key[len("max_"):]
        for arg_key, value in args.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and value <= cap and (
                arg_key == suffix or ("amount" in arg_key and "amount" in suffix)
            ):
                seen = sorted(n for n in bank.numbers.get(arg_key, ()) if isinstance(n, int | float)
                              and not isinstance(n, bool) and cap < n)
                over = rng.choice(seen) if seen else type(value)(cap * 2) if cap else 1
                args[arg_key] = over
                return Mutation(new, f"{arg_key} is {over}, above the cap {cap_key} = {cap}.",
                                {"type": "over_cap", "amount": f"tool_call.args.{arg_key}",
                                 "cap": f"constraints.{cap_key}"}, frozenset() if seen else frozenset({str(over)}))
    raise NotApplicable("no amount argument with a matching cap")


def other_customer(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    new, payload = _copy(item)
    args = (payload.get("tool_call") or {}).get("args") or {}
    whole = text_of(payload)
    slots = []
    for key, value in args.items():
        if isinstance(value, str | int) and not isinstance(value, bool):
            truth_in = next((p for p in ("context", "actor") if mentions(as_text(payload.get(p)), value)), None)
            options = sorted(v for v in bank.strings.get(key, set()) if v != str(value) and not mentions(whole, v)) \
                if isinstance(value, str) else []
            options = options or bank.same_shape(str(value), avoid=whole)
            if truth_in and options:
                slots.append((key, value, truth_in, options))
    if not slots:
        raise NotApplicable("no argument names the customer of the conversation")
    key, old, truth_in, options = rng.choice(slots)
    claim = rng.choice(options)
    args[key] = int(claim) if isinstance(old, int) and claim.isdigit() else claim
    return Mutation(new, f"The conversation is about {old}, but the call acts on {key}={claim}: another customer.",
                    {"type": "contradiction", "truth": str(old), "claim": str(claim), "truth_in": truth_in,
                     "claim_in": "tool_call.args"})


def tool_not_allowed(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    new, payload = _copy(item)
    allowed = (payload.get("constraints") or {}).get("allowed_tools")
    call = payload.get("tool_call") or {}
    if not isinstance(allowed, list) or not isinstance(call.get("name"), str):
        raise NotApplicable("no allowed_tools constraint")
    if call["name"] not in allowed:
        raise NotApplicable("the call is outside allowed_tools already")
    options = sorted(bank.tools.get(item["agent"], set()) - set(allowed))
    if not options:
        raise NotApplicable("the agent uses no tool outside allowed_tools")
    call["name"] = rng.choice(options)
    return Mutation(new, f"The call uses {call['name']}, which is not in allowed_tools {allowed}.",
                    {"type": "tool_not_allowed"})


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
MUTATORS = OUTPUT_MUTATORS + APPROVAL_MUTATORS


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
