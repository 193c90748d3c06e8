"""`reviewq mcp` driven by the official MCP SDK client over stdio and streamable HTTP, against a live
reviewq whose reviewer decides in the real web queue over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

import anyio
import httpx2
import pytest
import requests
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from sqlmodel import select

from reviewq.domain.approvals import expire_due
from reviewq.models import Item, ItemKind, Role, utcnow
from tests.support.api import add_reviewer, issue_token
from tests.support.in_thread import in_thread
from tests.support.live_server import free_port
from tests.support.web_reviewer import WebReviewer

TOOL_CALL = {"name": "issue_refund", "args": {"order_id": "A-1001", "amount_usd": 42}}
BASE_ENV = {"REVIEWQ_SERVER_MODE": "test", "PYTHONUNBUFFERED": "1"}


def data(result) -> dict:
    """The JSON object a tool answered (its structured content and its text agree)."""
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def stdio_params(url: str, token: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "reviewq", "mcp", "--url", url],
                                 env={**BASE_ENV, "REVIEWQ_MCP_TOKEN": token, **env})


async def approve_flow(session: ClientSession, reviewer: WebReviewer) -> str:
    """Ask, let the reviewer approve in the web queue, read the status, spend it once; returns the id."""
    tools = {tool.name for tool in (await session.list_tools()).tools}
    assert {"request_approval", "get_approval_status", "consume_approval", "submit_output"} <= tools
    asked = data(await session.call_tool("request_approval", {"intent": "refund", "tool_call": TOOL_CALL,
                                                              "actor": "jane@example.com"}))
    assert asked["status"] == "pending" and asked["may_proceed"] is False and len(asked["tool_digest"]) == 64
    item = await anyio.to_thread.run_sync(reviewer.next_item)
    assert item["id"] == asked["approval_id"] and item["payload"]["tool_call"] == TOOL_CALL
    await anyio.to_thread.run_sync(lambda: reviewer.decide(item, "approve"))
    status = data(await session.call_tool("get_approval_status", {"approval_id": asked["approval_id"],
                                                                  "wait_s": 10}))
    assert status["status"] == "approved" and status["may_proceed"] is True
    assert status["untrusted"]["decided_by"] == "rita"
    other = {"name": "issue_refund", "args": {"order_id": "A-1001", "amount_usd": 4200}}
    mismatch = await session.call_tool("consume_approval", {"approval_id": asked["approval_id"], "tool_call": other})
    assert mismatch.is_error and data(mismatch)["may_proceed"] is False
    spent = await session.call_tool("consume_approval", {"approval_id": asked["approval_id"], "tool_call": TOOL_CALL})
    assert not spent.is_error and data(spent)["may_proceed"] is True
    again = await session.call_tool("consume_approval", {"approval_id": asked["approval_id"], "tool_call": TOOL_CALL})
    assert again.is_error and data(again)["code"] == "already_consumed"
    after = data(await session.call_tool("get_approval_status", {"approval_id": asked["approval_id"]}))
    assert after["may_proceed"] is False and after["consumed_at"] is not None
    return asked["approval_id"]


@pytest.fixture
def reviewer(live_server, database):
    add_reviewer(database, "rita", now=utcnow(), role=Role.REVIEWER)
    return WebReviewer(live_server.url, "rita")


def approval_items(database) -> list[Item]:
    with database.session() as s:
        return list(s.exec(select(Item).where(Item.kind == ItemKind.APPROVAL)).all())


def test_stdio_approval_decided_in_the_web_queue(live_server, database, reviewer, now):
    """Over stdio: an approval is requested, approved in the web queue, read, consumed once; a retry of the
    same request makes no second approval."""
    token = issue_token(database, now=now).plaintext

    async def main():
        async with stdio_client(stdio_params(live_server.url, token)) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            approval_id = await approve_flow(session, reviewer)
            retried = data(await session.call_tool("request_approval", {
                "intent": "refund", "tool_call": TOOL_CALL, "actor": "jane@example.com"}))
            assert retried["approval_id"] == approval_id
            keyed = [data(await session.call_tool("request_approval", {
                "intent": "refund", "tool_call": TOOL_CALL, "idempotency_key": "k-7", "trace_id": "t-7"}))
                for _ in range(2)]
            assert keyed[0]["approval_id"] == keyed[1]["approval_id"] != approval_id
            sent = data(await session.call_tool("submit_output", {
                "trace_id": "o-1", "category": "billing", "input": "balance?", "output": "$12.40"}))
            assert sent["queued"] is True and sent["duplicate"] is False

    in_thread(anyio.run, main)  # not in the main thread: see tests/support/in_thread.py
    assert len(approval_items(database)) == 2


def test_stdio_timeout_denies_and_waits_are_bounded(live_server, database, settings, now):
    """Undecided past its timeout an approval expires denied (may_proceed false); a wait longer than
    [mcp] max_status_wait_s returns pending after the bound instead of hanging."""
    token = issue_token(database, now=now).plaintext
    params = stdio_params(live_server.url, token, REVIEWQ_MCP_MAX_STATUS_WAIT_S="1")

    async def main():
        async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            asked = data(await session.call_tool("request_approval", {
                "intent": "wire", "tool_call": TOOL_CALL, "timeout_s": 4}))
            started = time.monotonic()
            waited = data(await session.call_tool("get_approval_status", {"approval_id": asked["approval_id"],
                                                                          "wait_s": 120}))
            assert time.monotonic() - started < 20
            assert waited["status"] == "pending" and waited["may_proceed"] is False
            await anyio.sleep(max(0.0, 4.3 - (time.monotonic() - started)))  # past the deadline
            with database.session_scope() as s:  # the scheduler's expiry job (or the long-poll did it)
                expire_due(session=s, now=utcnow(), settings=settings)
            expired = data(await session.call_tool("get_approval_status", {"approval_id": asked["approval_id"]}))
            assert expired["status"] == "expired" and expired["outcome"] == "deny"
            assert expired["may_proceed"] is False
            refused = await session.call_tool("consume_approval", {"approval_id": asked["approval_id"],
                                                                   "tool_call": TOOL_CALL})
            assert refused.is_error and data(refused)["code"] == "not_approved"

    in_thread(anyio.run, main)  # not in the main thread: see tests/support/in_thread.py


def test_stdio_refuses_to_start_without_a_token():
    """`reviewq mcp` over stdio without an agent token exits with one clear line, not a traceback."""
    env = {**os.environ, **BASE_ENV}
    env.pop("REVIEWQ_MCP_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "reviewq", "mcp", "--url", "http://127.0.0.1:9"],
                          env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and "no agent token" in done.stderr and "Traceback" not in done.stderr


@contextlib.contextmanager
def mcp_http_server(reviewq_url: str):
    """`reviewq mcp --transport http` in its own process on a free loopback port; yields its /mcp URL."""
    port = free_port()
    env = {**os.environ, **BASE_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "reviewq", "mcp", "--transport", "http", "--port", str(port),
                             "--url", reviewq_url], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bounded: until the port answers
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def mcp_http(live_server):
    with mcp_http_server(live_server.url) as url:
        yield url


def test_streamable_http_refuses_everyone_while_reviewq_is_unreachable():
    """With reviewq down the HTTP gate answers 503 to a bearer request: no token is taken on trust."""
    with mcp_http_server(f"http://127.0.0.1:{free_port()}") as url:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        r = requests.post(url, json=init, timeout=30, headers={"Authorization": "Bearer rq_whatever"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "reviewq_unreachable"


def test_streamable_http_needs_a_token_and_runs_the_same_flow(mcp_http, database, reviewer, now):
    """Over streamable HTTP a request without a valid agent token is a 401; with one, the approval flow
    works through the SDK's own client and acts as that token's agent."""
    token = issue_token(database, agent="ops-agent", now=now).plaintext
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    assert requests.post(mcp_http, json=init, timeout=10).status_code == 401
    bad = requests.post(mcp_http, json=init, timeout=10, headers={"Authorization": "Bearer rq_nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"

    async def main():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http, \
                streamable_http_client(mcp_http, http_client=http) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            await approve_flow(session, reviewer)

    in_thread(anyio.run, main)  # not in the main thread: see tests/support/in_thread.py
    [item] = approval_items(database)
    assert item.agent == "ops-agent"
