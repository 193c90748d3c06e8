"""Mutators over structure: a JSON key dropped or retyped, a tool call repeated or swapped, and the
approval mutators (an amount over its cap, another customer, a tool outside allowed_tools).
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from reviewq.canaries.bank import Bank, text_of
from reviewq.canaries.faults import as_text, mentions
from reviewq.canaries.mutation import Mutation, NotApplicable, copy_item, decoded, store


def _json_target(payload: dict) -> tuple[Any, bool, dict, str]:
    output, was_string = decoded(payload)
    if isinstance(output, list) and output and isinstance(output[0], dict):
        return output, was_string, output[0], "output.0"
    if isinstance(output, dict) and output:
        return output, was_string, output, "output"
    raise NotApplicable("the output is not a JSON object")


def dropped_key(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """A key every output of this agent and category has, dropped."""
    new, payload = copy_item(item)
    output, was_string, target, path = _json_target(payload)
    required = [k for k in bank.required_keys(item["agent"], item["category"]) if k in target]
    if len(target) < 2 or not required:
        raise NotApplicable("no required key to drop")
    key = rng.choice(required)
    del target[key]
    store(payload, output, was_string)
    return Mutation(new, f"Every {item['agent']} answer has `{key}`; this one dropped it.",
                    {"type": "schema", "required": [key], "path": path})


JSON_TYPE_NAMES = ((bool, "boolean"), (int, "integer"), (float, "number"), (list, "array"), (dict, "object"))


def retyped_key(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    """A key's type broken: a number or boolean sent as text, a list as its first element."""
    new, payload = copy_item(item)
    output, was_string, target, path = _json_target(payload)
    typed = [k for k, v in target.items() if isinstance(v, int | float | bool) or (isinstance(v, list) and v)]
    if not typed:
        raise NotApplicable("no typed key to break")
    key = rng.choice(typed)
    value = target[key]
    type_name = next(name for t, name in JSON_TYPE_NAMES if isinstance(value, t))
    target[key] = value[0] if isinstance(value, list) else json.dumps(value)
    store(payload, output, was_string)
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
    new, payload = copy_item(item)
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
    new, payload = copy_item(item)
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


def amount_over_cap(item: dict, rng: random.Random, bank: Bank) -> Mutation:
    new, payload = copy_item(item)
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
    new, payload = copy_item(item)
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
    new, payload = copy_item(item)
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
