"""The digest that binds an approval to one exact tool call (standard library only).

`tool_call_digest(name, args)` is the SHA-256 (hex) of the canonical JSON of
`{"args": args, "name": name}`: keys sorted, no whitespace, UTF-8, and a whole-valued float
written as an integer (42.0 is 42, as RFC 8785 and JavaScript write it), so agents in any
language compute the same digest for the same call. The server stores it with the approval,
and an agent refuses to run a call whose digest differs from the approved one.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

DIGEST_LENGTH = 64
_EXACT_INT = 2**53  # beyond this a JSON number is not an exact integer in every language


def _normalised(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("tool call arguments must not contain NaN or Infinity")
        return int(value) if value.is_integer() and abs(value) < _EXACT_INT else value
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"tool call argument keys must be strings, not {type(key).__name__}")
        return {key: _normalised(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(child) for child in value]
    raise ValueError(f"tool call arguments must be JSON values, not {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no spaces, UTF-8 text, integral floats as integers."""
    return json.dumps(_normalised(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def tool_call_digest(name: str, args: dict[str, Any] | None) -> str:
    """SHA-256 hex of the canonical `{"args", "name"}` object of one tool call."""
    if not isinstance(name, str) or not name:
        raise ValueError("a tool call needs a name")
    return hashlib.sha256(canonical_json({"name": name, "args": args or {}}).encode("utf-8")).hexdigest()
