"""Keep-alive connections spread evenly over `reviewq serve`'s worker processes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from reviewq.worker_balance import ConnectionBoard
from tests.support.live_server import serve_in_subprocess


def test_board_reports_the_least_loaded_sibling():
    board = ConnectionBoard(slots=4)
    assert board.fewest_besides(0) > 10**6  # nobody else is alive
    board.publish(0, 3)
    board.publish(1, 1)
    board.publish(2, 2)
    assert board.fewest_besides(0) == 1
    assert board.fewest_besides(1) == 2
    board.vacate(1)  # an exited worker's count no longer holds the others back
    assert board.fewest_besides(0) == 2


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is `port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":
            inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def _keep_alive_request(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(b"GET /static/app.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    received = b""
    while b"\r\n\r\n" not in received:  # bounded: the socket times out after 10 s
        chunk = conn.recv(65536)
        assert chunk, "server closed a keep-alive connection"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    return conn


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite serves from one process
def test_keep_alive_connections_are_split_evenly_between_workers(db_url):
    server, proc = serve_in_subprocess({
        "REVIEWQ_DATABASE_URL": db_url, "REVIEWQ_SERVER_MODE": "test", "REVIEWQ_SERVER_WORKERS": "2",
    })
    port = int(server.url.rsplit(":", 1)[1])
    connections = []
    try:
        workers = _children(proc.pid)
        assert len(workers) == 2
        # One after another into an idle server: without balancing, whichever worker reaches
        # the socket first takes each one, and a 6-0 or 5-1 split is as likely as not.
        connections = [_keep_alive_request(port) for _ in range(6)]
        established = _established_inodes(port)
        held = sorted(len(_socket_inodes(pid) & established) for pid in workers)
        assert held == [3, 3]
    finally:
        for conn in connections:
            conn.close()
        server.stop()
