"""Configuration: documented defaults, typed keys, env overrides and one-line errors."""

from __future__ import annotations

import re
import tomllib

import pydantic
import pytest

from reviewq.config import PROJECT_ROOT, SECTIONS, ConfigError, Settings, check_secret_key, load_settings


def test_shipped_config_documents_every_key_with_a_comment():
    """Every settings field appears in config.toml, each preceded by a comment line."""
    text = (PROJECT_ROOT / "config.toml").read_text()
    raw = tomllib.loads(text)
    lines = text.splitlines()
    for section, cls in SECTIONS.items():
        assert section in raw, f"[{section}] missing from config.toml"
        for name in cls.model_fields:
            if name in ("rates", "routes", "channels"):  # tables: [section.name]
                assert name in raw[section], f"[{section}.{name}] missing"
                continue
            assert name in raw[section], f"{section}.{name} missing from config.toml"
            index = next(i for i, line in enumerate(lines) if re.match(rf"{name}\s*=", line)
                         and _section_of(lines, i) == section)
            assert lines[index - 1].lstrip().startswith("#"), f"{section}.{name} has no comment"


def _section_of(lines, index):
    for line in reversed(lines[:index]):
        if line.startswith("["):
            return line.strip("[] \n").split(".")[0]
    return None


def test_shipped_config_equals_the_code_defaults():
    """The file and the dataclass defaults agree, so the documentation cannot drift."""
    loaded = load_settings(PROJECT_ROOT / "config.toml", env={})
    defaults = Settings(base_dir=PROJECT_ROOT)
    for section in SECTIONS:
        if section == "sampling":
            continue  # the file shows example per-category rates on top of the defaults
        assert getattr(loaded, section) == getattr(defaults, section), section


def test_environment_overrides_a_single_key(tmp_path):
    """REVIEWQ_<SECTION>_<KEY> changes one typed value and leaves the rest."""
    s = load_settings(env={"REVIEWQ_DATABASE_URL": "sqlite:///x.db", "REVIEWQ_SERVER_PORT": "9001",
                           "REVIEWQ_QUEUE_TWO_PERSON_RULE": "false",
                           "REVIEWQ_WEBHOOKS_ALLOWED_HOSTS": "a.example, b.example:8443",
                           "REVIEWQ_SAMPLING_RATES": '{"billing": 0.5}'})
    assert s.database.url == "sqlite:///x.db"
    assert s.server.port == 9001 and s.server.host == "127.0.0.1"
    assert s.queue.two_person_rule is False
    assert s.webhooks.allowed_hosts == ("a.example", "b.example:8443")
    assert s.sampling.rates == {"billing": 0.5}


def test_reviewq_config_points_at_another_file(tmp_path):
    """REVIEWQ_CONFIG selects the file; relative library paths resolve beside it."""
    path = tmp_path / "other.toml"
    path.write_text('[server]\nport = 7000\n[canaries]\nlibrary = "lib"\n')
    s = load_settings(env={"REVIEWQ_CONFIG": str(path)})
    assert s.server.port == 7000
    assert s.canary_library_path == tmp_path / "lib"


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[server]\nport = \"eighty\"\n", {}, "server.port must be an integer, got 'eighty'"),
        ("[queue]\nlease_secs = 5\n", {}, "unknown key queue.lease_secs"),
        ("[nonsense]\n", {}, "unknown section [nonsense]"),
        ("", {"REVIEWQ_QUEUE_LEASE_SECONDS": "soon"}, "queue.lease_seconds (from REVIEWQ_QUEUE_LEASE_SECONDS)"),
        ("", {"REVIEWQ_QUEUE_BOGUS": "1"}, "unknown key queue.bogus"),
        ("[canaries]\nreveal = \"later\"\n", {}, "canaries.reveal must be one of"),
        ("[server\n", {}, "not valid TOML"),
    ],
)
def test_bad_config_gives_one_clear_line_naming_the_key(tmp_path, toml, env, message):
    """Wrong types, unknown keys and bad syntax raise ConfigError with the key in one line."""
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env=env)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_replace_checks_each_key_as_loading_does():
    """Settings.replace validates the changed section: a bad value is the same one-line error."""
    s = load_settings(env={})
    with pytest.raises(ConfigError, match=r"^server.port must be at least 1, got 0$"):
        s.replace(server={"port": 0})
    with pytest.raises(ConfigError, match="notify.default_channel names channel 'nowhere'"):
        s.replace(notify={"default_channel": "nowhere"})
    assert s.replace(server={"port": 9000}).server.port == 9000 and s.server.port == 8000


def test_missing_file_is_a_clear_error(tmp_path):
    """A config path that does not exist is named in the error."""
    with pytest.raises(ConfigError, match="config file not found: .*nope.toml"):
        load_settings(tmp_path / "nope.toml", env={})


def test_default_secret_is_refused_outside_demo_and_test():
    """Production mode with the shipped secret is refused; demo, test or a real secret pass."""
    prod = load_settings(env={})
    with pytest.raises(ConfigError, match="secret_key"):
        check_secret_key(prod)
    check_secret_key(prod.replace(server={"mode": "demo"}))
    check_secret_key(prod.replace(server={"mode": "test"}))
    check_secret_key(prod.replace(server={"secret_key": "a-real-random-secret-value"}))


def test_settings_are_frozen():
    """Settings cannot be changed in place after loading."""
    s = load_settings(env={})
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        s.server.port = 1  # type: ignore[misc]


def test_importing_writes_nothing(tmp_path):
    """Importing the package and the app factory creates no file in the working directory."""
    import subprocess
    import sys

    code = "import reviewq.cli, reviewq.web, reviewq.models, reviewq.domain.decide, reviewq.server"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    assert list(tmp_path.iterdir()) == []
