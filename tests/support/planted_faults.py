"""The machine-checkable fault statement of a planted item, recovered from what was stored.

A library canary's fault is its entry's `fault`, rendered with the variables recovered by matching
the entry's templates against the planted payload and explanation. A mutation canary's fault is
read off the difference between its source item and the planted copy, by bucket. Either is then
checked with `reviewq.canaries.faults.check_fault`, the check `reviewq canaries validate` runs, so
"findable" means: the fault's true value is in the item's evidence and its false value in the
output, the dropped key is missing, the looping call is there, and so on.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from reviewq.canaries.faults import as_text, mentions, parse_json_text
from reviewq.canaries.library import Entry
from reviewq.canaries.render import PLACEHOLDER, WHOLE

EVIDENCE = ("trace", "context", "input")
# A number as the mutators see one: not part of an id, a date or a version.
NUMBER_TOKEN = re.compile(r"(?<![\w.-])\d+(?:\.\d+)?(?![\w-])")
JSON_TYPE = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
STOP = {"what", "does", "when", "where", "which", "with", "have", "from", "this", "that", "about", "please",
        "could", "would", "there", "their", "your", "yours", "hi,", "hello"}


# --- library canaries -------------------------------------------------------------------------------

def _template_regex(template: str, names: set[str], seen: set[str]) -> re.Pattern:
    out, pos = [], 0
    for m in PLACEHOLDER.finditer(template):
        out.append(re.escape(template[pos:m.start()].replace("{{", "{").replace("}}", "}")))
        name = m.group(1)
        if name in seen:
            out.append(f"(?P={name})")
        elif name in names:
            seen.add(name)
            out.append(f"(?P<{name}>.+?)")
        else:
            out.append("(?:.+?)")
        pos = m.end()
    out.append(re.escape(template[pos:].replace("{{", "{").replace("}}", "}")))
    return re.compile("".join(out), re.DOTALL)


def _match(template: Any, actual: Any, names: set[str], found: dict[str, Any]) -> None:
    if isinstance(template, dict) and isinstance(actual, dict):
        for key, sub in template.items():
            if key in actual:
                _match(sub, actual[key], names, found)
    elif isinstance(template, list) and isinstance(actual, list):
        for sub, act in zip(template, actual, strict=False):
            _match(sub, act, names, found)
    elif isinstance(template, str) and PLACEHOLDER.search(template):
        whole = WHOLE.match(template)
        if whole and whole.group(1) in names and not isinstance(actual, str):
            found.setdefault(whole.group(1), actual)
            return
        if isinstance(actual, str):
            m = _template_regex(template, names, set()).fullmatch(actual)
            if m:
                for name, value in m.groupdict().items():
                    found.setdefault(name, value)


def _render(value: Any, found: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _render(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, found) for v in value]
    if isinstance(value, str):
        whole = WHOLE.match(value)
        if whole and whole.group(1) in found:
            return found[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: str(found.get(m.group(1), m.group(0))), value)
    return value


def library_fault(entry: Entry, payload: dict, explanation: str) -> dict | None:
    """The entry's fault with the variables this rendering used; None if they cannot be recovered."""
    if not entry.fault:
        return None
    names = set(entry.vars)
    found: dict[str, Any] = {}
    _match(entry.explanation, explanation, names, found)
    _match(entry.payload, payload, names, found)
    fault = _render(entry.fault, found)
    return None if PLACEHOLDER.search(json.dumps(fault)) else fault


# --- mutation canaries ------------------------------------------------------------------------------

def _leaves(value: Any, path: tuple = ()) -> dict[tuple, Any]:
    value = parse_json_text(value)[0]
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in _leaves(sub, (*path, str(key))).items()}
    if isinstance(value, list):
        return {k: v for i, sub in enumerate(value) for k, v in _leaves(sub, (*path, str(i))).items()}
    return {path: value}


def _changed(before: Any, after: Any) -> list[tuple[tuple, Any, Any]]:
    a, b = _leaves(before), _leaves(after)
    return [(p, a[p], b[p]) for p in a if p in b and a[p] != b[p]]


def _evidence_path(payload: dict, value: Any) -> str | None:
    return next((k for k in EVIDENCE if mentions(as_text(payload.get(k)), value)), None)


TOKEN = re.compile(r"[\w][\w.-]*[\w]|\w")


def _hallucinated(source: dict, planted: dict) -> dict | None:
    """A changed value (number, name, date) contradicting the evidence, or a negated statement."""
    for path, old, new in _changed(source.get("output"), planted.get("output")):
        claim_in = ".".join(("output", *path))
        if isinstance(old, str) and isinstance(new, str):
            for pattern in (NUMBER_TOKEN, TOKEN):
                before, after = Counter(pattern.findall(old)), Counter(pattern.findall(new))
                olds, news = list(before - after), list(after - before)  # as multisets
                truth_in = next((_evidence_path(planted, t) for t in olds if _evidence_path(planted, t)), None)
                if olds and news and truth_in:
                    truth = next(t for t in olds if _evidence_path(planted, t))
                    return {"type": "contradiction", "truth": truth, "claim": news[0], "truth_in": truth_in,
                            "claim_in": claim_in}
                if not olds and news and set(n.lower() for n in news) <= {"not", "n't", "no", "never"}:
                    i = new.find(" " + news[0] + " ")
                    start, end = new.rfind(" ", 0, max(i, 0)) + 1, new.find(" ", i + len(news[0]) + 2)
                    after_text = new[start:end if end > 0 else None]
                    return {"type": "negation", "path": claim_in, "after": after_text,
                            "before": after_text.replace(" " + news[0], "", 1)}
            continue
        truth_in = _evidence_path(planted, old)
        if truth_in:
            return {"type": "contradiction", "truth": str(old), "claim": str(new), "truth_in": truth_in,
                    "claim_in": claim_in}
    return None


def _schema(source: dict) -> dict | None:
    out = parse_json_text(source.get("output"))[0]
    target = out[0] if isinstance(out, list) and out and isinstance(out[0], dict) else out
    if not isinstance(target, dict):
        return None
    types = {k: JSON_TYPE[type(v)] for k, v in target.items() if type(v) in JSON_TYPE}
    return {"type": "schema", "required": sorted(target), "types": types}




def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z'-]{3,}", text.lower()) if w not in STOP}


def _off_topic(source: dict, planted: dict) -> dict | None:
    """The question's topic words (those the real answer used) are absent from the new answer."""
    changed = _changed(source.get("output"), planted.get("output"))
    if not changed:
        return None
    path, old, new = changed[0]
    question, new_words = _words(as_text(planted.get("input"))), _words(as_text(new))
    text = as_text(new).lower()  # check_fault tests substrings: "order" is in "orders"
    asked = {w for w in question & _words(as_text(old)) if w not in text} or {w for w in question if w not in text}
    answered = new_words - question - _words(as_text(old)) or new_words - question
    return {"type": "off_topic", "asked": sorted(asked), "answered": sorted(answered),
            "answered_in": ".".join(("output", *path))}


def _wrong_tool(source: dict, planted: dict, agent_tools: list[str]) -> tuple[dict, dict] | None:
    """An argument pointed at another entity (contradiction), or a tool the agent never uses."""
    for path, old, new in _changed(source, planted):
        if path[0] in ("trace", "tool_call") and "args" in path:
            truth_in = _evidence_path(planted, old)
            if truth_in and path[-1] != "name":
                args_path = ".".join(path[:path.index("args") + 1])
                return {"type": "contradiction", "truth": str(old), "claim": str(new), "truth_in": truth_in,
                        "claim_in": args_path}, planted
        if path == ("tool_call", "name"):  # an approval: its own allowed_tools
            return {"type": "tool_not_allowed"}, planted
        if path[0] == "trace" and path[-1] == "tool":  # an output: another tool than the source called
            if new not in agent_tools:
                return ({"type": "tool_not_allowed", "tool": "trace", "allowed": "agent_tools"},
                        {**planted, "agent_tools": agent_tools})
            return {"type": "changed", "path": ".".join(path), "before": old, "after": new}, planted
    return None


def mutation_fault(bucket: str, source: dict, planted: dict, *, agent_tools: list[str]) -> tuple[dict, dict] | None:
    """(fault, payload to check it on) for a mutation canary, or None if no fault can be stated."""
    if bucket == "hallucinated_fact":
        fault = _hallucinated(source, planted)
    elif bucket == "schema_violation":
        fault = _schema(source)
    elif bucket == "wrong_refusal":
        fault = {"type": "refusal"}
    elif bucket == "infinite_loop":
        fault = {"type": "repeated_call", "min": 3}
    elif bucket == "off_topic":
        fault = _off_topic(source, planted)
    elif bucket == "policy_violation":
        caps = {k: v for k, v in (planted.get("constraints") or {}).items() if k.startswith("max_")}
        args = (planted.get("tool_call") or {}).get("args", {})
        suffixes = [k[len("max_"):] for k in caps]
        amount = next((k for k in args if k in suffixes), None) or next((k for k in args if "amount" in k), None)
        caps = {k: v for k, v in caps.items() if amount and (k[len("max_"):] == amount or "amount" in k)}
        fault = ({"type": "over_cap", "amount": f"tool_call.args.{amount}",
                  "cap": f"constraints.{next(iter(caps))}"} if caps and amount else None)
    else:  # wrong_tool_call
        return _wrong_tool(source, planted, agent_tools)
    return (fault, planted) if fault else None
