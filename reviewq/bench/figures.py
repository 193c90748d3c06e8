"""Latency percentiles and the result table."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None  # None: no target for this figure


@dataclass
class BenchReport:
    backend: str
    figures: list[Figure] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str, *, target: str = "", ok: bool | None = None) -> None:
        self.figures.append(Figure(name, value, unit, target, ok))

    def table(self) -> str:
        width = max((len(f.name) for f in self.figures), default=10)
        lines = [f"RQ-LOAD-1 on {self.backend}", f"{'figure':{width}}  {'value':>12}  unit     target        "]
        lines.append("-" * len(lines[1]))
        for f in self.figures:
            mark = "" if f.ok is None else ("ok" if f.ok else "MISSED")
            value = f"{f.value:12.1f}" if f.value >= 100 else f"{f.value:12.2f}"
            lines.append(f"{f.name:{width}}  {value}  {f.unit:7}  {f.target:12}  {mark}")
        for name, passed in self.checks.items():
            lines.append(f"check: {name}: {'pass' if passed else 'FAIL'}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"backend": self.backend, "figures": [asdict(f) for f in self.figures], "checks": self.checks}


def write_json(reports: list[BenchReport], path: Path) -> None:
    path.write_text(json.dumps([r.to_json() for r in reports], indent=2, default=str))
