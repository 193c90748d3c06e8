"""Rendering library templates into item payloads with a seeded Faker.

Placeholder syntax (documented in canaries/README.md):
- `{name}` is an entry variable from `[entry.vars]`, else a Faker method called with no args;
- `{method:arg1:arg2}` calls a Faker method with args (integers and decimals are converted);
- `{choice:a:b:c}` picks one of the listed words;
- a string that is exactly one placeholder keeps the value's type (an int stays an int), so
  JSON outputs can carry real numbers; anything else is interpolated as text;
- `{{` and `}}` are literal braces.

Variables are resolved once per rendering, in declaration order, so the same value can appear in
the input and in the output (and a later variable may use an earlier one, e.g. "{first} {last}").
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from faker import Faker

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)((?::[^{}:]*)*)\}")
WHOLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)((?::[^{}:]*)*)\}$")
# Faker methods a template may call: data generators only, never seeding or state (make_faker
# shares one instance per thread).
FORBIDDEN = {"seed", "seed_instance", "seed_locale", "add_provider", "get_providers", "format", "parse",
             "set_formatter", "set_arguments", "del_arguments"}


class TemplateError(Exception):
    """A placeholder that does not resolve; the message names it."""


def _convert(arg: str) -> Any:
    if re.fullmatch(r"-?\d+", arg):
        return int(arg)
    if re.fullmatch(r"-?\d+\.\d+", arg):
        return float(arg)
    return arg


def _plain(value: Any) -> Any:
    """JSON-friendly: dates as ISO strings, decimals as floats."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def call_faker(faker: Faker, name: str, args: str) -> Any:
    if name == "choice":  # {choice:UPS:DHL:USPS} picks one of the listed words
        options = args.split(":")[1:]
        if not options:
            raise TemplateError("placeholder {choice} needs options, e.g. {choice:a:b}")
        return _convert(faker.random.choice(options))
    if name.startswith("_") or name in FORBIDDEN:
        raise TemplateError(f"placeholder {{{name}}} is not allowed")
    try:
        method = getattr(faker, name)
    except AttributeError:
        raise TemplateError(f"placeholder {{{name}}} is neither a variable nor a Faker method") from None
    if not callable(method):
        raise TemplateError(f"placeholder {{{name}}} is not a Faker method")
    parts = [_convert(a) for a in args.split(":")[1:]] if args else []
    try:
        return _plain(method(*parts))
    except Exception as exc:  # a Faker method with bad arguments
        raise TemplateError(f"placeholder {{{name}{args}}} failed: {exc}") from None


def _unescape(text: str) -> str:
    return text.replace("{{", "{").replace("}}", "}")


def render_string(template: str, variables: Mapping[str, Any], faker: Faker) -> Any:
    whole = WHOLE.match(template)
    if whole:
        name, args = whole.groups()
        if name in variables and not args:
            return variables[name]
        return call_faker(faker, name, args)

    def sub(match: re.Match) -> str:
        name, args = match.groups()
        if name in variables and not args:
            return str(variables[name])
        return str(call_faker(faker, name, args))

    # Protect escaped braces while substituting.
    protected = template.replace("{{", "\x00").replace("}}", "\x01")
    out = PLACEHOLDER.sub(sub, protected)
    if "{" in out or "}" in out:
        raise TemplateError(f"unbalanced or malformed placeholder in {template!r}")
    return _unescape(out.replace("\x00", "{{").replace("\x01", "}}"))


def render_value(value: Any, variables: Mapping[str, Any], faker: Faker) -> Any:
    if isinstance(value, str):
        return render_string(value, variables, faker)
    if isinstance(value, list):
        return [render_value(v, variables, faker) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, variables, faker) for k, v in value.items()}
    return value


def resolve_vars(specs: Mapping[str, Any], faker: Faker) -> dict[str, Any]:
    """Each variable is a template too; earlier variables are visible to later ones."""
    resolved: dict[str, Any] = {}
    for name, spec in specs.items():
        if isinstance(spec, str) and "{" not in spec:
            # Shorthand `order = "pyint:1000:9999"` always names a Faker method, even when a
            # variable of the same name exists (`other = "email"` is a second, different email).
            resolved[name] = render_string("{" + spec + "}", {}, faker)
        else:
            resolved[name] = render_value(spec, resolved, faker)
    return resolved


_per_thread = threading.local()


def make_faker(rng) -> Faker:
    """A Faker seeded from the caller's rng, so renderings are reproducible yet never alike.

    One instance per thread, reseeded on each call: building a Faker costs ~3.5 ms, and a
    planted claim checked every library entry with a new one (275 ms inside the claim's write
    transaction). A reseeded instance renders exactly what a new one with that seed would;
    templates cannot change its state (FORBIDDEN). Use it before the next call in the thread.
    """
    faker = getattr(_per_thread, "faker", None)
    if faker is None:
        faker = _per_thread.faker = Faker()
    faker.seed_instance(rng.getrandbits(64))
    return faker
