"""The `reviewq` command line, run as a real process the way an operator would."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlmodel import select

from reviewq import migrate
from reviewq.db import Database
from reviewq.domain.tokens import hash_token
from reviewq.domain.users import authenticate
from reviewq.models import ApiToken


def run(args, *, db_url=None, stdin=None, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWQ_")}
    full_env.update({"REVIEWQ_SERVER_MODE": "test"})
    if db_url:
        full_env["REVIEWQ_DATABASE_URL"] = db_url
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "reviewq", *args], input=stdin, capture_output=True, text=True,
        env=full_env, cwd=cwd, timeout=120,
    )


def upgraded(settings) -> None:
    """The schema `reviewq db upgrade` makes, for a test of other commands: the same Alembic upgrade, run
    in this process (a CLI process costs 2-3 s to start). The command itself is run below."""
    migrate.upgrade(settings)


def test_help_lists_the_commands():
    """`reviewq --help` works and names the public commands."""
    result = run(["--help"])
    assert result.returncode == 0
    for command in ("db", "user", "token", "serve"):
        assert command in result.stdout


def test_db_upgrade_user_add_and_token_create(db_url, settings):
    """An operator can migrate, add a user from stdin, and create a token shown once."""
    up = run(["db", "upgrade"], db_url=db_url)
    assert up.returncode == 0, up.stderr
    assert "0001_core" in up.stdout or "head" in up.stdout or "_" in up.stdout

    add = run(["user", "add", "lena", "--role", "lead", "--password-stdin"], db_url=db_url,
              stdin="a-long-password\n")
    assert add.returncode == 0, add.stderr
    assert "created lead 'lena'" in add.stdout

    tok = run(["token", "create", "support-bot", "--scopes", "items:write,approvals:read"], db_url=db_url)
    assert tok.returncode == 0, tok.stderr
    fields = dict(line.split(":", 1) for line in tok.stdout.splitlines() if ":" in line)
    plaintext = fields["token"].strip()
    secret = fields["webhook secret"].strip()
    assert plaintext.startswith("rq_") and secret.startswith("whsec_")

    database = Database.from_settings(settings)
    try:
        with database.session() as s:
            assert authenticate(session=s, name="lena", password="a-long-password") is not None
            token = s.exec(select(ApiToken)).one()
            assert token.token_hash == hash_token(plaintext) and plaintext not in token.token_hash
            assert token.scopes == "approvals:read items:write"
    finally:
        database.dispose()


def test_errors_are_one_line_with_an_exit_code(db_url, settings):
    """Bad input gives a clear message and exit code 1 or 2, never a traceback."""
    upgraded(settings)
    short = run(["user", "add", "kim", "--password-stdin"], db_url=db_url, stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    assert "Traceback" not in short.stderr
    run(["user", "add", "kim", "--password-stdin"], db_url=db_url, stdin="long-enough-pw\n")
    dup = run(["user", "add", "kim", "--password-stdin"], db_url=db_url, stdin="long-enough-pw\n")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    scope = run(["token", "create", "bot", "--scopes", "root"], db_url=db_url)
    assert scope.returncode == 1 and "unknown scope 'root'" in scope.stderr
    bad_config = run(["db", "current"], db_url=db_url, env={"REVIEWQ_SERVER_PORT": "http"})
    assert bad_config.returncode == 2 and "server.port" in bad_config.stderr
    assert "Traceback" not in bad_config.stderr


def test_password_is_never_an_argument(db_url, settings):
    """Without a terminal or --password-stdin, user add refuses instead of reading argv."""
    upgraded(settings)
    result = run(["user", "add", "ann"], db_url=db_url, stdin="")
    assert result.returncode == 2 and "--password-stdin" in result.stderr


def test_serve_refuses_the_default_secret_in_production(tmp_path):
    """`reviewq serve` in production mode with the shipped secret exits 2 with the reason."""
    result = run(["serve"], env={"REVIEWQ_SERVER_MODE": "production"}, cwd=tmp_path)
    assert result.returncode == 2 and "secret_key" in result.stderr


def test_serve_runs_on_loopback(db_url, settings):
    """`reviewq serve` answers /healthz over real HTTP on 127.0.0.1 and applies security headers."""
    import requests

    from tests.support.live_server import serve_in_subprocess

    upgraded(settings)
    server, _proc = serve_in_subprocess({"REVIEWQ_SERVER_MODE": "test", "REVIEWQ_DATABASE_URL": db_url})
    try:
        response = requests.get(f"{server.url}/healthz", timeout=5)
        assert response.json() == {"status": "ok", "database": "ok"}
        assert response.headers["Server"] == "reviewq"
        assert response.headers["X-Frame-Options"] == "DENY"
    finally:
        server.stop()


def test_user_password_and_unlock_for_an_operator(db_url, settings):
    """`reviewq user password` resets a password (refusing common ones) and `user unlock` clears a login lock."""
    from datetime import timedelta

    from reviewq.domain.login_throttle import LoginLimits, attempt_failed, locked_accounts
    from reviewq.models import utcnow

    upgraded(settings)
    run(["user", "add", "ada", "--role", "admin", "--password-stdin"], db_url=db_url, stdin="first-long-secret\n")
    common = run(["user", "password", "ada", "--password-stdin"], db_url=db_url, stdin="password123\n")
    assert common.returncode == 1 and "most common passwords" in common.stderr
    reset = run(["user", "password", "ada", "--password-stdin"], db_url=db_url, stdin="second-long-secret\n")
    assert reset.returncode == 0 and "sessions have ended" in reset.stdout, reset.stderr
    assert run(["user", "password", "nobody", "--password-stdin"], db_url=db_url,
               stdin="second-long-secret\n").returncode == 1
    limits = LoginLimits(lock_failures=2, lock_window=timedelta(minutes=60))
    database = Database.from_settings(settings)
    try:
        with database.session_scope() as s:
            assert authenticate(session=s, name="ada", password="second-long-secret") is not None
            for _ in range(2):
                attempt_failed(session=s, name="ada", now=utcnow(), limits=limits)
        with database.session_scope() as s:
            assert "ada" in locked_accounts(session=s, now=utcnow(), limits=limits)
        unlocked = run(["user", "unlock", "ada"], db_url=db_url)
        assert unlocked.returncode == 0 and "can log in again" in unlocked.stdout
        with database.session_scope() as s:
            assert locked_accounts(session=s, now=utcnow(), limits=limits) == {}
    finally:
        database.dispose()
