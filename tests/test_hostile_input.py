"""Hostile input never poisons the queue or costs a 500: non-finite numbers, NUL bytes, wrong types."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlmodel import func, select

from reviewq.models import Item, Role
from tests.factories import make_user
from tests.support.api import bearer, issue_token
from tests.support.web import json_headers, login


@pytest.fixture
def token(database, now):
    return issue_token(database, now=now)


def _post_raw(client, path, raw: str, token, **headers):
    return client.post(path, data=raw, headers={**bearer(token), "Content-Type": "application/json", **headers})


def _output(**overrides) -> dict:
    body = {"trace_id": str(uuid.uuid4()), "category": "billing", "input": "balance?", "output": "$12.40"}
    body.update(overrides)
    return body


def _items_stored(database) -> int:
    with database.session_scope(readonly=True) as s:
        return s.exec(select(func.count(Item.id))).one()


def _error(response, status: int, field: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["field"] == field, error
    return error


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_non_finite_output_is_refused_naming_the_field(client, database, token, number):
    """An output of 1e400, NaN or Infinity gets 422 naming `output`, and nothing is queued."""
    raw = json.dumps(_output(output="PLACEHOLDER")).replace('"PLACEHOLDER"', number)
    _error(_post_raw(client, "/api/v1/items", raw, token), 422, "output")
    assert _items_stored(database) == 0


def test_one_non_finite_number_in_a_batch_names_its_place(client, database, token):
    """A batch of 999 with one infinite number deep inside is refused whole, naming that number's path."""
    items = [_output() for _ in range(999)]
    items[500]["metadata"] = {"scores": [0.5, "PLACEHOLDER"]}
    raw = json.dumps({"items": items}).replace('"PLACEHOLDER"', "1e400")
    error = _error(_post_raw(client, "/api/v1/items", raw, token), 422, "items[500].metadata.scores[1]")
    assert "finite" in error["message"]
    assert _items_stored(database) == 0


def test_a_surrogate_sent_as_raw_utf8_bytes_is_refused_like_an_escaped_one(client, database, token):
    """json.loads decodes bytes with "surrogatepass", so a lone surrogate can arrive unescaped, as
    UTF-8 bytes ED A0 80: it is refused naming its field (PostgreSQL cannot store it), like \\ud800."""
    items = [_output() for _ in range(3)]
    items[2]["metadata"] = {"note": "PLACEHOLDER"}
    raw = json.dumps({"items": items}).encode().replace(b"PLACEHOLDER", b"ok \xed\xa0\x80 then")
    error = _error(_post_raw(client, "/api/v1/items", raw, token), 422, "items[2].metadata.note")
    assert "surrogate" in error["message"]
    assert _items_stored(database) == 0


def test_finite_numbers_and_look_alike_text_pass(client, database, token):
    """Exponents, big-looking words and escaped text that only resemble a bad value are stored as sent."""
    body = _output(output={"score": 1.5e300, "tiny": -2e-300, "hex": "e819 E724 0e999", "text": "\\u0000 kept"})
    response = _post_raw(client, "/api/v1/items", json.dumps(body), token)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert _items_stored(database) == 1


@pytest.mark.parametrize(
    ("where", "field"),
    [("constraints", "constraints.max_amount_usd"), ("args", "tool_call.args.amount_usd")],
)
def test_non_finite_numbers_in_an_approval_are_refused(client, database, token, where, field):
    """Approvals' constraints and tool-call args holding 1e400 get 422 naming the field."""
    body = {"trace_id": "t-1", "actor": "a@example.com", "intent": "refund",
            "constraints": {"max_amount_usd": 100}, "tool_call": {"name": "refund", "args": {"amount_usd": 42}}}
    if where == "constraints":
        body["constraints"]["max_amount_usd"] = "PLACEHOLDER"
    else:
        body["tool_call"]["args"]["amount_usd"] = "PLACEHOLDER"
    raw = json.dumps(body).replace('"PLACEHOLDER"', "1e400")
    _error(_post_raw(client, "/api/v1/approvals", raw, token, **{"Idempotency-Key": "k-1"}), 422, field)
    assert _items_stored(database) == 0


@pytest.fixture
def rita(database, now):
    with database.session_scope() as s:
        make_user(s, "rita", Role.REVIEWER, now=now)
        make_user(s, "lena", Role.LEAD, now=now)


def _held_item(client, database, token) -> str:
    assert client.post("/api/v1/items", json=_output(), headers=bearer(token)).status_code == 201
    login(client, "rita")
    r = client.post("/queue/next", headers=json_headers(client))
    assert r.status_code == 200 and r.json["item"]
    return r.json["item"]["id"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"verdict": "reject", "reason": ["off_topic"]}', "reason"),
        ('{"verdict": "reject", "reason": {"off_topic": 1}}', "reason"),
        ('{"verdict": "approve", "active_ms": 1e400}', "active_ms"),
        ('{"verdict": "approve", "active_ms": NaN}', "active_ms"),
        ('{"verdict": "approve", "note": ["x"]}', "note"),
    ],
)
def test_malformed_decisions_get_422_and_the_item_stays_held(client, database, token, rita, raw, field):
    """A reason given as a list, or a non-finite active time, is a 422 naming the field, and nothing is decided."""
    public_id = _held_item(client, database, token)
    r = client.post(f"/queue/items/{public_id}/decide", data=raw,
                    headers={**json_headers(client), "Content-Type": "application/json"})
    _error(r, 422, field)
    with database.session_scope(readonly=True) as s:
        assert s.exec(select(Item).where(Item.public_id == public_id)).one().status == "leased"


@pytest.mark.parametrize("action", ["decide", "heartbeat", "skip"])
def test_nul_in_a_queue_item_path_is_a_json_404(client, database, token, rita, action):
    """A NUL byte in the item id of any /queue/items/… path is a 404 JSON error, never a 500."""
    login(client, "rita")
    r = client.post(f"/queue/items/itm_%00x/{action}", json={"verdict": "approve"}, headers=json_headers(client))
    assert r.status_code == 404 and r.is_json and r.json["error"]["field"] == "path"


@pytest.mark.parametrize("path", ["/api/v1/items/itm_%00x", "/api/v1/approvals/itm_%00x",
                                  "/api/v1/approvals/itm_%00x?wait=1"])
def test_nul_in_an_api_path_is_a_json_404(client, token, path):
    """A NUL byte in an id of an /api/v1 path is a 404 JSON error, never a 500."""
    r = client.get(path, headers=bearer(token))
    assert r.status_code == 404 and r.is_json
    r = client.post("/api/v1/approvals/itm_%00x/cancel", headers=bearer(token))
    assert r.status_code == 404 and r.is_json


def test_nul_in_a_login_name_is_refused_not_a_500(client, rita):
    """A login name holding a NUL byte gets the login page's 400, never a 500."""
    from tests.support.web import csrf_token

    r = client.post("/login", data={"name": "ri\x00ta", "password": "x", "csrf_token": csrf_token(client)})
    assert r.status_code == 400 and "NUL" in r.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/dashboard?team=%00", "/dashboard?category=a%00b", "/dashboard?from=%00",
                                  "/admin/webhooks?status=%00", "/admin/injections?reviewer=%00",
                                  "/dashboard?format=json&team=%00"])
def test_nul_in_a_dashboard_or_admin_filter_is_a_4xx(client, rita, path):
    """A NUL byte in a dashboard or admin filter gets a 400 (page or JSON), never a 500."""
    login(client, "lena")
    r = client.get(path)
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
