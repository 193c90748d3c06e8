"""`reviewq bench --quick` runs the whole RQ-LOAD-1 harness against a real `reviewq serve` and checks it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quick_bench_runs_every_phase_and_its_checks_pass(tmp_path):
    """Every figure of the table is produced, and no item is decided twice, no waiter or webhook is lost."""
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWQ_")}
    result = subprocess.run([sys.executable, "-m", "reviewq", "bench", "--quick", "--json", str(out)],
                            capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "RQ-LOAD-1 on SQLite" in result.stdout
    (report,) = json.loads(out.read_text())
    names = {f["name"] for f in report["figures"]}
    for name in ("ingest, batches of 100", "single POST p95", "next p99", "decide p99", "approval wake p99",
                 "webhook delivery p50", "server peak RSS", "dashboard at 10k decisions",
                 "items browser, filtered page at 10k items (worst filter)"):
        assert name in names
    assert all(f["value"] > 0 for f in report["figures"])
    assert report["checks"] and all(report["checks"].values()), report["checks"]
