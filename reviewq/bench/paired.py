"""The review loop on two checkouts at once: an A/B that a noisy, shared machine slows alike.

On this project's machine the same code's server CPU per decision moved ±15 % between runs a
few minutes apart, so an A/B of separate runs could not show a change of a few per cent. Here
two servers, this checkout's and another's (by PYTHONPATH), each on a fresh SQLite database
prepared by its own code, run the review phase at the same moments with four reviewers each;
rounds alternate which one starts first. A round reports each server's CPU per decision,
decisions per second and latencies, and the ratio of the two CPU figures.

Both servers share the machine's cores, so their absolute figures are worse than a lone run's:
read the ratios. With `one_at_a_time` each round runs the two sides one after the other, each
alone on the machine (the first alternating): latencies as a lone run has them, at the cost of
the two sides no longer seeing exactly the same moments. The other checkout needs
`reviewq.bench.harness.prepare` (every version since the bench existed has it).
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reviewq.bench import harness, http_load, machine

SIDES = ("this", "other")
_INGEST_SEEDS = itertools.count(7)


def checkout_of(path: Path) -> Path:
    """The folder holding a `reviewq` package (a checkout's root); ValueError if it has none."""
    root = Path(path).resolve()
    if not (root / "reviewq" / "__init__.py").is_file():
        raise ValueError(f"{root} holds no reviewq package (expected {root / 'reviewq' / '__init__.py'})")
    return root


def this_checkout() -> Path:
    import reviewq

    return Path(reviewq.__file__).resolve().parent.parent


@dataclass
class Side:
    target: harness.BenchTarget
    checkout: Path


@dataclass(frozen=True)
class RoundFigures:
    cpu_ms_per_decision: float
    decisions_per_s: float
    next_p50_ms: float
    next_p99_ms: float
    decide_p50_ms: float
    decide_p99_ms: float


# Every process of a side runs in its checkout's folder: `python -m` puts the working directory
# ahead of PYTHONPATH, so a server started elsewhere imported whichever reviewq was there.


def _prepared_by(checkout: Path, database_url: str) -> tuple[str, list[str], str]:
    """Migrate and seed `database_url` with the code of `checkout`: its schema is its own."""
    script = ("import json, sys\nfrom reviewq.bench import harness\n"
              "_s, token, reviewers, lead = harness.prepare(sys.argv[1])\n"
              "print(json.dumps([token, reviewers, lead]))\n")
    done = subprocess.run([sys.executable, "-c", script, database_url], capture_output=True, text=True,
                          env=harness.child_env({"PYTHONPATH": str(checkout)}), cwd=checkout, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"preparing a database with {checkout} failed:\n{done.stderr[-2000:]}")
    token, reviewers, lead = json.loads(done.stdout.strip().splitlines()[-1])
    return token, reviewers, lead


def _launch(checkout: Path) -> Side:
    cleanup: list = []
    try:
        database_url = harness.fresh_database_url(None, cleanup)
        token, reviewers, lead = _prepared_by(checkout, database_url)
        url, proc = harness.start_server(database_url, workers=1, threads=256,
                                         extra_env={"PYTHONPATH": str(checkout)}, cwd=checkout)
    except BaseException:
        for step in reversed(cleanup):
            step()
        raise
    settings = harness.bench_settings(database_url)
    return Side(harness.BenchTarget(url=url, settings=settings, database_url=database_url, token=token,
                                    reviewer_names=reviewers, lead_name=lead, proc=proc, cleanup=cleanup),
                checkout)


@contextmanager
def pair(other: Path) -> Iterator[dict[str, Side]]:
    """Both servers up (this checkout's and `other`'s), stopped on exit."""
    sides: dict[str, Side] = {}
    try:
        sides["this"] = _launch(this_checkout())
        sides["other"] = _launch(checkout_of(other))
        yield sides
    finally:
        for side in sides.values():
            side.target.stop()


def run_rounds(sides: dict[str, Side], *, rounds: int, decisions: int, log=print,
               one_at_a_time: bool = False) -> list[dict[str, RoundFigures]]:
    """Queue enough work, warm both servers up, then `rounds` review phases, on both at once or
    (`one_at_a_time`) on each alone in turn."""
    for name, side in sides.items():
        log(f"{name}: {side.checkout} at {side.target.url}; ingest…")
        batches = max(1, (decisions * (rounds + 1) * 3 // 2 + 99) // 100)
        # A fresh seed each time: the same outputs again would be taken as duplicates, not queued.
        http_load.ingest(side.target.url, side.target.token, batches=batches, batch_size=100, singles=0,
                         seed=next(_INGEST_SEEDS))
        http_load.review(side.target.url, side.target.reviewer_names, harness.BENCH_PASSWORD,
                         decisions=min(200, decisions))
    out = []
    for index in range(rounds):
        order = SIDES if index % 2 == 0 else SIDES[::-1]
        log(f"round {index + 1} of {rounds}: {decisions} decisions on each, {order[0]} "
            f"{'first, then the other alone' if one_at_a_time else 'starting first'}…")
        cpu_before = {name: machine.cpu_seconds(side.target.proc.pid) for name, side in sides.items()}
        if one_at_a_time:
            results = {name: _review(sides[name], decisions) for name in order}
        else:
            results = _review_both_at_once(sides, order, decisions)
        figures = {}
        for name, side in sides.items():
            r = results[name]
            made = max(1, r["decisions"] + r["warmup_decisions"])
            cpu = (machine.cpu_seconds(side.target.proc.pid) - cpu_before[name]) * 1000 / made
            figures[name] = RoundFigures(cpu, r["decisions_per_s"], r["next_p50_ms"], r["next_p99_ms"],
                                         r["decide_p50_ms"], r["decide_p99_ms"])
        out.append(figures)
    return out


def _review_both_at_once(sides: dict[str, Side], order: tuple[str, ...], decisions: int) -> dict[str, dict]:
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def review(name: str) -> None:
        try:
            results[name] = _review(sides[name], decisions)
        except BaseException as exc:  # raised here once both threads have ended
            errors.append(exc)

    threads = [threading.Thread(target=review, args=(name,)) for name in order]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _review(side: Side, decisions: int) -> dict:
    return http_load.review(side.target.url, side.target.reviewer_names, harness.BENCH_PASSWORD,
                            decisions=decisions)


def table(rounds: list[dict[str, RoundFigures]]) -> str:
    lines = [f"{'round':<6}{'side':<7}{'CPU ms/dec':>11}{'dec/s':>8}{'next p50':>10}{'next p99':>10}"
             f"{'decide p50':>12}{'decide p99':>12}"]
    for index, figures in enumerate(rounds, 1):
        for name in SIDES:
            f = figures[name]
            lines.append(f"{index:<6}{name:<7}{f.cpu_ms_per_decision:>11.2f}{f.decisions_per_s:>8.0f}"
                         f"{f.next_p50_ms:>10.1f}{f.next_p99_ms:>10.1f}{f.decide_p50_ms:>12.1f}{f.decide_p99_ms:>12.1f}")
    ratios = [r["this"].cpu_ms_per_decision / r["other"].cpu_ms_per_decision for r in rounds]
    lines.append(f"this / other, CPU per decision: {', '.join(f'{x:.3f}' for x in ratios)} "
                 f"(median {statistics.median(ratios):.3f}; below 1: this checkout is cheaper)")
    return "\n".join(lines)
