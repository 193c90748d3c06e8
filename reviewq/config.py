"""Typed, frozen settings loaded from config.toml with REVIEWQ_<SECTION>_<KEY> overrides.

Nothing here touches the disk at import time; `load_settings()` reads the file when called.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SECRET_KEY = "change-me"
MODES = ("production", "demo", "test")
REVEAL_MODES = ("immediate", "end_of_session", "never")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A configuration problem, worded as one line that names the key at fault."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str = DEFAULT_SECRET_KEY
    workers: int = 1
    threads: int = 64
    mode: str = "production"
    secure_cookies: bool = True
    proxy_count: int = 0
    max_connections: int = 12000
    header_timeout_s: float = 15.0
    body_timeout_s: float = 30.0
    max_url_bytes: int = 4096


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///reviewq.db"
    sqlite_busy_timeout_ms: int = 5000
    pool_size: int = 10


@dataclass(frozen=True)
class QueueSettings:
    lease_seconds: int = 120
    two_person_rule: bool = True
    sweep_interval_s: int = 30


@dataclass(frozen=True)
class SamplingSettings:
    default_rate: float = 0.1
    high_risk: tuple[str, ...] = ("billing", "access")
    rates: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ApprovalSettings:
    default_timeout_s: int = 3600
    max_timeout_s: int = 86400
    approve_on_timeout_intents: tuple[str, ...] = ()
    max_wait_s: int = 60
    expiry_interval_s: int = 5
    # Seconds after an approve during which the approved call may be consumed (once).
    valid_for_s: int = 900


@dataclass(frozen=True)
class ApiSettings:
    max_body_bytes: int = 1024 * 1024
    rate_limit_per_minute: int = 6000


@dataclass(frozen=True)
class WebhookSettings:
    allowed_hosts: tuple[str, ...] = ()
    max_attempts: int = 8
    timeout_s: int = 10
    outbox_interval_s: int = 2
    concurrency: int = 16
    per_endpoint_concurrency: int = 2


@dataclass(frozen=True)
class CanarySettings:
    library: str = "canaries"
    schedule: str = "0 6 * * mon"
    timezone: str = "UTC"
    per_reviewer_per_week: int = 5
    controls_per_reviewer_per_week: int = 5
    reveal: str = "immediate"
    # Projection (DESIGN.md "Canaries"): the weekly budget's jitter (TIP's ±30%), the highest
    # canary probability one claim may carry, and the window sources are drawn from.
    budget_jitter: float = 0.3
    max_probability: float = 0.1
    source_days: int = 14
    # Keep unsampled outputs (never queued) as projection sources; off when data policy forbids.
    reservoir: bool = True
    reservoir_per_category: int = 200
    # A new reviewer's first session is a drill: canaries at this probability, each revealed at once.
    onboarding_drill: bool = True
    drill_probability: float = 0.15


@dataclass(frozen=True)
class VigilanceSettings:
    idle_seconds: int = 60
    session_gap_minutes: int = 15
    break_nudge_minutes: int = 25
    decay_bin_minutes: int = 10
    min_canaries: int = 10
    cusum_p0: float = 0.10
    cusum_p1: float = 0.30
    cusum_h: float = 4.2
    target_catch_rate: float = 0.8
    below_target_alert: float = 0.9
    drift_baseline_canaries: int = 30
    drift_guard_canaries: int = 20
    drift_quantile: float = 0.6
    reliability_target: float = 0.7


@dataclass(frozen=True)
class SecuritySettings:
    max_failed_logins_per_minute: int = 5
    max_failed_logins_per_source_per_minute: int = 20
    account_lock_failures: int = 50
    account_lock_minutes: int = 60


@dataclass(frozen=True)
class McpSettings:
    url: str = ""
    token: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    max_status_wait_s: int = 30
    gate_tools: tuple[str, ...] = ()
    allow_tools: tuple[str, ...] = ()
    proxy_intent: str = "mcp_tool_call"
    proxy_actor: str = "mcp-proxy"
    proxy_timeout_s: int = 300


@dataclass(frozen=True)
class NotifySettings:
    """[notify]: where approval requests are announced (reviewq/notify; channels checked there)."""

    enabled: bool = True
    public_url: str = ""
    default_channel: str = "log"
    escalation_channel: str = "log"
    escalate_at: tuple[float, ...] = (0.5, 0.8)
    scan_interval_s: int = 5
    max_attempts: int = 8
    timeout_s: int = 10
    digest_channel: str = ""
    digest_schedule: str = "0 8 * * mon"
    routes: dict[str, str] = field(default_factory=dict)
    channels: dict[str, dict] = field(default_factory=lambda: {"log": {"type": "log"}})


@dataclass(frozen=True)
class OverlapSettings:
    # Share of sampled outputs sent to a second, blind reviewer (VIGILANCE.md §8), per category.
    default_rate: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ReasonSettings:
    # Reason buckets the team adds to the built-in eight (keys 9 and up on the queue page).
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    approvals: ApprovalSettings = field(default_factory=ApprovalSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    canaries: CanarySettings = field(default_factory=CanarySettings)
    vigilance: VigilanceSettings = field(default_factory=VigilanceSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    overlap: OverlapSettings = field(default_factory=OverlapSettings)
    reasons: ReasonSettings = field(default_factory=ReasonSettings)
    # Where relative paths (the canary library) are resolved from: the config file's folder.
    base_dir: Path = PROJECT_ROOT

    @property
    def is_production(self) -> bool:
        return self.server.mode == "production"

    @property
    def canary_library_path(self) -> Path:
        path = Path(self.canaries.library)
        return path if path.is_absolute() else self.base_dir / path

    def replace(self, **sections: dict) -> Settings:
        """A copy with some keys changed, e.g. `replace(database={"url": ...})`."""
        changes = {}
        for name, values in sections.items():
            changes[name] = dataclasses.replace(getattr(self, name), **values)
        return _validated(dataclasses.replace(self, **changes))


SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Settings)[f.name]
    for f in dataclasses.fields(Settings)
    if f.name != "base_dir"
}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def default_config_path() -> Path:
    return Path(os.environ.get("REVIEWQ_CONFIG") or PROJECT_ROOT / "config.toml")


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
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
    sections = {name: _section_from_toml(name, raw.pop(name, {}), path) for name in SECTIONS}
    if raw:
        raise ConfigError(f"{path}: unknown section [{sorted(raw)[0]}]")
    for name, cls in SECTIONS.items():
        sections[name] = _apply_env(name, cls, sections[name], env)
    settings = Settings(**sections, base_dir=path.resolve().parent)
    return _validated(settings)


def _section_from_toml(name: str, table: object, path: Path):
    cls = SECTIONS[name]
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in table.items():
        if key not in hints:
            raise ConfigError(f"{path}: unknown key {name}.{key}")
        values[key] = _coerce(f"{name}.{key}", hints[key], value)
    return cls(**values)


def _apply_env(name: str, cls: type, section, env) -> object:
    hints = typing.get_type_hints(cls)
    prefix = f"REVIEWQ_{name.upper()}_"
    changes = {}
    for var, text in env.items():
        if not var.startswith(prefix):
            continue
        key = var[len(prefix) :].lower()
        if key not in hints:
            raise ConfigError(f"environment variable {var}: unknown key {name}.{key}")
        changes[key] = _coerce(f"{name}.{key} (from {var})", hints[key], _parse_env(hints[key], text))
    return dataclasses.replace(section, **changes) if changes else section


def _parse_env(hint, text: str):
    origin = typing.get_origin(hint)
    if hint is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        return text
    if hint is int:
        try:
            return int(text)
        except ValueError:
            return text
    if hint is float:
        try:
            return float(text)
        except ValueError:
            return text
    if origin is tuple:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if typing.get_args(hint)[0] is float:
            try:
                return [float(p) for p in parts]
            except ValueError:
                return text
        return parts
    if origin is dict:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _type_name(hint) -> str:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return "a list of numbers" if typing.get_args(hint)[0] is float else "a list of strings"
    if origin is dict:
        names = {str: "a table of strings", dict: "a table of tables"}
        return names.get(typing.get_args(hint)[1], "a table of numbers")
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[hint]


def _coerce(key: str, hint, value):
    origin = typing.get_origin(hint)
    bad = ConfigError(f"{key} must be {_type_name(hint)}, got {value!r}")
    if hint is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad
        return value
    if origin is tuple:
        if typing.get_args(hint)[0] is float:
            if not isinstance(value, list | tuple) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value
            ):
                raise bad
            return tuple(float(v) for v in value)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise bad
        return tuple(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        kind = typing.get_args(hint)[1]
        if kind in (str, dict):  # [notify.routes] names, [notify.channels.*] tables (checked in reviewq.notify)
            for k, v in value.items():
                if not isinstance(v, kind):
                    raise ConfigError(f"{key}.{k} must be {'a string' if kind is str else 'a table'}, got {v!r}")
            return {str(k): (dict(v) if kind is dict else v) for k, v in value.items()}
        out = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ConfigError(f"{key}.{k} must be a number, got {v!r}")
            out[str(k)] = float(v)
        return out
    if isinstance(hint, types.UnionType):  # pragma: no cover - no such keys today
        return value
    raise bad  # pragma: no cover


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _validated(s: Settings) -> Settings:
    _require(s.server.mode in MODES, f"server.mode must be one of {', '.join(MODES)}")
    _require(1 <= s.server.port <= 65535, "server.port must be between 1 and 65535")
    _require(s.server.workers >= 1, "server.workers must be at least 1")
    _require(s.server.threads >= 1, "server.threads must be at least 1")
    _require(s.server.max_connections >= 1, "server.max_connections must be at least 1")
    _require(s.server.header_timeout_s > 0, "server.header_timeout_s must be positive")
    _require(s.server.body_timeout_s > 0, "server.body_timeout_s must be positive")
    _require(s.server.max_url_bytes >= 256, "server.max_url_bytes must be at least 256")
    _require(0 <= s.server.proxy_count <= 10, "server.proxy_count must be within 0..10")
    _require(
        s.database.url.startswith(("sqlite:", "postgresql")),
        "database.url must be a sqlite:// or postgresql+psycopg:// URL",
    )
    _require(s.queue.lease_seconds > 0, "queue.lease_seconds must be positive")
    _require(0.0 <= s.sampling.default_rate <= 1.0, "sampling.default_rate must be within 0..1")
    for cat, rate in s.sampling.rates.items():
        _require(0.0 <= rate <= 1.0, f"sampling.rates.{cat} must be within 0..1")
    _require(s.approvals.default_timeout_s > 0, "approvals.default_timeout_s must be positive")
    _require(
        s.approvals.default_timeout_s <= s.approvals.max_timeout_s,
        "approvals.default_timeout_s must not exceed approvals.max_timeout_s",
    )
    _require(1 <= s.approvals.max_wait_s <= 300, "approvals.max_wait_s must be within 1..300")
    _require(s.approvals.valid_for_s > 0, "approvals.valid_for_s must be positive")
    _require(1 <= s.mcp.http_port <= 65535, "mcp.http_port must be between 1 and 65535")
    _require(0 <= s.mcp.max_status_wait_s <= 300, "mcp.max_status_wait_s must be within 0..300")
    _require(s.mcp.proxy_timeout_s > 0, "mcp.proxy_timeout_s must be positive")
    _require(not s.mcp.url or s.mcp.url.startswith(("http://", "https://")), "mcp.url must be an http(s) URL")
    _require(s.api.max_body_bytes > 0, "api.max_body_bytes must be positive")
    _require(s.api.rate_limit_per_minute > 0, "api.rate_limit_per_minute must be positive")
    _require(s.webhooks.max_attempts >= 1, "webhooks.max_attempts must be at least 1")
    _require(s.webhooks.concurrency >= 1, "webhooks.concurrency must be at least 1")
    _require(s.webhooks.per_endpoint_concurrency >= 1, "webhooks.per_endpoint_concurrency must be at least 1")
    _require(
        s.canaries.reveal in REVEAL_MODES,
        f"canaries.reveal must be one of {', '.join(REVEAL_MODES)}",
    )
    _require(s.canaries.per_reviewer_per_week >= 0, "canaries.per_reviewer_per_week must be >= 0")
    _require(
        s.canaries.controls_per_reviewer_per_week >= 0,
        "canaries.controls_per_reviewer_per_week must be >= 0",
    )
    c = s.canaries
    _require(0.0 <= c.budget_jitter < 1.0, "canaries.budget_jitter must be within 0..1")
    _require(0.0 < c.max_probability <= 1.0, "canaries.max_probability must be within (0, 1]")
    _require(0.0 <= c.drill_probability <= 1.0, "canaries.drill_probability must be within 0..1")
    _require(c.source_days >= 1, "canaries.source_days must be at least 1")
    _require(c.reservoir_per_category >= 0, "canaries.reservoir_per_category must be >= 0")
    v = s.vigilance
    _require(0 < v.cusum_p0 < v.cusum_p1 < 1, "vigilance.cusum_p0 < cusum_p1 must lie in (0, 1)")
    _require(v.cusum_h > 0, "vigilance.cusum_h must be positive")
    _require(v.decay_bin_minutes > 0, "vigilance.decay_bin_minutes must be positive")
    _require(v.session_gap_minutes > 0, "vigilance.session_gap_minutes must be positive")
    _require(0 < v.target_catch_rate < 1, "vigilance.target_catch_rate must lie in (0, 1)")
    _require(0.5 <= v.below_target_alert < 1, "vigilance.below_target_alert must lie in [0.5, 1)")
    _require(v.drift_baseline_canaries >= 10, "vigilance.drift_baseline_canaries must be at least 10")
    _require(v.drift_guard_canaries >= 0, "vigilance.drift_guard_canaries must be zero or more")
    _require(0 < v.drift_quantile < 1, "vigilance.drift_quantile must lie in (0, 1)")
    _require(0 < v.reliability_target < 1, "vigilance.reliability_target must lie in (0, 1)")
    sec = s.security
    _require(sec.max_failed_logins_per_minute >= 1, "security.max_failed_logins_per_minute must be at least 1")
    _require(sec.max_failed_logins_per_source_per_minute >= 1,
             "security.max_failed_logins_per_source_per_minute must be at least 1")
    _require(sec.account_lock_failures >= 1, "security.account_lock_failures must be at least 1")
    _require(sec.account_lock_minutes >= 1, "security.account_lock_minutes must be at least 1")
    from reviewq.notify.settings import check_notify  # the channel tables are notify's to judge

    check_notify(s.notify)
    _validate_workbench(s)
    return s


def _validate_workbench(s: Settings) -> None:
    _require(0.0 <= s.overlap.default_rate <= 1.0, "overlap.default_rate must be within 0..1")
    for cat, rate in s.overlap.rates.items():
        _require(0.0 <= rate <= 1.0, f"overlap.rates.{cat} must be within 0..1")
    seen = set()
    for bucket in s.reasons.extra:
        _require(bool(bucket) and len(bucket) <= 32 and bucket.replace("_", "").isalnum() and bucket.islower(),
                 f"reasons.extra: {bucket!r} must be 1-32 lower-case letters, digits or _")
        _require(bucket not in seen, f"reasons.extra: {bucket!r} is listed twice")
        seen.add(bucket)


def check_secret_key(settings: Settings) -> None:
    """Refuse the shipped secret outside demo and test mode."""
    if settings.is_production and settings.server.secret_key == DEFAULT_SECRET_KEY:
        raise ConfigError(
            "server.secret_key is still the default; set a random one in config.toml or "
            "REVIEWQ_SERVER_SECRET_KEY (the default is accepted only in demo and test mode)"
        )


def secure_cookies(settings: Settings) -> bool:
    """Session cookies are Secure in production unless server.secure_cookies is turned off.

    Demo and test mode serve plain http on loopback, where a browser would drop a Secure cookie.
    """
    return settings.is_production and settings.server.secure_cookies
