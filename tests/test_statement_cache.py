"""SQLAlchemy's compiled statements found by their key object first (reviewq.statement_cache).

A statement built once is found by the identity of its key from its second lookup on; one built
for each call, or a key of another shape, is found as SQLAlchemy finds it. Whichever way, a lookup
returns only what was stored under an equal key.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from reviewq import statement_cache
from reviewq.domain.canary_rate import _CLAIM_STATE
from reviewq.models import Item
from reviewq.statement_cache import StatementCache


def test_a_key_object_seen_twice_is_then_found_by_identity():
    cache, dialect = StatementCache(), object()
    inner = ("select", ("items", "id"), ("where", 1))
    cache[(dialect, inner, (), False, False)] = "compiled"
    assert cache.get((dialect, inner, (), False, False)) == "compiled"  # first sight: by the whole key
    assert cache._by_identity == {}
    assert cache.get((dialect, inner, (), False, False)) == "compiled"  # second: now indexed
    assert id(inner) in cache._by_identity
    assert cache.get((dialect, inner, (), False, False)) == "compiled"


def test_an_identity_hit_still_needs_the_whole_key_to_match():
    cache, dialect, other_dialect = StatementCache(), object(), object()
    inner = ("select", ("items", "id"))
    for _ in range(3):
        cache[(dialect, inner, (), False, False)] = "for dialect"
        cache.get((dialect, inner, (), False, False))
    assert id(inner) in cache._by_identity
    # Same statement, other dialect, other column keys, executemany: never the indexed entry.
    assert cache.get((other_dialect, inner, (), False, False)) is None
    assert cache.get((dialect, inner, ("x",), False, False)) is None
    assert cache.get((dialect, inner, (), False, True), "missing") == "missing"


def test_equal_keys_built_afresh_are_found_without_entering_the_index():
    cache, dialect = StatementCache(), object()
    cache[(dialect, ("select", ("items",)), (), False, False)] = "compiled"
    for _ in range(3):
        assert cache.get((dialect, ("select", ("items",)), (), False, False)) == "compiled"
    assert len(cache._by_identity) <= 1  # a fresh tuple each call: at most a reused id, never a pile


def test_keys_of_another_shape_take_sqlalchemys_own_lookup():
    cache = StatementCache()
    cache["plain"] = 1
    cache[("a",)] = 2
    assert cache.get("plain") == 1 and cache.get(("a",)) == 2 and cache.get("nothing") is None
    assert cache._by_identity == {}


def test_the_index_and_the_once_seen_ids_stay_bounded(monkeypatch):
    monkeypatch.setattr(statement_cache, "SEEN_ONCE_MAX", 8)
    cache, dialect = StatementCache(capacity=4), object()
    inners = [("stmt", i) for i in range(20)]
    for inner in inners:
        cache[(dialect, inner, (), False, False)] = inner
        for _ in range(2):
            assert cache.get((dialect, inner, (), False, False)) == inner
    assert len(cache._by_identity) <= 4 and len(cache._seen_once) <= 8
    assert cache.get((dialect, inners[-1], (), False, False)) == inners[-1]


def test_engines_use_it_and_prebuilt_statements_are_found_by_identity(database):
    cache = database.engine.get_execution_options()["compiled_cache"]
    assert isinstance(cache, StatementCache)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    params = {"reviewer_id": 1, "week_start": now, "now": now}
    with database.session() as session:
        rows = [session.connection().execute(_CLAIM_STATE.statement, params).one() for _ in range(3)]
        assert rows[0] == rows[1] == rows[2] and rows[0].canaries == 0
        inner = _CLAIM_STATE.statement._generate_cache_key().key
        assert id(inner) in cache._by_identity
        # Statements built per call still run, and give the right answers.
        for n in (1, 2):
            assert session.execute(sa.select(sa.literal(n) + 1)).scalar_one() == n + 1
        assert session.execute(sa.select(sa.func.count(Item.id))).scalar_one() == 0
