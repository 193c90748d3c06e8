"""`Settings`, the frozen whole, and the one-line ConfigError that names the key at fault."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reviewq.config import sections
from reviewq.notify.settings import check_notify

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


class ConfigError(Exception):
    """A configuration problem, worded as one line that names the key at fault."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    server: sections.ServerSettings = Field(default_factory=sections.ServerSettings)
    database: sections.DatabaseSettings = Field(default_factory=sections.DatabaseSettings)
    queue: sections.QueueSettings = Field(default_factory=sections.QueueSettings)
    sampling: sections.SamplingSettings = Field(default_factory=sections.SamplingSettings)
    approvals: sections.ApprovalSettings = Field(default_factory=sections.ApprovalSettings)
    api: sections.ApiSettings = Field(default_factory=sections.ApiSettings)
    webhooks: sections.WebhookSettings = Field(default_factory=sections.WebhookSettings)
    canaries: sections.CanarySettings = Field(default_factory=sections.CanarySettings)
    vigilance: sections.VigilanceSettings = Field(default_factory=sections.VigilanceSettings)
    security: sections.SecuritySettings = Field(default_factory=sections.SecuritySettings)
    mcp: sections.McpSettings = Field(default_factory=sections.McpSettings)
    notify: sections.NotifySettings = Field(default_factory=sections.NotifySettings)
    overlap: sections.OverlapSettings = Field(default_factory=sections.OverlapSettings)
    reasons: sections.ReasonSettings = Field(default_factory=sections.ReasonSettings)
    # Where relative paths (the canary library) are resolved from: the config file's folder.
    base_dir: Path = PROJECT_ROOT

    @property
    def is_production(self) -> bool:
        return self.server.mode == "production"

    @property
    def canary_library_path(self) -> Path:
        path = Path(self.canaries.library)
        return path if path.is_absolute() else self.base_dir / path

    def replace(self, **changes: dict) -> Settings:
        """A copy with some keys changed, e.g. `replace(database={"url": ...})`."""
        rebuilt = {
            name: build_section(name, {**getattr(self, name).model_dump(), **values})
            for name, values in changes.items()
        }
        return checked(self.model_copy(update=rebuilt))


SECTIONS: dict[str, type[sections.Section]] = {
    name: info.annotation for name, info in Settings.model_fields.items() if name != "base_dir"
}


def checked(settings: Settings) -> Settings:
    """What no single section can judge: the [notify] channel tables (reviewq.notify's to check)."""
    check_notify(settings.notify)
    return settings


def build_section(name: str, values: dict, *, origins: dict[str, str] | None = None) -> sections.Section:
    """Section `name` from `values`; `origins` names the environment variable a key came from."""
    try:
        return SECTIONS[name].model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_one_line(name, exc.errors(include_url=False)[0], values, origins or {})) from None


def _one_line(section: str, error: dict, values: dict, origins: dict[str, str]) -> str:
    loc, kind, ctx = error["loc"], error["type"], error.get("ctx") or {}
    if not loc:  # a model validator: its message starts with the key
        return f"{section}.{ctx.get('error', error['msg'])}"
    field = str(loc[0])
    key = f"{section}.{field}" + (f" (from {origins[field]})" if field in origins else "")
    if kind == "extra_forbidden":
        return f"unknown key {section}.{field}"
    hint = SECTIONS[section].model_fields[field].annotation
    origin = typing.get_origin(hint)
    if kind.endswith("_type") and origin is tuple:  # name the list, not its nth element
        return f"{key} must be {type_name(hint)}, got {values[field]!r}"
    if len(loc) > 1:
        key = f"{key}.{loc[1]}"
        hint = typing.get_args(hint)[1]
    got = f", got {error['input']!r}"
    if kind.endswith("_type"):
        return f"{key} must be {type_name(hint)}{got}"
    if kind == "literal_error":
        return f"{key} must be one of {', '.join(typing.get_args(hint))}{got}"
    if kind == "value_error":
        message = str(ctx["error"])
        return f"{key} {message}" if message.startswith("must") else f"{key}: {message}"
    bounds = {
        "greater_than_equal": f"at least {ctx.get('ge')}",
        "greater_than": "positive" if ctx.get("gt") == 0 else f"greater than {ctx.get('gt')}",
        "less_than_equal": f"at most {ctx.get('le')}",
        "less_than": f"less than {ctx.get('lt')}",
    }
    return f"{key} must be {bounds.get(kind, error['msg'])}{got}"


def type_name(hint) -> str:
    hint = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
    origin = typing.get_origin(hint)
    if origin is tuple:
        return "a list of numbers" if typing.get_args(hint)[0] is float else "a list of strings"
    if origin is dict:
        names = {str: "a table of strings", dict: "a table of tables"}
        return names.get(typing.get_args(hint)[1], "a table of numbers")
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a table"}.get(
        hint, "a value"
    )
