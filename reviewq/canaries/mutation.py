"""What every generic mutator shares: the result types and the payload helpers.

A payload's `output` may be a JSON string or a structure; `decoded` reads it and `store` writes it
back in the same form, so a mutated copy keeps its source's shape (mutators.py says the rest).
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reviewq.canaries.bank import Bank
from reviewq.canaries.faults import as_text, mentions, parse_json_text

EVIDENCE = ("input", "context", "trace")


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


def copy_item(item: dict) -> tuple[dict, dict]:
    new = copy.deepcopy(item)
    return new, new["payload"]


def decoded(payload: dict, key: str = "output") -> tuple[Any, bool]:
    return parse_json_text(payload.get(key))


def store(payload: dict, value: Any, was_string: bool, key: str = "output") -> None:
    payload[key] = json.dumps(value) if was_string else value


def replace_everywhere(value: Any, old: Any, new: Any) -> Any:
    """Every whole-token occurrence of `old` in the strings of `value`, and every leaf equal to it."""
    if isinstance(value, dict):
        return {k: replace_everywhere(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_everywhere(v, old, new) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return new if value == old and isinstance(new, int | float) else value
    if isinstance(value, str):
        if value == str(old):
            return new if isinstance(new, str) else str(new)
        return re.sub(rf"(?<![\w.-]){re.escape(str(old))}(?![\w-])", str(new), value)
    return value


def leaves(value: Any, key: str | None = None):
    """(json key, leaf) pairs of a decoded value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v, key)
    else:
        yield key, value


def evidence_path(payload: dict, value: Any) -> str | None:
    for path in EVIDENCE:
        if path in payload and mentions(as_text(payload[path]), value):
            return path
    return None


# --- hallucinated facts: a value, an entity, a negation ---------------------------------------
