"""The HTTP parts of RQ-LOAD-1: ingest, four reviewers, and 200 long-poll waiters.

Every loop here is bounded by a count and a deadline, and talks only to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import gc
import http.client
import json
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlsplit

import requests
from faker import Faker

from reviewq.bench.figures import percentile
from reviewq.demo.traffic import approval_request, padded_output

DEADLINE_S = 600


class JsonConnection:
    """One kept-alive HTTP connection speaking JSON, on http.client.

    The load generator shares the machine with the server it measures; `requests` cost about
    0.8 ms of CPU a call, taken from the server and added to every latency measured here.
    """

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 30):
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}

    def call(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None,
             encoded: bytes | None = None):
        """(status, parsed JSON body, response headers); raises HTTPError on 4xx/5xx.

        `encoded`: the body already as JSON bytes (the ingest phase encodes its batches before the
        clock starts, as an agent's pipeline would have them ready)."""
        data = encoded if encoded is not None else None if body is None else json.dumps(body)
        self._conn.request(method, path, body=data, headers={**self.headers, **(headers or {})})
        response = self._conn.getresponse()
        payload = response.read()
        if response.status >= 400:
            raise requests.HTTPError(f"{response.status} from {method} {path}: {payload[:300]!r}")
        return response.status, json.loads(payload), response.headers

    def close(self) -> None:
        self._conn.close()


def agent_connection(url: str, token: str, timeout: float = 30) -> JsonConnection:
    """An agent's kept-alive connection, with its bearer token."""
    return JsonConnection(url, {"Authorization": f"Bearer {token}"}, timeout=timeout)


def ingest(url: str, token: str, *, batches: int = 50, batch_size: int = 100, singles: int = 300,
           seed: int = 7) -> dict:
    """5,000 outputs of ~1.5 KB in batches of 100, then 300 single POSTs."""
    rng, faker = random.Random(seed), Faker()
    faker.seed_instance(seed)
    bodies = [padded_output(rng=rng, faker=faker) for _ in range(batches * batch_size + singles)]
    for body in bodies:
        body.pop("agent")  # one token, one agent: the server fills in the token's
    api = agent_connection(url, token, timeout=60)
    # Encoded before the clock starts: the client's own json.dumps (~3 ms a batch on these two
    # cores) is not the server's ingest rate, and the server sits idle while it runs.
    encoded = [json.dumps({"items": bodies[b * batch_size:(b + 1) * batch_size]}).encode() for b in range(batches)]
    start = time.perf_counter()
    queued = 0
    for data in encoded:
        _, answer, _ = api.call("POST", "/api/v1/items", encoded=data)
        queued += sum(1 for r in answer["results"] if r.get("queued"))
    batch_s = time.perf_counter() - start
    latencies = []
    start = time.perf_counter()
    for body in bodies[batches * batch_size:]:
        t0 = time.perf_counter()
        api.call("POST", "/api/v1/items", body)
        latencies.append((time.perf_counter() - t0) * 1000)
    single_s = time.perf_counter() - start
    api.close()
    return {
        "batch_items_per_s": batches * batch_size / batch_s,
        "single_items_per_s": singles / single_s,
        "single_p50_ms": percentile(latencies, 50),
        "single_p95_ms": percentile(latencies, 95),
        "queued": queued,
    }


class ReviewerClient:
    """A reviewer's browser, reduced to the HTTP calls the queue page makes.

    Logs in with `requests` (form, cookies, CSRF), then sends the queue's JSON calls over one
    kept-alive JsonConnection carrying the same cookie, CSRF token and User-Agent.
    """

    def __init__(self, url: str, name: str, password: str, landing: str = "/queue"):
        self.url = url
        self.http = requests.Session()
        page = self.http.get(f"{url}/login", timeout=10).text
        csrf = _csrf_from(page)
        response = self.http.post(f"{url}/login", data={"name": name, "password": password, "csrf_token": csrf},
                                  timeout=30, allow_redirects=False)
        if response.status_code not in (302, 303):
            raise RuntimeError(f"login failed for {name}: {response.status_code}")
        queue_page = self.http.get(f"{url}{landing}", timeout=30).text
        self.http.headers.update({"X-CSRFToken": _csrf_from(queue_page), "Accept": "application/json"})
        # The login is bound to the browser's User-Agent (session protection "strong").
        self._json = JsonConnection(url, {"X-CSRFToken": self.http.headers["X-CSRFToken"],
                                          "User-Agent": self.http.headers["User-Agent"]})

    def close(self) -> None:
        """Log out, which gives back the item the last decide claimed (as the page's logout does)."""
        self._json.close()
        self.http.post(f"{self.url}/logout", data={"csrf_token": self.http.headers["X-CSRFToken"]}, timeout=30)

    def next(self) -> dict | None:
        return self._post("/queue/next", {}).get("item")

    def decide(self, item_id: str, verdict: str = "approve") -> dict:
        body = {"verdict": verdict, "reason": None if verdict == "approve" else "other", "note": "",
                "active_ms": 1500}
        return self._post(f"/queue/items/{item_id}/decide", body)

    def _post(self, path: str, body: dict) -> dict:
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        _, answer, headers = self._json.call("POST", path, body, headers={"Cookie": cookies})
        for header in headers.get_all("Set-Cookie") or ():
            name, _, rest = header.partition("=")
            self.http.cookies.set(name.strip(), rest.split(";", 1)[0], domain=urlsplit(self.url).hostname)
        return answer


def _csrf_from(html: str) -> str:
    match = re.search(r'name="csrf[-_]token"\s+(?:content|value)="([^"]+)"', html)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


# Decisions per reviewer made before the measured run and left out of its figures: they open
# the server's database connections and prepare its statements, once per process.
WARMUP_PER_REVIEWER = 10


@contextlib.contextmanager
def load_generator_collector_frozen():
    """This process's garbage collector ignores what is alive now, while calls are timed.

    With 10,000 waiters open the load generator holds about a million objects, and each full
    collection paused its reviewer threads for 200-450 ms in mid-call (seen with gc.callbacks
    at a 140 ms reference loop): the bench's own pauses, not the server's, and they made the
    p99. Frozen objects are never traversed again; new garbage is still collected.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def review(url: str, reviewers: list[str], password: str, *, decisions: int = 1000,
           warmup_per_reviewer: int = WARMUP_PER_REVIEWER) -> dict:
    """Reviewers in parallel loop next -> decide until `decisions` are made in total (after a warm-up)."""
    clients = [ReviewerClient(url, name, password) for name in reviewers]
    lock = threading.Lock()
    deadline = time.monotonic() + DEADLINE_S

    def run(total: int) -> tuple[list[float], list[float], list[str]]:
        counter = {"made": 0}
        next_ms: list[float] = []
        decide_ms: list[float] = []
        decided_ids: list[str] = []

        def loop(client: ReviewerClient) -> None:
            while time.monotonic() < deadline:
                with lock:
                    if counter["made"] >= total:
                        return
                    counter["made"] += 1
                t0 = time.perf_counter()
                item = client.next()
                t1 = time.perf_counter()
                if item is None:
                    return
                client.decide(item["id"])
                t2 = time.perf_counter()
                with lock:
                    next_ms.append((t1 - t0) * 1000)
                    decide_ms.append((t2 - t1) * 1000)
                    decided_ids.append(item["id"])

        with ThreadPoolExecutor(len(clients)) as pool:
            list(pool.map(loop, clients))
        return next_ms, decide_ms, decided_ids

    _, _, warmup_ids = run(warmup_per_reviewer * len(clients))
    with load_generator_collector_frozen():
        start = time.perf_counter()
        next_ms, decide_ms, decided_ids = run(decisions)
        elapsed = time.perf_counter() - start
    for client in clients:
        client.close()
    return {
        "warmup_decisions": len(warmup_ids),
        "decisions": len(decided_ids),
        "decisions_per_s": len(decided_ids) / elapsed,
        "next_p50_ms": percentile(next_ms, 50), "next_p95_ms": percentile(next_ms, 95),
        "next_p99_ms": percentile(next_ms, 99),
        "decide_p50_ms": percentile(decide_ms, 50), "decide_p95_ms": percentile(decide_ms, 95),
        "decide_p99_ms": percentile(decide_ms, 99),
        "distinct_items": len(set(decided_ids) | set(warmup_ids)),
        "decided_ids": warmup_ids + decided_ids,
    }


def approval_wakeups(url: str, token: str, reviewers: list[str], password: str, *, waiters: int = 200,
                     seed: int = 11) -> dict:
    """`waiters` agents block on ?wait=30 while reviewers approve; wake latency from commit to waiter."""
    rng, faker = random.Random(seed), Faker()
    faker.seed_instance(seed)
    api = agent_connection(url, token)
    ids = []
    for i in range(waiters):
        body = approval_request(rng=rng, faker=faker, kind="record_change")
        _, answer, _ = api.call("POST", "/api/v1/approvals", body, headers={"Idempotency-Key": f"bench-{seed}-{i}"})
        ids.append(answer["id"])
    api.close()

    latencies: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(waiters + 1)

    errors: list[str] = []

    def wait_for(approval_id: str) -> None:
        agent = agent_connection(url, token, timeout=45)
        ready.wait(timeout=60)
        try:
            for _ in range(4):  # bounded: 4 × 30 s
                _, body, _ = agent.call("GET", f"/api/v1/approvals/{approval_id}?wait=30")
                received = time.time()
                if body.get("status") != "pending":
                    decided_at = datetime.fromisoformat(body["decided_at"]).timestamp()
                    with lock:
                        latencies.append(max(0.0, received - decided_at) * 1000)
                    return
        except (requests.RequestException, OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
        finally:
            agent.close()

    threads = [threading.Thread(target=wait_for, args=(i,), daemon=True) for i in ids]
    for t in threads:
        t.start()
    ready.wait(timeout=60)
    time.sleep(1.0)  # let every waiter reach the server and block before decisions start
    clients = [ReviewerClient(url, name, password) for name in reviewers]
    pending = set(ids)
    rlock = threading.Lock()
    deadline = time.monotonic() + DEADLINE_S
    # Reviewers may also be handed other work (outputs left from earlier phases, planted items):
    # they decide it too, and stop once every waited-on approval is decided. Bounded in count.
    budget = {"n": waiters * 5}

    def decide_all(client: ReviewerClient) -> None:
        while time.monotonic() < deadline:
            with rlock:
                if not pending or budget["n"] <= 0:
                    return
                budget["n"] -= 1
            item = client.next()
            if item is None:
                return
            client.decide(item["id"])
            with rlock:
                pending.discard(item["id"])

    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(decide_all, clients))
    for client in clients:
        client.close()
    for t in threads:
        t.join(timeout=120)
    return {"woken": len(latencies), "wake_p50_ms": percentile(latencies, 50),
            "wake_p99_ms": percentile(latencies, 99), "errors": errors[:5]}
