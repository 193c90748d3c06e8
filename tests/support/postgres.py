"""Reaching the test PostgreSQL: a failure under CI=true, a skip elsewhere."""

from __future__ import annotations

import functools
import os
from urllib.parse import quote

import pytest
import sqlalchemy as sa

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    return os.environ.get("REVIEWQ_TEST_POSTGRES_URL", DEFAULT_URL)


@functools.cache
def _probe(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        engine.dispose()


def require_postgres() -> str:
    url = admin_url()
    problem = _probe(url)
    if problem:
        message = f"PostgreSQL at {url} is not reachable ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; under CI=true this is a failure, not a skip")
        pytest.skip(message)
    return url


def postgres_url_for_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
