"""Thousands of concurrent long-polls from one asyncio loop, for the bench and the tests.

Each waiter is one kept-open loopback connection with one `GET /api/v1/approvals/<id>?wait=N`
in flight; a thread runs the loop so the caller stays synchronous. Every step is bounded by a
count and a deadline.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from reviewq.serving.fd_limit import raise_fd_limit

# Connections opened at once: the server's listen backlog (and the kernel's) stays ahead.
OPEN_BATCH = 500


@dataclass
class Answer:
    approval_id: str
    status_code: int
    body: dict
    received_at: float  # time.time() when the answer arrived


class WaiterCrowd:
    """`len(approval_ids)` long-polls, one per id in the list (ids may repeat)."""

    def __init__(self, url: str, token: str, approval_ids: list[str], *, wait_s: int = 60):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.token = token
        self.ids = approval_ids
        self.wait_s = wait_s
        self.answers: list[Answer] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="waiter-crowd", daemon=True)
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: list[asyncio.Task] = []

    def open(self, timeout: float = 120) -> float:
        """Connect every waiter and send its request; the seconds it took."""
        raise_fd_limit(len(self.ids) + 1024)
        self._thread.start()
        start = time.monotonic()
        asyncio.run_coroutine_threadsafe(self._open_all(), self._loop).result(timeout)
        return time.monotonic() - start

    def answered(self) -> int:
        with self._lock:
            return len(self.answers)

    def wait_for(self, count: int, timeout: float) -> list[Answer]:
        """Block until `count` answers arrived or `timeout` passed; the answers so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.answered() < count:
            time.sleep(0.05)
        with self._lock:
            return list(self.answers)

    def close(self) -> None:
        if not self._thread.is_alive():
            return

        async def shut() -> None:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for writer in self._writers:
                writer.close()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _open_all(self) -> None:
        for start in range(0, len(self.ids), OPEN_BATCH):
            opened = await asyncio.gather(*(self._connect(i) for i in self.ids[start:start + OPEN_BATCH]))
            for approval_id, (reader, writer) in zip(self.ids[start:start + OPEN_BATCH], opened, strict=True):
                self._writers.append(writer)
                self._tasks.append(asyncio.create_task(self._wait_one(approval_id, reader, writer)))
            for writer in self._writers[start:]:
                await writer.drain()

    async def _connect(self, approval_id: str):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 60)
        writer.write(
            f"GET /api/v1/approvals/{approval_id}?wait={self.wait_s} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {self.token}\r\nAccept: application/json\r\n\r\n".encode()
        )
        return reader, writer

    async def _wait_one(self, approval_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.wait_s + 30)
            received = time.time()
            lines = head.decode("latin-1").split("\r\n")
            status_code = int(lines[0].split()[1])
            length = next(int(line.split(":", 1)[1]) for line in lines[1:]
                          if line.lower().startswith("content-length:"))
            body = json.loads(await asyncio.wait_for(reader.readexactly(length), 30))
            with self._lock:
                self.answers.append(Answer(approval_id, status_code, body, received))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError,
                StopIteration) as exc:
            with self._lock:
                self.errors.append(f"{approval_id}: {type(exc).__name__}: {exc}"[:200])
        finally:
            writer.close()


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of these processes so far."""
    import os

    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pids: list[int], *, busy_below: float = 0.1, window: float = 1.0, timeout: float = 120) -> bool:
    """Wait until these processes use less than `busy_below` of a core over `window` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        time.sleep(window)
        if cpu_seconds(pids) - before < busy_below * window:
            return True
    return False
