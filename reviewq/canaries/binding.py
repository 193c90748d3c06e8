"""Binding library entries to this deployment's live traffic.

An entry says what it fits by its payload (output or approval; text or JSON and which keys;
context, trace and metadata present or not; an approval's intent and tool) plus `categories`
and `language`. It is rendered onto a live (agent, category) only when the slot's recent real
items have that shape; an entry that fits nothing live is never planted. `reviewq canaries fit`
prints, for every entry, where it binds or why it does not (DESIGN.md "Canaries").
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from reviewq.canaries.bank import STOPWORDS, WORD, text_of
from reviewq.canaries.faults import parse_json_text
from reviewq.canaries.library import Entry, Library, render_entry
from reviewq.canaries.render import make_faker
from reviewq.models import Injection, Item, ItemKind
from reviewq.sqlfuncs import not_indexed

OPTIONAL_KEYS = ("context", "trace", "metadata")
PROFILE_ITEMS = 2000  # recent real items read to profile the deployment
SLOT_ITEMS = 300  # recent real items read to profile one slot at claim time


def output_type(output: Any) -> str:
    if isinstance(output, dict | list):
        return "json"
    return "json" if parse_json_text(output)[1] else "text"


def json_keys(output: Any) -> tuple[str, ...] | None:
    output = parse_json_text(output)[0]
    if isinstance(output, list) and output and isinstance(output[0], dict):
        output = output[0]
    return tuple(sorted(output)) if isinstance(output, dict) else None


def language(text: str) -> str:
    """A coarse guess: English if stopwords make up a tenth of the words."""
    words = [w.lower() for w in WORD.findall(text)]
    if len(words) < 5:
        return "en"
    return "en" if sum(w in STOPWORDS for w in words) / len(words) >= 0.1 else "other"


@dataclass
class Slot:
    """The recent real items of one (agent, category, kind)."""

    agent: str
    category: str
    kind: str
    count: int = 0
    types: Counter = field(default_factory=Counter)
    key_sets: Counter = field(default_factory=Counter)
    optional: Counter = field(default_factory=Counter)
    lengths: list[int] = field(default_factory=list)
    languages: Counter = field(default_factory=Counter)
    tools: Counter = field(default_factory=Counter)
    timeouts: list[int] = field(default_factory=list)

    def add(self, payload: dict, deadline: datetime | None, created_at: datetime) -> None:
        self.count += 1
        self.optional.update(k for k in OPTIONAL_KEYS if k in payload)
        if self.kind == ItemKind.APPROVAL.value:
            call = payload.get("tool_call") or {}
            if isinstance(call.get("name"), str):
                self.tools[call["name"]] += 1
            if deadline is not None:
                self.timeouts.append(round((deadline - created_at).total_seconds()))
            return
        output = payload.get("output")
        self.types[output_type(output)] += 1
        self.key_sets[json_keys(output)] += 1
        text = text_of(output)
        self.lengths.append(len(text))
        self.languages[language(text)] += 1

    def has(self, key: str) -> bool:
        return self.optional[key] * 2 >= self.count

    def majority(self, counter: Counter) -> Any:
        return counter.most_common(1)[0][0] if counter else None


@dataclass
class Profile:
    slots: dict[tuple[str, str, str], Slot] = field(default_factory=dict)

    def add(self, item) -> None:
        """`item`: an Item, or a row with its agent, category, kind, payload, deadline and created_at."""
        key = (item.agent, item.category, ItemKind(item.kind).value)
        slot = self.slots.get(key) or self.slots.setdefault(key, Slot(*key))
        slot.add(item.payload if isinstance(item.payload, dict) else {}, item.deadline, item.created_at)


def _real_items(session: Session, *, now: datetime, days: int, limit: int, **where):
    """Recent real items, newest first, as rows of the columns a profile reads (not ORM objects:
    a slot profile at claim time reads 300 of them).

    A slot's are read through ix_items_slot and sorted: through the agent's index on created_at
    (the value bank's) SQLite would read a quiet slot of a busy agent through all of the agent's
    window (194 ms at 300,000 items)."""
    planted = select(Injection.id).where(Injection.item_id == Item.id).exists()
    created = not_indexed(Item.created_at) if where else Item.created_at
    query = select(Item.agent, Item.category, Item.kind, Item.payload, Item.deadline, Item.created_at).where(
        created >= now - timedelta(days=days), created <= now, ~planted)
    for column, value in where.items():
        query = query.where(getattr(Item, column) == value)
    return session.execute(query.order_by(created.desc()).limit(limit)).all()


def deployment_profile(*, session: Session, now: datetime, days: int = 14) -> Profile:
    profile = Profile()
    for item in _real_items(session, now=now, days=days, limit=PROFILE_ITEMS):
        profile.add(item)
    return profile


def slot_profile(*, session: Session, agent: str, category: str, kind: str, now: datetime, days: int = 14,
                 pause: Callable[[], None] | None = None) -> Slot:
    """The slot's profile from its recent real items; `pause()` after each (as Bank.build's)."""
    slot = Slot(agent, category, kind)
    for item in _real_items(session, now=now, days=days, limit=SLOT_ITEMS, agent=agent, category=category,
                            kind=ItemKind(kind)):
        slot.add(item.payload if isinstance(item.payload, dict) else {}, item.deadline, item.created_at)
        if pause is not None:
            pause()
    return slot


# entry id -> (entry, its rendering with seed 0). A fixed seed renders the same payload every
# time, and a planted claim asks for every entry's: kept, and checked to be the same Entry.
_samples: dict[str, tuple[Entry, dict]] = {}
_SAMPLES_MAX = 5000


def _sample(entry: Entry) -> dict:
    cached = _samples.get(entry.id)
    if cached is not None and cached[0] is entry:
        return cached[1]
    payload = render_entry(entry, make_faker(random.Random(0))).payload
    if len(_samples) >= _SAMPLES_MAX:
        _samples.clear()
    _samples[entry.id] = (entry, payload)
    return payload


def misfit(entry: Entry, slot: Slot) -> str | None:
    """Why `entry` cannot be rendered onto `slot` (None: it fits)."""
    if slot.count == 0:
        return "no recent traffic"
    if entry.kind != slot.kind:
        return f"{slot.agent} sends {slot.kind}s in {slot.category}, the entry is an {entry.kind}"
    payload = _sample(entry)
    for key in OPTIONAL_KEYS:
        if key == "metadata" and entry.kind == "approval":
            continue
        if (key in payload) != slot.has(key):
            live, own = ("have", "lacks") if slot.has(key) else ("lack", "has")
            return f"{slot.agent}/{slot.category} items {live} `{key}`, the entry {own} it"
    if entry.kind == ItemKind.APPROVAL.value:
        intent, tool = payload.get("intent"), (payload.get("tool_call") or {}).get("name")
        if intent != slot.category:
            return f"intent {intent!r} is not requested by {slot.agent} (it requests {slot.category!r})"
        if tool not in slot.tools:
            return f"{slot.agent} never calls {tool!r} for {intent!r}"
        return None
    if "*" not in entry.categories and slot.category not in entry.categories:
        return f"written for {', '.join(entry.categories)}, not {slot.category}"
    kind = output_type(payload.get("output"))
    if kind != slot.majority(slot.types):
        return f"{slot.agent}/{slot.category} outputs are {slot.majority(slot.types)}, the entry's is {kind}"
    if kind == "json" and json_keys(payload.get("output")) != slot.majority(slot.key_sets):
        return f"JSON keys {json_keys(payload.get('output'))} differ from the live {slot.majority(slot.key_sets)}"
    if entry.language != slot.majority(slot.languages):
        return f"language {entry.language}, live {slot.majority(slot.languages)}"
    if len(slot.lengths) >= 5:
        cuts = statistics.quantiles(slot.lengths, n=10)
        length = len(text_of(payload.get("output")))
        if not cuts[0] * 0.5 <= length <= cuts[-1] * 2:
            return f"output length {length} is outside the live range {cuts[0]:.0f}-{cuts[-1]:.0f}"
    return None


@dataclass(frozen=True)
class Fit:
    entry: Entry
    slots: tuple[Slot, ...]  # where it binds; empty when unusable
    reasons: tuple[str, ...]  # why not, one per live slot of its kind (closest first)


def fit_library(library: Library, profile: Profile) -> list[Fit]:
    out = []
    for entry in library.entries:
        good, reasons = [], []
        for slot in profile.slots.values():
            why = misfit(entry, slot)
            if why is None:
                good.append(slot)
            elif slot.kind == entry.kind:
                reasons.append(f"{slot.agent}/{slot.category}: {why}")
        if not any(s.kind == entry.kind for s in profile.slots.values()):
            reasons.append(f"this deployment sends no {entry.kind}s")
        out.append(Fit(entry=entry, slots=tuple(good), reasons=tuple(reasons)))
    return out


def entries_for_slot(library: Library, slot: Slot, *, control: bool) -> list[Entry]:
    pool = library.controls if control else library.canaries
    return [e for e in pool if misfit(e, slot) is None]
