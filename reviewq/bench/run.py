"""RQ-LOAD-1: every phase against a real `reviewq serve` on 127.0.0.1, then the result table."""

from __future__ import annotations

import json
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import sqlalchemy as sa

from reviewq.bench import bulk_history, crowd_phase, harness, http_load, machine
from reviewq.bench.figures import BenchReport, percentile
from reviewq.db import Database
from reviewq.models import Decision, utcnow


@dataclass(frozen=True)
class Workload:
    batches: int = 50
    batch_size: int = 100
    singles: int = 300
    decisions: int = 1000
    waiters: int = 200
    webhooks: int = 50
    crowd: int = 10_000  # approvals long-polled at once while reviewers work
    crowd_decisions: int = 1000
    dashboard_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)


QUICK = Workload(batches=5, batch_size=100, singles=50, decisions=100, waiters=20, webhooks=5, crowd=200,
                 crowd_decisions=50, dashboard_sizes=(10_000,))


def run(postgres_url: str | None, workload: Workload, log=print) -> BenchReport:
    receiver = _WebhookReceiver()
    target = harness.launch(postgres_url, extra_env={"REVIEWQ_WEBHOOKS_ALLOWED_HOSTS": receiver.host,
                                                     "REVIEWQ_WEBHOOKS_OUTBOX_INTERVAL_S": "1"})
    report = BenchReport(backend=harness.backend_label(target.database_url))
    report.add("machine: reference loop (best of 3)", machine.reference_loop_ms(), "ms")
    report.add("machine: load average at start", machine.load_average(), "")
    try:
        log(f"server up at {target.url} ({report.backend}); ingest…")
        ing = http_load.ingest(target.url, target.token, batches=workload.batches,
                               batch_size=workload.batch_size, singles=workload.singles)
        report.add("ingest, batches of 100", ing["batch_items_per_s"], "items/s", target=">= 10000",
                   ok=ing["batch_items_per_s"] >= 10000)
        report.add("ingest, single POSTs", ing["single_items_per_s"], "items/s")
        report.add("single POST p50", ing["single_p50_ms"], "ms")
        report.add("single POST p95", ing["single_p95_ms"], "ms", target="< 10", ok=ing["single_p95_ms"] < 10)

        log(f"review: 4 reviewers, next -> decide ({http_load.WARMUP_PER_REVIEWER} warm-up decisions each, "
            "not counted)…")
        cpu_before = machine.cpu_seconds(target.proc.pid)
        rev = http_load.review(target.url, target.reviewer_names, harness.BENCH_PASSWORD,
                               decisions=workload.decisions)
        cpu_per_decision = (machine.cpu_seconds(target.proc.pid) - cpu_before) * 1000 / max(
            1, rev["decisions"] + rev["warmup_decisions"])
        report.add("review decisions", rev["decisions_per_s"], "dec/s")
        report.add("server CPU per decision (next + decide, incl. logins)", cpu_per_decision, "ms")
        for phase in ("next", "decide"):
            for q in (50, 95):
                report.add(f"{phase} p{q}", rev[f"{phase}_p{q}_ms"], "ms")
            report.add(f"{phase} p99", rev[f"{phase}_p99_ms"], "ms", target="< 25", ok=rev[f"{phase}_p99_ms"] < 25)
        report.checks["no item decided twice"] = _no_double_decisions(target) and rev["distinct_items"] == len(
            rev["decided_ids"])
        report.checks[f"{workload.decisions} decisions made"] = rev["decisions"] == workload.decisions

        log(f"approvals: {workload.waiters} long-poll waiters…")
        wake = http_load.approval_wakeups(target.url, target.token, target.reviewer_names, harness.BENCH_PASSWORD,
                                          waiters=workload.waiters)
        report.add("approval wake p50", wake["wake_p50_ms"], "ms")
        report.add("approval wake p99", wake["wake_p99_ms"], "ms", target="< 50", ok=wake["wake_p99_ms"] < 50)
        report.checks[f"all {workload.waiters} waiters woken"] = wake["woken"] == workload.waiters
        for error in wake["errors"]:
            log(f"waiter error: {error}")

        log("webhooks: delivery after commit…")
        hooks = _webhook_latency(target, receiver, workload.webhooks)
        report.add("webhook delivery p50", hooks["p50_ms"], "ms")
        report.add("webhook delivery p99", hooks["p99_ms"], "ms")
        report.checks[f"all {workload.webhooks} webhooks delivered"] = hooks["delivered"] == workload.webhooks

        crowd = crowd_phase.review_under_waiters(target, waiters=workload.crowd,
                                                 decisions=workload.crowd_decisions, log=log)
        label = f"{workload.crowd:,} waiters"
        for phase in ("next", "decide"):
            report.add(f"{phase} p50, {label} open", crowd[f"{phase}_p50_ms"], "ms")
            report.add(f"{phase} p99, {label} open", crowd[f"{phase}_p99_ms"], "ms", target="< 25",
                       ok=crowd[f"{phase}_p99_ms"] < 25)
        report.add(f"wake p50, {label} open", crowd["wake_p50_ms"], "ms")
        report.add(f"wake p99, {label} open", crowd["wake_p99_ms"], "ms", target="< 50", ok=crowd["wake_p99_ms"] < 50)
        report.add(f"opening {label}", crowd["open_s"], "s")
        report.checks[f"{label} held open, none answered early or lost"] = (
            crowd["settled"] and crowd["early_answers"] == 0 and crowd["error_count"] == 0)
        report.checks[f"every decided approval's waiter woken ({crowd['decided_approvals']})"] = (
            crowd["decided_approvals"] > 0 and crowd["woken"] == crowd["decided_approvals"])
        for error in crowd["errors"] + crowd["early_samples"]:
            log(f"crowd waiter error or early answer: {error}")
        for approval_id, answer in crowd["unwoken_samples"]:
            log(f"crowd: {approval_id} decided, its waiter got {answer}")

        rss = harness.peak_rss_mb(target.proc.pid)
        report.add("server peak RSS", rss, "MB", target="< 250", ok=rss < 250)
        errors = target.server_errors()
        report.checks[f"server logged no errors ({len(errors)})"] = not errors
        for error in sorted(set(errors))[:5]:
            log(f"server error: {error}")
    finally:
        target.stop()
        receiver.stop()

    report.add("machine: load average at end", machine.load_average(), "")
    for size in workload.dashboard_sizes:
        log(f"dashboard: generating {size:,} decisions…")
        timing = dashboard_timing(postgres_url, size)
        label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
        report.add(f"dashboard at {label} decisions", timing["dashboard_ms"], "ms", target="< 300",
                   ok=timing["dashboard_ms"] < 300)
        report.add(f"items browser, filtered page at {label} items (worst filter)", timing["items_ms"], "ms",
                   target="< 300", ok=timing["items_ms"] < 300)
        report.add(f"metrics export at {label}", timing["metrics_ms"], "ms")
        report.add(f"decisions CSV export at {label}", timing["csv_ms"], "ms")
    return report


def _no_double_decisions(target: harness.BenchTarget) -> bool:
    database = Database.from_settings(target.settings)
    try:
        with database.session_scope(readonly=True) as session:
            doubled = session.execute(
                sa.select(Decision.item_id).group_by(Decision.item_id).having(sa.func.count() > 1)
            ).first()
            return doubled is None
    finally:
        database.dispose()


def dashboard_timing(postgres_url: str | None, decisions: int, runs: int = 5) -> dict:
    """Median time of GET /dashboard (and of the exports) over a bulk-generated history."""
    cleanup: list = []
    database_url = harness.fresh_database_url(postgres_url, cleanup)
    try:
        settings, _token, _reviewers, lead = harness.prepare(database_url)
        database = Database.from_settings(settings)
        try:
            bulk_history.generate(database, decisions=decisions, now=utcnow())
        finally:
            database.dispose()
        url, proc = harness.start_server(database_url, workers=1, threads=8)
        try:
            client = http_load.ReviewerClient(url, lead, harness.BENCH_PASSWORD, landing="/dashboard")
            timings = []
            for _ in range(runs + 1):  # the first warms caches and is not counted
                t0 = time.perf_counter()
                client.http.get(f"{url}/dashboard", timeout=120).raise_for_status()
                timings.append((time.perf_counter() - t0) * 1000)
            items_ms = items_browser_timing(client.http, url, runs=runs)
            t0 = time.perf_counter()
            client.http.get(f"{url}/dashboard/export/metrics.json", timeout=120).raise_for_status()
            metrics_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            with client.http.get(f"{url}/dashboard/export/decisions.csv", timeout=600, stream=True) as response:
                response.raise_for_status()
                for _chunk in response.iter_content(chunk_size=1 << 16):
                    pass
            csv_ms = (time.perf_counter() - t0) * 1000
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        return {"dashboard_ms": statistics.median(timings[1:]), "metrics_ms": metrics_ms, "csv_ms": csv_ms,
                "items_ms": items_ms}
    finally:
        for step in reversed(cleanup):
            step()


# Filtered pages a lead asks /items for (bulk_history's names): each is timed, the worst median reported.
ITEMS_FILTERS = (
    "agent=bulk-agent&category=billing",
    "status=decided&outcome=reject",
    "reviewer=bulk-007",
    "reason=other",
    "planted=canary",
    "trace_id=bulk-5000",
    "sort=decided_desc&category=search",
)


def items_browser_timing(http, url: str, *, runs: int) -> float:
    """Worst median over ITEMS_FILTERS of GET /items (the HTML page), first page and the page after it."""
    import re

    worst = 0.0
    for query in ITEMS_FILTERS:
        timings = []
        for _ in range(runs + 1):  # the first warms caches and is not counted
            t0 = time.perf_counter()
            response = http.get(f"{url}/items?{query}", timeout=120)
            response.raise_for_status()
            timings.append((time.perf_counter() - t0) * 1000)
        cursor = re.search(r'id="next-page" href="([^"]+)"', response.text)
        if cursor:
            t0 = time.perf_counter()
            http.get(url + cursor.group(1).replace("&amp;", "&"), timeout=120).raise_for_status()
            timings.append((time.perf_counter() - t0) * 1000)
        worst = max(worst, statistics.median(timings[1:]))
    return worst


class _WebhookReceiver:
    """A loopback webhook endpoint that notes when each event arrived."""

    def __init__(self):
        arrivals: dict[str, float] = {}
        self.arrivals = arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                event = json.loads(body)
                arrivals.setdefault(event["data"]["id"], time.time())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _webhook_latency(target: harness.BenchTarget, receiver: _WebhookReceiver, count: int) -> dict:
    import random

    from faker import Faker

    from reviewq.demo.traffic import approval_request

    rng, faker = random.Random(3), Faker()
    faker.seed_instance(3)
    api = http_load.agent_connection(target.url, target.token)
    ids = []
    for i in range(count):
        body = approval_request(rng=rng, faker=faker, kind="record_change")
        body["callback_url"] = f"http://{receiver.host}/hook"
        _, answer, _ = api.call("POST", "/api/v1/approvals", body, headers={"Idempotency-Key": f"hook-{i}"})
        ids.append(answer["id"])
    api.close()
    reviewer = http_load.ReviewerClient(target.url, target.reviewer_names[0], harness.BENCH_PASSWORD)
    decided: dict[str, float] = {}
    # Other work may come first (outputs from earlier phases, planted items): decide it too, bounded.
    for _ in range(count * 5):
        if len(decided) == count:
            break
        item = reviewer.next()
        if item is None:
            break
        answer = reviewer.decide(item["id"])
        if item["id"] in ids:
            decided[item["id"]] = datetime.fromisoformat(answer["decision"]["decided_at"]).timestamp()
    reviewer.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(receiver.arrivals) < len(decided):
        time.sleep(0.2)
    latencies = [(receiver.arrivals[i] - decided[i]) * 1000 for i in decided if i in receiver.arrivals]
    return {"delivered": len(latencies), "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}
