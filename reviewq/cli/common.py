"""What every command shares: settings, sessions, and turning errors into one clear line."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from reviewq.config import ConfigError, Settings, load_settings
from reviewq.domain.errors import DomainError

if TYPE_CHECKING:
    from reviewq.db import Database


class CommandFailed(Exception):
    """A command that cannot do what it was asked; its message is the whole story."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def settings_from_context() -> Settings:
    ctx = click.get_current_context()
    root = ctx.find_root()
    cached = root.meta.get("reviewq.settings")
    if cached is None:
        cached = load_settings()
        root.meta["reviewq.settings"] = cached
    return cached


def open_database() -> Database:
    from reviewq.db import Database

    return Database.from_settings(settings_from_context())


def run_guarded(call: Callable[[], object]) -> int:
    """Run the CLI; config, domain and connection errors become `reviewq: ...` and an exit code."""
    try:
        result = call()
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except ConfigError as exc:
        click.echo(f"reviewq: config error: {exc}", err=True)
        return 2
    except DomainError as exc:
        where = f" ({exc.field})" if exc.field else ""
        click.echo(f"reviewq: {exc.message}{where}", err=True)
        return 1
    except CommandFailed as exc:
        click.echo(f"reviewq: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = _library_error(exc)
        if message is None:
            raise
        click.echo(f"reviewq: {message}", err=True)
        return 1
    return result if isinstance(result, int) else 0


def _library_error(exc: Exception) -> str | None:
    """One line for invalid input (pydantic) or an unreachable database (SQLAlchemy), else None.

    Imported here, not at the top: the CLI's start-up must not load the ORM (see cli/__init__).
    """
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "input"
        return f"{where}: {first['msg']}"
    if isinstance(exc, OperationalError):
        first = str(exc.orig or exc).strip().splitlines()[0]
        return f"database error: {first}"
    return None
