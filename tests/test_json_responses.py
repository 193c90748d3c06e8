"""jsonify's answers, written by orjson, mean what Flask's own provider writes."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider

from reviewq.web.json_responses import OrjsonProvider, json_bytes


@dataclasses.dataclass
class Point:
    x: int
    label: str


def _deep(levels: int):
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


VALUES = [
    {"b": 1, "a": [1.5, None, True, "é<script>alert(1)</script>"], "c": {"z": 1, "y": {"x": "\u2028"}}},
    {"when": datetime(2026, 11, 30, 2, 7, tzinfo=UTC), "day": date(2026, 11, 30)},
    {"amount": Decimal("12.50"), "id": uuid.UUID(int=7), "point": Point(1, "p")},
    {"big": 2**70, "small": -(2**63)},
    {2: "int keys", 1: "sorted as numbers by Flask"},
    _deep(300),
    [1e-05, 1.5e20, 0.1, -0.0, 12345678901234567890.0],
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_an_answer_means_what_flasks_own_provider_writes(value):
    app = Flask(__name__)
    flask_own = DefaultJSONProvider(app)
    app.json = OrjsonProvider(app)
    with app.test_request_context():
        ours = jsonify(value)
        theirs = flask_own.response(value)
    assert ours.mimetype == "application/json" and ours.get_data().endswith(b"\n")
    assert json.loads(ours.get_data()) == json.loads(theirs.get_data())
    assert json.loads(json_bytes(value)) == json.loads(theirs.get_data())


def test_keys_are_sorted_and_compact_as_jsonify_writes_them():
    assert json_bytes({"b": 1, "a": {"d": 2, "c": [1, 2]}}) == b'{"a":{"c":[1,2],"d":2},"b":1}\n'


def test_what_flask_cannot_write_is_still_an_error():
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    with app.test_request_context(), pytest.raises(TypeError):
        jsonify({"a set": {1, 2}})


def test_debug_answers_stay_indented():
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.debug = True
    with app.test_request_context():
        assert b'\n  "a": 1' in jsonify({"a": 1}).get_data()


def test_what_json_cannot_say_is_null_and_text_is_utf8():
    """NaN and infinities are not JSON (Flask wrote `NaN`, which a browser's JSON.parse refuses):
    they become null. Non-ASCII text is written as UTF-8, not escaped."""
    assert json_bytes({"rate": float("nan"), "upper": float("inf")}) == b'{"rate":null,"upper":null}\n'
    assert json_bytes({"note": "café"}) == '{"note":"café"}\n'.encode()
