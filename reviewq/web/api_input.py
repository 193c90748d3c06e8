"""Reading agent request bodies: JSON only, every problem a 400 or a 422 naming the field."""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any, TypeVar

import orjson
from flask import current_app, request
from pydantic import BaseModel, TypeAdapter, ValidationError

from reviewq.web.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple, prefix: str = "") -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _bad_value(value: Any) -> tuple[str, str] | None:
    """(path, problem) of the first value the databases cannot store or a browser cannot parse.

    Strings with NUL or lone surrogates fail on PostgreSQL; Infinity and NaN (`1e400` parses to
    infinity) are not JSON at all, so an item holding one could never be shown to a reviewer.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node or not node.isascii() and _has_surrogate(node):
                return path or "body", "strings may not contain NUL or unpaired surrogates"
        elif isinstance(node, float):
            if not math.isfinite(node):
                return path or "body", "numbers must be finite (no Infinity, NaN or values beyond 1e308)"
        elif isinstance(node, dict):
            for key, child in node.items():
                if "\x00" in key or _has_surrogate(key):
                    return field_path((key,), path), "keys may not contain NUL or unpaired surrogates"
                stack.append((field_path((key,), path), child))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(node))
    return None


# A string _bad_value refuses can only come from a \u0000 or surrogate escape in the raw body
# (raw control characters are invalid JSON), or from a surrogate encoded as UTF-8 bytes, which
# json.loads decodes with "surrogatepass". Non-finite numbers are seen as they are parsed
# (parse_json). Without either, the walk over every value of a batch is skipped: it was a third
# of the server's time on a batch of 100 outputs. A match (even a false one) only means the walk runs.
_MAY_HOLD_BAD_STRING = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]")


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


# Every digit as "0", anything else as a space: 19 digits in a row are then one substring search
# (a regular expression over a batch's body cost more than parsing it).
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))


# Deeper bodies are refused (400): orjson reads 1,024 levels, json about 990 and json.dumps
# (which stores what orjson cannot write, past 254) fewer still from deep in a request's stack,
# so a limit of their own is the one thing every part can honour. No agent output comes close.
MAX_JSON_DEPTH = 256


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether any list or object sits more than `limit` levels deep (the outermost is level 1)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _shallow(value: Any) -> bool:
    """True if orjson can write `value`, which it refuses past 254 levels (under MAX_JSON_DEPTH):
    a tenth of the walk's time on a batch of 100 outputs. False says nothing (the walk decides)."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


def _not_for_orjson(raw: bytes) -> bool:
    """Whether orjson might read `raw` other than json does: a \u0000 escape (a NUL, which orjson
    accepts and _bad_value refuses), 19 digits in a row (orjson reads an integer past 64 bits
    as a float; json keeps it exact). It refuses every other thing _bad_value looks for."""
    return b"\\u0000" in raw or b"0" * 19 in raw.translate(_DIGITS_AS_ZERO)


def parse_json(raw: bytes) -> Any:
    """A JSON document from `raw`: 400 if it is not JSON, 422 naming the field that cannot be stored."""
    if not raw.strip():
        raise ApiError(400, "bad_json", "the body is empty; send a JSON object", field="body")
    # orjson first (half json's time on a batch of 100 outputs, and no walk). It refuses NaN,
    # Infinity, numbers beyond 1e308, lone surrogates (escaped or as bytes) and non-UTF-8 bodies.
    # Whatever it refuses or might read differently goes to json, which decides as before and
    # words the error.
    value: Any = _UNREAD
    if not _not_for_orjson(raw):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    if value is _UNREAD:
        value = _parse_with_json(raw)
    # As deep as that takes as many opening brackets, so a shorter body cannot be; orjson writing
    # the value next (cheaper than counting a batch's brackets); the walk rarely.
    if len(raw) > MAX_JSON_DEPTH and not _shallow(value) \
            and _deeper_than(value, MAX_JSON_DEPTH):
        raise ApiError(400, "bad_json", f"the body is nested deeper than {MAX_JSON_DEPTH} levels", field="body")
    return value


_UNREAD = object()


def _parse_with_json(raw: bytes) -> Any:
    nonfinite: list[str] = []

    def number(text: str) -> float:  # every number with a fraction or an exponent
        value = float(text)
        if not math.isfinite(value):  # `1e400` parses to infinity
            nonfinite.append(text)
        return value

    def constant(text: str) -> float:  # NaN, Infinity, -Infinity
        nonfinite.append(text)
        return float(text)

    try:
        # NaN and Infinity parse here so that the check below can name their field.
        value = json.loads(raw, parse_float=number, parse_constant=constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {str(exc)[:200]}", field="body") from None
    suspect = nonfinite or _MAY_HOLD_BAD_STRING.search(raw) or json.detect_encoding(raw) != "utf-8"
    bad = _bad_value(value) if suspect else None
    if bad is not None:
        field, problem = bad
        if field == "body":
            raise ApiError(400, "bad_json", f"the body is not a JSON object: {problem}", field="body")
        raise ApiError(422, "invalid_field", f"{field}: {problem}", field=field)
    return value


def json_body() -> Any:
    """The parsed body; 413 over [api] max_body_bytes, 400 if not JSON."""
    return parse_json(_read_body())


def _read_body() -> bytes:
    """The raw body, never more than [api] max_body_bytes.

    With a Content-Length werkzeug refuses an oversized body up front (413). A chunked body has
    none: werkzeug would hand back the first `limit` bytes as if that were all, so a too-large
    body looked like broken JSON (400). It is read here until it ends or passes the limit.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is not None or limit is None or not request.environ.get("wsgi.input_terminated"):
        return request.get_data(cache=False)
    stream, chunks, size = request.environ["wsgi.input"], [], 0
    while chunk := stream.read(min(64 * 1024, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "request_entity_too_large",
                           f"the body is over the {limit}-byte limit ([api] max_body_bytes)", field="body")
    return b"".join(chunks)


def json_object() -> dict:
    value = json_body()
    if not isinstance(value, dict):
        raise ApiError(400, "bad_body", "the body must be a JSON object")
    return value


def validate(model: type[M], data: Any, *, prefix: str = "", context: dict[str, Any] | None = None) -> M:
    """`model` from `data` (its validators see `context`), or a 422 naming the first field at fault."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise _invalid(exc, prefix) from None


def validate_each(model: type[M], items: list, *, prefix: str) -> list[M]:
    """`model` from each of `items` in one call, or a 422 naming the first field at fault
    (`prefix[i].field`): a batch of 100 costs one call into pydantic-core, not 100."""
    try:
        return _list_adapter(model).validate_python(items)
    except ValidationError as exc:
        raise _invalid(exc, prefix) from None


@functools.cache
def _list_adapter(model: type[M]) -> TypeAdapter[list[M]]:
    return TypeAdapter(list[model])


def _invalid(exc: ValidationError, prefix: str) -> ApiError:
    first = exc.errors(include_url=False)[0]
    field = field_path(tuple(first["loc"]), prefix) or prefix or None
    message = first["msg"]
    if first["type"] == "missing":
        message = "this field is required"
    elif first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "value_error":  # a model's own rule: its words, without pydantic's prefix
        message = str(first["ctx"]["error"])
    return ApiError(422, "invalid_field", f"{field}: {message}" if field else message, field=field)
