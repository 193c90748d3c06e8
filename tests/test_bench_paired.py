"""`reviewq bench --against DIR`: this checkout and another serve the review loop at the same moments."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

from reviewq.bench import paired

# What a checkout's server needs besides the package: its migrations, canary library and config.
CHECKOUT_PARTS = ("reviewq", "migrations", "canaries", "config.toml")


def _other_checkout(tmp_path):
    """A copy of this checkout whose /healthz says which one it is."""
    here, other = paired.this_checkout(), tmp_path / "other"
    for part in CHECKOUT_PARTS:
        source = here / part
        if source.is_dir():
            shutil.copytree(source, other / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, other / part)
    health = other / "reviewq" / "web" / "health.py"
    marked = health.read_text().replace('"database": database}', '"database": database, "checkout": "other"}')
    assert marked != health.read_text()
    health.write_text(marked)
    return other


@pytest.mark.slow
def test_each_server_runs_its_own_checkout_and_both_review_in_every_round(tmp_path, monkeypatch):
    other = _other_checkout(tmp_path)
    with paired.pair(other) as sides:
        answers = {name: requests.get(f"{side.target.url}/healthz", timeout=10).json()
                   for name, side in sides.items()}
        assert answers["other"].get("checkout") == "other"
        assert "checkout" not in answers["this"]
        rounds = paired.run_rounds(sides, rounds=2, decisions=40, log=lambda _m: None)
        # One at a time: each side's loop alone, never overlapping, the first alternating.
        spans: list[tuple[str, float, float]] = []
        review = paired._review

        def timed(side, decisions):
            start = time.monotonic()
            try:
                return review(side, decisions)
            finally:
                spans.append(("this" if side is sides["this"] else "other", start, time.monotonic()))

        monkeypatch.setattr(paired, "_review", timed)
        alone = paired.run_rounds(sides, rounds=2, decisions=30, log=lambda _m: None, one_at_a_time=True)
    assert [name for name, _, _ in spans] == ["this", "other", "other", "this"]
    assert all(spans[i][2] <= spans[i + 1][1] for i in range(len(spans) - 1))
    assert len(alone) == 2 and all(f[name].decisions_per_s > 0 for f in alone for name in paired.SIDES)
    assert all(side.target.proc.poll() is not None for side in sides.values()), "both servers stopped"
    assert len(rounds) == 2
    for figures in rounds:
        for name in paired.SIDES:
            f = figures[name]
            assert f.cpu_ms_per_decision > 0 and f.decisions_per_s > 0 and 0 < f.next_p50_ms <= f.next_p99_ms
    text = paired.table(rounds)
    assert text.count("\n1     this") == 1 and "2     other" in text and "this / other, CPU per decision" in text


def test_a_folder_without_reviewq_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="holds no reviewq package"):
        paired.checkout_of(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWQ_")}
    done = subprocess.run([sys.executable, "-m", "reviewq", "bench", "--against", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "--against" in done.stderr and "holds no reviewq package" in done.stderr
    alone = subprocess.run([sys.executable, "-m", "reviewq", "bench", "--one-at-a-time"],
                           capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert alone.returncode == 2 and "--one-at-a-time" in alone.stderr and "only with --against" in alone.stderr
