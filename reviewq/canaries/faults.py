"""Machine-checkable statements of a planted fault, checked against a rendered payload.

`check_fault` returns None when the payload really contains the fault, else why it does not.
Used by `reviewq canaries validate` on the library and by the tests on mutation canaries.
"""

from __future__ import annotations

import json
import re
from typing import Any

REFUSAL = re.compile(
    r"\b(sorry|can(?:no|')t|unable to|not able to|won't be able|not permitted|not allowed to|"
    r"decline|i'm afraid)\b",
    re.IGNORECASE,
)
JSON_TYPES = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
MISSING = object()


def parse_json_text(value: Any) -> tuple[Any, bool]:
    """An agent output sent as JSON text, decoded: (decoded, True); anything else: (value, False)."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            return json.loads(value), True
        except json.JSONDecodeError:
            pass
    return value, False


def resolve(payload: Any, path: str) -> Any:
    """Follow a dotted path ("tool_call.args.amount_usd", "trace.0.tool"); MISSING if absent."""
    value = payload
    for part in path.split("."):
        if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return MISSING
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def as_text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def mentions(text: str, needle: Any) -> bool:
    r"""Whole-token occurrence, so 42 is not found inside 142: what
    re.search(rf"(?<![\w.-]){re.escape(needle)}(?![\w-])", text) finds, without a pattern per needle.

    A mutator tries every value of the bank against an item (hundreds): one compiled pattern each
    overflowed re's cache, and compiling them was a seventh of the server's time deciding approvals.
    """
    needle = str(needle)
    if not needle:
        return False
    start = text.find(needle)
    while start != -1:
        end = start + len(needle)
        if (start == 0 or not _joins(text[start - 1], ".-")) and (end == len(text) or not _joins(text[end], "-")):
            return True
        start = text.find(needle, start + 1)
    return False


def _joins(char: str, extra: str) -> bool:
    r"""Whether `char` continues a token: a regex word character (\w: alphanumeric or _) or one of `extra`."""
    return char.isalnum() or char == "_" or char in extra


def _json_of(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return MISSING
    return value


def tool_calls(payload: dict, path: str = "trace") -> list[dict]:
    calls = resolve(payload, path)
    calls = calls if isinstance(calls, list) else []
    out = [c for c in calls if isinstance(c, dict) and ("tool" in c or "name" in c)]
    if isinstance(payload.get("tool_call"), dict) and path != "trace":
        out.append(payload["tool_call"])
    return out


def _call_key(call: dict) -> str:
    return json.dumps([call.get("tool", call.get("name")), call.get("args")], sort_keys=True)


def check_fault(fault: dict, payload: dict) -> str | None:
    kind = fault.get("type")
    check = CHECKS.get(kind)
    if check is None:
        return f"unknown fault type {kind!r} (one of {', '.join(sorted(CHECKS))})"
    return check(fault, payload)


def _contradiction(f: dict, p: dict) -> str | None:
    truth, claim = str(f["truth"]), str(f["claim"])
    truth_text, claim_text = as_text(resolve(p, f.get("truth_in", "input"))), as_text(
        resolve(p, f.get("claim_in", "output"))
    )
    if truth == claim:
        return f"truth and claim are the same value {truth!r}"
    if not mentions(truth_text, truth):
        return f"{f.get('truth_in', 'input')} does not contain the true value {truth!r}"
    if not mentions(claim_text, claim):
        return f"{f.get('claim_in', 'output')} does not contain the contradicting value {claim!r}"
    if mentions(claim_text, truth):
        return f"{f.get('claim_in', 'output')} also states the true value {truth!r}"
    return None


def _schema(f: dict, p: dict) -> str | None:
    value = _json_of(resolve(p, f.get("path", "output")))
    if not isinstance(value, dict):
        return f"{f.get('path', 'output')} is not a JSON object"
    for field in f.get("required", []):
        if field not in value:
            return None
    for field, type_name in f.get("types", {}).items():
        if field in value and (
            not isinstance(value[field], JSON_TYPES[type_name])
            or (type_name in ("number", "integer") and isinstance(value[field], bool))
        ):
            return None
    return "every required field is present with its declared type: no schema violation"


def _refusal(f: dict, p: dict) -> str | None:
    text = as_text(resolve(p, f.get("path", "output")))
    return None if REFUSAL.search(text) else "the output contains no refusal"


def _tool_not_allowed(f: dict, p: dict) -> str | None:
    allowed = resolve(p, f.get("allowed", "constraints.allowed_tools"))
    if not isinstance(allowed, list):
        return f"{f.get('allowed', 'constraints.allowed_tools')} is not a list of tools"
    where = f.get("tool", "tool_call.name")
    names = [c.get("tool", c.get("name")) for c in tool_calls(p, "trace")] if where == "trace" else [resolve(p, where)]
    if any(name not in allowed for name in names if name is not MISSING):
        return None
    return f"every tool called is in {allowed}"


def _repeated_call(f: dict, p: dict) -> str | None:
    calls = tool_calls(p, f.get("path", "trace"))
    counts: dict[str, int] = {}
    for call in calls:
        counts[_call_key(call)] = counts.get(_call_key(call), 0) + 1
    wanted = int(f.get("min", 3))
    return None if counts and max(counts.values()) >= wanted else f"no tool call repeated {wanted} times"


def _over_cap(f: dict, p: dict) -> str | None:
    amount, cap = resolve(p, f["amount"]), resolve(p, f["cap"])
    if not isinstance(amount, int | float) or not isinstance(cap, int | float):
        return f"{f['amount']} and {f['cap']} must both be numbers"
    return None if amount > cap else f"amount {amount} is within the cap {cap}"


def _off_topic(f: dict, p: dict) -> str | None:
    asked_text = as_text(resolve(p, f.get("asked_in", "input"))).lower()
    answer_text = as_text(resolve(p, f.get("answered_in", "output"))).lower()
    asked = [w.lower() for w in f.get("asked", [])]
    answered = [w.lower() for w in f.get("answered", [])]
    if not any(w in asked_text for w in asked):
        return f"the question mentions none of {asked}"
    if any(w in answer_text for w in asked):
        return "the answer mentions what was asked"
    if not any(w in answer_text for w in answered):
        return f"the answer mentions none of {answered}"
    return None


def _negation(f: dict, p: dict) -> str | None:
    """The text at `path` states `after` (the negated statement) and no longer `before`."""
    text = as_text(resolve(p, f.get("path", "output")))
    before, after = str(f["before"]), str(f["after"])
    if before == after:
        return "before and after are the same statement"
    if after not in text:
        return f"{f.get('path', 'output')} does not state {after!r}"
    if before in text:
        return f"{f.get('path', 'output')} still states {before!r}"
    return None


def _changed(f: dict, p: dict) -> str | None:
    """The value at `path` is `after`, not what the source had there (`before`)."""
    value = resolve(p, f["path"])
    if value is MISSING:
        return f"{f['path']} is missing"
    if f["before"] == f["after"]:
        return "before and after are the same value"
    if value != f["after"]:
        return f"{f['path']} is {value!r}, not {f['after']!r}"
    return None


CHECKS = {
    "contradiction": _contradiction,
    "schema": _schema,
    "refusal": _refusal,
    "tool_not_allowed": _tool_not_allowed,
    "repeated_call": _repeated_call,
    "over_cap": _over_cap,
    "off_topic": _off_topic,
    "negation": _negation,
    "changed": _changed,
}
# Keys each fault type needs besides `type`.
REQUIRED_KEYS = {
    "contradiction": ("truth", "claim"),
    "schema": ("required",),
    "refusal": (),
    "tool_not_allowed": (),
    "repeated_call": (),
    "over_cap": ("amount", "cap"),
    "off_topic": ("asked", "answered"),
    "negation": ("before", "after"),
    "changed": ("path", "before", "after"),
}
