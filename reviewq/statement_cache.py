"""SQLAlchemy's cache of compiled statements, found by the statement's own key object first.

SQLAlchemy looks a statement up by its cache key: a nested tuple of the whole statement's
structure (1,058 leaves for a claim's rate query). Python does not keep a tuple's hash, so every
execution hashed the whole tree again: `LRUCache.get` was 5.8 % of a py-spy profile of the review
loop (next + decide), its largest single entry. Counted in instructions (callgrind, 200 decisions
through the Flask test client), this cache saves 2.7 % of a decision; the profile's larger share
is time, and the tree walk misses the CPU's caches.

The statements on the hot paths are built once, at import, and SQLAlchemy keeps each one's key
on the statement: the same tuple object every time. So this cache first looks for that object
by identity, and confirms the whole key with `==`, which is cheap when its parts are the very
same objects. Anything else (a statement built for one call, a key of another shape) takes
SQLAlchemy's own cache as before. It is given to each engine through the public
`compiled_cache` execution option.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy.util import LRUCache

# Compiled statements kept, as SQLAlchemy's default (`query_cache_size`).
CAPACITY = 500
# Keys seen once, by id: a key is indexed by identity from its second lookup on, so statements
# built for a single call never enter the index.
SEEN_ONCE_MAX = 4096


class StatementCache:
    """A mapping SQLAlchemy reads with `get` and fills with `[key] = compiled`."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._by_key: LRUCache = LRUCache(capacity)
        # id(inner key) -> (full key, compiled). The stored key holds the inner key alive, so its
        # id cannot be reused by another object while the entry exists.
        self._by_identity: OrderedDict[int, tuple[tuple, Any]] = OrderedDict()
        self._capacity = capacity
        self._seen_once: set[int] = set()

    def get(self, key, default=None):
        inner = _inner(key)
        if inner is not None:
            hit = self._by_identity.get(id(inner))
            if hit is not None and hit[0] == key:
                return hit[1]
        compiled = self._by_key.get(key)
        if compiled is None:
            return default
        if inner is not None:
            self._index(inner, key, compiled)
        return compiled

    def __setitem__(self, key, compiled) -> None:
        self._by_key[key] = compiled

    def __len__(self) -> int:
        return len(self._by_key)

    def clear(self) -> None:
        self._by_key.clear()
        self._by_identity.clear()
        self._seen_once.clear()

    def _index(self, inner: tuple, key: tuple, compiled) -> None:
        ident = id(inner)
        if ident not in self._seen_once:
            if len(self._seen_once) >= SEEN_ONCE_MAX:
                self._seen_once.clear()
            self._seen_once.add(ident)
            return
        self._by_identity[ident] = (key, compiled)
        if len(self._by_identity) > self._capacity:
            self._by_identity.popitem(last=False)


def _inner(key) -> tuple | None:
    """The statement's own key inside SQLAlchemy's (dialect, statement key, ...) tuple."""
    if type(key) is tuple and len(key) > 1 and type(key[1]) is tuple:
        return key[1]
    return None
