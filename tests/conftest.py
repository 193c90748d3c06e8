"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, settings, sessions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, SQLModel

import reviewq.models  # noqa: F401
from reviewq.config import Settings, load_settings
from reviewq.db import Database
from reviewq.domain import users as users_domain
from tests.support.databases import TABLES_READY
from tests.support.postgres import require_postgres

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    from tests.support.databases import SqliteTemplate

    return SqliteTemplate(tmp_path_factory.mktemp("template"), make_test_settings)


@pytest.fixture(scope="session")
def _postgres_schemas():
    from tests.support.databases import PostgresSchemas

    schemas = PostgresSchemas(require_postgres(), make_test_settings)
    yield schemas
    schemas.close()


@pytest.fixture
def db_url(backend, tmp_path, request) -> Iterator[str]:
    """A database of the parametrized backend of its own: empty, or with every table if the test
    uses `database` (tests/support/databases.py makes those cheaply); dropped or emptied afterwards."""
    with_tables = "database" in request.fixturenames
    if backend == "sqlite":
        path = tmp_path / "reviewq-test.db"
        if not with_tables:
            yield f"sqlite:///{path}"
            return
        url = request.getfixturevalue("_sqlite_template").copy_to(path)
        TABLES_READY.add(url)
        yield url
        TABLES_READY.discard(url)
        return
    require_postgres()
    schemas = request.getfixturevalue("_postgres_schemas")
    if with_tables:
        url = schemas.lend_with_tables()
        TABLES_READY.add(url)
        try:
            yield url
        finally:
            TABLES_READY.discard(url)
            schemas.give_back()
        return
    schema, url = schemas.create()
    try:
        yield url
    finally:
        schemas.drop(schema)


# Claims plant canaries at random (projection); tests that do not study canaries get none, so what a
# claim serves is deterministic. A test that studies them passes its own [canaries] keys.
NO_CANARIES = {"per_reviewer_per_week": 0, "controls_per_reviewer_per_week": 0, "onboarding_drill": False}


def make_test_settings(db_url: str, **sections) -> Settings:
    env = {"REVIEWQ_SERVER_MODE": "test", "REVIEWQ_DATABASE_URL": db_url}
    settings = load_settings(env=env)
    sections["canaries"] = {**NO_CANARIES, **sections.get("canaries", {})}
    return settings.replace(**sections)


@pytest.fixture
def settings(db_url) -> Settings:
    return make_test_settings(db_url)


@pytest.fixture
def database(settings) -> Iterator[Database]:
    """Tables made by create_all; the migration tests prove Alembic makes the same schema."""
    database = Database.from_settings(settings)
    if settings.database.url not in TABLES_READY:
        SQLModel.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def session(database) -> Iterator[Session]:
    with database.session() as session:
        yield session
        session.rollback()


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


# Test users are hashed with one PBKDF2 round instead of the production scrypt (about half a second
# each on a busy machine); tests/test_web_auth.py checks the production method itself.
CHEAP_PASSWORD_HASH = "pbkdf2:sha256:1"
# The production method, read before the session fixture below swaps it for the cheap one.
PRODUCTION_PASSWORD_HASH = users_domain.PASSWORD_HASH_METHOD


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes():
    """Every user a test makes gets a cheap hash; logins verify it by the method stored with it."""
    from reviewq.domain import users

    production, users.PASSWORD_HASH_METHOD = users.PASSWORD_HASH_METHOD, CHEAP_PASSWORD_HASH
    users._dummy_hash.cache_clear()
    yield
    users.PASSWORD_HASH_METHOD = production
    users._dummy_hash.cache_clear()


@pytest.fixture(autouse=True)
def _no_real_config_leaks(monkeypatch):
    """Tests never pick up a developer's REVIEWQ_* variables."""
    for var in list(os.environ):
        if var.startswith("REVIEWQ_") and var != "REVIEWQ_TEST_POSTGRES_URL":
            monkeypatch.delenv(var)


@pytest.fixture
def app(settings, database):
    """The Flask app on the test database (tables already made by `database`)."""
    from reviewq.web import create_app

    app = create_app(settings)
    yield app
    app.extensions["reviewq.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def receiver():
    """A webhook receiver: a real HTTP server on 127.0.0.1 recording every POST."""
    from tests.support.api import WebhookReceiver

    r = WebhookReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def live_server(app):
    """The app behind a real threaded HTTP server on 127.0.0.1."""
    from tests.support.live_server import serve_app_in_thread

    server = serve_app_in_thread(app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole run."""
    from tests.support.browser import CHROMIUM_ARGS, require_chromium

    path = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


# The longest files first: `.ci/run` hands whole files to two workers in collection order, and one
# of these starting last would leave the other worker idle for minutes at the end.
# test_stealth_audit.py (about 40 s alone) sorts near the end of the alphabet, where it could be the
# last file handed out.
SLOW_FIRST = ("test_demo.py", "test_canary_deployment.py", "test_bench.py", "test_bench_paired.py",
              "test_notify_demo.py", "test_pages_browser.py", "test_cli.py", "test_stealth_audit.py",
              "test_outbox_concurrency.py", "test_queue_concurrency.py", "test_domain_imports.py", "test_readme.py",
              "test_openapi.py", "test_passwords.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))
    # `.ci/run` collects the serial phase only from the files whose source says `pytest.mark.serial`
    # (collecting every file again costs 10-15 s): a test marked some other way would run in neither phase.
    unseen = sorted({str(item.path) for item in items if item.get_closest_marker("serial")
                     and "pytest.mark.serial" not in item.path.read_text()})
    assert not unseen, f"serial tests whose file does not say `pytest.mark.serial` (see .ci/run): {unseen}"


@pytest.fixture
def writer_meanwhile(settings, now):
    """(wrap, wrote): wrap(f) writes through another connection (an item: a user would hash), then
    calls f; wrote says, per call, whether the write got through within 200 ms."""
    from tests.factories import add_outputs

    other = Database.from_settings(settings.replace(database={"sqlite_busy_timeout_ms": 200}))
    wrote: list[bool] = []

    def wrap(real):
        def while_someone_writes(*args, **kwargs):
            try:
                with other.session_scope() as s:
                    add_outputs(s, 1, now=now)
                wrote.append(True)
            except Exception:  # database is locked
                wrote.append(False)
            return real(*args, **kwargs)
        return while_someone_writes

    yield wrap, wrote
    other.dispose()
