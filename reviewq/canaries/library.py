"""The canary library: loading canaries/*.toml, rendering entries, and validating them.

Format: canaries/README.md. Validation proves, for each entry, that the schema is right, the id is
unique, every placeholder resolves, the payload has exactly the shape real agents send, and that
the rendered item really contains the stated fault (controls: that it renders).
"""

from __future__ import annotations

import random
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faker import Faker

from reviewq.canaries.faults import REQUIRED_KEYS, check_fault
from reviewq.canaries.render import TemplateError, make_faker, render_value, resolve_vars

BUCKETS = (
    "hallucinated_fact",
    "schema_violation",
    "wrong_refusal",
    "wrong_tool_call",
    "infinite_loop",
    "off_topic",
)
OUTPUT_KEYS = {"input", "output", "context", "trace", "metadata"}
APPROVAL_KEYS = {"actor", "intent", "constraints", "tool_call", "irreversible", "context"}
ENTRY_KEYS = {"id", "bucket", "category", "categories", "kind", "agent", "explanation", "vars", "payload", "fault",
              "language"}
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,127}$")
# How many renderings validate tries per entry: the fault must hold for every seed.
VALIDATE_SEEDS = (1, 2, 3)


class LibraryError(Exception):
    """A library problem; the message names the file and the entry at fault."""


@dataclass(frozen=True)
class Entry:
    id: str
    bucket: str | None  # None for a known-good control
    category: str  # the topic it was written for; binding.py renders it onto live categories
    kind: str  # "output" | "approval"
    agent: str  # a hint only: a planted item always takes the agent of the live traffic it binds to
    explanation: str
    payload: dict[str, Any]
    vars: dict[str, Any] = field(default_factory=dict)
    fault: dict[str, Any] | None = None
    file: str = ""
    # Live categories it may be rendered onto ("*" any); default: its own category.
    categories: tuple[str, ...] = ()
    language: str = "en"

    @property
    def is_control(self) -> bool:
        return self.bucket is None


@dataclass(frozen=True)
class Rendered:
    entry: Entry
    payload: dict[str, Any]
    explanation: str


@dataclass(frozen=True)
class Library:
    entries: tuple[Entry, ...]

    @property
    def canaries(self) -> list[Entry]:
        return [e for e in self.entries if not e.is_control]

    @property
    def controls(self) -> list[Entry]:
        return [e for e in self.entries if e.is_control]

    def by_id(self, entry_id: str) -> Entry:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)


def render_entry(entry: Entry, faker: Faker) -> Rendered:
    variables = resolve_vars(entry.vars, faker)
    payload = render_value(entry.payload, variables, faker)
    explanation = render_value(entry.explanation, variables, faker)
    return Rendered(entry=entry, payload=payload, explanation=explanation)


def rendered_fault(entry: Entry, faker: Faker) -> tuple[dict, dict | None]:
    """A rendering and its fault statement rendered with the same variables."""
    variables = resolve_vars(entry.vars, faker)
    payload = render_value(entry.payload, variables, faker)
    fault = render_value(entry.fault, variables, faker) if entry.fault else None
    return payload, fault


def _fail(file: str, entry_id: str | None, message: str) -> LibraryError:
    where = f"{file}: entry {entry_id!r}" if entry_id else file
    return LibraryError(f"{where}: {message}")


def _parse_entry(raw: Any, file: str, file_bucket: str | None, index: int) -> Entry:
    if not isinstance(raw, dict):
        raise _fail(file, f"#{index + 1}", "an entry must be a table")
    entry_id = raw.get("id")
    if not isinstance(entry_id, str) or not ID_PATTERN.match(entry_id):
        raise _fail(file, entry_id or f"#{index + 1}", "id must be a lowercase slug (a-z 0-9 _ . -)")
    unknown = set(raw) - ENTRY_KEYS
    if unknown:
        raise _fail(file, entry_id, f"unknown key {sorted(unknown)[0]!r}")
    for key in ("category", "kind", "explanation"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(file, entry_id, f"{key} must be a non-empty string")
    if not isinstance(raw.get("agent", ""), str) or not isinstance(raw.get("language", "en"), str):
        raise _fail(file, entry_id, "agent and language must be strings")
    categories = raw.get("categories", [raw["category"]])
    if not isinstance(categories, list) or not categories or not all(isinstance(c, str) and c for c in categories):
        raise _fail(file, entry_id, "categories must be a list of category names (or [\"*\"])")
    bucket = raw.get("bucket", file_bucket)
    if file_bucket is None and "bucket" in raw:
        raise _fail(file, entry_id, "a control has no bucket")
    if file_bucket is not None and bucket != file_bucket:
        raise _fail(file, entry_id, f"bucket {bucket!r} differs from the file's {file_bucket!r}")
    if raw["kind"] not in ("output", "approval"):
        raise _fail(file, entry_id, "kind must be 'output' or 'approval'")
    if not isinstance(raw.get("payload"), dict):
        raise _fail(file, entry_id, "payload must be a table")
    if not isinstance(raw.get("vars", {}), dict):
        raise _fail(file, entry_id, "vars must be a table")
    fault = raw.get("fault")
    if bucket is None and fault is not None:
        raise _fail(file, entry_id, "a known-good control states no fault")
    if bucket is not None:
        if not isinstance(fault, dict) or fault.get("type") not in REQUIRED_KEYS:
            raise _fail(file, entry_id, f"fault.type must be one of {', '.join(sorted(REQUIRED_KEYS))}")
        missing = [k for k in REQUIRED_KEYS[fault["type"]] if k not in fault]
        if missing:
            raise _fail(file, entry_id, f"fault of type {fault['type']} needs {missing[0]!r}")
    return Entry(
        id=entry_id, bucket=bucket, category=raw["category"], kind=raw["kind"], agent=raw.get("agent", ""),
        explanation=raw["explanation"], payload=raw["payload"], vars=raw.get("vars", {}), fault=fault,
        file=file, categories=tuple(categories), language=raw.get("language", "en"),
    )


def load_file(path: Path) -> list[Entry]:
    name = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise _fail(name, None, f"not valid TOML: {exc}") from None
    control = data.get("control", False) is True
    bucket = None if control else data.get("bucket")
    if not control and (not isinstance(bucket, str) or not bucket):
        raise _fail(name, None, "needs `bucket = \"...\"` (or `control = true` for known-good items)")
    raw_entries = data.get("entry", [])
    if not isinstance(raw_entries, list) or not raw_entries:
        raise _fail(name, None, "has no [[entry]] tables")
    return [_parse_entry(raw, name, bucket, i) for i, raw in enumerate(raw_entries)]


def load_library(folder: Path) -> Library:
    folder = Path(folder)
    if not folder.is_dir():
        raise LibraryError(f"{folder}: canary library folder not found")
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.toml")):
        for entry in load_file(path):
            if entry.id in seen:
                raise _fail(entry.file, entry.id, f"duplicate id (also in {seen[entry.id]})")
            seen[entry.id] = entry.file
            entries.append(entry)
    return Library(entries=tuple(entries))


def check_shape(kind: str, payload: dict) -> str | None:
    """The payload shape real agents send (POST /api/v1/items and /api/v1/approvals)."""
    if kind == "output":
        extra = set(payload) - OUTPUT_KEYS
        if extra or "input" not in payload or "output" not in payload:
            return f"an output payload has input, output and optional {sorted(OUTPUT_KEYS - {'input', 'output'})}"
        trace = payload.get("trace")
        if trace is not None and not (
            isinstance(trace, list)
            and all(isinstance(c, dict) and set(c) <= {"tool", "args", "result"} and "tool" in c for c in trace)
        ):
            return "trace must be a list of {tool, args, result}"
        if "metadata" in payload and not isinstance(payload["metadata"], dict):
            return "metadata must be a table"
        return None
    extra = set(payload) - APPROVAL_KEYS
    missing = {"actor", "intent", "constraints", "tool_call", "irreversible"} - set(payload)
    if extra or missing:
        return f"an approval payload has exactly {sorted(APPROVAL_KEYS)} (context optional)"
    call = payload["tool_call"]
    if not (isinstance(call, dict) and set(call) == {"name", "args"} and isinstance(call["args"], dict)):
        return "tool_call must be {name, args}"
    if not isinstance(payload["irreversible"], bool) or not isinstance(payload["constraints"], dict):
        return "irreversible must be a boolean and constraints a table"
    return None


def validate_entry(entry: Entry) -> None:
    for seed in VALIDATE_SEEDS:
        faker = make_faker(random.Random(seed))
        try:
            payload, fault = rendered_fault(entry, faker)
            render_entry(entry, make_faker(random.Random(seed)))
        except TemplateError as exc:
            raise _fail(entry.file, entry.id, str(exc)) from None
        problem = check_shape(entry.kind, payload)
        if problem:
            raise _fail(entry.file, entry.id, problem)
        if fault is not None:
            problem = check_fault(fault, payload)
            if problem:
                raise _fail(entry.file, entry.id, f"the rendered item does not contain the fault: {problem}")


def validate_library(folder: Path, *, min_per_bucket: int = 10, min_controls: int = 20) -> Library:
    """Load and check everything; raises LibraryError naming the file and entry at fault."""
    library = load_library(folder)
    for entry in library.entries:
        validate_entry(entry)
    for bucket in BUCKETS:
        entries = [e for e in library.canaries if e.bucket == bucket]
        if len(entries) < min_per_bucket:
            raise LibraryError(f"{bucket}.toml: {len(entries)} entries, at least {min_per_bucket} needed")
    if len(library.controls) < min_controls:
        raise LibraryError(f"controls.toml: {len(library.controls)} controls, at least {min_controls} needed")
    return library
