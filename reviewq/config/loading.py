"""Reading config.toml and the REVIEWQ_<SECTION>_<KEY> environment overrides into `Settings`."""

from __future__ import annotations

import json
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from reviewq.config.settings import PROJECT_ROOT, SECTIONS, ConfigError, Settings, build_section, checked


def default_config_path() -> Path:
    return Path(os.environ.get("REVIEWQ_CONFIG") or PROJECT_ROOT / "config.toml")


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file, apply environment overrides, and validate every key."""
    env = os.environ if env is None else env
    if path is None:
        path = Path(env["REVIEWQ_CONFIG"]) if env.get("REVIEWQ_CONFIG") else default_config_path()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section [{unknown[0]}]")
    sections = {}
    for name, model in SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
        extra = sorted(set(table) - set(model.model_fields))
        if extra:
            raise ConfigError(f"{path}: unknown key {name}.{extra[0]}")
        overrides = _overrides(name, env)
        values = {**table, **{key: value for key, (_, value) in overrides.items()}}
        sections[name] = build_section(name, values, origins={key: var for key, (var, _) in overrides.items()})
    return checked(Settings(**sections, base_dir=path.resolve().parent))


def _overrides(name: str, env: Mapping[str, str]) -> dict[str, tuple[str, object]]:
    """{key: (variable, value)} for every REVIEWQ_<NAME>_<KEY> set in `env`."""
    fields = SECTIONS[name].model_fields
    prefix = f"REVIEWQ_{name.upper()}_"
    found = {}
    for var, text in env.items():
        if not var.startswith(prefix):
            continue
        key = var[len(prefix):].lower()
        if key not in fields:
            raise ConfigError(f"environment variable {var}: unknown key {name}.{key}")
        found[key] = (var, _from_env(fields[key].annotation, text))
    return found


def _from_env(hint, text: str) -> object:
    """The typed value of an environment string: lists comma-separated, tables JSON.

    A string that does not convert is passed on as it is, so that the section names the key and
    the expected type.
    """
    origin = typing.get_origin(hint)
    if origin is dict:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    value: object = [part.strip() for part in text.split(",") if part.strip()] if origin is tuple else text
    try:
        return TypeAdapter(hint).validate_python(value, strict=False)
    except ValidationError:
        return text
