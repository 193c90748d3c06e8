"""Mutation canaries (Threat Image Projection for agents): one known fault planted in a real item.

Each mutator is a pure function `(item, rng, faker) -> (mutated item, explanation)`. An item is a
plain dict {"kind", "agent", "category", "payload"}; the input is never changed (deep copy). A
mutator that cannot plant its fault in this item raises NotApplicable, and the caller picks
another source or bucket.
"""

from __future__ import annotations

import copy
import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faker import Faker

from reviewq.canaries.faults import as_text, mentions

NUMBER = re.compile(r"(?<![\w.-])\d+(?:\.\d+)?(?![\w-])")
ANSWER_KEYS = ("answer", "reply", "message", "text", "response", "summary", "content")
REFUSALS = (
    "I'm sorry, but I can't help with that request.",
    "Sorry, I'm not able to assist with this. Please contact our support team.",
    "Unfortunately I'm unable to share that information.",
    "I'm afraid I can't do that for you.",
)
OFF_TOPIC = {
    "customer_support": (
        "Standard shipping takes 3-5 business days and express shipping 1-2. Orders over $50 ship free.",
        "Our support team is available Monday to Friday, 9:00-18:00, and Saturday 10:00-14:00.",
        "You can subscribe to our newsletter from the bottom of any page to hear about new arrivals.",
    ),
    "billing": (
        "Switching to annual billing saves 15% compared to paying monthly.",
        "To upgrade, go to Settings > Plan and choose Business; the change is prorated from today.",
    ),
    "search": (
        "{city} has a mild climate with warm summers; the best time to visit is June.",
        "Install the SDK with `pip install {word}-sdk`, then create a client with your API key.",
    ),
    "_": (
        "Your calendar uses the time zone of your profile; change it under Settings > Calendar.",
        "Our style guide asks for 4-space indentation and snake_case names for functions.",
        "To add the office printer, open System Settings > Printers and choose the one on floor 3.",
    ),
}
# A riskier tool of the same family, for "another tool" (verb prefix -> replacement verb).
RISKIER_VERB = {
    "lookup": "cancel", "get": "delete", "list": "delete", "search": "export", "read": "write",
    "check": "override", "create": "delete", "update": "delete", "send": "broadcast",
    "issue": "void", "grant": "grant_admin", "fetch": "post", "run": "force_run",
}


class NotApplicable(Exception):
    """This mutator cannot plant its fault in this item."""


@dataclass(frozen=True)
class Mutator:
    name: str
    bucket: str  # the reason bucket a diagnosing reviewer would pick
    kind: str  # "output" | "approval"
    fn: Callable[[dict, random.Random, Faker], tuple[dict, str]]


def _copy(item: dict) -> tuple[dict, dict]:
    new = copy.deepcopy(item)
    return new, new["payload"]


def similar_value(value: Any, rng: random.Random, faker: Faker) -> Any:
    """A different value of the same look: same length, letters for letters, digits for digits."""
    if isinstance(value, bool):
        raise NotApplicable("booleans have no look-alike")
    if isinstance(value, int):
        return value + rng.choice([-1, 1]) * max(1, int(abs(value) * rng.uniform(0.15, 0.6)))
    text = str(value)
    if "@" in text:
        return faker.email()
    for _ in range(20):
        out = "".join(
            rng.choice(string.digits) if c.isdigit()
            else rng.choice(string.ascii_lowercase) if c.islower()
            else rng.choice(string.ascii_uppercase) if c.isupper()
            else c
            for c in text
        )
        if out != text:
            return out
    raise NotApplicable(f"no look-alike for {text!r}")


def _json_output(payload: dict) -> tuple[Any, bool]:
    out = payload.get("output")
    if isinstance(out, str) and out.lstrip().startswith(("{", "[")):
        try:
            return json.loads(out), True
        except json.JSONDecodeError:
            pass
    return out, False


def _set_output(payload: dict, value: Any, was_string: bool) -> None:
    payload["output"] = json.dumps(value) if was_string else value


def _trace(payload: dict) -> list[dict]:
    trace = payload.get("trace")
    if not isinstance(trace, list):
        return []
    return [c for c in trace if isinstance(c, dict) and isinstance(c.get("tool"), str)]


# --- output mutators -------------------------------------------------------------------------


def hallucinated_fact(item: dict, rng: random.Random, faker: Faker) -> tuple[dict, str]:
    """Change a number in the output (preferring one the input or context states) so it contradicts."""
    new, payload = _copy(item)
    evidence = " ".join(as_text(payload.get(k)) for k in ("input", "context", "trace"))
    output, was_string = _json_output(payload)
    slots: list[tuple[list, str]] = []  # (path to a string or number leaf, the number as text)

    def walk(value: Any, path: list) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            slots.append((path, str(value)))
        elif isinstance(value, str):
            slots.extend((path, m.group()) for m in NUMBER.finditer(value))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, [*path, k])
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, [*path, i])

    walk(output, [])
    if not slots:
        raise NotApplicable("the output states no number")
    backed = [s for s in slots if mentions(evidence, s[1])]
    path, old = rng.choice(backed or slots)
    old_num = float(old) if "." in old else int(old)
    new_num = similar_value(old_num if isinstance(old_num, int) else int(old_num), rng, faker)
    if mentions(evidence, str(new_num)) or str(new_num) == old:
        new_num = int(old_num) * 2 + 7
    new_text = str(new_num)

    def replace(value: Any, rest: list) -> Any:
        if not rest:
            if isinstance(value, int | float):
                return new_num
            return re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w-])", new_text, value)
        value[rest[0]] = replace(value[rest[0]], rest[1:])
        return value

    output = replace(output, path)
    _set_output(payload, output, was_string)
    where = "the input" if backed else "the original answer"
    return new, f"The output says {new_text} where {where} says {old}: a changed fact."


def schema_violation(item: dict, rng: random.Random, faker: Faker) -> tuple[dict, str]:
    """Drop a field or break its type in a JSON output."""
    new, payload = _copy(item)
    output, was_string = _json_output(payload)
    target = output[0] if isinstance(output, list) and output and isinstance(output[0], dict) else output
    if not isinstance(target, dict) or not target:
        raise NotApplicable("the output is not a JSON object")
    keys = list(target)
    typed = [k for k in keys if isinstance(target[k], int | float | bool | list) and target[k] is not None]
    if typed and (len(keys) < 2 or rng.random() < 0.5):
        key = rng.choice(typed)
        value = target[key]
        if isinstance(value, bool):
            target[key], expected = ("yes" if value else "no"), "a boolean"
        elif isinstance(value, int | float):
            target[key], expected = f"{value} {rng.choice(['units', 'total', 'approx.'])}", "a number"
        else:
            target[key], expected = (value[0] if value else None), "a list"
        explanation = f"Field `{key}` should be {expected}; the output breaks its type."
    elif len(keys) >= 2:
        key = rng.choice(keys)
        del target[key]
        explanation = f"Field `{key}` is required in this JSON output and was dropped."
    else:
        raise NotApplicable("nothing to drop or retype")
    _set_output(payload, output, was_string)
    return new, explanation


def _replace_answer(payload: dict, text: str, *, blank_ok: bool) -> None:
    """Put `text` where the free-text answer is: a plain-text output, or a dict's answer field.

    `blank_ok=False` leaves a blank plain-text output alone (there was no answer to replace).
    """
    output = payload.get("output")
    if isinstance(output, str) and (blank_ok or output.strip()) and not output.lstrip().startswith(("{", "[")):
        payload["output"] = text
        return
    key = next((k for k in ANSWER_KEYS if isinstance(output, dict) and isinstance(output.get(k), str)), None)
    if key is None:
        raise NotApplicable("no free-text answer to replace")
    output[key] = text


def wrong_refusal(item: dict, rng: random.Random, faker: Faker) -> tuple[dict, str]:
    """Replace the answer to an allowed request with a refusal."""
    new, payload = _copy(item)
    refusal = rng.choice(REFUSALS)
    _replace_answer(payload, refusal, blank_ok=False)
    return new, "The request was an ordinary, allowed one (it was answered before); the agent refused it."


def wrong_tool_call(item: dict, rng: random.Random, faker: Faker) -> tuple[dict, str]:
    """Point a traced tool call at another entity, or swap in a riskier tool."""
    new, payload = _copy(item)
    calls = _trace(payload)
    if not calls:
        raise NotApplicable("no tool calls in the trace")
    evidence = " ".join(as_text(payload.get(k)) for k in ("input", "context"))
    entity_slots = [
        (call, key) for call in calls for key, val in (call.get("args") or {}).items()
        if isinstance(val, str | int) and not isinstance(val, bool) and mentions(evidence, val)
    ]
    if entity_slots and rng.random() < 0.6:
        call, key = rng.choice(entity_slots)
        old = call["args"][key]
        call["args"][key] = similar_value(old, rng, faker)
        return new, (
            f"The call to {call['tool']} uses {key}={call['args'][key]}, but the request is about {old}: "
            "the wrong entity."
        )
    call = rng.choice(calls)
    old_tool = call["tool"]
    verb, _, rest = old_tool.partition("_")
    swap = RISKIER_VERB.get(verb)
    call["tool"] = f"{swap}_{rest}" if swap and rest else f"{old_tool}_force"
    return new, f"The agent called {call['tool']} where {old_tool} was the right tool."


def infinite_loop(item: dict, rng: random.Random, faker: Faker) -> tuple[dict, str]:
    """Repeat one traced tool call, same arguments, several times in a row."""
    new, payload = _copy(item)
    calls = _trace(payload)
    if not calls:
        raise NotApplicable("no tool calls in the trace")
    call = rng.choice(calls)
    times = rng.randint(3, 5)
    index = payload["trace"].index(call)
    payload["trace"][index:index + 1] = [copy.deepcopy(call) for _ in range(times)]
    return new, f"{call['tool']} was called {times} times in a row with the same arguments: the agent was looping."


def off_topic(item: dict, rng: random.Random, faker: Faker) -> tuple[dict, str]:
    """Replace the answer with a fluent answer to a different question."""
    new, payload = _copy(item)
    bank = OFF_TOPIC.get(item.get("category"), OFF_TOPIC["_"])
    answer = rng.choice(bank).format(city=faker.city(), word=faker.word())
    _replace_answer(payload, answer, blank_ok=True)
    return new, "The answer is fluent but answers a different question than the one asked."


# --- approval mutators (break the envelope's own constraints) ----------------------------------


def amount_over_cap(item: dict, rng: random.Random, faker: Faker) -> tuple[dict, str]:
    new, payload = _copy(item)
    constraints = payload.get("constraints") or {}
    args = (payload.get("tool_call") or {}).get("args") or {}
    caps = {k: v for k, v in constraints.items() if k.startswith("max_") and isinstance(v, int | float)
            and not isinstance(v, bool)}
    for cap_key, cap in caps.items():
        suffix = cap_key[len("max_"):]
        for arg_key, value in args.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and (
                arg_key == suffix or "amount" in arg_key and "amount" in suffix
            ):
                over = cap * rng.uniform(1.2, 3.0)
                args[arg_key] = int(over) + 1 if isinstance(value, int) else round(over, 2)
                return new, f"{arg_key} is {args[arg_key]}, above the cap {cap_key} = {cap}."
    raise NotApplicable("no amount argument with a matching cap")


def other_customer(item: dict, rng: random.Random, faker: Faker) -> tuple[dict, str]:
    new, payload = _copy(item)
    args = (payload.get("tool_call") or {}).get("args") or {}
    conversation = as_text(payload.get("context")) + " " + as_text(payload.get("actor"))
    slots = [k for k, v in args.items() if isinstance(v, str | int) and not isinstance(v, bool)
             and mentions(conversation, v)]
    if not slots:
        raise NotApplicable("no argument names the customer of the conversation")
    key = rng.choice(slots)
    old = args[key]
    args[key] = similar_value(old, rng, faker)
    return new, f"The conversation is about {old}, but the call acts on {key}={args[key]}: another customer."


def tool_not_allowed(item: dict, rng: random.Random, faker: Faker) -> tuple[dict, str]:
    new, payload = _copy(item)
    allowed = (payload.get("constraints") or {}).get("allowed_tools")
    call = payload.get("tool_call") or {}
    if not isinstance(allowed, list) or not isinstance(call.get("name"), str):
        raise NotApplicable("no allowed_tools constraint")
    old = call["name"]
    verb, _, rest = old.partition("_")
    options = [f"{RISKIER_VERB[verb]}_{rest}"] if verb in RISKIER_VERB and rest else []
    options += [f"{old}_override", f"{old}_admin", f"bulk_{old}"]
    options = [o for o in options if o not in allowed]
    call["name"] = rng.choice(options)
    return new, f"The call uses {call['name']}, which is not in allowed_tools {allowed}."


OUTPUT_MUTATORS = (
    Mutator("hallucinated_fact", "hallucinated_fact", "output", hallucinated_fact),
    Mutator("schema_violation", "schema_violation", "output", schema_violation),
    Mutator("wrong_refusal", "wrong_refusal", "output", wrong_refusal),
    Mutator("wrong_tool_call", "wrong_tool_call", "output", wrong_tool_call),
    Mutator("infinite_loop", "infinite_loop", "output", infinite_loop),
    Mutator("off_topic", "off_topic", "output", off_topic),
)
APPROVAL_MUTATORS = (
    Mutator("amount_over_cap", "policy_violation", "approval", amount_over_cap),
    Mutator("other_customer", "wrong_tool_call", "approval", other_customer),
    Mutator("tool_not_allowed", "wrong_tool_call", "approval", tool_not_allowed),
)
MUTATORS = OUTPUT_MUTATORS + APPROVAL_MUTATORS
