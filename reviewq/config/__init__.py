"""Typed, frozen settings loaded from config.toml with REVIEWQ_<SECTION>_<KEY> overrides.

`sections` declares each [section]'s keys, types and ranges; `settings` the whole and its one-line
errors; `loading` the file and the environment. Nothing here touches the disk at import time:
`load_settings()` reads the file when called.
"""

from __future__ import annotations

from reviewq.config.loading import default_config_path, load_settings
from reviewq.config.sections import (
    DEFAULT_SECRET_KEY,
    MODES,
    REVEAL_MODES,
    ApiSettings,
    ApprovalSettings,
    CanarySettings,
    DatabaseSettings,
    McpSettings,
    NotifySettings,
    OverlapSettings,
    QueueSettings,
    ReasonSettings,
    SamplingSettings,
    SecuritySettings,
    ServerSettings,
    VigilanceSettings,
    WebhookSettings,
)
from reviewq.config.settings import PROJECT_ROOT, SECTIONS, ConfigError, Settings

__all__ = [
    "DEFAULT_SECRET_KEY", "MODES", "PROJECT_ROOT", "REVEAL_MODES", "SECTIONS",
    "ApiSettings", "ApprovalSettings", "CanarySettings", "ConfigError", "DatabaseSettings", "McpSettings",
    "NotifySettings", "OverlapSettings", "QueueSettings", "ReasonSettings", "SamplingSettings",
    "SecuritySettings", "ServerSettings", "Settings", "VigilanceSettings", "WebhookSettings",
    "check_secret_key", "default_config_path", "is_sqlite", "load_settings", "secure_cookies",
]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


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
