"""What the machine itself is doing, so figures from different machines and days can be compared.

The bench shares its cores with the server it measures and with whatever else runs there: the
load average and a fixed pure-Python reference loop (timed on this process, before the run) say
how fast and how busy the machine was. Server CPU per unit of work tells capacity apart from
queueing: four reviewers deciding with no pause keep the server busy, so their latency is
roughly their number times the server's CPU per request.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from reviewq.bench.harness import children

REFERENCE_ITERATIONS = 2_000_000


def reference_loop_ms() -> float:
    """The best of three runs of a fixed loop of additions: a quiet modern core takes ~40-80 ms."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(REFERENCE_ITERATIONS):
            total += i
        best = min(best, time.perf_counter() - start)
    return best * 1000


def load_average() -> float:
    return os.getloadavg()[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants so far (the server's master and workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total
