"""Every example in examples/ runs as a script against a live reviewq while a reviewer works the web queue:
small refunds are approved, large ones denied, and each example prints what really ran."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reviewq.models import Role, utcnow
from tests.support.api import add_reviewer, issue_token
from tests.support.web_reviewer import BackgroundReview, WebReviewer

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"

# example -> (approvals the reviewer decides, lines its output must contain)
EXAMPLES = {
    "bound_approval_client.py": (3, ["refunded A-1 $42.00", "not run: A-2 was denied",
                                     "refused: the arguments differ", "refunded A-3 $10.00",
                                     "refused: already_consumed"]),
    "mcp_server_client.py": (1, ["refunded A-1 $42.00"]),
    "mcp_proxy.py": (2, ["A-1: $120.00", "refunded A-1 $42.00", "not run: issue_refund was not run: a reviewer"]),
    "pydantic_ai_approval.py": (2, ["refunded A-1 $42.00", "A human reviewer denied the call to issue_refund"]),
    "openai_agents_approval.py": (2, ["refunded A-1 $42.50", "A human reviewer denied the call", "Done."]),
    "langgraph_approval.py": (2, ["refunded A-1 $42.00", "A human reviewer denied the call", "Done."]),
}


def by_amount(item):
    amount = item["payload"]["tool_call"]["args"]["amount_usd"]
    return ("approve", "") if amount < 100 else ("reject", "too much")


def test_every_example_is_exercised():
    """Each script in examples/ (except shared helpers and the wrapped demo server) is listed here."""
    scripts = {p.name for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_")}
    assert scripts - {"refunds_mcp_server.py"} == set(EXAMPLES)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_runs(example, live_server, database, now):
    """The example exits 0, prints each expected line, and never runs the denied refund."""
    approvals, expected = EXAMPLES[example]
    token = issue_token(database, now=now).plaintext
    add_reviewer(database, "rita", now=utcnow(), role=Role.REVIEWER)
    review = BackgroundReview(WebReviewer(live_server.url, "rita"), approvals, by_amount)
    env = {**os.environ, "REVIEWQ_URL": live_server.url, "REVIEWQ_TOKEN": token, "REVIEWQ_SERVER_MODE": "test"}
    done = subprocess.run([sys.executable, str(EXAMPLES_DIR / example)], env=env, capture_output=True, text=True,
                          timeout=240, stdin=subprocess.DEVNULL, cwd=EXAMPLES_DIR.parent)
    review.join()
    assert done.returncode == 0, done.stderr[-3000:]
    for line in expected:
        assert line in done.stdout, f"{line!r} missing from:\n{done.stdout}"
    assert "refunded A-2" not in done.stdout
