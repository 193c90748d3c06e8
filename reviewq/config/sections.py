"""The config.toml sections as frozen pydantic models: each key's type, default and allowed range.

Validation is strict (TOML `port = "80"` is refused, a float key takes an integer); lists become
tuples. Keys that constrain each other are checked by the section's model validator.
"""

from __future__ import annotations

import typing
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_SECRET_KEY = "change-me"
Mode = Literal["production", "demo", "test"]
RevealMode = Literal["immediate", "end_of_session", "never"]
MODES: tuple[str, ...] = typing.get_args(Mode)
REVEAL_MODES: tuple[str, ...] = typing.get_args(RevealMode)

Share = Annotated[float, Field(ge=0, le=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
AtLeastOne = Annotated[int, Field(ge=1)]
Positive = Annotated[int, Field(gt=0)]


def _strings() -> typing.Any:
    return Field(default=(), strict=False)  # a TOML array (a list) becomes a tuple


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: Port = 8000
    secret_key: str = DEFAULT_SECRET_KEY
    workers: AtLeastOne = 1
    threads: AtLeastOne = 64
    mode: Mode = "production"
    secure_cookies: bool = True
    proxy_count: Annotated[int, Field(ge=0, le=10)] = 0
    max_connections: AtLeastOne = 12000
    header_timeout_s: Annotated[float, Field(gt=0)] = 15.0
    body_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    max_url_bytes: Annotated[int, Field(ge=256)] = 4096
    max_queued_requests: AtLeastOne = 256


class DatabaseSettings(Section):
    url: str = "sqlite:///reviewq.db"
    sqlite_busy_timeout_ms: int = 5000
    pool_size: int = 10

    @field_validator("url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql+psycopg:// URL")
        return url


class QueueSettings(Section):
    lease_seconds: Positive = 120
    two_person_rule: bool = True
    sweep_interval_s: int = 30


class SamplingSettings(Section):
    default_rate: Share = 0.1
    high_risk: tuple[str, ...] = Field(default=("billing", "access"), strict=False)
    rates: dict[str, Share] = Field(default_factory=dict)


class ApprovalSettings(Section):
    default_timeout_s: Positive = 3600
    max_timeout_s: int = 86400
    approve_on_timeout_intents: tuple[str, ...] = _strings()
    max_wait_s: Annotated[int, Field(ge=1, le=300)] = 60
    expiry_interval_s: int = 5
    # Seconds after an approve during which the approved call may be consumed (once).
    valid_for_s: Positive = 900

    @model_validator(mode="after")
    def _default_within_max(self) -> ApprovalSettings:
        if self.default_timeout_s > self.max_timeout_s:
            raise ValueError("default_timeout_s must not exceed approvals.max_timeout_s")
        return self


class ApiSettings(Section):
    max_body_bytes: Positive = 1024 * 1024
    rate_limit_per_minute: Positive = 6000


class WebhookSettings(Section):
    allowed_hosts: tuple[str, ...] = _strings()
    max_attempts: AtLeastOne = 8
    timeout_s: int = 10
    outbox_interval_s: Annotated[float, Field(gt=0)] = 2.0  # seconds between outbox sweeps (commits also kick it)
    concurrency: AtLeastOne = 16
    per_endpoint_concurrency: AtLeastOne = 2


class CanarySettings(Section):
    library: str = "canaries"
    schedule: str = "0 6 * * mon"
    timezone: str = "UTC"
    per_reviewer_per_week: Annotated[int, Field(ge=0)] = 5
    controls_per_reviewer_per_week: Annotated[int, Field(ge=0)] = 5
    reveal: RevealMode = "immediate"
    # Projection (DESIGN.md "Canaries"): the weekly budget's jitter (TIP's ±30%), the highest
    # canary probability one claim may carry, and the window sources are drawn from.
    budget_jitter: Annotated[float, Field(ge=0, lt=1)] = 0.3
    max_probability: Annotated[float, Field(gt=0, le=1)] = 0.1
    source_days: AtLeastOne = 14
    # Keep unsampled outputs (never queued) as projection sources; off when data policy forbids.
    reservoir: bool = True
    reservoir_per_category: Annotated[int, Field(ge=0)] = 200
    # A new reviewer's first session is a drill: canaries at this probability, each revealed at once.
    onboarding_drill: bool = True
    drill_probability: Share = 0.15


OpenShare = Annotated[float, Field(gt=0, lt=1)]


class VigilanceSettings(Section):
    idle_seconds: int = 60
    session_gap_minutes: Positive = 15
    break_nudge_minutes: int = 25
    decay_bin_minutes: Positive = 10
    min_canaries: int = 10
    cusum_p0: float = 0.10
    cusum_p1: float = 0.30
    cusum_h: Annotated[float, Field(gt=0)] = 4.2
    target_catch_rate: OpenShare = 0.8
    below_target_alert: Annotated[float, Field(ge=0.5, lt=1)] = 0.9
    drift_baseline_canaries: Annotated[int, Field(ge=10)] = 30
    drift_guard_canaries: Annotated[int, Field(ge=0)] = 20
    drift_quantile: OpenShare = 0.6
    reliability_target: OpenShare = 0.7

    @model_validator(mode="after")
    def _cusum_rates_ordered(self) -> VigilanceSettings:
        if not 0 < self.cusum_p0 < self.cusum_p1 < 1:
            raise ValueError("cusum_p0 < cusum_p1 must lie in (0, 1)")
        return self


class SecuritySettings(Section):
    max_failed_logins_per_minute: AtLeastOne = 5
    max_failed_logins_per_source_per_minute: AtLeastOne = 20
    account_lock_failures: AtLeastOne = 50
    account_lock_minutes: AtLeastOne = 60


class McpSettings(Section):
    url: str = ""
    token: str = ""
    http_host: str = "127.0.0.1"
    http_port: Port = 8765
    max_status_wait_s: Annotated[int, Field(ge=0, le=300)] = 30
    gate_tools: tuple[str, ...] = _strings()
    allow_tools: tuple[str, ...] = _strings()
    proxy_intent: str = "mcp_tool_call"
    proxy_actor: str = "mcp-proxy"
    proxy_timeout_s: Positive = 300

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if url and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return url


class NotifySettings(Section):
    """[notify]: where approval requests are announced (channel tables checked in reviewq.notify)."""

    enabled: bool = True
    public_url: str = ""
    default_channel: str = "log"
    escalation_channel: str = "log"
    escalate_at: tuple[float, ...] = Field(default=(0.5, 0.8), strict=False)
    scan_interval_s: int = 5
    max_attempts: int = 8
    timeout_s: int = 10
    digest_channel: str = ""
    digest_schedule: str = "0 8 * * mon"
    routes: dict[str, str] = Field(default_factory=dict)
    channels: dict[str, dict] = Field(default_factory=lambda: {"log": {"type": "log"}})


class OverlapSettings(Section):
    # Share of sampled outputs sent to a second, blind reviewer (VIGILANCE.md §8), per category.
    default_rate: Share = 0.0
    rates: dict[str, Share] = Field(default_factory=dict)


class ReasonSettings(Section):
    # Reason buckets the team adds to the built-in eight (keys 9 and up on the queue page).
    extra: tuple[str, ...] = _strings()

    @field_validator("extra")
    @classmethod
    def _bucket_names(cls, extra: tuple[str, ...]) -> tuple[str, ...]:
        for i, bucket in enumerate(extra):
            if not (bucket and len(bucket) <= 32 and bucket.replace("_", "").isalnum() and bucket.islower()):
                raise ValueError(f"{bucket!r} must be 1-32 lower-case letters, digits or _")
            if bucket in extra[:i]:
                raise ValueError(f"{bucket!r} is listed twice")
        return extra
