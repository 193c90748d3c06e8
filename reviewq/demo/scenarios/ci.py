"""ops-agent: summarises a CI run (jobs, test counts, the failing tests) from the CI tools."""

from __future__ import annotations

import random
from datetime import date

from faker import Faker

REPOS = ("payments-api", "web-frontend", "ledger-service", "search-indexer", "mobile-app", "auth-gateway")
TICKET = ("PAY", "WEB", "LED", "SRCH", "MOB", "AUTH")
TOPICS = ("retry-refunds", "fix-timezone", "bump-deps", "cache-headers", "split-worker", "new-onboarding",
          "rate-limit", "flaky-login")
FAILING = (
    ("tests/test_refunds.py::test_partial_refund", "AssertionError: expected 40.00, got 0.00"),
    ("tests/test_calendar.py::test_dst_boundary", "AssertionError: 2026-03-29T02:30 is not a valid local time"),
    ("tests/test_cache.py::test_etag_changes", "AssertionError: ETag unchanged after update"),
    ("tests/test_auth.py::test_login_lockout", "TimeoutError: login did not lock after 5 attempts"),
    ("tests/test_export.py::test_csv_quotes", "AssertionError: field with comma not quoted"),
    ("tests/test_worker.py::test_graceful_shutdown", "RuntimeError: job lost on SIGTERM"),
)


def _run(rng: random.Random) -> dict:
    i = rng.randrange(len(REPOS))
    failed = rng.choice([0, 0, 0, 1, 2, 3])
    unit = {"name": "unit-tests", "passed": rng.randint(180, 900), "failed": failed, "skipped": rng.randint(0, 6),
            "duration_s": rng.randint(60, 420)}
    unit["status"] = "failed" if failed else "passed"
    jobs = [
        {"name": "lint", "status": "passed", "duration_s": rng.randint(15, 70)},
        unit,
        {"name": "build", "status": "passed", "duration_s": rng.randint(40, 300)},
    ]
    if rng.random() < 0.5:
        jobs.insert(2, {"name": "integration-tests", "status": "passed", "passed": rng.randint(20, 90), "failed": 0,
                        "skipped": 0, "duration_s": rng.randint(120, 900)})
    return {
        "run_id": rng.randint(40000, 99999),
        "repo": REPOS[i],
        "branch": f"feature/{TICKET[i]}-{rng.randint(100, 999)}-{rng.choice(TOPICS)}",
        "commit": f"{rng.getrandbits(28):07x}",
        "status": "failed" if failed else "passed",
        "jobs": jobs,
        "failures": [{"test": t, "error": e} for t, e in rng.sample(FAILING, failed)],
    }


def ci_summary(f: Faker, rng: random.Random, today: date) -> dict:
    run = _run(rng)
    author = f.first_name().lower()
    question = rng.choice([
        f"Summarise the latest CI run for {run['branch']} in {run['repo']}. Is it safe to merge?",
        f"@ops-agent did CI pass on {run['repo']}#{run['branch']}?",
    ])
    unit = next(j for j in run["jobs"] if j["name"] == "unit-tests")
    lines = [f"CI run {run['run_id']} on {run['branch']} (commit {run['commit']}) {run['status']} "
             f"({len(run['jobs'])} jobs): "
             f"unit tests {unit['passed']} passed, {unit['failed']} failed, {unit['skipped']} skipped."]
    if run["failures"]:
        lines += [f"- {x['test']}: {x['error']}" for x in run["failures"]]
        lines.append("Not safe to merge until these are fixed.")
    else:
        lines.append("All jobs passed; safe to merge once reviewed.")
    trace = [
        {"tool": "list_ci_runs", "args": {"repo": run["repo"], "branch": run["branch"], "limit": 1},
         "result": [{"run_id": run["run_id"], "commit": run["commit"], "status": run["status"], "author": author}]},
        {"tool": "get_ci_run", "args": {"run_id": run["run_id"]},
         "result": {"run_id": run["run_id"], "status": run["status"], "jobs": run["jobs"]}},
    ]
    if run["failures"]:
        trace.append({"tool": "get_job_log", "args": {"run_id": run["run_id"], "job": "unit-tests"},
                      "result": "\n".join(f"FAILED {x['test']} - {x['error']}" for x in run["failures"])})
    return {"input": question, "output": "\n".join(lines), "trace": trace,
            "context": {"requested_by": author, "channel": "#deploys"}}


def ci_item(f: Faker, rng: random.Random, today: date) -> dict:
    return ci_summary(f, rng, today)
