"""Reading agent request bodies: JSON only, every problem a 400 or a 422 naming the field."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from reviewq.web.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


def field_path(loc: tuple, prefix: str = "") -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _bad_string(value: Any) -> str | None:
    """The path of the first string the databases cannot store (NUL, lone surrogates), or None."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node or not node.isascii() and _has_surrogate(node):
                return path or "body"
        elif isinstance(node, dict):
            for key, child in node.items():
                if "\x00" in key or _has_surrogate(key):
                    return field_path((key,), path)
                stack.append((field_path((key,), path), child))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(node))
    return None


# NUL and lone surrogates can only reach a parsed string through these escapes (raw control
# characters are invalid JSON, and undecodable bytes fail the parse): without one, the walk
# over every string of a 100-item batch is skipped.
_MAY_HOLD_BAD_STRING = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def json_body() -> Any:
    """The parsed body; 413 over [api] max_body_bytes (raised by werkzeug), 400 if not JSON."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise ApiError(400, "bad_json", "the body is empty; send a JSON object")
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {str(exc)[:200]}") from None
    bad = _bad_string(value) if _MAY_HOLD_BAD_STRING.search(raw) else None
    if bad is not None:
        raise ApiError(422, "invalid_field", "strings may not contain NUL or unpaired surrogates", field=bad)
    return value


def json_object() -> dict:
    value = json_body()
    if not isinstance(value, dict):
        raise ApiError(400, "bad_body", "the body must be a JSON object")
    return value


def validate(model: type[M], data: Any, *, prefix: str = "") -> M:
    """`model` from `data`, or a 422 naming the first field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = field_path(tuple(first["loc"]), prefix) or prefix or None
        message = first["msg"]
        if first["type"] == "missing":
            message = "this field is required"
        elif first["type"] == "extra_forbidden":
            message = "unknown field"
        raise ApiError(422, "invalid_field", f"{field}: {message}" if field else message, field=field) from None
