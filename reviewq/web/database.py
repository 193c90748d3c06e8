"""One database session per request, closed on teardown; one commit per request."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, g
from sqlmodel import Session

from reviewq.config import Settings
from reviewq.db import Database


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
        g.db_after_commit = []
    return session


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once this request's transaction has committed (wake waiters, etc.)."""
    db_session()
    g.db_after_commit.append(callback)


def commit() -> None:
    """The request's single commit, then the callbacks that must only see committed data."""
    session = g.get("db_session")
    if session is None:
        return
    session.commit()
    callbacks, g.db_after_commit = g.db_after_commit, []
    for callback in callbacks:
        callback()


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()
