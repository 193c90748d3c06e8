"""`reviewq gold diff OLD NEW`: what changed between two gold files, item by item (pure functions)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def load(path: Path) -> dict[str, dict[str, Any]]:
    """A gold file (or a folder holding gold.jsonl) as {id: record}."""
    path = Path(path)
    if path.is_dir():
        path = path / "gold.jsonl"
    out = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                out[record["id"]] = record
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValueError(f"{path}:{number}: not a gold record") from None
    return out


@dataclass
class GoldDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    relabelled: list[tuple[str, dict, dict]] = field(default_factory=list)  # id, old label, new label
    changed: list[tuple[str, list[str]]] = field(default_factory=list)  # id, fields other than the label

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.relabelled or self.changed)


def diff(old: dict[str, dict], new: dict[str, dict]) -> GoldDiff:
    out = GoldDiff(added=sorted(set(new) - set(old)), removed=sorted(set(old) - set(new)))
    for item_id in sorted(set(old) & set(new)):
        a, b = old[item_id], new[item_id]
        ignore = {"label"}
        if a.get("label") != b.get("label"):
            out.relabelled.append((item_id, a.get("label") or {}, b.get("label") or {}))
            ignore.add("provenance")  # a new label brings its own provenance: part of the relabel
        fields = sorted(k for k in set(a) | set(b) if k not in ignore and a.get(k) != b.get(k))
        if fields:
            out.changed.append((item_id, fields))
    return out


def _label(label: dict) -> str:
    verdict = label.get("verdict") or "?"
    return f"{verdict} ({label['reason']})" if label.get("reason") else verdict


def render(d: GoldDiff, new: dict[str, dict]) -> list[str]:
    lines = [f"{len(d.added)} added, {len(d.removed)} removed, {len(d.relabelled)} relabelled, "
             f"{len(d.changed)} changed otherwise"]
    lines += [f"+ {i}  {_label(new[i].get('label') or {})}  [{new[i].get('category')}]" for i in d.added]
    lines += [f"- {i}" for i in d.removed]
    lines += [f"~ {i}  {_label(a)} -> {_label(b)}" for i, a, b in d.relabelled]
    lines += [f"~ {i}  {', '.join(fields)}" for i, fields in d.changed]
    return lines
