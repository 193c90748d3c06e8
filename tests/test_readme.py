"""The README's commands are real: the two commands, every `reviewq` command it names, and its curl calls."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.api import add_reviewer, decide_next, issue_token

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SH_BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    """Shell commands of the README's sh blocks, continuation lines joined, comments dropped."""
    joined = []
    for block in SH_BLOCKS:
        text = re.sub(r"\\\n\s*", " ", block)
        pending = ""
        for line in text.splitlines():
            line = line.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            pending = f"{pending} {line}".strip() if pending else line
            if pending.count("'") % 2 == 0:  # a quoted JSON body may span lines
                joined.append(pending.split("  #")[0].strip())
                pending = ""
    return joined


def test_the_two_commands_are_the_ones_ci_and_the_demo_test_run():
    """The install-and-demo command and the test command are in the README; the latter is .ci/run."""
    commands = _commands()
    assert "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/reviewq demo" in commands
    assert "bash .ci/run" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pip install -q -e '.[test]'" in ci
    assert re.search(r"^\.venv/bin/python -m pytest", ci, flags=re.M)


def test_every_reviewq_command_in_the_readme_exists():
    """Each `reviewq <group> <command>` the README shows answers --help (so none can rot)."""
    seen = set()
    for command in _commands():
        for match in re.finditer(r"reviewq ((?:[a-z]+)(?: (?!-)[a-z]+)?)", command):
            words = match.group(1).split()
            if words[0] in {"demo", "serve", "scheduler", "export", "bench"}:
                words = words[:1]
            seen.add(tuple(words))
    assert ("token", "create") in seen and ("canaries", "validate") in seen and ("db", "upgrade") in seen
    for words in sorted(seen):
        result = subprocess.run([sys.executable, "-m", "reviewq", *words, "--help"], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, (words, result.stderr)


@pytest.mark.skipif(shutil.which("curl") is None and os.environ.get("CI") != "true",
                    reason="curl is not installed on this machine")
def test_curl_examples_work_against_a_live_server(live_server, database, settings):
    """The README's curl calls, run as written against a real server, get the answers it shows."""
    now = datetime.now(UTC)
    issued = issue_token(database, now=now)
    curls = [c.replace("http://127.0.0.1:8000", live_server.url) for c in _commands() if c.startswith("curl")]
    assert len(curls) == 4
    env = {**os.environ, "TOKEN": issued.plaintext}

    def run(command: str) -> dict:
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=90)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    item = run(curls[0])
    assert item["queued"] is True and item["id"].startswith("itm_")
    approval = run(curls[1])
    assert approval["status"] == "pending" and approval["approvals"] == {"required": 1, "given": 0}
    reviewer = add_reviewer(database, "readme-reviewer", now=now)
    decide_next(database, reviewer, _approve(), settings=settings, now=datetime.now(UTC),
                public_id=approval["id"])
    waited = run(curls[2].replace("itm_…", approval["id"]))
    assert waited["status"] == "approved" and waited["outcome"] == "approve"
    second = run(curls[1].replace("refund-A-1001", "refund-A-1002"))
    cancelled = run(curls[3].replace("itm_…", second["id"]))
    assert cancelled["status"] == "cancelled"


def _approve():
    from reviewq.models import Verdict

    return Verdict.APPROVE
