"""The deployment's own values, by format: where mutators take their replacement values from.

A planted fault must read like the deployment's data, never like random letters: an order id
becomes another order id seen in this deployment's items, a name another name, a refusal the
agent's own words. `Bank.build` reads a sample of real items (dicts with kind, agent, category,
payload) and indexes their values by shape (digits -> 9, capitals -> A, small letters -> a).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from reviewq.canaries.faults import REFUSAL, parse_json_text

# A value worth changing: a token with a digit in it (number, amount, date, id), e.g. 8812345,
# 45.90, 2026-10-01, INV-000123, A-123456.
VALUE = re.compile(r"(?<![\w.-])[A-Za-z]{0,6}[-#]?\d[\w]*(?:[./:-]\d[\w]*)*(?![\w-])")
# A proper name: a capitalised word that is not at the start of a sentence.
NAME = re.compile(r"[A-Z][a-z]{2,}\b(?: [A-Z][a-z]{2,}\b)?")
ENTITY = re.compile(r"(?<=[a-z,;] )" + NAME.pattern)
WORD = re.compile(r"[A-Za-z0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be been but by can could did do does for from had has have hello hi how i if in into "
    "is it its me my no not of on or our please so than thanks that the their them then there these they "
    "this to up us was we were what when where which who will with would you your yes".split()
)


def shape(value: str) -> str:
    return re.sub(r"[a-z]", "a", re.sub(r"[A-Z]", "A", re.sub(r"\d", "9", value)))


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def tokens(value: Any) -> set[str]:
    """Every word and number in a value (JSON keys included), for the "no foreign token" check."""
    return set(WORD.findall(text_of(value)))


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in STOPWORDS]


def answer_text(output: Any) -> str | None:
    """The free-text answer of an output: the text itself, or a dict's answer-like field."""
    if isinstance(output, str) and not output.lstrip().startswith(("{", "[")):
        return output
    if isinstance(output, dict):
        for key in ANSWER_KEYS:
            if isinstance(output.get(key), str):
                return output[key]
    return None


ANSWER_KEYS = ("answer", "reply", "message", "text", "response", "summary", "content")


@dataclass
class Bank:
    values: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # shape -> values
    numbers: dict[str, set[Any]] = field(default_factory=lambda: defaultdict(set))  # JSON key -> numbers
    strings: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # JSON key -> strings
    entities: set[str] = field(default_factory=set)
    refusals: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # agent -> texts
    answers: list[tuple[str, str, str, str]] = field(default_factory=list)  # agent, category, input, answer
    tools: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # agent -> tool names
    key_counts: dict[tuple[str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))
    slot_items: Counter = field(default_factory=Counter)  # (agent, category) -> JSON-object outputs
    vocabulary: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, items: list[dict], pause: Callable[[], None] | None = None,
              known: MutableMapping[Hashable, Contribution] | None = None) -> Bank:
        """The bank of `items`; `pause()` after each one (a build in a background thread lets the
        event loop's thread in: reviewq.domain.projection_bank). `known`: contributions by an
        item's "key" (an item that never changes), read and filled in, so an item in many builds is
        read once (a simulation rebuilds its banks for every few minutes of simulated time); an item
        whose key is known may come without its payload."""
        bank = cls()
        for item in items:
            key = item.get("key") if known is not None else None
            found = None if key is None else known.get(key)
            if found is None:
                found = contribution(item)
                if key is not None and "payload" in item:
                    known[key] = found
            bank.apply(found)
            if pause is not None:
                pause()
        return bank

    def apply(self, c: Contribution) -> None:
        """Add one item's contribution, in the order it was read: the same sets, iterated alike."""
        self.vocabulary |= c.vocabulary
        for key, number in c.numbers:
            self.numbers[key].add(number)
        for key, string in c.strings:
            self.strings[key].add(string)
        for form, value in c.values:
            self.values[form].add(value)
        self.entities.update(c.entities)
        for agent, tool in c.tools:
            self.tools[agent].add(tool)
        if c.slot is not None:
            self.slot_items[c.slot] += 1
            self.key_counts[c.slot].update(c.keys)
        if c.refusal is not None:
            self.refusals[c.refusal[0]].append(c.refusal[1])
        if c.answer is not None:
            self.answers.append(c.answer)

    def same_shape(self, value: str, *, avoid: str) -> list[str]:
        """Other values of the same format as `value`, none of them mentioned in `avoid`."""
        return sorted(v for v in self.values.get(shape(value), ()) if v != value and v not in avoid)

    def required_keys(self, agent: str, category: str) -> list[str]:
        """JSON output keys present in (nearly) every output of this slot."""
        n = self.slot_items.get((agent, category), 0)
        if n == 0:
            return []
        return sorted(k for k, c in self.key_counts[(agent, category)].items() if c >= 0.95 * n)


@dataclass(frozen=True)
class Contribution:
    """What one item adds to a bank, each part in the order it was found."""

    vocabulary: frozenset[str] = frozenset()  # merged as the set it was (so iterated alike)
    numbers: tuple[tuple[str, Any], ...] = ()  # (JSON key, number)
    strings: tuple[tuple[str, str], ...] = ()  # (JSON key, string)
    values: tuple[tuple[str, str], ...] = ()  # (shape, value)
    entities: tuple[str, ...] = ()
    tools: tuple[tuple[str, str], ...] = ()  # (agent, tool)
    slot: tuple[str, str] | None = None  # (agent, category) of a JSON-object output
    keys: tuple[str, ...] = ()  # its keys
    refusal: tuple[str, str] | None = None  # (agent, text)
    answer: tuple[str, str, str, str] | None = None  # agent, category, input, answer


def contribution(item: dict) -> Contribution:
    """What `item` (kind, agent, category, payload) adds to a bank."""
    payload = item.get("payload") or {}
    agent, category = item.get("agent", ""), item.get("category", "")
    numbers: list[tuple[str, Any]] = []
    strings: list[tuple[str, str]] = []
    _walk(payload, None, numbers, strings)
    values: list[tuple[str, str]] = []
    entities: list[str] = []
    for text in _texts(payload):
        found = _values_of_text(text)
        values += found.values
        entities += found.entities
    parts: dict[str, Any] = {"vocabulary": frozenset(tokens(payload)), "numbers": tuple(numbers),
                             "strings": tuple(strings), "values": tuple(values), "entities": tuple(entities)}
    if item.get("kind") == "approval":
        call = payload.get("tool_call") or {}
        if isinstance(call.get("name"), str):
            parts["tools"] = ((agent, call["name"]),)
        return Contribution(**parts)
    parts["tools"] = tuple((agent, step["tool"]) for step in payload.get("trace") or []
                           if isinstance(step, dict) and isinstance(step.get("tool"), str))
    output = _json(payload.get("output"))
    if isinstance(output, dict):
        parts["slot"], parts["keys"] = (agent, category), tuple(output.keys())
    answer = answer_text(output)
    if answer and answer.strip():
        if REFUSAL.search(answer):
            parts["refusal"] = (agent, answer)
        else:
            parts["answer"] = (agent, category, text_of(payload.get("input")), answer)
    return Contribution(**parts)


def _values_of_text(text: str) -> Contribution:
    return Contribution(values=tuple((shape(m.group()), m.group()) for m in VALUE.finditer(text)),
                        entities=tuple(ENTITY.findall(text)))


def _walk(value: Any, key: str | None, numbers: list, strings: list) -> None:
    value = _json(value)
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(v, str(k), numbers, strings)
    elif isinstance(value, list):
        for v in value:
            _walk(v, key, numbers, strings)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float) and key:
        numbers.append((key, value))
    elif isinstance(value, str) and key and len(value) <= 80:
        strings.append((key, value))


def _json(value: Any) -> Any:
    return parse_json_text(value)[0]


def _texts(value: Any) -> list[str]:
    value = _json(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [str(value)]
    return []
