"""The [notify] channel tables: which keys each channel type takes, checked at config load.

Secrets (the Slack token, the SMTP password, the webhook signing secret) may be given directly
or, better, named by an environment variable (`token_env = "SLACK_BOT_TOKEN"`), so config.toml
can be committed. They are read only when a message is sent and never written into one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CHANNEL_TYPES = ("log", "email", "slack", "webhook")

# key -> (accepted python types, required)
_KEYS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "log": {"path": ((str,), False)},
    "email": {
        "host": ((str,), True), "port": ((int,), False), "from": ((str,), True), "to": ((list,), True),
        "starttls": ((bool,), False), "ssl": ((bool,), False), "username": ((str,), False),
        "password": ((str,), False), "password_env": ((str,), False),
    },
    "slack": {
        "channel": ((str,), True), "token": ((str,), False), "token_env": ((str,), False),
        "base_url": ((str,), False),
    },
    "webhook": {"url": ((str,), True), "secret": ((str,), False), "secret_env": ((str,), False)},
}


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    type: str
    options: dict[str, Any]


def _fail(message: str):
    from reviewq.config import ConfigError

    raise ConfigError(message)


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def channel_spec(name: str, table: dict[str, Any]) -> ChannelSpec:
    where = f"notify.channels.{name}"
    kind = table.get("type")
    if kind not in CHANNEL_TYPES:
        _fail(f"{where}.type must be one of {', '.join(CHANNEL_TYPES)}, got {kind!r}")
    allowed = _KEYS[kind]
    options = {}
    for key, value in table.items():
        if key == "type":
            continue
        if key not in allowed:
            _fail(f"unknown key {where}.{key} for a {kind} channel")
        types, _ = allowed[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            _fail(f"{where}.{key} has the wrong type: {value!r}")
        options[key] = value
    for key, (_, required) in allowed.items():
        if required and key not in options:
            _fail(f"{where}.{key} is required for a {kind} channel")
    if kind == "email":
        if not options["to"] or not all(isinstance(a, str) and "@" in a for a in options["to"]):
            _fail(f"{where}.to must be a list of email addresses")
        if options.get("password") and options.get("password_env"):
            _fail(f"{where}: give password or password_env, not both")
    if kind == "slack":
        if not (options.get("token") or options.get("token_env")):
            _fail(f"{where}: a slack channel needs token or token_env")
        if "base_url" in options and not _http_url(options["base_url"]):
            _fail(f"{where}.base_url must be an http(s) URL")
    if kind == "webhook":
        if not _http_url(options["url"]):
            _fail(f"{where}.url must be an http(s) URL")
        if not (options.get("secret") or options.get("secret_env")):
            _fail(f"{where}: a webhook channel needs secret or secret_env (a whsec_ signing secret)")
        if options.get("secret") and not options["secret"].startswith("whsec_"):
            _fail(f"{where}.secret must be a whsec_ secret (Standard Webhooks)")
    return ChannelSpec(name=name, type=kind, options=options)


def check_notify(notify) -> None:
    """Every channel table well formed, and every name used by a route or setting defined."""
    specs = {name: channel_spec(name, table) for name, table in notify.channels.items()}
    used = [("notify.default_channel", notify.default_channel)]
    if notify.escalation_channel:
        used.append(("notify.escalation_channel", notify.escalation_channel))
    if notify.digest_channel:
        used.append(("notify.digest_channel", notify.digest_channel))
    used += [(f"notify.routes.{k}", v) for k, v in notify.routes.items()]
    for key, name in used:
        if name not in specs:
            _fail(f"{key} names channel {name!r}, which [notify.channels] does not define")
    shares = notify.escalate_at
    if any(not 0 < s < 1 for s in shares) or list(shares) != sorted(set(shares)):
        _fail("notify.escalate_at must be increasing shares of the timeout within (0, 1), e.g. [0.5, 0.8]")
    if notify.public_url and not _http_url(notify.public_url):
        _fail("notify.public_url must be an http(s) URL (or empty for the [server] address)")
    try:
        from apscheduler.triggers.cron import CronTrigger

        CronTrigger.from_crontab(notify.digest_schedule)
    except ValueError as exc:
        _fail(f"notify.digest_schedule is not a cron expression: {exc}")
    if notify.scan_interval_s < 1 or notify.max_attempts < 1 or notify.timeout_s < 1:
        _fail("notify.scan_interval_s, max_attempts and timeout_s must be at least 1")


def channel_specs(notify) -> dict[str, ChannelSpec]:
    return {name: channel_spec(name, table) for name, table in notify.channels.items()}
