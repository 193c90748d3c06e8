"""One database session per request, closed on teardown; one commit per request."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, current_app, g
from sqlmodel import Session

from reviewq.config import Settings
from reviewq.db import Database

log = logging.getLogger(__name__)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["reviewq.db"] = Database.from_settings(settings)
    app.teardown_appcontext(_close_session)


def get_database() -> Database:
    return current_app.extensions["reviewq.db"]


def get_settings() -> Settings:
    return current_app.extensions["reviewq.settings"]


def db_session(*, readonly: bool = False) -> Session:
    """This request's session; read-only requests on SQLite use a deferred transaction."""
    session = g.get("db_session")
    if session is None:
        session = get_database().session(readonly=readonly)
        g.db_session = session
        g.db_readonly = readonly
        g.db_after_commit = []
        g.db_unless_committed = []
    return session


def begin_writing() -> Session:
    """This request's session, able to write: a request that began on a read session (a read-first
    view, which writes only when its reads say so) trades it for a write session here."""
    session = g.get("db_session")
    if session is not None and g.get("db_readonly"):
        session.rollback()
        session.close()
        g.db_session = session = get_database().session()
        g.db_readonly = False
    return db_session()


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once this request's transaction has committed (wake waiters, etc.)."""
    db_session()
    g.db_after_commit.append(callback)


def unless_committed(callback: Callable[[], None]) -> None:
    """Run `callback` as the request ends if its transaction was never committed (an error, or a
    view that only read): for work that must be kept either way, in its own transaction."""
    db_session()
    g.db_unless_committed.append(callback)


def commit() -> None:
    """The request's single commit, then the callbacks that must only see committed data."""
    session = g.get("db_session")
    if session is None:
        return
    session.commit()
    g.db_unless_committed = []
    callbacks, g.db_after_commit = g.db_after_commit, []
    for callback in callbacks:
        callback()


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()
    for callback in g.pop("db_unless_committed", ()):
        try:
            callback()
        except Exception:  # the response is already decided; a teardown must not raise
            log.exception("a request's fallback write failed")
