"""Sending outbox rows concurrently, at most N at once per endpoint, so no endpoint waits on another.

One dispatcher lives as long as its scheduler. Each run claims due rows whose endpoint
(callback URL) has a free slot, hands them to a thread pool and returns at once; a finished
send records its result, frees its slot and asks for another run. A receiver that answers in
six seconds, or not at all, therefore holds at most [webhooks] per_endpoint_concurrency of
the [webhooks] concurrency threads, and other endpoints' deliveries leave as soon as they
are committed.

Crash safety is the outbox's own (reviewq.scheduler.outbox): a claimed row is leased past
the attempt's timeout, so a process that dies mid-send leaves it due again, to be resent
with the same webhook-id. Within a process a row in flight is never claimed again.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.exc import OperationalError

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.domain.webhooks import signed_headers
from reviewq.scheduler.outbox import (
    CLAIM_BATCH,
    DeliveryReport,
    HttpResult,
    _claim,
    _Claimed,
    _record,
    http_post,
)

log = logging.getLogger(__name__)

# Claim rounds per run: a round that fills an endpoint's slots is followed by one without it.
CLAIM_ROUNDS = 4


class OutboxDispatcher:
    def __init__(self, database: Database, settings: Settings, *, clock: Callable[[], datetime], send=http_post,
                 rng: random.Random | None = None, on_done: Callable[[], None] | None = None,
                 claim_batch: int = CLAIM_BATCH):
        self.database, self.settings, self.send = database, settings, send
        self.clock = clock  # stamps webhook-timestamp and the recorded attempt
        self.claim_batch = claim_batch
        self.rng = rng or random.Random()
        self.on_done = on_done
        hooks = settings.webhooks
        self.per_endpoint = hooks.per_endpoint_concurrency
        self.capacity = hooks.concurrency
        self.lease = timedelta(seconds=hooks.timeout_s + 30)
        self.report = DeliveryReport()
        self._pool = ThreadPoolExecutor(self.capacity, thread_name_prefix="reviewq-webhook")
        self._lock = threading.Condition()
        self._in_flight: dict[int, str] = {}  # row id -> url

    def run(self, now: datetime) -> int:
        """Claim and start what may be sent now; the number started. Does not wait for the sends."""
        started = 0
        for _ in range(CLAIM_ROUNDS):
            with self._lock:
                free = self.capacity - len(self._in_flight)
                busy = Counter(self._in_flight.values())
                exclude_ids = set(self._in_flight)
            if free <= 0:
                break
            saturated = {url for url, n in busy.items() if n >= self.per_endpoint}
            try:
                claimed = _claim(self.database, now, self.lease, self.claim_batch, exclude_ids=exclude_ids,
                                 exclude_urls=saturated, pick=partial(self._pick, busy=busy, free=free))
            except OperationalError as exc:  # SQLite busy past its timeout: the next run claims them
                log.warning("outbox claim skipped: %s", str(exc).splitlines()[0])
                break
            if not claimed:
                break
            with self._lock:
                for row in claimed:
                    self._in_flight[row.id] = row.url
            for row in claimed:
                self._pool.submit(self._deliver, row)
            started += len(claimed)
        return started

    def _pick(self, rows: list, *, busy: Counter, free: int) -> list:
        """Rows to claim, oldest first: per endpoint up to its free slots, in all up to `free`."""
        taken: Counter = Counter()
        picked = []
        for row in rows:
            if len(picked) >= free:
                break
            if busy[row.url] + taken[row.url] < self.per_endpoint:
                taken[row.url] += 1
                picked.append(row)
        return picked

    def _deliver(self, claimed: _Claimed) -> None:
        try:
            timestamp = int(self.clock().timestamp())
            if claimed.disabled:
                result = HttpResult(None, error="endpoint disabled")
            else:
                headers = signed_headers(claimed.secret, claimed.webhook_id, timestamp, claimed.body)
                result = self.send(claimed.url, headers, claimed.body, self.settings.webhooks.timeout_s,
                                   self.settings.webhooks.allowed_hosts)
            report = DeliveryReport()
            _record(self.database, claimed, result, self.settings, self.clock(), self.rng, report)
            with self._lock:
                for name in ("delivered", "retrying", "failed", "disabled"):
                    setattr(self.report, name, getattr(self.report, name) + getattr(report, name))
        except OperationalError as exc:  # the row stays leased and is sent again after the lease
            log.warning("outbox could not record delivery %s: %s", claimed.webhook_id, str(exc).splitlines()[0])
        except Exception:
            log.exception("outbox delivery %s failed", claimed.webhook_id)
        finally:
            with self._lock:
                self._in_flight.pop(claimed.id, None)
                self._lock.notify_all()
            if self.on_done is not None:
                self.on_done()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is in flight (or `timeout` passes)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._in_flight, timeout=timeout)

    def wait_one(self, timeout: float | None = None) -> None:
        """Block until some send in flight finishes (or `timeout` passes)."""
        with self._lock:
            if self._in_flight:
                self._lock.wait(timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
