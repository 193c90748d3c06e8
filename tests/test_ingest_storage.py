"""A batch's outputs are parsed and stored exactly as sent: orjson and the driver-level insert keep meaning."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import select

from reviewq.models import Item, ItemKind, ItemStatus
from reviewq.models.common import json_text, new_public_id, new_public_ids
from reviewq.web.api_input import MAX_JSON_DEPTH, parse_json
from reviewq.web.errors import ApiError
from tests.support.api import bearer, issue_token


def _deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


# Values each reader or writer might get wrong: text beyond ASCII and escapes, exact integers
# past 64 bits (orjson reads them as floats and cannot write them: json does both), floats at
# the edges, nesting near the limit, and keys that are not plain words.
TRICKY = {
    "text": 'café ✓ 😀 "quoted" back\\slash \t tab \u2028 line sep /slash',
    "ints": [0, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, 2**70, -(2**70)],
    "floats": [0.1, -0.0, 1.5e300, -2e-300, 5e-324, 1.7976931348623157e308, 1e-400],
    "flags": [True, False, None],
    "nested": {"a": {"b": {"c": [1, {"d": "e"}]}}},
    "deep": _deep(250),  # 255 levels in a batch's item: just within MAX_JSON_DEPTH
    "keys": {"": "empty", "é": "accent", "with space": 1, "1": "digit"},
    "empty": {"list": [], "dict": {}, "text": ""},
}


@pytest.mark.parametrize("value", [TRICKY, [TRICKY, TRICKY], "text", 12, 2**80, [1.25, -3]])
def test_parse_json_reads_what_json_reads(value):
    """parse_json gives the value json.loads gives, whichever parser takes the body."""
    for raw in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert parse_json(raw.encode()) == json.loads(raw)
        assert parse_json(b"\xef\xbb\xbf" + raw.encode()) == json.loads(raw)  # a BOM, as before


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": 1e400}', b'{"a": "\\u0000"}', b'{"a": "\\ud800"}',
                                 b'{"a": "\xed\xa0\x80"}', b'{"a": 1'])
def test_parse_json_refuses_what_it_refused_before(raw):
    """Non-finite numbers, NUL, lone surrogates and broken JSON are still refused (400 or 422)."""
    with pytest.raises(ApiError) as refused:
        parse_json(raw)
    assert refused.value.status in (400, 422)


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH, 970, 1_000, 1_023, 5_000])
def test_a_body_nested_past_the_limit_is_a_400_naming_the_body(levels):
    """Every reader and writer honours one depth: orjson reads 1,024 levels but json.dumps could
    not store 970 (a 500 before the limit)."""
    raw = b'{"output": ' + b"[" * levels + b"]" * levels + b"}"  # json.dumps itself cannot write 970
    with pytest.raises(ApiError) as refused:
        parse_json(raw)
    assert (refused.value.status, refused.value.field) == (400, "body")


def test_a_body_at_the_depth_limit_is_read():
    assert parse_json(json.dumps(_deep(MAX_JSON_DEPTH - 1)).encode()) == _deep(MAX_JSON_DEPTH - 1)


@pytest.mark.parametrize("depth", range(250, 260))
def test_the_depth_limit_is_exact_across_orjsons_own_limit(depth):
    """orjson writes up to 254 levels, which parse_json takes as proof of a shallow body; past
    that the walk decides. Either way exactly MAX_JSON_DEPTH levels are read, and one more refused."""
    raw = b"[" * depth + b"]" * depth
    if depth <= MAX_JSON_DEPTH:
        assert parse_json(raw) == json.loads(raw)
    else:
        with pytest.raises(ApiError) as refused:
            parse_json(raw)
        assert (refused.value.status, refused.value.field) == (400, "body")


def test_json_text_round_trips():
    """json_text writes what json reads back equal, falling back to json where orjson cannot write."""
    assert json.loads(json_text(TRICKY)) == TRICKY
    assert json.loads(json_text({1: "int key"})) == {"1": "int key"}


def test_batch_public_ids_are_like_single_ones():
    """new_public_ids gives distinct ids of new_public_id's shape (prefix, 16 URL-safe characters)."""
    ids = new_public_ids("itm", 1000)
    assert len(set(ids)) == 1000 and new_public_ids("itm", 0) == []
    shape = re.compile(r"itm_[A-Za-z0-9_-]{16}")
    assert all(shape.fullmatch(i) for i in [*ids, new_public_id("itm")])


# Read and written by orjson alone: no integer past 64 bits, no nesting past its limit.
PLAIN = {k: v for k, v in TRICKY.items() if k not in ("ints", "deep")} | {"ints": [0, -1, 2**53 + 1]}


def test_an_output_nested_past_the_limit_is_refused_not_a_500(client, database, now):
    issued = issue_token(database, now=now)
    for levels in (300, 970):
        raw = f'{{"trace_id": "deep-{levels}", "category": "billing", "input": "q", "output": ' \
            + "[" * levels + "]" * levels + "}"
        response = client.post("/api/v1/items", data=raw,
                               headers={**bearer(issued), "Content-Type": "application/json"})
        assert response.status_code == 400 and response.json["error"]["field"] == "body"


@pytest.mark.parametrize("output", [PLAIN, TRICKY], ids=["orjson", "json-fallback"])
def test_a_batch_reads_back_as_sent(client, database, now, output):
    """Every output of a batch reads back from the database with the payload sent and the row's
    fixed values (kind, status, agent, token, timestamps) as an ORM insert would have stored them."""
    issued = issue_token(database, now=now)
    items = [
        {"trace_id": f"t-{i}", "category": "billing", "input": {"q": TRICKY["text"], "n": i}, "output": output,
         "context": ["ctx", i] if i % 2 else None, "metadata": {"i": i},
         "trace": [{"tool": "lookup", "args": {"id": i}, "result": {"ok": True}}, {"tool": "noop"}]}
        for i in range(5)
    ]
    raw = json.dumps({"items": [{k: v for k, v in item.items() if v is not None} for item in items]})
    response = client.post("/api/v1/items", data=raw,
                           headers={**bearer(issued), "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    ids = [r["id"] for r in response.json["results"]]
    assert all(ids)
    with database.session_scope(readonly=True) as session:
        rows = {row.public_id: row for row in session.exec(select(Item).where(Item.public_id.in_(ids)))}
        for item, public_id in zip(items, ids, strict=True):
            row = rows[public_id]
            expected = {"input": item["input"], "output": output,
                        "trace": [{"tool": "lookup", "args": {"id": item["input"]["n"]}, "result": {"ok": True}},
                                  {"tool": "noop", "args": {}}],
                        "metadata": item["metadata"]}
            if item["context"] is not None:
                expected["context"] = item["context"]
            assert row.payload == expected
            assert (row.trace_id, row.category, row.agent, row.token_id) == (
                item["trace_id"], "billing", "billing-agent", issued.token.id)
            assert (row.kind, row.status, row.priority, row.required_approvals) == (
                ItemKind.OUTPUT, ItemStatus.QUEUED, 0, 1)
            assert row.dedupe_key == f"output:billing-agent:{item['trace_id']}"
            assert row.created_at.tzinfo is not None and row.created_at == row.updated_at
            assert row.deadline is None and row.assigned_to is None and row.decided_at is None
