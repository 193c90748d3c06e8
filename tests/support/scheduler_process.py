"""A real `reviewq scheduler` process whose output lines the test can wait for."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time

from reviewq.config import PROJECT_ROOT

DEADLINE_S = 60


class SchedulerProcess:
    """A scheduler subprocess whose stdout lines are read by a thread into a queue."""

    def __init__(self, db_url: str, *, args: tuple[str, ...] = ("--inject-on-start",), env: dict | None = None):
        env = {**os.environ, "REVIEWQ_DATABASE_URL": db_url, "REVIEWQ_SERVER_MODE": "test", "PYTHONUNBUFFERED": "1",
               **(env or {})}
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "reviewq", "scheduler", "--poll-seconds", "0.2", *args],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.put(line.rstrip())

    def wait_for(self, text: str) -> str:
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.05, end - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} within {DEADLINE_S}s; output so far: {self.seen}")

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=DEADLINE_S)
