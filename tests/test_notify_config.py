"""[notify] configuration: channel tables checked at load, one-line errors naming the key, env overrides."""

from __future__ import annotations

import json

import pytest

from reviewq.config import ConfigError, load_settings

BASE = {"REVIEWQ_SERVER_MODE": "test"}


def load_with(tmp_path, text: str, env: dict | None = None):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(path, env={**BASE, **(env or {})})


def test_channels_routes_and_shares_load_from_toml(tmp_path):
    """Named channel tables, routes and escalation shares come through typed."""
    s = load_with(tmp_path, """
[notify]
default_channel = "team"
escalation_channel = "pager"
escalate_at = [0.25, 0.75]
[notify.routes]
refund = "pager"
[notify.channels.team]
type = "slack"
channel = "C1"
token_env = "SLACK_BOT_TOKEN"
[notify.channels.pager]
type = "webhook"
url = "https://events.example.com/rq"
secret_env = "PAGER_SECRET"
""")
    assert s.notify.escalate_at == (0.25, 0.75) and s.notify.routes == {"refund": "pager"}
    assert s.notify.channels["team"] == {"type": "slack", "channel": "C1", "token_env": "SLACK_BOT_TOKEN"}


@pytest.mark.parametrize(("body", "message"), [
    ('[notify.channels.log]\ntype = "carrier-pigeon"', "notify.channels.log.type must be one of"),
    ('[notify.channels.log]\ntype = "email"\nhost = "smtp"\nfrom = "a@b.c"', "notify.channels.log.to is required"),
    ('[notify.channels.log]\ntype = "slack"\nchannel = "C1"', "needs token or token_env"),
    ('[notify.channels.log]\ntype = "webhook"\nurl = "ftp://x"\nsecret = "whsec_QUJD"', "url must be an http(s) URL"),
    ('[notify.channels.log]\ntype = "log"\ncolour = "red"', "unknown key notify.channels.log.colour"),
    ('[notify]\ndefault_channel = "nowhere"', "notify.default_channel names channel 'nowhere'"),
    ('[notify.routes]\nrefund = "nowhere"', "notify.routes.refund names channel 'nowhere'"),
    ('[notify]\nescalate_at = [0.8, 0.5]', "notify.escalate_at must be increasing"),
    ('[notify]\nescalate_at = ["half"]', "notify.escalate_at must be a list of numbers"),
    ('[notify]\ndigest_schedule = "every monday"', "notify.digest_schedule is not a cron expression"),
])
def test_bad_notify_config_is_one_clear_line(tmp_path, body, message):
    """Each mistake names its key in a single-line ConfigError."""
    with pytest.raises(ConfigError) as exc:
        load_with(tmp_path, body)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_environment_overrides_shares_and_channels(tmp_path):
    """REVIEWQ_NOTIFY_ESCALATE_AT is comma-separated; REVIEWQ_NOTIFY_CHANNELS is JSON."""
    channels = {"log": {"type": "log"}, "ops": {"type": "log", "path": "ops.log"}}
    s = load_with(tmp_path, "", env={"REVIEWQ_NOTIFY_ESCALATE_AT": "0.6,0.9",
                                     "REVIEWQ_NOTIFY_CHANNELS": json.dumps(channels),
                                     "REVIEWQ_NOTIFY_DEFAULT_CHANNEL": "ops"})
    assert s.notify.escalate_at == (0.6, 0.9) and s.notify.default_channel == "ops"
    assert s.notify.channels["ops"]["path"] == "ops.log"
