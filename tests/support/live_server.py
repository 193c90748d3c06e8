"""Real HTTP servers on 127.0.0.1: the app in a thread, or `reviewq serve` in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import requests
from werkzeug.serving import make_server

# How often a test's in-thread HTTP server checks for shutdown(): socketserver's default of 0.5 s made
# every stop wait up to half a second (a live server or webhook receiver: about 100 tests).
SHUTDOWN_POLL_S = 0.05


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    _stop: object = field(repr=False)

    def stop(self) -> None:
        self._stop()


def serve_app_in_thread(app) -> LiveServer:
    """A threaded werkzeug server on a free loopback port, serving `app` until stopped."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S}, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()

    return LiveServer(url=f"http://127.0.0.1:{server.server_port}", _stop=stop)


def wait_healthy(url: str, *, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded by the deadline
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not become healthy in {timeout}s")


def serve_in_subprocess(env: dict[str, str], *, args: tuple[str, ...] = ()) -> tuple[LiveServer, subprocess.Popen]:
    """`reviewq serve` in a child process, configured only through REVIEWQ_* variables."""
    port = free_port()
    child_env = {**os.environ, **env, "REVIEWQ_SERVER_HOST": "127.0.0.1", "REVIEWQ_SERVER_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reviewq", "serve", *args],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc)
    except Exception:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(f"reviewq serve failed to start: {err.decode(errors='replace')[-2000:]}") from None

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    return LiveServer(url=url, _stop=stop), proc
