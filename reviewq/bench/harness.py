"""A fresh database and a real `reviewq serve` process on 127.0.0.1 to measure."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from reviewq import migrate
from reviewq.config import Settings, load_settings
from reviewq.db import Database, is_sqlite
from reviewq.domain.tokens import create_token
from reviewq.domain.users import create_user
from reviewq.models import ALL_SCOPES, Role, UserCreate, utcnow

BENCH_PASSWORD = "bench-password-1"
REVIEWERS = 4


@dataclass
class BenchTarget:
    url: str
    settings: Settings
    database_url: str
    token: str
    reviewer_names: list[str]
    lead_name: str
    proc: subprocess.Popen
    cleanup: list
    server_log: Path | None = None  # the server's stderr

    def server_errors(self) -> list[str]:
        """The first line of each traceback the server logged, and the line before it (its message)."""
        return logged_errors(self.server_log)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for step in reversed(self.cleanup):
            step()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database_url(postgres_url: str | None, cleanup: list) -> str:
    """A new SQLite file in a temp dir, or a new schema in the given PostgreSQL database."""
    if postgres_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="reviewq-bench-")
        cleanup.append(tmp.cleanup)
        return f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    schema = f"rqbench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()

    cleanup.append(drop)
    sep = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{sep}options=-csearch_path%3D{schema}"


def bench_settings(database_url: str) -> Settings:
    """The settings the bench's own process uses on `database_url` (set-up and checks, not the server's)."""
    return load_settings(env={"REVIEWQ_DATABASE_URL": database_url, "REVIEWQ_SERVER_MODE": "test"})


def child_env(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its REVIEWQ_ settings, plus `extra_env`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("REVIEWQ_")}, **(extra_env or {})}


def prepare(database_url: str) -> tuple[Settings, str, list[str], str]:
    """Migrate, then create the bench's reviewers, a lead and an agent token."""
    settings = bench_settings(database_url)
    migrate.upgrade(settings)
    database = Database.from_settings(settings)
    reviewers = [f"bench-reviewer-{i}" for i in range(REVIEWERS)]
    try:
        with database.session_scope() as session:
            now = utcnow()
            for name in reviewers:
                create_user(session=session, data=UserCreate(name=name, role=Role.REVIEWER, password=BENCH_PASSWORD),
                            now=now, actor="system:bench")
            create_user(session=session, data=UserCreate(name="bench-lead", role=Role.LEAD, password=BENCH_PASSWORD),
                        now=now, actor="system:bench")
            issued = create_token(session=session, agent="bench-agent", scopes=ALL_SCOPES, now=now,
                                  actor="system:bench")
            token = issued.plaintext
    finally:
        database.dispose()
    return settings, token, reviewers, "bench-lead"


def start_server(database_url: str, *, threads: int = 256, workers: int = 2,
                 extra_env: dict[str, str] | None = None, log_path: Path | None = None,
                 cwd: Path | None = None) -> tuple[str, subprocess.Popen]:
    """The server, its stderr written to `log_path` (default: discarded after a start-up failure).

    Never a pipe nobody reads: a server logging tracebacks under load filled its 64 KB and then
    blocked in the middle of a request, which looked like waiters lost by the product.
    """
    port = _free_port()
    env = child_env({
        "REVIEWQ_DATABASE_URL": database_url,
        "REVIEWQ_SERVER_MODE": "production",
        "REVIEWQ_SERVER_SECRET_KEY": secrets.token_urlsafe(32),
        # Plain http on loopback: the explicit opt-out of production's Secure cookies.
        "REVIEWQ_SERVER_SECURE_COOKIES": "false",
        "REVIEWQ_SERVER_HOST": "127.0.0.1",
        "REVIEWQ_SERVER_PORT": str(port),
        "REVIEWQ_SERVER_THREADS": str(threads),
        "REVIEWQ_SERVER_WORKERS": str(workers),
        # The benchmark's own load must not be throttled.
        "REVIEWQ_API_RATE_LIMIT_PER_MINUTE": "10000000",
        # The crowd phase's long-polls outlast the phase.
        "REVIEWQ_APPROVALS_MAX_WAIT_S": "300",
        # Every output the bench sends is queued, so the review phase has work.
        "REVIEWQ_SAMPLING_DEFAULT_RATE": "1.0",
        "REVIEWQ_SAMPLING_RATES": "{}",
        **(extra_env or {}),
    })
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="reviewq-bench-log-")) / "server.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "reviewq", "serve"], env=env, cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("reviewq serve exited: " + log_path.read_text(errors="replace")[-2000:])
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return url, proc
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    raise TimeoutError("reviewq serve did not start within 60 s")


def start_scheduler(database_url: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """`reviewq scheduler`, which runs the outbox and expiry jobs when the server is on PostgreSQL."""
    env = child_env({"REVIEWQ_DATABASE_URL": database_url, "REVIEWQ_SERVER_MODE": "test", **(extra_env or {})})
    return subprocess.Popen([sys.executable, "-m", "reviewq", "scheduler"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def launch(postgres_url: str | None, extra_env: dict[str, str] | None = None) -> BenchTarget:
    cleanup: list = []
    database_url = fresh_database_url(postgres_url, cleanup)
    settings, token, reviewers, lead = prepare(database_url)
    workers = 1 if is_sqlite(database_url) else 2
    if not is_sqlite(database_url):
        scheduler = start_scheduler(database_url, extra_env)

        def stop_scheduler():
            scheduler.terminate()
            try:
                scheduler.wait(timeout=20)
            except subprocess.TimeoutExpired:
                scheduler.kill()

        cleanup.append(stop_scheduler)
    log_dir = tempfile.TemporaryDirectory(prefix="reviewq-bench-log-")
    cleanup.append(log_dir.cleanup)
    server_log = Path(log_dir.name) / "server.log"
    url, proc = start_server(database_url, workers=workers, threads=256 if workers == 1 else 128,
                             extra_env=extra_env, log_path=server_log)
    return BenchTarget(url=url, settings=settings, database_url=database_url, token=token,
                       reviewer_names=reviewers, lead_name=lead, proc=proc, cleanup=cleanup, server_log=server_log)


def logged_errors(path: Path | None) -> list[str]:
    """For each traceback in a server log, its exception line (the traceback's last line)."""
    if path is None or not path.exists():
        return []
    found, in_traceback = [], False
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Traceback (most recent call last)"):
            in_traceback = True
        elif in_traceback and line and not line.startswith((" ", "\t")) and not line.startswith("The above"):
            found.append(line[:300])
            in_traceback = False
    return found


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of the server process and its workers, in MB."""
    total_kb = 0
    for p in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total_kb / 1024


def children(pid: int) -> list[int]:
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(c) for c in text)
    except FileNotFoundError:
        return []
    return found + [g for c in found for g in children(c)]


def backend_label(database_url: str) -> str:
    return "SQLite" if is_sqlite(database_url) else f"PostgreSQL ({make_url(database_url).host})"
